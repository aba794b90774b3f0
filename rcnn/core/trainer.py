"""Fitting the train graph: data parallel over devices (and machines), resumable, NaN-safe.

The loop is MXNet's ``Module`` forward / backward / update, with what RetinaFace training needs
around it: the original's lr schedule from the global step, checkpoints of the clean test graph
(``<prefix>-<epoch>`` after each epoch and ``<prefix>-0000`` as the latest, with optimizer state
and a meta JSON for ``--resume``), a save on Ctrl-C, a clear stop when a loss becomes NaN,
a progress bar per epoch, and callbacks for validation and logging.

The optimizer state is saved as arrays, never pickled: the updater's state of each parameter
(an NDArray, a tuple of them, or None) goes to the ``.states`` NDArray file as ``state:<n>`` /
``state:<n>:<k>``, and the layout and update counters to the meta JSON under ``"optimizer"``.
"""
import logging
import math
import shlex
import sys
import time
import warnings

import mxnet as mx
from tqdm import tqdm

from rcnn.utils.checkpoint import save_checkpoint
from rcnn.core.metric import summarize_metrics
from rcnn.errors import TrainingDiverged, UserError

log = logging.getLogger(__name__)
LATEST = 0  # checkpoint epoch number that always holds the latest weights (test.py's default)


def _state_arrays(position, state):
    """(layout entry, {name: NDArray}) of one parameter's updater state: -1 for None, 0 for one
    NDArray, k for a tuple or list of k NDArrays (or None)."""
    if state is None:
        return -1, {}
    if isinstance(state, mx.nd.NDArray):
        return 0, {'state:%d' % position: state}
    if isinstance(state, (tuple, list)):
        arrays = {}
        for k, part in enumerate(state):
            if part is not None:
                arrays['state:%d:%d' % (position, k)] = part
        return len(state), arrays
    raise TypeError('cannot save an optimizer state of type %s' % type(state).__name__)


def _state_from_arrays(position, kind, arrays):
    """Inverse of :func:`_state_arrays`."""
    if kind < 0:
        return None
    if kind == 0:
        return arrays['state:%d' % position]
    return tuple(arrays.get('state:%d:%d' % (position, k)) for k in range(kind))


def _skip(train_iter, count):
    """Pass over the next ``count`` batches of ``train_iter``: without making them where it can
    (:meth:`rcnn.core.loader.CropLoader.skip`), else by reading them."""
    if hasattr(train_iter, 'skip'):
        train_iter.skip(count)
        return
    for _ in range(count):
        train_iter.next()


