"""Quarter turns of an image, and detections on a turned image mapped back to the input's pixels.

An angle ``a`` in ``rotations`` (:meth:`rcnn.detection.base.DetectorBase.detect`) means: the input
is turned ``a`` degrees CLOCKWISE before the forward. So ``90`` finds the faces of a photo that
lies turned 90 degrees counter-clockwise (its people's heads point to the image's left); 270 those
of a photo turned 90 degrees clockwise (heads to the right); 180 those of an upside-down photo.

Detections made on the turned image are mapped back point by point (pixel indices, as the flip
maps them): boxes become the axis-aligned box of the two mapped corners, and each landmark stays
the same point of the face (no reordering: the subject's eye nearer the upright picture's left
stays point 0), so :func:`rcnn.processing.align.align` on the input gives upright crops.
"""
import collections.abc
import numbers

import cv2
import numpy as np

from rcnn.errors import DetectorError

QUARTER_TURNS = (0, 90, 180, 270)
AUTO = 'auto'

_CV2_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def check_rotations(rotations):
    """``rotations`` as a tuple of distinct quarter turns (ints of :data:`QUARTER_TURNS`, in the
    given order) or :data:`AUTO`; DetectorError otherwise."""
    if isinstance(rotations, str) and rotations == AUTO:
        return AUTO
    if isinstance(rotations, (str, bytes)) or not isinstance(rotations, collections.abc.Iterable):
        raise DetectorError("rotations must be a tuple of quarter turns from 0, 90, 180, 270 "
                            "(degrees clockwise) or 'auto', got %r" % (rotations,))
    turns = tuple(rotations)
    valid = all(isinstance(turn, numbers.Integral) and not isinstance(turn, bool)
                and turn in QUARTER_TURNS for turn in turns)
    if not turns or not valid or len(set(turns)) != len(turns):
        raise DetectorError("rotations must be distinct quarter turns from 0, 90, 180, 270 (degrees "
                            "clockwise; at least one) or 'auto', got %r" % (rotations,))
    return tuple(int(turn) for turn in turns)


def turn_image(img, angle):
    """``img`` turned ``angle`` degrees clockwise (a quarter turn; 0 returns ``img`` itself)."""
    return img if angle == 0 else cv2.rotate(img, _CV2_ROTATE[angle])


def turned_shape(image_shape, angle):
    """(H, W) of an (H, W, ...) image after turning it by ``angle``."""
    height, width = image_shape[:2]
    return (width, height) if angle in (90, 270) else (height, width)


def unturn_points(points, angle, image_shape):
    """Points of the turned image mapped back to the image before the turn.

    :param points: (..., 2) float (x, y) pixels of the image turned by ``angle``
    :param image_shape: (H, W, ...) of the image BEFORE the turn
    :return: (..., 2) float64 (x, y) pixels of that image
    """
    height, width = image_shape[:2]
    x, y = points[..., 0], points[..., 1]
    if angle == 90:
        x, y = y, height - 1 - x
    elif angle == 180:
        x, y = width - 1 - x, height - 1 - y
    elif angle == 270:
        x, y = width - 1 - y, x
    return np.stack((x, y), axis=-1).astype(np.float64)


def unturn_candidates(candidates, angle, image_shape):
    """A forward's candidates (:mod:`rcnn.detection.decoding`) on the turned image, in the pixels of
    the image before the turn (``image_shape``); a new dict (the input is not changed)."""
    if angle == 0:
        return candidates
    corners = unturn_points(candidates['boxes'].reshape(-1, 2, 2), angle, image_shape)
    found = dict(candidates, boxes=np.concatenate((corners.min(axis=1), corners.max(axis=1)), axis=1))
    if 'landmarks' in candidates:
        found['landmarks'] = unturn_points(candidates['landmarks'], angle, image_shape)
    return found

