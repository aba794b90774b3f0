"""The detector presets: anchors and pixel normalisation by name, the one table of them.

A detector preset (``net3``, ``net3a``, ..., ``x5``, ``ssh``, ``vgg``: the names of the original's
``RetinaFace(network=...)``) says which anchors a checkpoint was trained with and how its input
pixels are normalised. The detector (:mod:`rcnn.detection.detector`) and the training configuration
(``sample_config.py``'s ``RAC_*`` anchor settings) both build theirs from :data:`DETECTOR_PRESETS`.
Training records its preset in the checkpoint's meta JSON under :data:`META_KEY`.

Anchor scales are multiples of the 16-pixel base anchor; ratios are height / width. Pixel means and
stds are listed B, G, R, as the original lists them (see :mod:`rcnn.processing.pixels`).
"""
import collections
import itertools

# Key of the checkpoint meta JSON (``<prefix>-<epoch>.json``) that names the detector preset.
META_KEY = 'detector_preset'

# The base anchor side in pixels, and the border beyond which the original dropped anchors.
BASE_SIZE = 16
ALLOWED_BORDER = 9999

IMAGENET_BGR_MEANS = (103.939, 116.779, 123.68)
X_BGR_MEANS = (103.52, 116.28, 123.675)
X_BGR_STDS = (57.375, 57.12, 58.395)
NO_MEANS = (0.0, 0.0, 0.0)
NO_STDS = (1.0, 1.0, 1.0)


def _octave_scales(strides, per_level=3):
    """{stride: scales}: ``per_level`` scales per stride, each 2^(1/3) times the one before,
    continuing from stride to stride (RetinaNet's anchors). The scales are a running product, as
    the original computes them, so that they are bit-identical to its anchors."""
    step = 2.0 ** (1.0 / 3)
    running = itertools.accumulate(itertools.repeat(step), lambda scale, factor: scale * factor,
                                   initial=1.0)
    return {stride: tuple(itertools.islice(running, per_level)) for stride in strides}


# Anchor scales per stride (strides in descending order) by number of FPN levels.
ANCHOR_SCALES_BY_LEVELS = {
    3: {32: (32, 16), 16: (8, 4), 8: (2, 1)},
    4: {32: (32, 16), 16: (8, 4), 8: (2, 1), 4: (2, 1)},
    5: dict(sorted(_octave_scales((4, 8, 16, 32, 64)).items(), reverse=True)),
    6: {128: (32,), 64: (16,), 32: (8,), 16: (4,), 8: (2,), 4: (1,)},
}

DetectorPreset = collections.namedtuple('DetectorPreset', 'levels ratios pixel_means pixel_stds')
DetectorPreset.__doc__ = """One detector preset.

:param levels: number of FPN levels (a key of :data:`ANCHOR_SCALES_BY_LEVELS`)
:param ratios: anchor aspect ratios (height / width)
:param pixel_means, pixel_stds: per-channel constants listed B, G, R
"""

DETECTOR_PRESETS = {
    'net3': DetectorPreset(3, (1.0,), NO_MEANS, NO_STDS),
    'net3a': DetectorPreset(3, (1.0, 1.5), NO_MEANS, NO_STDS),
    'net4': DetectorPreset(4, (1.0,), NO_MEANS, NO_STDS),
    'net4a': DetectorPreset(4, (1.0, 1.5), NO_MEANS, NO_STDS),
    'net5': DetectorPreset(5, (1.0,), NO_MEANS, NO_STDS),
    'net5a': DetectorPreset(5, (1.0, 1.5), NO_MEANS, NO_STDS),
    'net6': DetectorPreset(6, (1.0,), NO_MEANS, NO_STDS),
    'ssh': DetectorPreset(3, (1.0,), IMAGENET_BGR_MEANS, NO_STDS),
    'vgg': DetectorPreset(3, (1.0,), IMAGENET_BGR_MEANS, NO_STDS),
    'x3': DetectorPreset(3, (1.0,), X_BGR_MEANS, X_BGR_STDS),
    'x3a': DetectorPreset(3, (1.0, 1.5), X_BGR_MEANS, X_BGR_STDS),
    'x5': DetectorPreset(5, (1.0,), X_BGR_MEANS, X_BGR_STDS),
}


def detector_preset(name):
    """The :class:`DetectorPreset` called ``name``; ValueError naming the presets otherwise."""
    try:
        return DETECTOR_PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError('unknown detector preset %r: choose one of %s'
                         % (name, ', '.join(DETECTOR_PRESETS))) from None


def anchor_config(name):
    """``{'<stride>': {'SCALES', 'BASE_SIZE', 'RATIOS', 'ALLOWED_BORDER'}}`` of a detector preset:
    the ``RPN_ANCHOR_CFG`` form that :func:`generate_anchor.generate_anchors_fpn` takes."""
    preset = detector_preset(name)
    return {str(stride): {'SCALES': scales, 'BASE_SIZE': BASE_SIZE, 'RATIOS': preset.ratios,
                          'ALLOWED_BORDER': ALLOWED_BORDER}
            for stride, scales in ANCHOR_SCALES_BY_LEVELS[preset.levels].items()}


def strides(name):
    """Strides of a detector preset's FPN levels, descending (e.g. [32, 16, 8])."""
    return list(ANCHOR_SCALES_BY_LEVELS[detector_preset(name).levels])


def anchors_per_position(name):
    """Anchors per feature-map position and stride of a detector preset."""
    preset = detector_preset(name)
    scales = next(iter(ANCHOR_SCALES_BY_LEVELS[preset.levels].values()))
    return len(scales) * len(preset.ratios)


def presets_with_layout(layout_strides, layout_anchors):
    """Names of the presets with these strides (descending) and anchors per position."""
    return [name for name in DETECTOR_PRESETS
            if strides(name) == list(layout_strides) and anchors_per_position(name) == layout_anchors]
