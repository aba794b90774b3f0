"""Checks of the detector's inputs and options: each returns the checked value or raises a
one-line :class:`rcnn.errors.DetectorError` saying what it got.

Images are (H, W, 3) uint8 BGR arrays as ``cv2.imread`` gives them (:func:`to_bgr` converts grey
and BGRA), or image files' paths (:func:`checked_image` reads them through the one image reader).
"""
import collections.abc
import math
import numbers

import cv2
import numpy as np

from rcnn.errors import DetectorError
from rcnn.utils.image_file import read_image_file


def _describe_values(img):
    """' values in [lo, hi]' or ' values with NaN' of a numeric array, for error messages."""
    if img.size == 0 or not (np.issubdtype(img.dtype, np.number) or img.dtype == bool):
        return ''
    if np.issubdtype(img.dtype, np.floating) and np.isnan(img).any():
        return ' values with NaN'
    return ' values in [%g, %g]' % (img.min(), img.max())


def to_bgr(img, name='image'):
    """The (H, W, 3) uint8 BGR image the detector takes, from an image as ``cv2.imread`` gives it.

    Grey (H, W) / (H, W, 1) and BGRA (H, W, 4) uint8 images are converted (alpha is dropped);
    anything else that is not (H, W, 3) uint8 with H, W >= 1 is refused.

    :param name: what to call the image in error messages
    :raises DetectorError: saying what was given (type, dtype and value range, or shape)
    """
    if not isinstance(img, np.ndarray):
        hint = (' (cv2.imread returns None for a file it cannot read; '
                'rcnn.utils.image_file.read_image_file says why)' if img is None else '')
        raise DetectorError('%s: expected a numpy (H, W, 3) uint8 BGR array, got %s%s'
                            % (name, type(img).__name__, hint))
    if img.dtype != np.uint8:
        raise DetectorError('%s: expected uint8 BGR pixels 0..255 as cv2.imread gives them, got %s%s'
                            % (name, img.dtype, _describe_values(img)))
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2 and img.size:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4 and img.size:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise DetectorError('%s: expected a grey (H, W), BGR (H, W, 3) or BGRA (H, W, 4) image with '
                            'H, W >= 1, got shape %s' % (name, img.shape))
    return img


def is_number(value):
    """Whether ``value`` is a finite real number (bools excluded)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_threshold(threshold):
    """``threshold`` as a float in [0, 1]; DetectorError otherwise."""
    if not is_number(threshold) or not 0.0 <= threshold <= 1.0:
        raise DetectorError('threshold must be a face score in [0, 1], got %r' % (threshold,))
    return float(threshold)


def check_scales(scales):
    """``scales`` as a list of finite factors > 0 (at least one); DetectorError otherwise."""
    if isinstance(scales, (str, bytes)) or not isinstance(scales, collections.abc.Iterable):
        raise DetectorError('scales must be a list of resize factors such as [1.0], got %r' % (scales,))
    scales = list(scales)
    bad = [scale for scale in scales if not is_number(scale) or scale <= 0]
    if not scales or bad:
        raise DetectorError('scales must be finite resize factors > 0 (at least one), got %r'
                            % (scales,))
    return scales


def check_nms(nms):
    """``nms`` as a float <= 1: an IoU in (0, 1], or the original's modes 0 (keep every box) and
    < 0 (keep every box, with a stride column); DetectorError otherwise."""
    if not is_number(nms) or nms > 1.0:
        raise DetectorError('nms must be an IoU in (0, 1] (0: keep every box, < 0: keep every box '
                            'and add the stride column), got %r' % (nms,))
    return float(nms)


def check_batch_size(batch_size):
    """``batch_size`` as an int >= 1; DetectorError otherwise."""
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise DetectorError('batch_size must be an int >= 1, got %r' % (batch_size,))
    return int(batch_size)


def check_letterbox(letterbox):
    """``letterbox`` as (H, W) ints > 0, or None; DetectorError otherwise."""
    if letterbox is None:
        return None
    try:
        height, width = letterbox
        valid = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
                    for v in (height, width))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise DetectorError('letterbox must be (height, width) in pixels, two ints > 0, got %r'
                            % (letterbox,))
    return int(height), int(width)


def check_pyramid(pyramid):
    """``pyramid`` as a bool (True or False, not another value); DetectorError otherwise."""
    if not isinstance(pyramid, (bool, np.bool_)):
        raise DetectorError('pyramid must be True or False, got %r' % (pyramid,))
    return bool(pyramid)


def check_decay4(decay4):
    """``decay4`` as a float >= 0 (the multiplier of stride-4 scores); DetectorError otherwise."""
    if not is_number(decay4) or decay4 < 0:
        raise DetectorError('decay4 must be a finite factor >= 0, got %r' % (decay4,))
    return float(decay4)


def checked_image(img):
    """The checked (H, W, 3) uint8 BGR image of an array (:func:`to_bgr`) or of an image file's
    path (read by :func:`rcnn.utils.image_file.read_image_file`, ImageFileError naming it)."""
    if isinstance(img, str):
        return read_image_file(img)
    return to_bgr(img)
