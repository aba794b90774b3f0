"""Anchor targets of the RetinaFace train graph, and the per-image training batch.

Every function takes the run's configuration as ``cfg`` (:func:`rcnn.config.generate_config`);
:func:`assign_anchor_fpn`, :class:`AA` and :func:`get_crop_batch` keep the original's arguments
and take it as a required keyword (a TypeError names it when missing).

Per stride S in ``cfg.RPN_FEAT_STRIDE`` (descending), A anchors per cell, feature map H x W,
:func:`assign_anchor_fpn` returns (leading dimension 1: one image)::

    <prefix>_label_strideS            (1, A*H*W)      order (a, h, w); 1 face, 0 background, -1 ignore
    <prefix>_bbox_target_strideS      (1, 4*A, H*W)   channel a*4 + (dx, dy, dw, dh) / BBOX_STDS
    <prefix>_bbox_weight_strideS      (1, 4*A, H*W)   1 on the 4 channels of positive anchors
    <prefix>_landmark_target_strideS  (1, 10*A, H*W)  channel a*10 + 2*p + (x, y) / LANDMARK_STD
    <prefix>_landmark_weight_strideS  (1, 10*A, H*W)  1 on positive anchors whose face has landmarks

plus ``<prefix>_label`` / ``_bbox_target`` / ... : the strides concatenated (axis 1 for labels,
axis 2 for the others), as the original returns them. Anchor a of cell (h, w) is
``anchors_plane(H, W, S, base)[h, w, a]``; cell (h, w) is column ``h * W + w``.

Labelling (the original's rules): an anchor's IoU with its best face >= RPN_POSITIVE_OVERLAP (0.5)
makes it positive, < RPN_NEGATIVE_OVERLAP (0.3) negative, in between ignored; with
``cfg.TRAIN.RPN_FORCE_POSITIVE`` (off in the released configuration) each face's best anchors
(over all strides, ties included) are positive too. Faces of class -1 are not used; anchors
reaching more than ALLOWED_BORDER pixels outside the image are ignored. Box and landmark
targets are encoded against each anchor's best face for every anchor, weights select the
positive ones. With ``cfg.TRAIN.RPN_ENABLE_OHEM == 0`` labels are subsampled to
RPN_BATCH_SIZE anchors with at most RPN_FG_FRACTION positives; otherwise the train graph's OHEM
operator samples them.
"""
import numpy as np

from rcnn.processing.bbox_transform import (BBOX_PRED_LEN, bbox_overlaps, landmark_transform,
                                            nonlinear_transform)
from rcnn.processing.landmarks import LANDMARK_PRED_LEN
from rcnn.processing.generate_anchor import generate_anchors, stride_anchor_plane
from rcnn.io.image import get_crop_image


def _check_supported(cfg):
    if cfg.USE_BLUR or cfg.USE_OCCLUSION:
        raise NotImplementedError('USE_BLUR / USE_OCCLUSION targets are not supported (the original '
                                  'code cannot produce them either); set both to False')


def stride_anchors(stride, feat_height, feat_width, cfg):
    """All anchors of one stride over a feature map, from the one tiling cache
    (:func:`rcnn.processing.generate_anchor.stride_anchor_plane`).

    :param cfg: the run's configuration (RPN_ANCHOR_CFG and DENSE_ANCHOR are read)
    :return: read-only (H * W * A, 4) float32 [x1, y1, x2, y2] pixels, order (h, w, a)
    """
    anchor_cfg = cfg.RPN_ANCHOR_CFG[str(stride)]
    base = generate_anchors(anchor_cfg['BASE_SIZE'], list(anchor_cfg['RATIOS']),
                            np.array(anchor_cfg['SCALES'], dtype=np.float32), stride,
                            cfg.DENSE_ANCHOR).astype(np.float32)
    return stride_anchor_plane(stride, feat_height, feat_width, base)


