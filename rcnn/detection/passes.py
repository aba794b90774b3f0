"""The forwards ("passes") of one image: which turn, resize factor, flip and padding each runs.

:func:`plan_passes` lists them in the order their candidates are merged: turns, then the
requested scales (then the pyramid's extra ones), then flips; the default call (turn 0, no
pyramid) is the original's order (scales, then flips).
"""
import collections

import numpy as np

from rcnn.detection.scales import pyramid_scales
from rcnn.detection.turns import turned_shape

# One forward: the input turned ``turn`` degrees clockwise, resized by ``im_scale``, mirrored when
# ``flip``, padded at the bottom and right to ``pad_to`` (H, W) or not (None); faces whose longer
# side is under ``min_side`` pixels of the network input are dropped (0: none is).
Pass = collections.namedtuple('Pass', 'turn im_scale flip pad_to min_side')
Pass.__new__.__defaults__ = (0,)

# Smallest face (longer side, pixels of its pass) a pyramid pass keeps: smaller ones are the
# requested passes' to find (PYRAMID_STEP times larger there), and what a pass at a quarter of the
# resolution adds below that is mostly false positives and worse boxes.
PYRAMID_MIN_SIDE = 32


def letterbox_scale(image_shape, size):
    """The factor that fits an (h, w, ...) image into ``size`` (H, W): ``min(H / h, W / w)``."""
    return min(float(size[0]) / image_shape[0], float(size[1]) / image_shape[1])


def plan_passes(image_shape, scales, do_flip=False, turns=(0,), pyramid=False, letterbox=None,
                nocrop=False):
    """The passes of one image.

    :param image_shape: (H, W, ...) of the input image
    :param scales: checked resize factors
    :param turns: quarter turns (degrees clockwise) to run, each with every scale and flip
    :param pyramid: add :func:`rcnn.detection.scales.pyramid_scales` to the scales
    :param letterbox: None, or (H, W): each factor resizes the turned image to fit H x W times
        the factor, padded to that canvas (rounded up to a multiple of 32 with ``nocrop``)
    :return: list of :class:`Pass`
    """
    flips = (False, True) if do_flip else (False,)
    passes = []
    for turn in turns:
        shape = turned_shape(image_shape, turn)
        fit = 1.0 if letterbox is None else letterbox_scale(shape, letterbox)
        fitted = (shape[0] * fit, shape[1] * fit)
        extra = pyramid_scales(fitted, scales) if pyramid else []
        for scale in list(scales) + extra:
            pad_to = None
            if letterbox is not None:
                pad_to = tuple(int(round(side * scale)) for side in letterbox)
                if nocrop:
                    pad_to = tuple(-(-side // 32) * 32 for side in pad_to)
            min_side = PYRAMID_MIN_SIDE if scale in extra else 0
            passes += [Pass(turn, fit * scale if letterbox is not None else scale, flip, pad_to, min_side)
                       for flip in flips]
    return passes


def drop_small(candidates, step):
    """The candidates of a pass without the faces under its ``min_side`` (the same dict when it
    is 0)."""
    if not step.min_side:
        return candidates
    boxes = candidates['boxes']
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) + 1
    keep = sides * step.im_scale >= step.min_side
    return {key: value[keep] for key, value in candidates.items()}
