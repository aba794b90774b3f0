"""The record of one image's result, as the folder pipeline (JSON lines) and the Ray job (Parquet)
write it.

Fields (``RECORD_FIELDS``): path (the input's key), width, height, boxes (N x [x1, y1, x2, y2]
pixels, inclusive "+1" widths), scores (N), landmarks (N x 5 x [x, y], the detector's order),
error (None, or why the file could not be read or was not detected: then width, height, boxes,
scores and landmarks are None), bytes and mtime_ns (the input file's size and modification time
when it was read, so that a rerun sees a changed input).
"""
import hashlib
import os

import numpy as np

RECORD_FIELDS = ('path', 'width', 'height', 'boxes', 'scores', 'landmarks', 'error', 'bytes', 'mtime_ns')
_COORDINATE_DECIMALS = 2
_SCORE_DECIMALS = 5


def _rounded(values, decimals):
    return np.round(np.asarray(values, dtype=np.float64), decimals).tolist()


def detection_record(key, image_shape, faces, landmarks, stamp=(None, None)):
    """The record of one image; coordinates rounded to 0.01 px, scores to 1e-5.

    :param stamp: (bytes, mtime_ns) of the input file
    """
    return {'path': key, 'width': int(image_shape[1]), 'height': int(image_shape[0]),
            'boxes': _rounded(np.reshape(faces[:, :4], (-1, 4)), _COORDINATE_DECIMALS),
            'scores': _rounded(faces[:, 4], _SCORE_DECIMALS),
            'landmarks': (_rounded(landmarks, _COORDINATE_DECIMALS)
                          if landmarks is not None else None),
            'error': None, 'bytes': stamp[0], 'mtime_ns': stamp[1]}


def error_record(key, message, stamp=(None, None)):
    """The record of an image that could not be read or was not detected."""
    record = dict.fromkeys(RECORD_FIELDS)
    record.update(path=key, error=message, bytes=stamp[0], mtime_ns=stamp[1])
    return record


def file_stamp(path):
    """(size in bytes, mtime in ns) of a file, (None, None) when it cannot be stat'ed."""
    try:
        stat = os.stat(path)
    except OSError:
        return None, None
    return stat.st_size, stat.st_mtime_ns


def record_schema():
    """The pyarrow schema of the records (for Parquet)."""
    import pyarrow as pa
    coordinates = pa.list_(pa.float64())
    return pa.schema([('path', pa.string()), ('width', pa.int32()), ('height', pa.int32()),
                      ('boxes', pa.list_(coordinates)), ('scores', coordinates),
                      ('landmarks', pa.list_(pa.list_(coordinates))), ('error', pa.string()),
                      ('bytes', pa.int64()), ('mtime_ns', pa.int64())])


def output_name(key, suffix):
    """A file name unique per input key: ``<stem>-<8 hex digits of the key's sha1><suffix>``."""
    stem = os.path.splitext(os.path.basename(key))[0] or 'image'
    return '%s-%s%s' % (stem, hashlib.sha1(key.encode('utf-8')).hexdigest()[:8], suffix)