def _label_anchors(anchors, gt_boxes, train_cfg):
    """Labels (1, 0, -1) of anchors and the index of each anchor's best face.

    :param anchors: (M, 4) anchors inside the allowed border
    :param gt_boxes: (N, >=4) faces
    :param train_cfg: ``cfg.TRAIN`` (RPN_*_OVERLAP, RPN_CLOBBER_POSITIVES, RPN_FORCE_POSITIVE)
    :return: (labels (M,) float32, argmax_overlaps (M,) int or None when N = 0)
    """
    labels = np.full(len(anchors), -1, dtype=np.float32)
    if len(gt_boxes) == 0:
        labels[:] = 0
        return labels, None
    overlaps = bbox_overlaps(anchors.astype(np.float64), gt_boxes[:, :4].astype(np.float64))
    argmax_overlaps = overlaps.argmax(axis=1)
    max_overlaps = overlaps[np.arange(len(anchors)), argmax_overlaps]
    negative = max_overlaps < train_cfg.RPN_NEGATIVE_OVERLAP
    if not train_cfg.RPN_CLOBBER_POSITIVES:
        labels[negative] = 0
    if train_cfg.RPN_FORCE_POSITIVE:
        gt_max = overlaps.max(axis=0)
        labels[((overlaps == gt_max) & (gt_max > 0)).any(axis=1)] = 1
    labels[max_overlaps >= train_cfg.RPN_POSITIVE_OVERLAP] = 1
    if train_cfg.RPN_CLOBBER_POSITIVES:
        labels[negative] = 0
    return labels, argmax_overlaps


def _subsample(labels, rng, train_cfg):
    """Without OHEM: keep at most RPN_FG_FRACTION * RPN_BATCH_SIZE positives (of ``cfg.TRAIN``)
    and fill the batch with negatives; the rest become -1 (in place)."""
    rng = np.random if rng is None else rng
    num_fg = int(train_cfg.RPN_FG_FRACTION * train_cfg.RPN_BATCH_SIZE)
    fg_inds = np.flatnonzero(labels == 1)
    if len(fg_inds) > num_fg:
        labels[rng.choice(fg_inds, size=len(fg_inds) - num_fg, replace=False)] = -1
    num_bg = train_cfg.RPN_BATCH_SIZE - int(np.sum(labels == 1))
    bg_inds = np.flatnonzero(labels == 0)
    if len(bg_inds) > num_bg:
        labels[rng.choice(bg_inds, size=len(bg_inds) - num_bg, replace=False)] = -1


