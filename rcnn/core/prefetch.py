"""Batch assembly for the crop loader, and the worker processes that prefetch batches.

No MXNet here: the workers (started with the ``spawn`` method) import only numpy and OpenCV.
A batch is written straight into one of a fixed set of shared-memory slots allocated by the
parent before the workers start; the parent copies a finished slot into MXNet arrays and hands
the slot back. Every batch draws its randomness from ``numpy.random.default_rng(seed)`` with a
seed fixed by the parent, so the batches do not depend on which worker made them. The parent's
configuration object travels to each worker once, with the roidb; nothing is regenerated there.
"""
import logging
import multiprocessing
import queue
import traceback
from multiprocessing import sharedctypes

import numpy as np

from rcnn.io.rpn import assign_anchor_fpn, get_crop_batch

log = logging.getLogger(__name__)


def target_names(landmark):
    """Per-stride target names the train graph reads, in the original loader's order."""
    names = ['face_label', 'face_bbox_target', 'face_bbox_weight']
    if landmark:
        names += ['face_landmark_target', 'face_landmark_weight']
    return names


def label_names(strides, landmark):
    """``<name>_stride<S>`` for every stride (outer loop) and target name (inner loop)."""
    return ['%s_stride%d' % (name, stride) for stride in strides for name in target_names(landmark)]


def make_batch(roidb, feat_shapes, rng, out, cfg):
    """Crop-augment ``roidb`` and assign anchor targets, writing into preallocated arrays.

    :param roidb: entries of one batch
    :param feat_shapes: per stride of ``cfg.RPN_FEAT_STRIDE``, the score map shape
    :param rng: numpy Generator
    :param out: dict name -> float32 array with leading dimension len(roidb): 'data' and the
        label names of :func:`label_names`
    :param cfg: the run's configuration
    """
    select_stride = int(rng.choice(cfg.RPN_FEAT_STRIDE)) if cfg.RANDOM_FEAT_STRIDE else 0
    data_list, label_list = get_crop_batch(roidb, rng, cfg=cfg)
    for i, (data, label) in enumerate(zip(data_list, label_list)):
        out['data'][i] = data['data'][0]
        targets = assign_anchor_fpn(feat_shapes, label, data['im_info'], cfg.FACE_LANDMARK, 'face',
                                    select_stride, rng, cfg=cfg)
        for name, array in out.items():
            if name != 'data':
                array[i] = targets[name][0]


class SlotLayout:
    """Where each named float32 array of a batch lies in a flat shared buffer."""

    def __init__(self, shapes):
        self.shapes = dict(shapes)
        self.offsets = {}
        nbytes = 0
        for name, shape in self.shapes.items():
            self.offsets[name] = nbytes
            nbytes += int(np.prod(shape)) * 4
        self.nbytes = nbytes

    def allocate(self):
        return sharedctypes.RawArray('b', self.nbytes)

    def views(self, buffer):
        """dict name -> float32 numpy view into ``buffer``."""
        return {name: np.frombuffer(buffer, dtype=np.float32, count=int(np.prod(shape)),
                                    offset=self.offsets[name]).reshape(shape)
                for name, shape in self.shapes.items()}


def _worker_main(cfg, roidb, feat_shapes, layout, buffers, tasks, results):
    """A data worker: fill the slot of each task (slot, key, roidb indices, seed) until a None."""
    import cv2
    cv2.setNumThreads(1)
    slots = [layout.views(buffer) for buffer in buffers]
    while True:
        task = tasks.get()
        if task is None:
            return
        slot, key, indices, seed = task
        try:
            make_batch([roidb[i] for i in indices], feat_shapes, np.random.default_rng(seed), slots[slot], cfg)
            results.put((slot, key, None))
        except Exception:  # reported to the parent, which raises it
            results.put((slot, key, traceback.format_exc()))


class WorkerPool:
    """Worker processes that fill shared batch slots.

    :param roidb: the whole roidb (sent to each worker once)
    :param feat_shapes: per-stride score map shapes
    :param shapes: dict name -> batch array shape ('data' and the labels)
    :param num_workers: processes to start
    :param num_slots: batches that can be in flight or waiting at once
    :param cfg: the run's configuration (sent to each worker once)
    """

    def __init__(self, roidb, feat_shapes, shapes, num_workers, num_slots, cfg):
        ctx = multiprocessing.get_context('spawn')
        self.layout = SlotLayout(shapes)
        self.buffers = [self.layout.allocate() for _ in range(num_slots)]
        self.slots = [self.layout.views(buffer) for buffer in self.buffers]
        self.free = list(range(num_slots))
        self.tasks = ctx.Queue()
        self.results = ctx.Queue()
        log.info('starting %d data workers, %d batch slots of %.1f MB', num_workers, num_slots,
                 self.layout.nbytes / 2 ** 20)
        self.workers = [ctx.Process(target=_worker_main, daemon=True, name='retinaface-data-%d' % i,
                                    args=(cfg, roidb, feat_shapes, self.layout, self.buffers,
                                          self.tasks, self.results))
                        for i in range(num_workers)]
        for worker in self.workers:
            worker.start()

    def submit(self, key, indices, seed):
        """Queue a batch into a free slot; False when no slot is free."""
        if not self.free:
            return False
        self.tasks.put((self.free.pop(), key, list(indices), seed))
        return True

    def get(self, poll_s=5.0):
        """(slot, key) of the next finished batch; raises if a worker failed or died."""
        while True:
            try:
                slot, key, error = self.results.get(timeout=poll_s)
            except queue.Empty:
                dead = [w for w in self.workers if not w.is_alive()]
                if dead:
                    raise RuntimeError('data worker %s exited with code %s' % (dead[0].name, dead[0].exitcode))
                continue
            if error is not None:
                self.release(slot)
                raise RuntimeError('a data worker failed:\n' + error)
            return slot, key

    def release(self, slot):
        self.free.append(slot)

    def close(self):
        for _ in self.workers:
            self.tasks.put(None)
        for worker in self.workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
        self.workers = []
