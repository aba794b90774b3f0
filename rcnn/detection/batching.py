"""Batched detection: many images, one forward per group of network inputs of the same shape.

:func:`detect_batch` (``DetectorBase.detect_batch``) preprocesses the images one by one, collects
the network inputs by shape, and runs a group as one (N, 3, H, W) forward as soon as it holds
``batch_size`` inputs; when more than ``2 * batch_size`` inputs wait in smaller groups (images of
mixed sizes), the largest group runs, input by input, so at most ``2 * batch_size`` preprocessed
inputs are held at a time. Only full groups run as one batched forward: MXNet binds (and its MKLDNN
back end prepares) an executor per input shape, batch included, which costs more than batching
saves unless the same few shapes repeat.
Each image's forwards (its passes: :mod:`rcnn.detection.passes`, turns and pyramid included) are
decoded and merged exactly as :meth:`detect` does, so the results equal ``detect()`` called image
by image (up to the float rounding of a batched convolution). With ``rotations='auto'`` the
upright passes are batched; the rest of an image's orientation search runs, unbatched, as soon as
they are decoded (so the image is held until then).

Letterbox mode (``letterbox=(H, W)``) makes images of any size one network input shape: each image
is resized to fit H x W (factor ``min(H / h, W / w)``, up or down) and padded with black at the
bottom and right. Detections are mapped back to the original pixels. The padding changes what the
network sees near the padded border, so detections differ slightly from unpadded ``detect()`` at
the same factor (README gives the measured figures).
"""
import collections

import numpy as np

from rcnn.detection.passes import drop_small, letterbox_scale, plan_passes  # noqa: F401  (bench_folder)
from rcnn.detection.turns import AUTO, turn_image, unturn_candidates

DEFAULT_BATCH_SIZE = 8

# One network input waiting for its group's forward: which image, which of its passes, the pass
# (:class:`rcnn.detection.passes.Pass`), and the size of the image it fed to the network.
_Pending = collections.namedtuple('_Pending', 'image job tensor image_size step')


def detect_batch(detector, images, threshold, scales_of, do_flip, batch_size, letterbox,
                 rotations=(0,), pyramid=False):
    """See :meth:`rcnn.detection.base.DetectorBase.detect_batch` (it checks the arguments).

    :param scales_of: function of an image's shape (H, W, 3) returning its checked resize factors
    :param rotations: checked quarter turns, or 'auto': the upright passes are batched, the rest of
        an image's search (:meth:`~rcnn.detection.base.DetectorBase.auto_turn_candidates`) runs
        when they are done
    """
    auto = rotations == AUTO
    candidates, results, images_left = [], [], {}
    pending = collections.OrderedDict()  # input shape -> [_Pending], oldest group first

    def finish(index):
        """Merge an image whose passes are all decoded (after the rest of 'auto')."""
        img, _, scales, _ = images_left.pop(index)
        found = candidates[index]
        if auto:
            found = found + detector.auto_turn_candidates(img, threshold, scales, do_flip, pyramid,
                                                          found, letterbox)
        results[index] = detector.merge_candidates(found)
        candidates[index] = None

    def run(shape):
        group = pending.pop(shape)
        # a full group runs as one forward; a partial one input by input, so that a runtime that
        # binds per input shape (MXNet) binds only batch 1 and batch_size, not every size between
        chunks = [group] if len(group) == batch_size else [[item] for item in group]
        for chunk in chunks:
            outputs = detector.forward_batch(np.concatenate([item.tensor for item in chunk]))
            for row, item in enumerate(chunk):
                found = detector.decode_forward([out[row:row + 1] for out in outputs], threshold,
                                                item.image_size, item.step.im_scale, item.step.flip)
                state = images_left[item.image]
                candidates[item.image][item.job] = unturn_candidates(drop_small(found, item.step),
                                                                     item.step.turn, state[1])
                state[3] -= 1
                if state[3] == 0:
                    finish(item.image)

    for index, img in enumerate(images):
        img = detector.checked_image(img)
        scales = scales_of(img.shape)
        steps = plan_passes(img.shape, scales, do_flip, (0,) if auto else rotations, pyramid,
                            letterbox, detector.nocrop)
        candidates.append([None] * len(steps))
        results.append(None)
        images_left[index] = [img if auto else None, img.shape, scales, len(steps)]
        turned = {}
        for job, step in enumerate(steps):
            if step.turn not in turned:
                turned[step.turn] = turn_image(img, step.turn)
            tensor, image_size = detector.preprocess(turned[step.turn], step.im_scale, step.flip,
                                                     pad_to=step.pad_to)
            group = pending.setdefault(tensor.shape, [])
            group.append(_Pending(index, job, tensor, image_size, step))
            if len(group) == batch_size:
                run(tensor.shape)
            elif sum(len(waiting) for waiting in pending.values()) > 2 * batch_size:
                run(max(pending, key=lambda shape: len(pending[shape])))
    while pending:
        run(next(iter(pending)))
    return results