class Trainer:
    """Owns the bound Module and the training state (epoch, global step).

    :param symbol: train graph (data + label inputs, grouped outputs)
    :param test_symbol: clean test graph saved in checkpoints (same parameter names)
    :param data_shapes, label_shapes: [(name, shape)] of one batch (``DataIter.provide_*``)
    :param ctx: list of mx.Context; the batch is split evenly over them
    :param kvstore: mx.kv.KVStore ('device', 'local', 'dist_sync', ...)
    :param fixed_param_names: arguments that are not updated
    :param prefix: checkpoint prefix
    :param is_writer: this process writes checkpoints (rank 0 of a distributed run)
    """

    def __init__(self, symbol, test_symbol, data_shapes, label_shapes, ctx, kvstore,
                 fixed_param_names=(), prefix='model/retina', is_writer=True):
        self.test_symbol = test_symbol
        self.prefix = prefix
        self.is_writer = is_writer
        self.kvstore = kvstore
        self.module = mx.mod.Module(symbol, data_names=[n for n, _ in data_shapes],
                                    label_names=[n for n, _ in label_shapes], context=ctx,
                                    fixed_param_names=list(fixed_param_names), logger=log)
        self.module.bind(data_shapes=data_shapes, label_shapes=label_shapes, for_training=True)
        self.epoch = 0
        self.step = 0
        self.batch_in_epoch = 0
        self.metric_values = {}
        self.extra_meta = {}
        # name -> callable returning JSON for the meta, called at each save (e.g. an RNG state)
        self.state_hooks = {}

    def init(self, arg_params, aux_params, optimizer, optimizer_state=None):
        """Initialise weights (Xavier for those missing from the given params) and the optimizer.

        :param arg_params, aux_params: {name: NDArray} to start from (may be empty)
        :param optimizer: mx.optimizer.Optimizer
        :param optimizer_state: (arrays, info) saved by a previous run (the ``.states`` file's
            {name: NDArray} and the meta JSON's ``"optimizer"``), or None
        """
        self.module.init_params(initializer=mx.init.Xavier(), arg_params=arg_params,
                                aux_params=aux_params, allow_missing=True, allow_extra=True)
        with warnings.catch_warnings():
            # the losses are normalised inside the graph, so rescale_grad is 1 / devices on purpose
            warnings.filterwarnings('ignore', message='Optimizer created manually')
            self.module.init_optimizer(kvstore=self.kvstore, optimizer=optimizer)
        if optimizer_state is not None:
            self.load_optimizer_state(*optimizer_state)

    @property
    def _updater(self):
        """The MXNet Updater that holds the optimizer state: the kvstore's when it updates the
        weights, else the module's; None in distributed training (the servers hold it)."""
        if self.module._update_on_kvstore:
            return getattr(self.module._kvstore, '_updater', None)
        return self.module._updater

    def optimizer_state(self):
        """({name: NDArray} for the ``.states`` file, JSON info for the meta), or None when the
        state lives on the servers of a distributed kvstore."""
        updater = self._updater
        if updater is None:
            return None
        optimizer = updater.optimizer
        layout, arrays = [], {}
        for position, (key, state) in enumerate(updater.states.items()):
            kind, state_arrays = _state_arrays(position, state)
            layout.append([key, kind])
            arrays.update(state_arrays)
        info = {'layout': layout, 'num_update': optimizer.num_update,
                'index_update_count': [[k, v] for k, v in optimizer._index_update_count.items()]}
        return arrays, info

    def load_optimizer_state(self, arrays, info):
        """Restore what :meth:`optimizer_state` returned (states and update counters)."""
        updater = self._updater
        if updater is None:
            raise UserError('the optimizer state cannot be restored in distributed training')
        updater.states = {key: _state_from_arrays(position, kind, arrays)
                          for position, (key, kind) in enumerate(info['layout'])}
        updater.states_synced = dict.fromkeys(updater.states, False)
        optimizer = updater.optimizer
        optimizer.num_update = info['num_update']
        optimizer._index_update_count = {k: v for k, v in info['index_update_count']}

    def save(self, epoch, prefix=None, with_states=True, meta=None):
        """Checkpoint the current weights as ``<prefix>-<epoch>`` (no-op unless the writer);
        ``meta`` adds entries to the JSON written beside it."""
        if not self.is_writer:
            return
        arg_params, aux_params = self.module.get_params()
        meta = dict(self.extra_meta, **(meta or {}), epoch=self.epoch, step=self.step,
                    batch_in_epoch=self.batch_in_epoch, metrics=self.metric_values,
                    command=shlex.join(sys.argv), time=time.strftime('%Y-%m-%d %H:%M:%S'))
        meta.update({name: hook() for name, hook in self.state_hooks.items()})
        state = self.optimizer_state() if with_states else None
        meta['optimizer'] = state[1] if state else None
        save_checkpoint(prefix or self.prefix, epoch, self.test_symbol, arg_params, aux_params,
                        meta=meta, optimizer_states=state[0] if state else None)

    def _check_finite(self):
        """Raise TrainingDiverged when an output of the train graph (a loss) is NaN or infinite."""
        names = self.module.output_names
        bad = [name for name, out in zip(names, self.module.get_outputs())
               if not math.isfinite(out.sum().asscalar())]
        if bad:
            raise TrainingDiverged('the loss became NaN or infinite at epoch %d, step %d (%s). Lower --lr, '
                                   'check the labels, or resume from the last checkpoint.'
                                   % (self.epoch, self.step, ', '.join(bad)))

    def fit(self, train_iter, metric, end_epoch, end_step=None, skip_batches=0, frequent=20,
            callbacks=()):
        """Train from ``self.epoch`` / ``self.step`` until ``end_epoch`` or ``end_step``.

        :param train_iter: DataIter yielding batches of ``data_shapes`` / ``label_shapes``, ready
            for the epoch ``self.epoch`` (it is reset after each epoch that another follows, as
            MXNet's fit does)
        :param metric: mx.metric.EvalMetric updated with the train graph's outputs
        :param end_epoch: stop after this epoch
        :param end_step: stop at this global step (the original stops at its last lr step)
        :param skip_batches: batches of the first epoch already done (resume mid-epoch), passed over
            without being made where ``train_iter`` can (:meth:`rcnn.core.loader.CropLoader.skip`)
        :param frequent: log a line every this many batches
        :param callbacks: objects with optional ``batch_end(trainer)``, ``epoch_end(trainer)``
        """
        batch_size = train_iter.batch_size
        try:
            while self._more_to_do(end_epoch, end_step):
                metric.reset()
                self.batch_in_epoch = 0
                tic = time.time()
                bar = tqdm(total=getattr(train_iter, 'num_batches', None), initial=skip_batches,
                           desc='epoch %d' % self.epoch, unit='img', unit_scale=batch_size, leave=False,
                           disable=None)
                if skip_batches:
                    _skip(train_iter, skip_batches)
                    self.batch_in_epoch = skip_batches
                for batch in train_iter:
                    self.module.forward_backward(batch)
                    self.module.update()
                    self.module.update_metric(metric, batch.label)
                    self._check_finite()
                    self.step += 1
                    self.batch_in_epoch += 1
                    self.metric_values = dict(metric.get_name_value())
                    bar.update(1)
                    bar.set_postfix_str('step %d %s' % (self.step, summarize_metrics(self.metric_values)))
                    if self.batch_in_epoch % frequent == 0:
                        speed = frequent * batch_size / max(time.time() - tic, 1e-9)
                        tic = time.time()
                        log.info('Epoch[%d] Batch[%d] Step[%d] Speed: %.2f samples/sec lr=%g %s', self.epoch,
                                 self.batch_in_epoch, self.step, speed, self.learning_rate,
                                 summarize_metrics(self.metric_values, per_stride=True))
                    for callback in callbacks:
                        getattr(callback, 'batch_end', lambda t: None)(self)
                    if end_step is not None and self.step >= end_step:
                        break
                bar.close()
                skip_batches = 0
                self.epoch += 1
                if self._more_to_do(end_epoch, end_step):
                    train_iter.reset()
                self.batch_in_epoch = 0
                self.save(self.epoch)
                self.save(LATEST)
                log.info('Epoch[%d] done: %s; saved %s-%04d', self.epoch - 1,
                         summarize_metrics(self.metric_values, per_stride=True), self.prefix, self.epoch)
                for callback in callbacks:
                    getattr(callback, 'epoch_end', lambda t: None)(self)
        except KeyboardInterrupt:
            self.save(LATEST)
            log.warning('interrupted at epoch %d, step %d: saved %s-%04d; continue with --resume',
                        self.epoch, self.step, self.prefix, LATEST)
            raise

    def _more_to_do(self, end_epoch, end_step):
        return self.epoch < end_epoch and (end_step is None or self.step < end_step)

    @property
    def learning_rate(self):
        optimizer = self.module._optimizer
        if optimizer.lr_scheduler is not None:
            return optimizer.lr_scheduler(self.step)
        return optimizer.lr
