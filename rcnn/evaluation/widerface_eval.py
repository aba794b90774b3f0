"""WIDER FACE validation AP: the official MATLAB protocol bit for bit, or the Python port's.

Usage::

    python -m rcnn.evaluation.widerface_eval --pred wout --gt data/widerface_eval_gt \\
        [--protocol official|python] [--only-predicted | --allow-missing] \\
        [--plot pr.png] [--curves pr.npz|pr.csv]

It prints AP in percent per setting and which images were scored. By default every image of the
ground truth must have a prediction file: one missing is an error (one line: how many, the first
few) unless ``--allow-missing`` counts them as images without detections (the official tool's
rule, which lowers AP on a subset), or ``--only-predicted`` scores only the images that have a
file (what ``test_widerface.py --gt`` prints, so the two agree on a subset of val).

Inputs
------
- Predictions: ``<pred>/<event>/<image>.txt`` in the WIDER submission format: line 1
  ``<event>/<image>.jpg``, line 2 the number of faces N, then N lines ``x y w h score`` in
  original-image pixels with ``w = x2 - x1 + 1`` (any score range). From Python, a dict
  ``{'<event>/<image>': (N, 5) array}`` works too (see :func:`evaluate`).
- Ground truth: the official eval_tools folder with ``wider_face_val.mat`` (events, files, int32
  ``x y w h`` boxes) and ``wider_{easy,medium,hard}_val.mat`` (``gt_list``: 1-based indices of the
  faces that count in each setting). A RetinaFace ``label.txt`` works for data sets without .mat
  files (one setting, ``'all'``: every face counts; see :func:`evaluate_label_txt`).

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
import csv
import logging
import os
import struct
import sys
import zlib

import numpy as np

from rcnn.utils import cli
from rcnn.utils.cli_guards import first_few
from rcnn.errors import GroundTruthError, MissingPredictionsError, PredictionFormatError, UserError

logger = logging.getLogger(__name__)

SETTINGS = ('easy', 'medium', 'hard')
PROTOCOLS = ('official', 'python')
BOX_FORMATS = ('xywh', 'xyxy')
THRESHOLD_NUM = 1000
IOU_THRESHOLD = 0.5
#: The score thresholds of the PR curve, 0.999 down to 0 (the tool's ``1 - t / 1000``, t = 1..1000).
THRESHOLDS = 1.0 - np.arange(1, THRESHOLD_NUM + 1) / THRESHOLD_NUM

GroundTruth = collections.namedtuple('GroundTruth', 'keys boxes settings')
GroundTruth.__doc__ = """Ground truth of a WIDER-style split.

keys: list of '<event>/<image>' (no extension), one per image.
boxes: list of (M_i, 4) [x, y, w, h] arrays in pixels (int32 from the .mat files).
settings: {name: list of 0-based int arrays}, per image the faces that count in that setting.
"""

PRCurve = collections.namedtuple('PRCurve', 'precision recall ap num_faces')
PRCurve.__doc__ = """One setting's result.

