"""``CropLoader``: the training DataIter of the original, with background prefetch.

Each batch holds ``batch_size`` crop-augmented images (:mod:`rcnn.io.image`) and the per-stride
anchor targets of :func:`rcnn.io.rpn.assign_anchor_fpn`:

- data ``data``: (B, 3, S, S) float32, S = ``cfg.SCALES[0][0]`` (640)
- labels, per stride S in ``cfg.RPN_FEAT_STRIDE``: ``face_label_strideS`` (B, A*H*W),
  ``face_bbox_target_strideS`` / ``face_bbox_weight_strideS`` (B, 4*A, H*W) and, with
  ``cfg.FACE_LANDMARK``, ``face_landmark_target_strideS`` / ``face_landmark_weight_strideS``
  (B, 10*A, H*W); H x W is the score map size inferred from the graph for an S x S input.

``cfg`` is the run's configuration (:func:`rcnn.config.generate_config`), a required keyword.
Batches are made by ``num_workers`` background processes (``cfg.NUM_CPU`` by default; 0 makes
them in the calling thread). An epoch visits the images of this loader's part of the roidb
(``num_parts`` / ``part_index`` split it between distributed workers) once, in a new random
order when ``shuffle``; the last incomplete batch is dropped. With a ``seed`` the batches of
every epoch are reproducible.
"""
import logging

import mxnet as mx
import numpy as np

from rcnn.io.rpn import assign_anchor_fpn
from rcnn.core.prefetch import WorkerPool, label_names, make_batch

log = logging.getLogger(__name__)


def infer_feat_shapes(feat_sym, size, strides):
    """Score map shape of each stride for a (1, 3, size, size) input.

    :param feat_sym: list of per-stride score symbols (the original's ``feat_sym``), or one
        grouped symbol with one output per stride
    :param strides: the strides (cfg.RPN_FEAT_STRIDE), one per score symbol
    :return: list of shape tuples, one per stride
    """
    data_shape = {'data': (1, 3, size, size)}
    if isinstance(feat_sym, (list, tuple)):
        shapes = [tuple(int(v) for v in sym.infer_shape(**data_shape)[1][0]) for sym in feat_sym]
    else:
        shapes = [tuple(int(v) for v in s) for s in feat_sym.infer_shape(**data_shape)[1]]
    if len(shapes) != len(strides):
        raise ValueError('expected one score output per stride %s, got %d' % (strides, len(shapes)))
    return shapes


