"""The one pixel normalisation, bit for bit against the original's float32 formula."""
import numpy as np
import pytest

from rcnn.io import image
from rcnn.processing.pixels import from_network_input, to_network_input


def original_input(im, means, stds, scale):
    """The original's loop: channel i of the tensor is (im[:, :, 2 - i] / scale - mean) / std, in
    float32 (a float32 image and the detector's float32 constants)."""
    im = im.astype(np.float32)
    means, stds = np.float32(means), np.float32(stds)
    tensor = np.zeros((1, 3) + im.shape[:2], np.float32)
    for i in range(3):
        tensor[0, i] = (im[:, :, 2 - i] / scale - means[2 - i]) / stds[2 - i]
    return tensor


@pytest.mark.parametrize('means, stds, scale', [
    ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 1.0),
    ((103.939, 116.779, 123.68), (1.0, 1.0, 1.0), 1.0),
    ((103.52, 116.28, 123.675), (57.375, 57.12, 58.395), 1.0),
    ((0.5, 0.25, 0.125), (0.229, 0.224, 0.225), 255.0),
])
def test_equals_the_originals_formula_bit_for_bit(rng, means, stds, scale):
    im = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    expected = original_input(im, means, stds, scale)
    np.testing.assert_array_equal(to_network_input(im, means, stds, scale), expected)
    jittered = (im * np.float32(1.1)).astype(np.float32)  # training feeds float32 pixels
    np.testing.assert_array_equal(image.transform(jittered, np.array(means), np.array(stds), scale),
                                  original_input(jittered, means, stds, scale))


def test_padding_is_black_before_normalisation(rng):
    im = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    means, stds = (103.52, 116.28, 123.675), (57.375, 57.12, 58.395)
    canvas = np.zeros((32, 64, 3), np.uint8)
    canvas[:30, :40] = im
    np.testing.assert_array_equal(to_network_input(im, means, stds, padded_shape=(32, 64)),
                                  original_input(canvas, means, stds, 1.0))


def test_inverse_gives_the_pixels_back(rng):
    im = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    means, stds = (103.52, 116.28, 123.675), (57.375, 57.12, 58.395)
    np.testing.assert_array_equal(from_network_input(to_network_input(im, means, stds), means, stds), im)
    assert image.transform_inverse is from_network_input
