"""Box overlaps, clipping, and the box / landmark regression encodings of RetinaFace.

Boxes are [x1, y1, x2, y2] in pixels with inclusive widths: w = x2 - x1 + 1, and the centre of a
box is x1 + 0.5 * (w - 1). A box delta (dx, dy, dw, dh) moves the centre by (dx * w, dy * h) and
scales the sides by (exp(dw), exp(dh)); a landmark delta (dx, dy) places the point at
(x_ctr + dx * w, y_ctr + dy * h).
"""
import numpy as np

from rcnn.processing import _compiled

_bbox_overlaps_cython = _compiled.load('bbox', 'bbox_overlaps_cython')

# Values per anchor of the box targets and of the graph's box prediction conv: (dx, dy, dw, dh).
BBOX_PRED_LEN = 4


def bbox_overlaps_py(boxes, query_boxes):
    """Vectorised numpy IoU, same result as :func:`bbox_overlaps`.

    :param boxes: (N, >=4) [x1, y1, x2, y2]
    :param query_boxes: (K, >=4) [x1, y1, x2, y2]
    :return: (N, K) float64 IoU
    """
    b = np.asarray(boxes, dtype=np.float64)[:, None, :4]
    q = np.asarray(query_boxes, dtype=np.float64)[None, :, :4]
    iw = np.minimum(b[..., 2], q[..., 2]) - np.maximum(b[..., 0], q[..., 0]) + 1
    ih = np.minimum(b[..., 3], q[..., 3]) - np.maximum(b[..., 1], q[..., 1]) + 1
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    box_area = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    query_area = (q[..., 2] - q[..., 0] + 1) * (q[..., 3] - q[..., 1] + 1)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(inter > 0, inter / (box_area + query_area - inter), 0.0)


def bbox_overlaps(boxes, query_boxes):
    """IoU of every box against every query box (Cython; numpy where not built).

    :param boxes: (N, >=4) [x1, y1, x2, y2], inclusive "+1" widths
    :param query_boxes: (K, >=4) [x1, y1, x2, y2]
    :return: (N, K) float64 IoU
    """
    if _bbox_overlaps_cython is None:
        return bbox_overlaps_py(boxes, query_boxes)
    return _bbox_overlaps_cython(boxes, query_boxes)


def clip_boxes(boxes, im_shape):
    """Clip boxes to the image, in place.

    :param boxes: (N, 4 * C) [x1, y1, x2, y2] per class
    :param im_shape: (height, width, ...) of the image
    :return: ``boxes``, with x in [0, width - 1] and y in [0, height - 1]
    """
    boxes[:, 0::4] = np.clip(boxes[:, 0::4], 0, im_shape[1] - 1)
    boxes[:, 1::4] = np.clip(boxes[:, 1::4], 0, im_shape[0] - 1)
    boxes[:, 2::4] = np.clip(boxes[:, 2::4], 0, im_shape[1] - 1)
    boxes[:, 3::4] = np.clip(boxes[:, 3::4], 0, im_shape[0] - 1)
    return boxes


def _centres(boxes):
    """(widths, heights, ctr_x, ctr_y) of (N, >=4) boxes, inclusive widths."""
    widths = boxes[:, 2] - boxes[:, 0] + 1.0
    heights = boxes[:, 3] - boxes[:, 1] + 1.0
    return widths, heights, boxes[:, 0] + 0.5 * (widths - 1.0), boxes[:, 1] + 0.5 * (heights - 1.0)


def nonlinear_transform(ex_rois, gt_rois):
    """Regression targets that move anchors onto ground-truth boxes.

    :param ex_rois: (N, 4) anchors [x1, y1, x2, y2]
    :param gt_rois: (N, >=4) matched ground truth; columns past the fourth are ignored
    :return: (N, 4) float64 targets (dx, dy, dw, dh)
    """
    assert ex_rois.shape[0] == gt_rois.shape[0], 'inconsistent rois number'
    ex_w, ex_h, ex_x, ex_y = _centres(np.asarray(ex_rois, dtype=np.float64))
    gt_w, gt_h, gt_x, gt_y = _centres(np.asarray(gt_rois, dtype=np.float64))
    return np.stack(((gt_x - ex_x) / (ex_w + 1e-14), (gt_y - ex_y) / (ex_h + 1e-14),
                     np.log(gt_w / ex_w), np.log(gt_h / ex_h)), axis=1)


