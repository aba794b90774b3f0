"""WIDER FACE average precision: matching, normalised scores, PR curves, VOC AP.

Protocol (both)
---------------
Per image the detections are sorted by raw score, highest first (stable). Scores are min-max
normalised over the whole set. Each detection, in that order, is matched to the face it overlaps
most (inclusive "+1" IoU on ``[x, y, x + w, y + h]`` corners); at IoU >= 0.5 it is a true positive
if that face counts in the setting and is not yet found, it is discarded (neither true nor false)
if that face is outside the setting, and a false positive otherwise. Images whose ground truth is
empty are skipped; faces of images without detections still count. At each of 1000 thresholds
0.999, 0.998, ..., 0 the kept detections with normalised score >= threshold give precision and
recall; AP is the VOC all-point area under the precision envelope (NaN precision ignored).

- ``official`` reproduces the MATLAB tool: the ground truth is int32 and MATLAB keeps integer
  arithmetic, so the overlap corners, the union and the IoU itself are rounded to whole numbers
  (half away from zero). The IoU is therefore 0 or 1 and the match is the FIRST face reaching
  0.5. ``norm_score.m`` starts its running max/min from single-precision values, so the
  normalised scores are single precision. MATLAB evaluates ``double - single`` in double and
  rounds the result to single, so a lowest raw score below its single-precision value
  normalises to just under 0 and is dropped even at threshold 0.
- ``python`` is the widely used Python port (``widerface_evaluate/evaluation.py``): float64 IoU,
  best face wins; detections are still sorted per image (the port trusts file order), and the
  score range is the real min/max (the port starts its running max/min at 0 and 1).

If every score is equal (no range to normalise) both protocols set all scores to 1, where the
tools divide 0 by 0.
"""
import collections
import logging

import numpy as np

from rcnn.evaluation.ground_truth import image_key

logger = logging.getLogger(__name__)

PROTOCOLS = ('official', 'python')
BOX_FORMATS = ('xywh', 'xyxy')
THRESHOLD_NUM = 1000
IOU_THRESHOLD = 0.5
#: The score thresholds of the PR curve, 0.999 down to 0 (the tool's ``1 - t / 1000``, t = 1..1000).
THRESHOLDS = 1.0 - np.arange(1, THRESHOLD_NUM + 1) / THRESHOLD_NUM

PRCurve = collections.namedtuple('PRCurve', 'precision recall ap num_faces')
PRCurve.__doc__ = """One setting's result.

precision, recall: (1000,) float64 at :data:`THRESHOLDS` (precision is NaN where nothing is kept).
ap: VOC all-point AP in [0, 1]. num_faces: faces that count in the setting.
"""



def matlab_round(x):
    """MATLAB ``round``: to the nearest integer, halves away from zero (numpy rounds them to even)."""
    whole = np.trunc(x)
    return whole + np.where(np.abs(x - whole) >= 0.5, np.sign(x), 0.0)


def normalise_scores(score_arrays, protocol):
    """Min-max normalise the scores of the whole set.

    :param score_arrays: list of (N_i,) raw scores
    :return: list of (N_i,) float64; for ``official`` the single-precision values of
        ``norm_score.m``: ``single(score - double(single(min))) / (single(max) - single(min))``,
        whose running max starts at ``realmin('single')`` (so an all-negative set keeps max ~1e-38)
    """
    nonempty = [s for s in score_arrays if len(s)]
    if not nonempty:
        return [np.asarray(s, dtype=np.float64) for s in score_arrays]
    low = min(float(s.min()) for s in nonempty)
    high = max(float(s.max()) for s in nonempty)
    if high == low:
        logger.warning('every detection has the score %g: normalised scores set to 1', high)
        return [np.ones(len(s)) for s in score_arrays]
    if protocol == 'official':
        f32 = np.float32
        high = f32(max(high, np.finfo(f32).tiny))
        low = f32(min(low, np.finfo(f32).max))
        return [((np.asarray(s, dtype=np.float64) - np.float64(low)).astype(f32) / (high - low))
                .astype(np.float64) for s in score_arrays]
    return [(np.asarray(s, dtype=np.float64) - low) / (high - low) for s in score_arrays]


