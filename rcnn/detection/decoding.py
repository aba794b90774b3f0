"""Decoding one forward's score / box / landmark maps into candidate faces, and merging the
candidates of all forwards of an image by NMS or box voting.

A forward's candidates are a dict of 'boxes' (N, 4) float64 and 'landmarks' (N, 5, 2) float64 (when
the model has landmarks), both in pixels of the input image, 'scores' (N,) float32 and 'strides'
(N,) float32. :func:`merge` turns the candidates of all forwards into the detector's result:
faces (N, 5) float32 [x1, y1, x2, y2, score] (a sixth column, the stride, when ``nms < 0``) and
landmarks (N, 5, 2) float32 or None, by descending score.
"""
import numpy as np

from rcnn.processing.bbox_transform import bbox_overlaps, clip_boxes, landmark_pred, nonlinear_pred
from rcnn.processing.generate_anchor import stride_anchor_plane
from rcnn.processing.landmarks import FLIP_ORDER

# Most boxes box voting returns.
MAX_VOTED = 750


def decode(outputs, heads, base_anchors, threshold, image_size, im_scale=1.0, flip=False,
           decay4=0.5):
    """Candidates of one forward whose score passes the threshold, in input-image pixels.

    Only the anchors above the threshold are gathered (per stride) and decoded (all at once).

    :param outputs: the network's output arrays (batch 1) in the model's order
    :param heads: :class:`rcnn.detection.heads.StrideHeads` per stride, strides descending
    :param base_anchors: {stride: (A, 4) float32 anchors of cell (0, 0)}
    :param threshold: minimum face score, in [0, 1]
    :param image_size: (h, w) of the image fed to the network before any padding; boxes are
        clipped to it
    :param im_scale, flip: how the input was made from the image (resize factor, mirrored)
    :param decay4: multiplier of stride-4 scores (applied before the threshold)
    :return: the candidates dict (see the module's docstring)
    """
    use_landmarks = heads[0].landmark is not None
    hits = [stride_hits(outputs, stride_heads, base_anchors[stride_heads.stride], threshold, decay4)
            for stride_heads in heads]
    found = {key: np.concatenate([hit[key] for hit in hits])
             for key in ('anchors', 'box_deltas', 'scores', 'strides')}
    boxes = nonlinear_pred(found.pop('anchors'), found.pop('box_deltas'))
    start = 0
    for hit in hits:
        stop = start + len(hit['scores'])
        for deltas in hit['cascade_deltas']:
            boxes[start:stop] = nonlinear_pred(boxes[start:stop], deltas)
        start = stop
    height, width = image_size
    clip_boxes(boxes, (height, width))
    if flip:
        boxes[:, [0, 2]] = width - 1 - boxes[:, [2, 0]]
    found['boxes'] = boxes / im_scale
    if use_landmarks:
        anchors = np.concatenate([hit['anchors'] for hit in hits])
        points = landmark_pred(anchors, np.concatenate([hit['landmark_deltas'] for hit in hits]))
        if flip:
            points[:, :, 0] = width - 1 - points[:, :, 0]
            points = points[:, FLIP_ORDER]
        found['landmarks'] = points / im_scale
    return found


