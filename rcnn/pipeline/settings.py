"""What a batch detection job runs: the model (:data:`DetectorSpec`) and what to detect per image
(:data:`DetectionSettings`), shared by the folder pipeline, the Ray job and their options."""
import collections

from rcnn.detection.base import target_scale
from rcnn.detection.batching import DEFAULT_BATCH_SIZE
from rcnn.utils.cli_guards import DEFAULT_MAX_MEGAPIXELS

# How to build a detector in any process (a Ray actor, the pipeline's main process).
#   backend: 'mxnet' or 'onnx'; model: checkpoint prefix or .onnx file; epoch: checkpoint epoch;
#   network, nms: detector presets; threads: intra-op threads of ONNX Runtime, or MXNet's OpenMP
#   threads (0: the runtime's default, one per core).
#   ctx_id: MXNet's device (-1: the CPU, else that GPU).
DetectorSpec = collections.namedtuple('DetectorSpec', 'backend model epoch network nms threads ctx_id',
                                      defaults=(-1,))

# What to detect, per image.
#   threshold: minimum score; scale: fixed resize factor; target_size, max_size: the original's
#   per-image resize (short side to target_size, long side capped at max_size; used when
#   target_size is set); letterbox: None or (height, width) of one network input for every image;
#   flip: also run mirrored; batch_size: images per batched forward; max_megapixels: an image
#   whose network input would pass it is recorded as an error, not detected (0: no limit);
#   pyramid: also the detector's extra passes for large faces; rotations: (0,) (upright only), a
#   sorted tuple of quarter turns to try, or 'auto'.
DetectionSettings = collections.namedtuple(
    'DetectionSettings', 'threshold scale target_size max_size letterbox flip batch_size '
    'max_megapixels pyramid rotations')

# The options that set an image's network input size, named when one passes --max-megapixels.
SCALE_OPTIONS = '--scale, --target-size / --max-size or --letterbox'
DEFAULT_ROTATIONS = (0,)


def default_settings(**changes):
    """DetectionSettings with the tools' defaults (threshold 0.8, scale 1.0, batch 8, 16
    megapixels, upright only, no pyramid) changed."""
    settings = DetectionSettings(threshold=0.8, scale=1.0, target_size=None, max_size=None,
                                 letterbox=None, flip=False, batch_size=DEFAULT_BATCH_SIZE,
                                 max_megapixels=DEFAULT_MAX_MEGAPIXELS, pyramid=False,
                                 rotations=DEFAULT_ROTATIONS)
    return settings._replace(**changes)


def image_scales(settings, image_shape):
    """The resize factors of one image under ``settings`` (letterbox: [1.0], the fit is separate)."""
    if settings.letterbox is not None:
        return [1.0]
    if settings.target_size:
        return [target_scale(image_shape, settings.target_size, settings.max_size)]
    return [settings.scale]


def extra_keywords(pyramid, rotations):
    """The keywords of ``detect``/``detect_batch`` for the options that differ from the defaults
    (none at the defaults, so that the default call stays the original's)."""
    keywords = {}
    if pyramid:
        keywords['pyramid'] = True
    if rotations != DEFAULT_ROTATIONS:
        keywords['rotations'] = rotations
    return keywords
