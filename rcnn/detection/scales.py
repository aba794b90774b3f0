"""Resize factors of the detector's forwards."""
import numpy as np


def target_scale(image_shape, target_size, max_size):
    """The original's resize factor: short side to ``target_size``, unless the long side would
    then pass ``max_size`` (rounded), in which case the long side goes to ``max_size``."""
    short_side, long_side = min(image_shape[:2]), max(image_shape[:2])
    scale = float(target_size) / short_side
    if np.round(scale * long_side) > max_size:
        scale = float(max_size) / long_side
    return scale


# Pyramid passes: each shrinks the one before by this factor, until the image's long side is at
# most PYRAMID_WHOLE_SIDE pixels (a face filling that frame fits the 512-pixel anchors of stride 32).
PYRAMID_STEP = 4.0
PYRAMID_WHOLE_SIDE = 320


def pyramid_scales(image_shape, scales):
    """The extra resize factors of ``pyramid=True``: from the smallest requested factor, divided by
    :data:`PYRAMID_STEP` each time, while the pass before has a long side over
    :data:`PYRAMID_WHOLE_SIDE` pixels. So faces from those the requested scales see up to the whole
    image are found (each pass finds faces of about 10 to 500 pixels; a factor 4 apart they overlap).

    :param image_shape: (H, W, ...) of the image
    :param scales: the requested (checked) factors
    :return: list of factors, descending (empty when the image is already small enough)

    E.g. a 1024x683 image at [1.0]: [0.25] (one pass at a 256-pixel long side, 1/16 of the
    pixels); 2400x1600: [0.25, 0.0625].
    """
    long_side = max(image_shape[:2])
    factor, extra = min(scales), []
    while long_side * factor > PYRAMID_WHOLE_SIDE:
        factor /= PYRAMID_STEP
        extra.append(factor)
    return extra
