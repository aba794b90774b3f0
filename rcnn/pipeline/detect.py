"""Detection of a batch of inputs: build the detector a :data:`DetectorSpec` names, decode files
and detect them in batched forwards, one record per input."""
import logging
import os
import sys
import time

from rcnn.errors import ImageTooLargeError
from rcnn.pipeline.inputs import decode
from rcnn.pipeline.records import detection_record, error_record
from rcnn.pipeline.settings import SCALE_OPTIONS, extra_keywords, image_scales
from rcnn.utils.cli_guards import check_network_input

log = logging.getLogger(__name__)


def build_detector(spec):
    """The detector a :data:`DetectorSpec` describes: MXNet (on the CPU unless ``ctx_id``), or ONNX Runtime with its
    threads set and its spinning off (its spinning threads slow everything else on a shared
    machine, itself included: see README)."""
    # the detectors are imported here: the ONNX path never loads MXNet, and MXNet reads
    # OMP_NUM_THREADS when it is first imported
    if spec.backend == 'onnx':
        from rcnn.detection.detector_onnx import RetinaFaceONNX
        return RetinaFaceONNX(spec.model, network=spec.network, nms=spec.nms, threads=spec.threads,
                              spinning=False)
    if spec.backend != 'mxnet':
        raise ValueError('unknown backend %r (mxnet or onnx)' % (spec.backend,))
    if spec.threads:
        if 'mxnet' in sys.modules:
            log.warning('MXNet is already loaded: its thread count stays as it is')
        os.environ['OMP_NUM_THREADS'] = str(spec.threads)
    from rcnn.detection.detector import RetinaFace
    return RetinaFace(spec.model, spec.epoch, ctx_id=spec.ctx_id, network=spec.network, nms=spec.nms)


def detect_images(detector, images, settings):
    """[(faces (N, 5), landmarks (N, 5, 2) or None)] of each image: ``detector.detect_batch`` with
    the settings' threshold, per-image scales, flip, batch size and letterbox (and pyramid /
    rotations only when they are not the defaults)."""
    return detector.detect_batch(images, settings.threshold,
                                 lambda shape: image_scales(settings, shape), settings.flip,
                                 batch_size=settings.batch_size, letterbox=settings.letterbox,
                                 **extra_keywords(settings.pyramid, settings.rotations))


def detect_files(detector, settings, items, on_image=None):
    """Decode ``items`` (:data:`InputItem`) in this process and detect faces in them.

    :param on_image: as :func:`batch_records`
    :return: (their records in order, seconds spent decoding)
    """
    start = time.perf_counter()
    batch = [decode(item, settings) for item in items]
    decoding = time.perf_counter() - start
    return batch_records(detector, settings, batch, on_image), decoding


def batch_records(detector, settings, batch, on_image=None):
    """The records of a batch of decoded inputs, in order.

    :param batch: :data:`Decoded` per input, as :func:`decode` gives
    :param on_image: called as ``on_image(key, image, faces, landmarks)`` for each decoded image
    """
    batch = [_within_budget(entry, settings) for entry in batch]
    decoded = [entry.image for entry in batch if entry.image is not None]
    detections = iter(detect_images(detector, decoded, settings)) if decoded else iter(())
    records = []
    for entry in batch:
        if entry.error is not None:
            log.warning('skipped: %s', entry.error)
            records.append(error_record(entry.key, entry.error, entry.stamp))
            continue
        faces, landmarks = next(detections)
        if on_image is not None:
            on_image(entry.key, entry.image, faces, landmarks)
        records.append(detection_record(entry.key, entry.image.shape, faces, landmarks, entry.stamp))
    return records


def _within_budget(entry, settings):
    """A decoded entry, made an error entry when the image's network input would pass
    ``settings.max_megapixels`` (a letterbox canvas is checked once, up front; most images were
    checked by their header already)."""
    if entry.image is None or settings.letterbox is not None:
        return entry
    try:
        check_network_input(entry.key, entry.image.shape, image_scales(settings, entry.image.shape),
                            settings.max_megapixels, SCALE_OPTIONS)
    except ImageTooLargeError as err:
        return entry._replace(image=None, error=str(err))
    return entry