def assign_anchor_fpn(feat_shape, gt_label, im_info, landmark=False, prefix='face', select_stride=0, rng=None, *,
                      cfg):
    """Anchor labels, box and landmark targets and weights of one image, per stride.

    :param feat_shape: per stride of ``cfg.RPN_FEAT_STRIDE``, the score map shape (..., H, W)
    :param gt_label: dict with 'gt_boxes' (N, 5) [x1, y1, x2, y2, class] pixels (class -1: not
        used) and, with ``landmark``, 'gt_landmarks' (N, 5, 3) (x, y, flag; flag < 0: none)
    :param im_info: [[height, width, scale]] of the network input (only height and width are used)
    :param landmark: also return landmark targets and weights
    :param prefix: name prefix of the returned keys
    :param select_stride: when > 0, the labels of every other stride are set to -1 (ignored)
    :param rng: random source of the subsampling without OHEM (default: numpy.random)
    :param cfg: the run's configuration
    :return: dict of float32 arrays, keys and layouts in the module docstring
    """
    _check_supported(cfg)
    im_height, im_width = np.asarray(im_info, dtype=np.float64).reshape(-1)[:2]
    gt_boxes = np.asarray(gt_label['gt_boxes'], dtype=np.float32).reshape(-1, 5)
    used = gt_boxes[:, 4] != -1
    gt_boxes = gt_boxes[used]
    if landmark:
        gt_landmarks = np.asarray(gt_label['gt_landmarks'], dtype=np.float32).reshape(-1, 5, 3)[used]
        if len(gt_landmarks) != len(gt_boxes):
            raise ValueError('gt_landmarks has %d faces, gt_boxes %d' % (len(gt_landmarks), len(gt_boxes)))

    strides = cfg.RPN_FEAT_STRIDE
    sizes, anchors_list, inside_list = [], [], []
    for stride, shape in zip(strides, feat_shape):
        feat_height, feat_width = int(shape[-2]), int(shape[-1])
        anchors = stride_anchors(stride, feat_height, feat_width, cfg)
        border = cfg.RPN_ANCHOR_CFG[str(stride)]['ALLOWED_BORDER']
        inside_list.append((anchors[:, 0] >= -border) & (anchors[:, 1] >= -border) &
                           (anchors[:, 2] < im_width + border) & (anchors[:, 3] < im_height + border))
        anchors_list.append(anchors)
        sizes.append((feat_height, feat_width, len(anchors) // (feat_height * feat_width)))
    all_anchors = np.concatenate(anchors_list)
    inside = np.flatnonzero(np.concatenate(inside_list))
    anchors = all_anchors[inside]

    labels_in, argmax_overlaps = _label_anchors(anchors, gt_boxes, cfg.TRAIN)
    if cfg.TRAIN.RPN_ENABLE_OHEM == 0:
        _subsample(labels_in, rng, cfg.TRAIN)
    positive = labels_in == 1

    total = len(all_anchors)
    labels = np.full(total, -1, dtype=np.float32)
    labels[inside] = labels_in
    bbox_targets = np.zeros((total, BBOX_PRED_LEN), dtype=np.float32)
    bbox_weights = np.zeros((total, BBOX_PRED_LEN), dtype=np.float32)
    bbox_weights[inside[positive]] = 1.0
    if argmax_overlaps is not None:
        bbox_targets[inside] = nonlinear_transform(anchors, gt_boxes[argmax_overlaps]) / \
            np.asarray(cfg.TRAIN.BBOX_STDS, dtype=np.float64)
    targets = [('label', labels), ('bbox_target', bbox_targets), ('bbox_weight', bbox_weights)]
    if landmark:
        landmark_targets = np.zeros((total, LANDMARK_PRED_LEN), dtype=np.float32)
        landmark_weights = np.zeros((total, LANDMARK_PRED_LEN), dtype=np.float32)
        if argmax_overlaps is not None:
            matched = gt_landmarks[argmax_overlaps]
            landmark_targets[inside] = landmark_transform(anchors, matched) / cfg.TRAIN.LANDMARK_STD
            landmark_weights[inside[positive & (matched[:, 0, 2] >= 0)]] = 1.0
        targets += [('landmark_target', landmark_targets), ('landmark_weight', landmark_weights)]

    out = {}
    start = 0
    for stride, (feat_height, feat_width, num_anchors) in zip(strides, sizes):
        stop = start + feat_height * feat_width * num_anchors
        for name, values in targets:
            part = values[start:stop]
            if name == 'label':
                part = part.reshape(feat_height, feat_width, num_anchors).transpose(2, 0, 1).reshape(1, -1)
                if select_stride > 0 and stride != select_stride:
                    part = np.full_like(part, -1)
            else:
                part = part.reshape(1, feat_height * feat_width, -1).transpose(0, 2, 1)
            out['%s_%s_stride%d' % (prefix, name, stride)] = np.ascontiguousarray(part)
        start = stop
    for name, _ in targets:
        out['%s_%s' % (prefix, name)] = np.concatenate(
            [out['%s_%s_stride%d' % (prefix, name, s)] for s in strides], axis=1 if name == 'label' else 2)
    return out


class AA:
    """The original's anchor assigner object: fixed feature shapes, same targets as
    :func:`assign_anchor_fpn` (the anchors are cached either way)."""

    def __init__(self, feat_shape, *, cfg):
        self.feat_shape = [list(s) for s in feat_shape]
        self.cfg = cfg

    def assign_anchor_fpn(self, gt_label, im_info, landmark=False, prefix='face', select_stride=0, rng=None):
        return assign_anchor_fpn(self.feat_shape, gt_label, im_info, landmark, prefix, select_stride, rng,
                                 cfg=self.cfg)


def get_crop_batch(roidb, rng=None, *, cfg):
    """Crop-augmented images of a roidb slice with their ground truth.

    :param roidb: entries (see :mod:`rcnn.dataset.retinaface`)
    :param rng: random source (default: numpy.random)
    :param cfg: the run's configuration
    :return: (data_list, label_list), one dict per image: data ``{'data': (1, 3, S, S) float32,
        'im_info': (1, 3) float32 [height, width, scale]}``, label ``{'gt_boxes': (N, 5) float32
        [x1, y1, x2, y2, class]}`` plus 'gt_landmarks' (N, 5, 3) when ``cfg.FACE_LANDMARK``
    """
    _check_supported(cfg)
    imgs, rois = get_crop_image(roidb, rng, cfg=cfg)
    data_list, label_list = [], []
    for im_tensor, roi in zip(imgs, rois):
        faces = np.flatnonzero(np.asarray(roi['gt_classes']) != 0)
        gt_boxes = np.empty((len(faces), 5), dtype=np.float32)
        gt_boxes[:, :4] = np.asarray(roi['boxes']).reshape(-1, 4)[faces]
        gt_boxes[:, 4] = np.asarray(roi['gt_classes'])[faces]
        label = {'gt_boxes': gt_boxes}
        if cfg.FACE_LANDMARK:
            label['gt_landmarks'] = np.asarray(roi['landmarks'], dtype=np.float32).reshape(-1, 5, 3)[faces]
        data_list.append({'data': im_tensor, 'im_info': np.asarray(roi['im_info'], dtype=np.float32)[None]})
        label_list.append(label)
    return data_list, label_list
