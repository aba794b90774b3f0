"""Batched detection: many images, one forward per group of network inputs of the same shape.

:func:`detect_batch` (``DetectorBase.detect_batch``) preprocesses the images one by one, collects
the network inputs by shape, and runs a group as one (N, 3, H, W) forward as soon as it holds
``batch_size`` inputs; when more than ``2 * batch_size`` inputs wait in smaller groups (images of
mixed sizes), the largest group runs, input by input, so at most ``2 * batch_size`` preprocessed
inputs are held at a time. Only full groups run as one batched forward: MXNet binds (and its MKLDNN
back end prepares) an executor per input shape, batch included, which costs more than batching
saves unless the same few shapes repeat.
Each image's forwards are decoded and merged exactly as :meth:`detect` does, so the results equal
``detect()`` called image by image (up to the float rounding of a batched convolution).

Letterbox mode (``letterbox=(H, W)``) makes images of any size one network input shape: each image
is resized to fit H x W (factor ``min(H / h, W / w)``, up or down) and padded with black at the
bottom and right. Detections are mapped back to the original pixels. The padding changes what the
network sees near the padded border, so detections differ slightly from unpadded ``detect()`` at
the same factor (README gives the measured figures).
"""
import collections

import numpy as np

DEFAULT_BATCH_SIZE = 8

# One network input waiting for its group's forward: which image, which of its forwards, and how
# preprocess made it.
_Pending = collections.namedtuple('_Pending', 'image job tensor image_size im_scale flip')


def letterbox_scale(image_shape, size):
    """The factor that fits an (h, w, ...) image into ``size`` (H, W): ``min(H / h, W / w)``."""
    return min(float(size[0]) / image_shape[0], float(size[1]) / image_shape[1])


def _forwards(image_shape, scales, do_flip, letterbox, nocrop):
    """(im_scale, flip, pad_to) of each forward of one image, in ``detect()``'s order."""
    flips = (False, True) if do_flip else (False,)
    if letterbox is None:
        return [(scale, flip, None) for scale in scales for flip in flips]
    fit = letterbox_scale(image_shape, letterbox)
    forwards = []
    for scale in scales:
        canvas = [int(round(side * scale)) for side in letterbox]
        if nocrop:
            canvas = [-(-side // 32) * 32 for side in canvas]
        forwards += [(fit * scale, flip, tuple(canvas)) for flip in flips]
    return forwards


def detect_batch(detector, images, threshold, scales_of, do_flip, batch_size, letterbox):
    """See :meth:`rcnn.detection.base.DetectorBase.detect_batch` (it checks the arguments).

    :param scales_of: function of an image's shape (H, W, 3) returning its checked resize factors
    """
    candidates = []
    pending = collections.OrderedDict()  # input shape -> [_Pending], oldest group first

    def run(shape):
        group = pending.pop(shape)
        # a full group runs as one forward; a partial one input by input, so that a runtime that
        # binds per input shape (MXNet) binds only batch 1 and batch_size, not every size between
        chunks = [group] if len(group) == batch_size else [[item] for item in group]
        for chunk in chunks:
            outputs = detector.forward_batch(np.concatenate([item.tensor for item in chunk]))
            for row, item in enumerate(chunk):
                candidates[item.image][item.job] = detector.decode_forward(
                    [out[row:row + 1] for out in outputs], threshold, item.image_size,
                    item.im_scale, item.flip)

    for index, img in enumerate(images):
        img = detector.checked_image(img)
        forwards = _forwards(img.shape, scales_of(img.shape), do_flip, letterbox, detector.nocrop)
        candidates.append([None] * len(forwards))
        for job, (im_scale, flip, pad_to) in enumerate(forwards):
            tensor, image_size = detector.preprocess(img, im_scale, flip, pad_to=pad_to)
            group = pending.setdefault(tensor.shape, [])
            group.append(_Pending(index, job, tensor, image_size, im_scale, flip))
            if len(group) == batch_size:
                run(tensor.shape)
            elif sum(len(waiting) for waiting in pending.values()) > 2 * batch_size:
                run(max(pending, key=lambda shape: len(pending[shape])))
    while pending:
        run(next(iter(pending)))
    return [detector.merge_candidates(image_candidates) for image_candidates in candidates]
