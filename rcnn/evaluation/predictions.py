"""WIDER FACE submission files: ``<pred>/<event>/<image>.txt``.

Line 1 ``<event>/<image>.jpg``, line 2 the number of faces N, then N lines ``x y w h score`` in
original-image pixels with ``w = x2 - x1 + 1`` (any score range).
"""
import os

import numpy as np

from rcnn.errors import MissingPredictionsError, PredictionFormatError
from rcnn.utils.text_file import NotUTF8, read_utf8


def _text_lines(path):
    """The lines of a UTF-8 text file.

    :raises PredictionFormatError: naming the line of the first byte that is not UTF-8
    """
    try:
        return read_utf8(path).splitlines()
    except NotUTF8 as err:
        raise PredictionFormatError(path, err.line, '%s; is it a submission file?' % err) from None


def read_prediction_file(path):
    """One submission file.

    :return: (N, 5) float64 [x, y, w, h, score] in file order.
    :raises PredictionFormatError: naming the file and line at fault.
    """
    lines = _text_lines(path)
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