def nonlinear_pred(boxes, box_deltas):
    """Apply predicted deltas to anchors (inverse of :func:`nonlinear_transform`).

    :param boxes: (N, >=4) anchors [x1, y1, x2, y2]
    :param box_deltas: (N, 4 * C) deltas (dx, dy, dw, dh) per class
    :return: (N, 4 * C) boxes [x1, y1, x2, y2]; float32 when both inputs are float32, else float64
    """
    dtype = np.result_type(np.asarray(boxes).dtype, np.asarray(box_deltas).dtype, np.float32)
    if boxes.shape[0] == 0:
        return np.zeros((0, box_deltas.shape[1]), dtype=dtype)
    widths, heights, ctr_x, ctr_y = (v[:, None] for v in _centres(boxes.astype(dtype, copy=False)))
    pred_ctr_x = box_deltas[:, 0::4] * widths + ctr_x
    pred_ctr_y = box_deltas[:, 1::4] * heights + ctr_y
    half_w = 0.5 * (np.exp(box_deltas[:, 2::4]) * widths - 1.0)
    half_h = 0.5 * (np.exp(box_deltas[:, 3::4]) * heights - 1.0)
    pred_boxes = np.empty(box_deltas.shape, dtype=dtype)
    pred_boxes[:, 0::4] = pred_ctr_x - half_w
    pred_boxes[:, 1::4] = pred_ctr_y - half_h
    pred_boxes[:, 2::4] = pred_ctr_x + half_w
    pred_boxes[:, 3::4] = pred_ctr_y + half_h
    return pred_boxes


def landmark_transform(ex_rois, gt_rois):
    """Regression targets of landmark points relative to their anchors.

    :param ex_rois: (N, 4) anchors [x1, y1, x2, y2]
    :param gt_rois: (N, P, 3) points (x, y, visibility flag); the flag is not encoded
    :return: (N, 2P) float64 targets (dx0, dy0, dx1, dy1, ...)
    """
    assert ex_rois.shape[0] == gt_rois.shape[0], 'inconsistent rois number'
    ex_w, ex_h, ex_x, ex_y = (v[:, None] for v in _centres(np.asarray(ex_rois, dtype=np.float64)))
    gt = np.asarray(gt_rois, dtype=np.float64)
    targets = np.empty((gt.shape[0], gt.shape[1], 2), dtype=np.float64)
    targets[:, :, 0] = (gt[:, :, 0] - ex_x) / (ex_w + 1e-14)
    targets[:, :, 1] = (gt[:, :, 1] - ex_y) / (ex_h + 1e-14)
    return targets.reshape(gt.shape[0], -1)


def landmark_pred(boxes, landmark_deltas):
    """Apply predicted landmark deltas to anchors (inverse of :func:`landmark_transform`).

    :param boxes: (N, >=4) anchors [x1, y1, x2, y2]
    :param landmark_deltas: (N, 2P) flat (dx0, dy0, ...) or (N, P, 2)
    :return: points in pixels, the shape of ``landmark_deltas``
    """
    deltas = np.asarray(landmark_deltas)
    dtype = np.result_type(np.asarray(boxes).dtype, deltas.dtype, np.float32)
    if boxes.shape[0] == 0:
        return np.zeros(deltas.shape, dtype=dtype)
    widths, heights, ctr_x, ctr_y = (v[:, None] for v in _centres(boxes.astype(dtype, copy=False)))
    points = deltas.reshape(deltas.shape[0], -1, 2)
    pred = np.empty(points.shape, dtype=dtype)
    pred[:, :, 0] = points[:, :, 0] * widths + ctr_x
    pred[:, :, 1] = points[:, :, 1] * heights + ctr_y
    return pred.reshape(deltas.shape)


bbox_transform = nonlinear_transform
bbox_pred = nonlinear_pred
