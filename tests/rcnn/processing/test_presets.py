"""The one table of detector presets, against the original's definitions written out."""
import numpy as np
import pytest

import sample_config
from rcnn.dataset import imdb
from rcnn.processing import landmarks, presets


def original_anchor_cfg(levels, ratios):
    """The original detector's anchor settings for a number of FPN levels (its fmc), written out."""
    if levels == 5:
        cfg, step, scale = {}, 2.0 ** (1.0 / 3), 1.0
        for stride in (4, 8, 16, 32, 64):
            scales = []
            for _ in range(3):
                scales.append(scale)
                scale *= step
            cfg[str(stride)] = tuple(scales)
    else:
        cfg = {3: {'32': (32, 16), '16': (8, 4), '8': (2, 1)},
               4: {'32': (32, 16), '16': (8, 4), '8': (2, 1), '4': (2, 1)},
               6: {'128': (32,), '64': (16,), '32': (8,), '16': (4,), '8': (2,), '4': (1,)}}[levels]
    return {stride: {'SCALES': scales, 'BASE_SIZE': 16, 'RATIOS': ratios, 'ALLOWED_BORDER': 9999}
            for stride, scales in cfg.items()}


IMAGENET, X_MEANS, X_STDS = [103.939, 116.779, 123.68], [103.52, 116.28, 123.675], [57.375, 57.12, 58.395]
ORIGINAL = {  # name: (levels, ratios, BGR means, BGR stds), as the original's RetinaFace.__init__ sets them
    'net3': (3, (1.0,), [0, 0, 0], [1, 1, 1]), 'net3a': (3, (1.0, 1.5), [0, 0, 0], [1, 1, 1]),
    'net4': (4, (1.0,), [0, 0, 0], [1, 1, 1]), 'net4a': (4, (1.0, 1.5), [0, 0, 0], [1, 1, 1]),
    'net5': (5, (1.0,), [0, 0, 0], [1, 1, 1]), 'net5a': (5, (1.0, 1.5), [0, 0, 0], [1, 1, 1]),
    'net6': (6, (1.0,), [0, 0, 0], [1, 1, 1]), 'ssh': (3, (1.0,), IMAGENET, [1, 1, 1]),
    'vgg': (3, (1.0,), IMAGENET, [1, 1, 1]), 'x3': (3, (1.0,), X_MEANS, X_STDS),
    'x3a': (3, (1.0, 1.5), X_MEANS, X_STDS), 'x5': (5, (1.0,), X_MEANS, X_STDS),
}


@pytest.mark.parametrize('name', sorted(ORIGINAL))
def test_presets_are_the_originals(name):
    levels, ratios, means, stds = ORIGINAL[name]
    assert presets.anchor_config(name) == original_anchor_cfg(levels, ratios)  # scales bit for bit
    preset = presets.DETECTOR_PRESETS[name]
    assert list(preset.pixel_means) == means and list(preset.pixel_stds) == stds
    assert presets.strides(name) == sorted((int(s) for s in original_anchor_cfg(levels, ratios)), reverse=True)
    assert presets.anchors_per_position(name) == len(ratios) * (1 if levels == 6 else 3 if levels == 5 else 2)


def test_the_training_anchor_settings_come_from_the_same_table():
    assert sample_config.RAC_SSH == original_anchor_cfg(3, (1.0,))
    assert sample_config.RAC_SSH2 == original_anchor_cfg(3, (1.0, 1.5))
    assert sample_config.RAC_SSH3 == original_anchor_cfg(4, (1.0, 1.5))
    assert sample_config.RAC_RETINA == original_anchor_cfg(5, (1.0,))


def test_presets_with_a_layout():
    assert presets.presets_with_layout([32, 16, 8], 2) == ['net3', 'ssh', 'vgg', 'x3']
    assert presets.presets_with_layout([64, 32, 16, 8, 4], 6) == ['net5a']
    assert presets.presets_with_layout([32, 16], 2) == []
    with pytest.raises(ValueError, match="^unknown detector preset 'net7': choose one of net3, net3a"):
        presets.detector_preset('net7')


def test_one_landmark_flip_order():
    assert imdb.FLIP_ORDER is landmarks.FLIP_ORDER == (1, 0, 2, 4, 3)
    names = np.array(landmarks.LANDMARK_NAMES)
    swapped = [name.replace('left', 'x').replace('right', 'left').replace('x', 'right') for name in names]
    assert list(names[list(landmarks.FLIP_ORDER)]) == swapped  # a flip swaps left and right, keeps the nose