def _corners(xywh):
    x1, y1 = xywh[:, 0], xywh[:, 1]
    return x1, y1, x1 + xywh[:, 2], y1 + xywh[:, 3]


def overlaps_official(gt_xywh, det_xywh):
    """The MATLAB tool's ``boxoverlap`` with int32 faces: every step rounded to a whole number.

    :param gt_xywh: (M, 4) integer [x, y, w, h]
    :param det_xywh: (N, >=4) float [x, y, w, h]
    :return: (N, M) float64 IoU, each a whole number (0 or 1)
    """
    gx1, gy1, gx2, gy2 = _corners(np.asarray(gt_xywh, dtype=np.float64))
    dx1, dy1, dx2, dy2 = (c[:, None] for c in _corners(np.asarray(det_xywh, dtype=np.float64)))
    w = matlab_round(np.minimum(gx2, dx2)) - matlab_round(np.maximum(gx1, dx1)) + 1
    h = matlab_round(np.minimum(gy2, dy2)) - matlab_round(np.maximum(gy1, dy1)) + 1
    inter = w * h
    gt_area = (gx2 - gx1 + 1) * (gy2 - gy1 + 1)
    det_area = (dx2 - dx1 + 1) * (dy2 - dy1 + 1)
    union = matlab_round(gt_area + det_area) - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = matlab_round(inter / union)
    iou[(w <= 0) | (h <= 0)] = 0.0
    return iou


def overlaps_python(gt_xywh, det_xywh):
    """The Python port's float64 IoU (same operation order as its ``bbox_overlaps``).

    :return: (N, M) float64 IoU
    """
    gx1, gy1, gx2, gy2 = _corners(np.asarray(gt_xywh, dtype=np.float64))
    dx1, dy1, dx2, dy2 = (c[:, None] for c in _corners(np.asarray(det_xywh, dtype=np.float64)))
    iw = np.minimum(dx2, gx2) - np.maximum(dx1, gx1) + 1
    ih = np.minimum(dy2, gy2) - np.maximum(dy1, gy1) + 1
    inter = iw * ih
    union = (dx2 - dx1 + 1) * (dy2 - dy1 + 1) + (gx2 - gx1 + 1) * (gy2 - gy1 + 1) - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where((iw > 0) & (ih > 0), inter / union, 0.0)


_OVERLAPS = {'official': overlaps_official, 'python': overlaps_python}


def match_detections(gt_xywh, det_xywh, protocol='official'):
    """Index of the face each detection matches (IoU >= 0.5, first of the best), -1 for none.

    :param gt_xywh: (M, 4) faces, M >= 1
    :param det_xywh: (N, >=4) detections
    :return: (N,) int64
    """
    iou = _OVERLAPS[protocol](gt_xywh, det_xywh)
    best = iou.argmax(axis=1)
    return np.where(iou[np.arange(len(best)), best] >= IOU_THRESHOLD, best, -1)


def voc_ap(recall, precision):
    """VOC all-point AP: area under the precision envelope, NaN precision ignored.

    :param recall, precision: (T,) along decreasing thresholds (recall non-decreasing)
    """
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    envelope = np.fmax.accumulate(mpre[::-1])[::-1]
    change = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[change + 1] - mrec[change]) * envelope[change + 1]))


def _as_xywh(detections, box_format):
    det = np.asarray(detections, dtype=np.float64)
    if det.size == 0:
        return np.zeros((0, 5))
    if det.ndim != 2 or det.shape[1] < 5:
        raise ValueError('detections must be (N, 5) [.., .., .., .., score], got %s' % (det.shape,))
    det = det[:, :5].copy()
    if box_format == 'xyxy':
        det[:, 2:4] -= det[:, 0:2] - 1
    elif box_format != 'xywh':
        raise ValueError('box_format must be one of %s, got %r' % (BOX_FORMATS, box_format))
    return det


