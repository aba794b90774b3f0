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
