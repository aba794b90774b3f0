"""The one pixel normalisation: BGR image -> the network's RGB input tensor, and back.

Both the detector and the training crops (:func:`rcnn.io.image.transform`) use it. Per channel it
computes, in float32 as the original does (its constants are float32 in the detector and meet a
float32 image in training), ``(pixel / scale - mean) / std``, where the constants are listed
B, G, R and output channel c (R, G, B) uses entry ``2 - c``. Steps that would not change a value
(scale 1, mean 0, std 1) are skipped, which leaves the numbers bit-identical.
"""
import numpy as np


def _rgb_column(values):
    """(3, 1, 1) float32 of B, G, R constants, reordered R, G, B to broadcast over (3, H, W)."""
    return np.asarray(values, dtype=np.float32)[::-1].reshape(3, 1, 1).copy()


def to_network_input(im, pixel_means, pixel_stds, pixel_scale=1.0, padded_shape=None):
    """Network input of one BGR image.

    :param im: (H, W, 3) BGR pixels (uint8 or float32)
    :param pixel_means, pixel_stds: per-channel constants listed B, G, R
    :param pixel_scale: pixels are divided by this first
    :param padded_shape: (H', W') >= (H, W): the image goes top-left into a black (0 before
        normalisation) canvas of this size; default (H, W)
    :return: (1, 3, H', W') float32 RGB ``(im / pixel_scale - mean) / std``
    """
    height, width = im.shape[:2]
    padded_h, padded_w = padded_shape or (height, width)
    padded = (padded_h, padded_w) != (height, width)
    tensor = (np.zeros if padded else np.empty)((1, 3, padded_h, padded_w), dtype=np.float32)
    tensor[0, :, :height, :width] = np.asarray(im).transpose(2, 0, 1)[::-1]
    planes = tensor[0]
    if pixel_scale != 1.0:
        planes /= np.float32(pixel_scale)
    if np.any(np.asarray(pixel_means) != 0):
        planes -= _rgb_column(pixel_means)
    if np.any(np.asarray(pixel_stds) != 1):
        planes /= _rgb_column(pixel_stds)
    return tensor


def from_network_input(tensor, pixel_means, pixel_stds=(1.0, 1.0, 1.0), pixel_scale=1.0):
    """(H, W, 3) uint8 BGR image of a (1, 3, H, W) tensor of :func:`to_network_input` (rounded,
    clipped to 0..255)."""
    rgb = (tensor[0] * _rgb_column(pixel_stds) + _rgb_column(pixel_means)) * pixel_scale
    return np.clip(np.rint(rgb[::-1].transpose(1, 2, 0)), 0, 255).astype(np.uint8)