def _setting_curve(matched, counted, first_threshold, num_faces):
    """One setting's PR curve from the matches of all detections (in image, then score order).

    :param matched: (D,) face number each detection matched, -1 for none
    :param counted: (F,) bool, faces that count in the setting
    :param first_threshold: (D,) first threshold index at which each detection is kept
    """
    is_match = matched >= 0
    in_setting = np.zeros(len(matched), dtype=bool)
    in_setting[is_match] = counted[matched[is_match]]
    # A match to a face outside the setting is discarded; every other detection is a proposal.
    proposal = ~(is_match & ~in_setting)
    # A face is found by the first (highest-scored) detection matching it; later ones are false.
    hits = np.flatnonzero(is_match & in_setting)
    first_hit = np.zeros(len(matched))
    first_hit[hits[np.unique(matched[hits], return_index=True)[1]]] = 1
    kept = np.cumsum(np.bincount(first_threshold, proposal, THRESHOLD_NUM + 1))[:THRESHOLD_NUM]
    found = np.cumsum(np.bincount(first_threshold, first_hit, THRESHOLD_NUM + 1))[:THRESHOLD_NUM]
    with np.errstate(divide='ignore', invalid='ignore'):
        precision = found / kept
        recall = found / num_faces
    return PRCurve(precision, recall, voc_ap(recall, precision), num_faces)


def compute_pr_curves(predictions, ground_truth, protocol='official', box_format='xywh',
                      only_predicted_images=False):
    """PR curves and APs of every setting.

    :param predictions: {'<event>/<image>': (N, 5)} with [x, y, w, h, score] (``box_format``
        'xywh', w = x2 - x1 + 1) or [x1, y1, x2, y2, score] ('xyxy', the detector's output)
    :param ground_truth: :class:`GroundTruth`
    :param only_predicted_images: evaluate only the images present in ``predictions`` (a subset
        of the split); otherwise a missing image counts as one without detections
    :return: ({setting: :class:`PRCurve`}, [keys of images without predictions])
    """
    if protocol not in PROTOCOLS:
        raise ValueError('protocol must be one of %s, got %r' % (PROTOCOLS, protocol))
    predictions = {image_key(k): v for k, v in predictions.items()}
    images = [i for i, key in enumerate(ground_truth.keys)
              if not only_predicted_images or key in predictions]
    missing = [ground_truth.keys[i] for i in images if ground_truth.keys[i] not in predictions]
    dets = [_as_xywh(predictions.get(ground_truth.keys[i], ()), box_format) for i in images]
    dets = [d[np.argsort(-d[:, 4], kind='stable')] for d in dets]
    scores = normalise_scores([d[:, 4] for d in dets], protocol)

    # Match every detection once: faces are numbered across the whole set (offset per image).
    face_offset = np.cumsum([0] + [len(ground_truth.boxes[i]) for i in images])
    matched, matched_scores = [np.zeros(0, np.int64)], [np.zeros(0)]
    for n, i in enumerate(images):
        if len(ground_truth.boxes[i]) and len(dets[n]):
            face = match_detections(ground_truth.boxes[i], dets[n], protocol)
            matched.append(np.where(face >= 0, face + face_offset[n], -1))
            matched_scores.append(scores[n])
    matched = np.concatenate(matched)
    # A detection counts at threshold index t >= first_threshold (score >= THRESHOLDS[t]).
    first_threshold = THRESHOLD_NUM - np.searchsorted(THRESHOLDS[::-1], np.concatenate(matched_scores),
                                                      side='right')

    curves = {}
    for setting, keep in ground_truth.settings.items():
        counted = np.zeros(face_offset[-1], dtype=bool)
        for n, i in enumerate(images):
            counted[face_offset[n] + keep[i]] = True
        num_faces = sum(len(keep[i]) for i in images)
        curves[setting] = _setting_curve(matched, counted, first_threshold, num_faces)
    return curves, missing