class CropLoader(mx.io.DataIter):
    """Training batches from a roidb.

    :param feat_sym: per-stride score symbols of the train graph (see :func:`infer_feat_shapes`)
    :param roidb: entries of :mod:`rcnn.dataset.retinaface` (flipped copies included)
    :param batch_size: images per batch, over all devices
    :param shuffle: visit the images in a new random order every epoch
    :param cfg: the run's configuration (required keyword)
    :param num_workers: background processes (default ``cfg.NUM_CPU``; 0: none)
    :param prefetch: batches made ahead (default num_workers + 1)
    :param seed: base seed of the augmentation (default: drawn from numpy.random)
    :param num_parts, part_index: use only images ``part_index::num_parts`` (distributed training)
    :param first_epoch: number of the epoch the loader starts ready for (a resumed training's
        epoch: epoch ``e`` has the same order and augmentation whether or not a run was resumed)
    """

    def __init__(self, feat_sym, roidb, batch_size=1, shuffle=False, *, cfg, num_workers=None, prefetch=None,
                 seed=None, num_parts=1, part_index=0, first_epoch=0):
        super().__init__(batch_size)
        if cfg.HEAD_BOX or cfg.CASCADE > 0:
            raise NotImplementedError('HEAD_BOX and CASCADE targets are not supported by this loader')
        self.cfg = cfg
        self.roidb = roidb
        self.shuffle = shuffle
        self.index = np.arange(len(roidb))[part_index::num_parts]
        self.size = len(self.index)
        if self.size < batch_size:
            raise ValueError('%d images cannot fill one batch of %d' % (self.size, batch_size))
        self.num_batches = self.size // batch_size
        self.seed = int(np.random.randint(2 ** 31)) if seed is None else int(seed)

        image_size = cfg.SCALES[0][0]
        self.feat_shapes = infer_feat_shapes(feat_sym, image_size, cfg.RPN_FEAT_STRIDE)
        self.data_name = ['data']
        self.label_name = label_names(cfg.RPN_FEAT_STRIDE, cfg.FACE_LANDMARK)
        empty = {'gt_boxes': np.zeros((0, 5), np.float32), 'gt_landmarks': np.zeros((0, 5, 3), np.float32)}
        targets = assign_anchor_fpn(self.feat_shapes, empty, [[image_size, image_size, 1.0]], cfg.FACE_LANDMARK,
                                    cfg=cfg)
        self.shapes = {'data': (batch_size, 3, image_size, image_size)}
        self.shapes.update({name: (batch_size,) + targets[name].shape[1:] for name in self.label_name})

        num_workers = cfg.NUM_CPU if num_workers is None else num_workers
        self.pool = None
        if num_workers > 0:
            num_slots = max(2, num_workers + 1) if prefetch is None else max(1, prefetch)
            self.pool = WorkerPool(roidb, self.feat_shapes, self.shapes, num_workers, num_slots, cfg)
        self.epoch = first_epoch - 1
        self.reset()

    @property
    def provide_data(self):
        return [mx.io.DataDesc(name, self.shapes[name]) for name in self.data_name]

    @property
    def provide_label(self):
        return [mx.io.DataDesc(name, self.shapes[name]) for name in self.label_name]

    def infer_shape(self, max_data_shape=None, max_label_shape=None):
        """(data shapes, label shapes) as the original's ``infer_shape``: lists of (name, shape)."""
        return ([(d.name, d.shape) for d in self.provide_data],
                [(d.name, d.shape) for d in self.provide_label])

    def _batch_indices(self, batch_no):
        return self.order[batch_no * self.batch_size:(batch_no + 1) * self.batch_size]

    def _batch_seed(self, batch_no):
        return [self.seed, self.epoch, batch_no]

    def reset(self):
        """Start a new epoch (a new order when shuffling); batches of the last one are dropped."""
        self.epoch += 1
        self.order = self.index.copy()
        if self.shuffle:
            np.random.default_rng([self.seed, self.epoch]).shuffle(self.order)
        self.cur_batch = 0
        self.submitted = 0
        if self.pool is not None:
            for slot in getattr(self, 'ready', {}).values():
                self.pool.release(slot)
            self.ready = {}
            self._fill()

    def skip(self, count):
        """Pass over the next ``count`` batches of this epoch without making them (a run resumed
        mid-epoch): the batches after them are those an uninterrupted epoch would give."""
        self.cur_batch = min(self.cur_batch + count, self.num_batches)
        if self.pool is not None:
            for key in [key for key in self.ready if key[1] < self.cur_batch]:
                self.pool.release(self.ready.pop(key))
            self.submitted = max(self.submitted, self.cur_batch)
            self._fill()

    def _fill(self):
        while self.submitted < self.num_batches and self.pool.submit(
                (self.epoch, self.submitted), self._batch_indices(self.submitted), self._batch_seed(self.submitted)):
            self.submitted += 1

    def _next_arrays(self):
        """dict name -> numpy batch of the current batch number, and a release callback."""
        if self.pool is None:
            arrays = {name: np.empty(shape, np.float32) for name, shape in self.shapes.items()}
            make_batch([self.roidb[i] for i in self._batch_indices(self.cur_batch)], self.feat_shapes,
                       np.random.default_rng(self._batch_seed(self.cur_batch)), arrays, self.cfg)
            return arrays, None
        key = (self.epoch, self.cur_batch)
        while key not in self.ready:
            slot, done = self.pool.get()
            if done[0] != self.epoch or done[1] < self.cur_batch:  # from an epoch cut short, or skipped
                self.pool.release(slot)
                self._fill()
                continue
            self.ready[done] = slot
        slot = self.ready.pop(key)
        return self.pool.slots[slot], slot

    def next(self):
        if self.cur_batch >= self.num_batches:
            raise StopIteration
        arrays, slot = self._next_arrays()
        if slot is not None:  # one copy out of the shared slot, then handed to MXNet without another
            arrays = {name: np.array(value) for name, value in arrays.items()}
        data = [mx.nd.from_numpy(arrays[name], zero_copy=True) for name in self.data_name]
        label = [mx.nd.from_numpy(arrays[name], zero_copy=True) for name in self.label_name]
        if slot is not None:
            self.pool.release(slot)
            self._fill()
        self.cur_batch += 1
        return mx.io.DataBatch(data=data, label=label, pad=0, index=None,
                               provide_data=self.provide_data, provide_label=self.provide_label)

    def close(self):
        """Stop the worker processes."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