precision, recall: (1000,) float64 at :data:`THRESHOLDS` (precision is NaN where nothing is kept).
ap: VOC all-point AP in [0, 1]. num_faces: faces that count in the setting.
"""


def image_key(name):
    """'<event>/<image>' from '<event>/<image>.jpg', './<event>/<image>.txt' and the like."""
    name = name.strip().replace('\\', '/')
    if name.startswith('./'):
        name = name[2:]
    stem, ext = os.path.splitext(name)
    return stem if ext.lower() in ('.jpg', '.jpeg', '.png', '.txt') else name


def _mat_strings(cell):
    return [str(item[0]) for item in cell]


def load_ground_truth(gt_dir, settings=SETTINGS):
    """Read the official .mat files of ``gt_dir`` with scipy.

    :return: :class:`GroundTruth` with one entry per val image, in the files' event order.
    """
    if not os.path.isdir(gt_dir):
        raise GroundTruthError('WIDER ground truth not found: %s is neither a folder of the official '
                               '.mat files nor a label.txt' % gt_dir)
    keys, boxes = _read_mat(os.path.join(gt_dir, 'wider_face_val.mat'),
                            'event_list, file_list, face_bbx_list', _faces_of)
    keep = {}
    for setting in settings:
        path = os.path.join(gt_dir, 'wider_%s_val.mat' % setting)
        keep[setting] = _read_mat(path, 'gt_list', _counted_faces_of)
        if len(keep[setting]) != len(keys):
            raise GroundTruthError('%s: gt_list has %d images, wider_face_val.mat %d'
                                   % (path, len(keep[setting]), len(keys)))
    return GroundTruth(keys, boxes, keep)


def _faces_of(face_mat):
    """(keys, boxes) of the loaded ``wider_face_val.mat``."""
    events = _mat_strings(face_mat['event_list'][:, 0])
    keys, boxes = [], []
    for event, files, event_boxes in zip(events, face_mat['file_list'][:, 0],
                                         face_mat['face_bbx_list'][:, 0]):
        keys += ['%s/%s' % (event, name) for name in _mat_strings(files[:, 0])]
        boxes += [np.asarray(b, dtype=np.int32).reshape(-1, 4) for b in event_boxes[:, 0]]
    return keys, boxes


def _counted_faces_of(setting_mat):
    """Per image, the 0-based indices of the faces that count, of a loaded ``wider_<s>_val.mat``."""
    return [np.asarray(k, dtype=np.int64).ravel() - 1
            for event_list in setting_mat['gt_list'][:, 0] for k in event_list[:, 0]]


# What scipy's loadmat raises on bytes that are not a complete .mat file (besides MatReadError).
_CORRUPT_MAT_ERRORS = (ValueError, OSError, TypeError, IndexError, KeyError, EOFError,
                       NotImplementedError, struct.error, zlib.error)


def _read_mat(path, fields, parse):
    """``parse(contents of the .mat file)``; GroundTruthError naming the file when it is missing,
    corrupt or not laid out as the official one (``fields`` names what it should hold)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError
    corrupt = _CORRUPT_MAT_ERRORS + (MatReadError,)
    if not os.path.isfile(path):
        raise GroundTruthError('WIDER ground truth file not found: %s (the eval_tools folder of '
                               'WIDER FACE has it; see data/README.md)' % path)
    try:
        contents = loadmat(path)
    except corrupt as err:
        raise GroundTruthError('%s is not a readable .mat file (truncated or corrupt?): %s'
                               % (path, err)) from None
    try:
        return parse(contents)
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise GroundTruthError('%s does not hold the official WIDER FACE layout (%s): %r'
                               % (path, fields, err)) from None


def load_label_txt(path):
    """Ground truth from a RetinaFace ``label.txt`` (``# <event>/<image>.jpg`` then ``x y w h ...``),
    read by the project's one label.txt parser (:func:`rcnn.dataset.retinaface.read_label_file`).

    :return: :class:`GroundTruth` with the single setting ``'all'`` (every face counts).
    :raises GroundTruthError: naming the file (and line) that cannot be read
    """
    from rcnn.dataset.retinaface import LabelFileError, read_label_file
    try:
        images = read_label_file(path)
    except LabelFileError as err:
        raise GroundTruthError(str(err)) from None
    except OSError as err:
        raise GroundTruthError('cannot read %s: %s' % (path, err.strerror or err)) from None
    keys = [image_key(name) for name, _, _ in images]
    boxes = [np.asarray([values[:4] for _, values in faces], dtype=np.float64).reshape(-1, 4)
             for _, _, faces in images]
    return GroundTruth(keys, boxes, {'all': [np.arange(len(b)) for b in boxes]})


def load_any_ground_truth(gt):
    """:class:`GroundTruth` of a label.txt file or a folder of the official .mat files."""
    return load_label_txt(gt) if os.path.isfile(gt) else load_ground_truth(gt)