def stride_hits(outputs, heads, base_anchor, threshold, decay4=0.5):
    """Scores, anchors and deltas of one stride's anchors whose score passes the threshold.

    :param heads: the stride's :class:`rcnn.detection.heads.StrideHeads`
    :param base_anchor: (A, 4) float32 anchors of cell (0, 0) of that stride
    :return: dict of 'scores' (N,), 'strides' (N,), 'anchors' (N, 4) float64, 'box_deltas'
        (N, 4), 'cascade_deltas' (list of (N, 4)), 'landmark_deltas' (N, 5, 2) when the model
        has landmarks; rows in the original's (y, x, anchor) order
    """
    anchors_per_cell = len(base_anchor)
    scores = np.asarray(outputs[heads.cls])[0, anchors_per_cell:]  # (A, h, w) face scores
    if heads.stride == 4 and decay4 < 1.0:
        scores = scores * decay4
    feat_h, feat_w = scores.shape[1:]
    anchor, y, x = np.nonzero(scores >= threshold)
    rows = (y * feat_w + x) * anchors_per_cell + anchor
    order = np.argsort(rows)
    anchor, y, x, rows = anchor[order], y[order], x[order], rows[order]

    def at_hits(index):
        """(N, C) values of output ``index`` at the hits, C channels per anchor."""
        out = np.asarray(outputs[index])[0]
        return out.reshape(anchors_per_cell, -1, feat_h, feat_w)[anchor, :, y, x]

    plane = stride_anchor_plane(heads.stride, feat_h, feat_w, base_anchor)
    hit = {'scores': scores[anchor, y, x],
           'strides': np.full(len(rows), heads.stride, dtype=np.float32),
           'anchors': plane[rows].astype(np.float64),
           'box_deltas': at_hits(heads.bbox)[:, :4],
           'cascade_deltas': [at_hits(index)[:, :4] for index in heads.cascade_bbox]}
    if heads.landmark is not None:
        deltas = at_hits(heads.landmark)
        hit['landmark_deltas'] = deltas.reshape(len(rows), 5, deltas.shape[1] // 5)
    return hit


def merge(candidates, nms_threshold, nms, vote=False, use_landmarks=True):
    """Sort the candidates of all forwards by score and suppress or vote overlapping ones.

    The candidates are concatenated in the order of the forwards (images, then scales, then
    flip) and, within one forward, strides (descending) and rows. As in the original, they are
    sorted by ``scores.argsort()[::-1]`` (numpy's default sort, reversed: equal scores do not
    keep their concatenation order), and its NMS sorts the result the same way again before
    its greedy pass, so the rows of exactly equal scores come out in the original's order.

    :param candidates: list of candidate dicts, one per forward
    :param nms_threshold: IoU of NMS / voting; 0 keeps every box, < 0 also adds the stride column
    :param nms: the NMS function, (N, 5) dets -> kept row indices
    :param vote: box voting instead of NMS (:func:`vote_boxes`)
    :param use_landmarks: whether the candidates carry landmarks
    :return: (faces, landmarks) (see the module's docstring)
    """
    boxes = np.concatenate([c['boxes'] for c in candidates]) if candidates else np.zeros((0, 4))
    columns = 6 if nms_threshold < 0 else 5
    if len(boxes) == 0:
        return (np.zeros((0, columns), dtype=np.float32),
                np.zeros((0, 5, 2), dtype=np.float32) if use_landmarks else None)
    scores = np.concatenate([c['scores'] for c in candidates])
    order = scores.argsort()[::-1]
    dets = np.hstack((boxes[order], scores[order, None])).astype(np.float32)
    landmarks = None
    if use_landmarks:
        landmarks = np.concatenate([c['landmarks'] for c in candidates])[order].astype(np.float32)
    if nms_threshold > 0:
        if vote:
            dets, keep = vote_boxes(dets, nms_threshold)
        else:
            nms_order = dets[:, 4].argsort()[::-1]
            keep = nms_order[nms(dets[nms_order])]
            dets = dets[keep]
        landmarks = landmarks[keep] if landmarks is not None else None
    elif nms_threshold < 0:
        strides = np.concatenate([c['strides'] for c in candidates])[order]
        dets = np.hstack((dets, strides[:, None]))
    return dets, landmarks


def vote_boxes(dets, nms_threshold):
    """Box voting: each group of boxes overlapping the best remaining one by IoU >= nms_threshold
    is replaced by its score-weighted mean box with the group's best score.

    Groups of a single box are dropped (voting needs support from several boxes, as in the
    original; its loop kept a lone box only when it happened to be the last one, which is not
    reproduced). At most :data:`MAX_VOTED` boxes are returned.

    :param dets: (N, 5) float32 [x1, y1, x2, y2, score] by descending score
    :return: ((M, 5) float32 voted boxes, indices of the rows whose landmarks they carry: the
        best box of each group)
    """
    voted, leaders = [], []
    remaining = np.arange(len(dets))
    while len(remaining) and len(voted) < MAX_VOTED:
        box = dets[remaining].astype(np.float64)
        group = bbox_overlaps(box[:1], box)[0] >= nms_threshold
        members = box[group]
        if len(members) > 1:
            weights = members[:, 4:5]
            mean_box = (members[:, :4] * weights).sum(axis=0) / weights.sum()
            voted.append(np.append(mean_box, members[:, 4].max()))
            leaders.append(remaining[0])
        remaining = remaining[~group]
    return np.array(voted, dtype=np.float32).reshape(-1, 5), np.array(leaders, dtype=np.int64)
