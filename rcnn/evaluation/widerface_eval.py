"""WIDER FACE validation AP: the official MATLAB protocol bit for bit, or the Python port's.

The evaluator's entry points. From Python::

    from rcnn.evaluation.widerface_eval import evaluate
    evaluate('wout', 'data/widerface_eval_gt')          # {'easy': ap, 'medium': ap, 'hard': ap}

From the command line: ``python tools/widerface_eval.py --pred wout --gt data/widerface_eval_gt``
(installed as ``retinaface-widerface-eval``). By default every image of the ground truth must have
a prediction file; :func:`score_folder` says how a folder with fewer is scored.

The parts, one job each: :mod:`~rcnn.evaluation.ground_truth` (the .mat files, label.txt),
:mod:`~rcnn.evaluation.predictions` (submission files), :mod:`~rcnn.evaluation.average_precision`
(the protocol: matching, normalised scores, PR curves, AP; its docstring describes both
protocols), :mod:`~rcnn.evaluation.report` (printed lines, plots, curve files).

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
"""
import logging
import os

from rcnn.errors import MissingPredictionsError
from rcnn.evaluation.average_precision import (BOX_FORMATS, PROTOCOLS, THRESHOLDS, PRCurve, compute_pr_curves,
                                               matlab_round, voc_ap)
from rcnn.evaluation.ground_truth import (SETTINGS, GroundTruth, image_key, load_any_ground_truth,
                                          load_ground_truth, load_label_txt)
from rcnn.evaluation.predictions import read_prediction_file, read_predictions
from rcnn.evaluation.report import Coverage, format_report
from rcnn.utils.cli_guards import first_few

# The evaluator's public names, importable from this module as they always were.
__all__ = ['BOX_FORMATS', 'PROTOCOLS', 'SETTINGS', 'THRESHOLDS', 'Coverage', 'GroundTruth', 'PRCurve',
           'compute_pr_curves', 'evaluate', 'evaluate_curves', 'evaluate_label_txt', 'format_report',
           'image_key', 'load_any_ground_truth', 'load_ground_truth', 'load_label_txt', 'matlab_round',
           'read_prediction_file', 'read_predictions', 'score_folder', 'voc_ap']

logger = logging.getLogger(__name__)


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



if __name__ == '__main__':  # the command line moved: say where, rather than exit 0 doing nothing
    import sys
    sys.exit('error: the evaluator\'s command is now "python tools/widerface_eval.py" (installed as '
             '"retinaface-widerface-eval"), with the same options')