def read_prediction_file(path):
    """One submission file.

    :return: (N, 5) float64 [x, y, w, h, score] in file order.
    :raises PredictionFormatError: naming the file and line at fault.
    """
    with open(path) as f:
        lines = f.read().splitlines()
    if len(lines) < 2:
        raise PredictionFormatError(path, len(lines) + 1, 'missing line 2, the number of faces')
    try:
        count = int(lines[1].strip())
    except ValueError:
        raise PredictionFormatError(path, 2, 'line 2 must be the number of faces, got %r' % lines[1])
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(v) for v in fields[:5]]
        except ValueError:
            values = []
        if len(values) < 5 or not np.all(np.isfinite(values)):
            raise PredictionFormatError(path, number, 'expected "x y w h score", got %r' % line)
        rows.append(values)
    if len(rows) != count:
        raise PredictionFormatError(path, 2, 'line 2 gives %d faces but %d box lines follow'
                                    % (count, len(rows)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def read_predictions(pred_dir, keys):
    """Read ``<pred_dir>/<key>.txt`` for every key.

    :return: ({key: (N, 5) array}, [keys whose file is missing])
    """
    if not os.path.isdir(pred_dir):
        raise MissingPredictionsError('prediction folder not found: %s' % pred_dir)
    predictions, missing = {}, []
    for key in keys:
        path = os.path.join(pred_dir, key + '.txt')
        if os.path.isfile(path):
            predictions[key] = read_prediction_file(path)
        else:
            missing.append(key)
    return predictions, missing


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


def evaluate_curves(predictions, gt, protocol='official', box_format='xywh',
                    only_predicted_images=False):
    """Like :func:`evaluate` but returns ({setting: :class:`PRCurve`}, [missing image keys])."""
    ground_truth = gt if isinstance(gt, GroundTruth) else load_any_ground_truth(gt)
    if isinstance(predictions, (str, os.PathLike)):
        predictions, _ = read_predictions(os.fspath(predictions), ground_truth.keys)
        box_format = 'xywh'
    curves, missing = compute_pr_curves(predictions, ground_truth, protocol, box_format,
                                        only_predicted_images)
    if missing:
        logger.warning('%d of %d images have no predictions (counted as no detections), e.g. %s',
                       len(missing), len(ground_truth.keys), ', '.join(missing[:5]))
    return curves, missing


def evaluate(predictions, gt, protocol='official', box_format='xywh', only_predicted_images=False):
    """WIDER FACE AP per setting.

    :param predictions: a folder of submission files, or {'<event>/<image>': (N, 5) array}
        (keys may end in .jpg) in ``box_format`` 'xywh' (file format) or 'xyxy' (the detector's
        [x1, y1, x2, y2, score]); an image without an entry counts as one without detections
    :param gt: the folder of the official .mat files, a RetinaFace ``label.txt`` (one setting,
        'all'), or a loaded :class:`GroundTruth`
    :param protocol: 'official' (MATLAB-exact) or 'python' (the Python port)
    :param only_predicted_images: score only the images that have predictions
    :return: {'easy': ap, 'medium': ap, 'hard': ap} (or {'all': ap}), AP in [0, 1]
    """
    curves, _ = evaluate_curves(predictions, gt, protocol, box_format, only_predicted_images)
    return {setting: curve.ap for setting, curve in curves.items()}


def evaluate_label_txt(predictions, label_file, protocol='python', box_format='xywh',
                       only_predicted_images=False):
    """AP at IoU 0.5 against a RetinaFace ``label.txt``, every face counting: {'all': ap}."""
    return evaluate(predictions, load_label_txt(label_file), protocol, box_format,
                    only_predicted_images)


def plot_pr_curves(curves, path, title='WIDER FACE val'):
    """Write the precision-recall curves of every setting to a PNG (matplotlib, Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 5.6), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for setting, curve in curves.items():
        axes.plot(curve.recall, curve.precision, linewidth=2,
                  label='%s: AP %.2f%% (%d faces)' % (setting, 100 * curve.ap, curve.num_faces))
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel('Recall (fraction of faces found)')
    axes.set_ylabel('Precision (fraction of detections correct)')
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc='lower left')
    figure.tight_layout()
    figure.savefig(path)


def save_curves(curves, path, protocol=''):
    """Write the curves as numbers: ``.npz`` (arrays) or ``.csv`` (one row per threshold)."""
    if path.lower().endswith('.csv'):
        with open(path, 'w', newline='') as f:
            for setting, curve in curves.items():
                f.write('# %s AP %.6f, %d faces, protocol %s\n'
                        % (setting, curve.ap, curve.num_faces, protocol))
            writer = csv.writer(f)
            writer.writerow(['threshold'] + ['%s_%s' % (s, q) for s in curves
                                             for q in ('precision', 'recall')])
            for t, threshold in enumerate(THRESHOLDS):
                writer.writerow(['%.3f' % threshold] + ['%.10g' % v for curve in curves.values()
                                                         for v in (curve.precision[t], curve.recall[t])])
        return
    arrays = {'thresholds': THRESHOLDS, 'protocol': np.array(protocol)}
    for setting, curve in curves.items():
        arrays.update({'%s_precision' % setting: curve.precision, '%s_recall' % setting: curve.recall,
                       '%s_ap' % setting: np.array(curve.ap),
                       '%s_num_faces' % setting: np.array(curve.num_faces)})
    np.savez(path, **arrays)


Coverage = collections.namedtuple('Coverage', 'scored total missing only_predicted source')
Coverage.__doc__ = """Which images a score covers.

scored: images scored; total: images of the ground truth; missing: keys of ground-truth images
without a prediction file; only_predicted: whether those were left out (else they count as images
without detections); source: the prediction folder.
"""


def score_folder(pred_dir, ground_truth, protocol='official', only_predicted=False,
                 allow_missing=False):
    """PR curves of a folder of submission files, and which images they cover.

    :param ground_truth: :class:`GroundTruth`
    :param only_predicted: score only the ground-truth images that have a prediction file
    :param allow_missing: count images without a file as images without detections
    :return: ({setting: :class:`PRCurve`}, :class:`Coverage`)
    :raises MissingPredictionsError: when no image has a file, or some have none and neither
        option allows that (one line: how many, the first few, the options)
    :raises PredictionFormatError: naming the file and line of a malformed file
    """
    predictions, missing = read_predictions(pred_dir, ground_truth.keys)
    total = len(ground_truth.keys)
    if not predictions:
        raise MissingPredictionsError(
            'none of the %d ground-truth images has a prediction file in %s (expected e.g. %s): '
            'is it the folder test_widerface.py --output wrote?'
            % (total, pred_dir, os.path.join(pred_dir, ground_truth.keys[0] + '.txt')))
    if missing and not (only_predicted or allow_missing):
        raise MissingPredictionsError(
            '%d of %d ground-truth images have no prediction file in %s (e.g. %s): pass '
            '--only-predicted to score only the %d images that have one, or --allow-missing to '
            'count the others as images without detections'
            % (len(missing), total, pred_dir, first_few(k + '.txt' for k in missing),
               len(predictions)))
    curves, _ = compute_pr_curves(predictions, ground_truth, protocol,
                                  only_predicted_images=only_predicted)
    scored = len(predictions) if only_predicted else total
    return curves, Coverage(scored, total, missing, only_predicted, pred_dir)


def format_report(curves, protocol, coverage):
    """The result as the command lines print it: a line saying which images were scored, then
    one ``<setting> <AP>%`` line per setting."""
    if coverage.only_predicted:
        scope = ('the %d images with a prediction file in %s (%d of the %d ground-truth images '
                 'have none and are left out)' % (coverage.scored, coverage.source,
                                                  len(coverage.missing), coverage.total))
    elif coverage.missing:
        scope = ('all %d ground-truth images (%d without a prediction file in %s, counted as '
                 'images without detections)' % (coverage.total, len(coverage.missing),
                                                 coverage.source))
    else:
        scope = 'all %d ground-truth images, predictions from %s' % (coverage.total, coverage.source)
    lines = ['WIDER FACE AP (%s protocol) on %s:' % (protocol, scope)]
    lines += ['%-7s %6.2f%%' % (setting, 100 * curve.ap) for setting, curve in curves.items()]
    return '\n'.join(lines)


def _write_output(write, path, what):
    """``write(path)``, with a UserError naming ``path`` when it cannot be written."""
    try:
        write(path)
    except OSError as err:
        raise UserError('cannot write the %s to %s: %s' % (what, path, err.strerror or err)) from None


def parse_args(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--pred', required=True, help='folder of <event>/<image>.txt submission files')
    parser.add_argument('--gt', required=True,
                        help='folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat, '
                             'or a RetinaFace label.txt (one setting, every face counts)')
    parser.add_argument('--protocol', choices=PROTOCOLS, default='official',
                        help='official: the MATLAB tool bit for bit; python: the Python port')
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument('--only-predicted', action='store_true',
                       help='score only the images that have a prediction file (a subset of the '
                            'split; what test_widerface.py --gt prints)')
    scope.add_argument('--allow-missing', action='store_true',
                       help='score every ground-truth image, counting those without a prediction '
                            'file as images without detections (default: they are an error)')
    parser.add_argument('--plot', help='write the PR curves to this PNG')
    parser.add_argument('--curves', help='write the PR curves as numbers (.npz or .csv)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging(logging.WARNING)
    ground_truth = load_any_ground_truth(args.gt)
    curves, coverage = score_folder(args.pred, ground_truth, args.protocol, args.only_predicted,
                                    args.allow_missing)
    lines = [format_report(curves, args.protocol, coverage)]
    if args.plot:
        _write_output(lambda path: plot_pr_curves(
            curves, path, 'WIDER FACE PR curves (%s protocol)' % args.protocol), args.plot, 'plot')
        lines.append('PR curves plotted to %s' % args.plot)
    if args.curves:
        _write_output(lambda path: save_curves(curves, path, args.protocol), args.curves, 'curves')
        lines.append('PR curves written to %s' % args.curves)
    sys.stdout.write('\n'.join(lines) + '\n')
    return 0


if __name__ == '__main__':
    cli.run_main(main)
