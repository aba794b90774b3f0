"""Training you can watch: one small hook per concern, composed by :class:`TrainingMonitor`.

``Trainer.fit`` calls ``batch_end(trainer)`` / ``epoch_end(trainer)`` of each callback. The
monitor that ``train.py`` hands it writes, through these hooks,

- ``<prefix>-metrics.jsonl`` (:class:`MetricsLog`, :class:`TrainRecords`): one JSON line per
  logging step (``"kind": "train"``: step, epoch, batch, lr, images/s, the training loss and every
  metric per stride) and one per validation (``"kind": "val"``: step, epoch = the checkpoint
  validated, AP per setting). On ``--resume`` the lines past the resumed step are dropped, so the
  log continues without duplicate or missing steps;
- ``<prefix>-curves.png`` (:func:`rcnn.core.curves.plot_curves`), redrawn on every validation;
- ``<prefix>-best-loss-0000.*`` (lowest epoch training loss) and ``<prefix>-best-ap-0000.*``
  (highest validation AP) (:class:`BestCheckpoint`): checkpoints that
  ``RetinaFace(prefix + '-best-ap', 0)`` and test.py load, with a JSON beside each (epoch, step,
  metrics, validation, config, command line);
- TensorBoard event files under ``<prefix>-tensorboard/`` when tensorboardX or PyTorch is
  installed (:class:`TensorBoard`);

and stops training (:class:`EarlyStopping` raises :class:`EarlyStop`) after ``early_stop``
validations without a better AP (:class:`Validation`).
"""
import json
import logging
import math
import os
import signal
import threading
import time

import numpy as np

from rcnn.core.curves import plot_curves
from rcnn.core.metric import training_loss
from rcnn.utils.checkpoint import load_meta
from rcnn.utils.jsonl import JsonLinesStore, read_records
from rcnn.utils.safe_write import make_folder, write_bytes

log = logging.getLogger(__name__)
BEST_AP, BEST_LOSS = '-best-ap', '-best-loss'  # suffixes of the best checkpoints' prefixes
__all__ = ['BEST_AP', 'BEST_LOSS', 'EarlyStop', 'StopOnCtrlC', 'MetricsLog', 'read_log', 'TrainRecords',
           'TensorBoard', 'BestCheckpoint', 'EarlyStopping', 'Validation', 'TrainingMonitor', 'plot_curves']


class EarlyStop(Exception):
    """Raised from ``epoch_end`` when the validation AP stopped improving."""


class StopOnCtrlC:
    """Turns Ctrl-C (SIGINT) into a KeyboardInterrupt at the end of a batch or epoch.

    MXNet runs parts of ``Module.update`` as callbacks from C, where a KeyboardInterrupt is printed
    and dropped, so a plain Ctrl-C can be lost. While installed, the first Ctrl-C only sets a flag
    (the trainer then saves a resumable checkpoint and stops at the next ``batch_end`` /
    ``epoch_end``); a second one interrupts at once. Nothing changes where SIGINT is ignored (a
    background job of a non-interactive shell) or outside the main thread.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def install(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def restore(self):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_sigint(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning('Ctrl-C: stopping after this batch with a resumable checkpoint (Ctrl-C again to stop now)')

    def batch_end(self, trainer):
        if self.requested:
            raise KeyboardInterrupt

    epoch_end = batch_end


def read_log(path):
    """The records of a metrics log, in order ([] when it does not exist). A last line cut short
    by a killed process is left out; a bad line elsewhere raises ValueError naming the file and line."""
    return read_records(path, required=('kind', 'step'))


def _plain_json(record):
    """``record`` as plain JSON values: NaN / infinite numbers become None, numpy numbers floats."""
    return json.loads(json.dumps(record, default=float), parse_constant=lambda _: None)


class MetricsLog:
    """The append-only metrics log (an :class:`rcnn.utils.jsonl.JsonLinesStore`), reopened on
    resume with the records past ``resume_step`` dropped.

    :param path: the ``.jsonl`` file
    :param resume_step: global step the run continues from, or None to start a new log
    """

    def __init__(self, path, resume_step=None):
        self.path = path
        kept = [r for r in read_log(path) if r['step'] <= resume_step] if resume_step is not None else []
        make_folder(os.path.dirname(os.path.abspath(path)), 'folder of the metrics log')
        write_bytes(path, ''.join(json.dumps(r, separators=(',', ':')) + '\n' for r in kept))
        self._store = JsonLinesStore(path, required=('kind', 'step'))

    @property
    def records(self):
        return self._store.records

    def write(self, record):
        """Append one record (NaN / infinite numbers are written as null) and flush it to disk."""
        self._store.append([_plain_json(record)])

    def close(self):
        self._store.close()


def _finite_or_none(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def tensorboard_writer(logdir, purge_step=None):
    """A SummaryWriter of tensorboardX, or else of PyTorch, or None when neither is installed."""
    for module in ('tensorboardX', 'torch.utils.tensorboard'):
        try:
            writer_class = __import__(module, fromlist=['SummaryWriter']).SummaryWriter
        except ImportError:
            continue
        return writer_class(logdir, purge_step=purge_step)
    return None


class TensorBoard:
    """TensorBoard scalars of the train and val records (nothing when no logger library is installed).

    :param logdir: folder of the event files, or None to write none
    :param purge_step: first step of a resumed run (events from it on are dropped), or None
    """

    def __init__(self, logdir, purge_step=None):
        self.writer = tensorboard_writer(logdir, purge_step=purge_step) if logdir else None

    def train(self, record, speed, metric_values):
        if self.writer:
            step = record['step']
            self.writer.add_scalar('train/loss', record['loss'] or float('nan'), step)
            self.writer.add_scalar('train/lr', record['lr'], step)
            self.writer.add_scalar('train/images_per_s', speed, step)
            for name, value in metric_values.items():
                self.writer.add_scalar('train/' + name, value, step)

    def val(self, record):
        if self.writer:
            self.writer.add_scalar('val/ap', record['ap'], record['step'])
            for setting, ap in record['settings'].items():
                self.writer.add_scalar('val/ap_' + setting, ap, record['step'])
            self.writer.flush()

    def close(self):
        if self.writer:
            self.writer.close()


class TrainRecords:
    """Writes a train record every ``frequent`` batches and after the last batch of an epoch.

    :param metrics_log: the :class:`MetricsLog`, or None (a process that writes no files)
    :param tensorboard: the :class:`TensorBoard`
    :param batch_size: images per step (for images/s)
    :param last_step: the step of the last record already written (a resumed run's)
    """

    def __init__(self, metrics_log, tensorboard, batch_size, frequent, last_step=0):
        self.log, self.tensorboard = metrics_log, tensorboard
        self.batch_size, self.frequent = batch_size, max(frequent, 1)
        self.last_step = last_step
        self._tic = time.time()
        self._batch = None  # batch_in_epoch of the last batch seen

    def batch_end(self, trainer):
        self._batch = trainer.batch_in_epoch
        if trainer.batch_in_epoch % self.frequent == 0:
            self.write(trainer, trainer.epoch, trainer.batch_in_epoch)

    def epoch_end(self, trainer):
        if trainer.step != self.last_step:  # the epoch's last batch, when not a multiple of frequent
            self.write(trainer, trainer.epoch - 1, self._batch)

    def restart_clock(self):
        self._tic = time.time()

    def write(self, trainer, epoch, batch):
        now = time.time()
        speed = (trainer.step - self.last_step) * self.batch_size / max(now - self._tic, 1e-9)
        self._tic, self.last_step = now, trainer.step
        record = {'kind': 'train', 'step': trainer.step, 'epoch': epoch, 'batch': batch,
                  'lr': trainer.learning_rate, 'images_per_s': round(speed, 2),
                  'loss': _finite_or_none(training_loss(trainer.metric_values)),
                  'metrics': {k: _finite_or_none(v) for k, v in trainer.metric_values.items()}}
        if self.log:
            self.log.write(record)
        self.tensorboard.train(record, speed, trainer.metric_values)

    def flush_unlogged(self, trainer):
        """Log the trainer's last step when not yet logged (a run stopped between two logging steps)."""
        if trainer.step > self.last_step:
            in_epoch = trainer.batch_in_epoch > 0
            self.write(trainer, trainer.epoch if in_epoch else trainer.epoch - 1,
                       trainer.batch_in_epoch if in_epoch else self._batch)


class BestCheckpoint:
    """Keeps ``<prefix><suffix>-0000``: the weights with the best value of one quantity so far.

    :param key: name of the value in the checkpoint's meta JSON ('train_loss', 'val_ap')
    :param higher_is_better: True for AP, False for a loss
    :param config: JSON configuration stored in the meta JSON
    :param resume_step: a resumed run's step: the best value recorded at or before it is restored
    """

    def __init__(self, prefix, suffix, key, higher_is_better, config=None, resume_step=None):
        self.prefix, self.key, self.sign, self.config = prefix + suffix, key, 1 if higher_is_better else -1, config
        self.best = -self.sign * math.inf
        if resume_step is not None:
            meta = load_meta(self.prefix, 0)
            value = meta.get(key)
            if value is not None and meta.get('step', math.inf) <= resume_step:
                self.best = value

    def offer(self, trainer, value, **meta):
        """Save the trainer's weights when ``value`` beats the best so far (a tie does not); True when saved."""
        if not (math.isfinite(value) and self.sign * value > self.sign * self.best):
            return False
        self.best = value
        trainer.save(0, prefix=self.prefix, with_states=False, meta=dict(meta, config=self.config, **{self.key: value}))
        return True


class EarlyStopping:
    """Raises :class:`EarlyStop` after ``patience`` validations in a row without a better AP (0: never).

    :param past_aps: the APs of the validations already done (a resumed run's), in order
    """

    def __init__(self, patience, past_aps=()):
        self.patience = patience
        best_at = int(np.argmax(past_aps)) if len(past_aps) else -1
        self.without_gain = len(past_aps) - 1 - best_at

    def record(self, gain, best_ap, epoch):
        self.without_gain = 0 if gain else self.without_gain + 1
        if self.patience and self.without_gain >= self.patience:
            raise EarlyStop('no better validation AP in the last %d validations (best %.4f); stopping after epoch %d'
                            % (self.without_gain, best_ap, epoch))


class Validation:
    """Every ``every`` epochs: the validation AP of the trainer's weights, logged, kept as the best
    AP checkpoint when better, drawn, and handed to early stopping.

    :param validator: callable ``(test_symbol, arg_params, aux_params) -> {'ap', 'settings', 'images',
        'seconds'}`` (:class:`rcnn.core.validation.Validator`)
    """

    def __init__(self, validator, every, metrics_log, tensorboard, best_ap, early_stopping, plot_path, title):
        self.validator, self.every = validator, every
        self.log, self.tensorboard, self.best_ap, self.early_stopping = metrics_log, tensorboard, best_ap, early_stopping
        self.plot_path, self.title = plot_path, title

    def epoch_end(self, trainer):
        if self.every <= 0 or trainer.epoch % self.every:
            return
        arg_params, aux_params = trainer.module.get_params()
        result = self.validator(trainer.test_symbol, arg_params, aux_params)
        record = dict(kind='val', step=trainer.step, epoch=trainer.epoch, **result)
        log.info('validation after epoch %d: AP %.4f (%s) on %d images in %.1f s', trainer.epoch, result['ap'],
                 ' '.join('%s %.4f' % kv for kv in result['settings'].items()), result['images'],
                 result['seconds'])
        if self.log:
            self.log.write(record)
        self.tensorboard.val(record)
        gain = self.best_ap.offer(trainer, result['ap'], validation=result)
        if gain:
            log.info('best validation AP so far: saved %s-0000', self.best_ap.prefix)
        if self.log:
            plot_curves(self.log.records, self.plot_path, title=self.title)
        self.early_stopping.record(gain, self.best_ap.best, trainer.epoch)


def _json_config(cfg):
    """The configuration as plain JSON values (numpy arrays become lists)."""
    return json.loads(json.dumps(cfg, default=lambda v: v.tolist() if hasattr(v, 'tolist') else str(v)))


class TrainingMonitor:
    """The ``Trainer.fit`` callback of ``train.py``: the hooks above, in their order.

    :param prefix: checkpoint prefix; the log, PNG and best checkpoints are named after it
    :param batch_size: images per step (for images/s)
    :param frequent: write a train record every N batches (and after the last batch of an epoch)
    :param validator: see :class:`Validation`, or None
    :param val_every: validate every N epochs (0: never)
    :param early_stop: stop after K validations without a better AP (0: never)
    :param resume_step: the global step a resumed run continues from, or None for a new run
    :param config: training configuration stored in the best checkpoints' JSON
    :param tensorboard: write TensorBoard events when a logger library is installed
    :param is_writer: this process writes files (rank 0 of a distributed run)
    """

    def __init__(self, prefix, batch_size, frequent=20, validator=None, val_every=0, early_stop=0,
                 resume_step=None, config=None, tensorboard=True, is_writer=True):
        self.prefix, self.is_writer = prefix, is_writer
        config = _json_config(config or {})
        self.log = MetricsLog(prefix + '-metrics.jsonl', resume_step) if is_writer else None
        records = self.log.records if self.log else []
        self.tensorboard = TensorBoard(prefix + '-tensorboard' if tensorboard and is_writer else None,
                                       None if resume_step is None else resume_step + 1)
        self.train_records = TrainRecords(self.log, self.tensorboard, batch_size, frequent,
                                          records[-1]['step'] if records else resume_step or 0)
        self.best_loss_checkpoint = BestCheckpoint(prefix, BEST_LOSS, 'train_loss', False, config, resume_step)
        self.best_ap_checkpoint = BestCheckpoint(prefix, BEST_AP, 'val_ap', True, config, resume_step)
        self.early_stopping = EarlyStopping(early_stop, [r['ap'] for r in records if r['kind'] == 'val'])
        self.validation = Validation(validator, val_every if validator is not None else 0, self.log,
                                     self.tensorboard, self.best_ap_checkpoint, self.early_stopping,
                                     prefix + '-curves.png', os.path.basename(prefix))

    @property
    def writer(self):
        return self.tensorboard.writer

    @property
    def best_ap(self):
        return self.best_ap_checkpoint.best

    @property
    def best_loss(self):
        return self.best_loss_checkpoint.best

    @property
    def validations_without_gain(self):
        return self.early_stopping.without_gain

    def batch_end(self, trainer):
        self.train_records.batch_end(trainer)

    def epoch_end(self, trainer):
        self.train_records.epoch_end(trainer)
        loss = training_loss(trainer.metric_values)
        if self.best_loss_checkpoint.offer(trainer, loss):
            log.info('epoch %d: lowest training loss so far (%.4f): saved %s%s-0000', trainer.epoch, loss,
                     self.prefix, BEST_LOSS)
        self.validation.epoch_end(trainer)
        self.train_records.restart_clock()

    def close(self, trainer=None):
        """Close the files; with ``trainer``, first log its last step when not yet logged (a run
        stopped by Ctrl-C or an error between two logging steps)."""
        if trainer is not None:
            self.train_records.flush_unlogged(trainer)
        if self.log:
            self.log.close()
        self.tensorboard.close()

    @classmethod
    def from_options(cls, options, trainer, batch_size, cfg, ctx_id=-1):
        """The monitor of ``train.py``'s options (:func:`rcnn.core.options.add_monitor_options`).

        :param trainer: the :class:`rcnn.core.trainer.Trainer` about to fit (its step is the resumed one)
        :param cfg: the training configuration (anchors and pixel normalisation of the detector)
        :param ctx_id: device of the validation detector: GPU id, or -1 for the CPU
        """
        validator = None
        if options.val_every > 0:
            from rcnn.core.validation import Validator, detector_preset
            validator = Validator(options.val_path, gt_dir=options.val_gt, network=detector_preset(cfg),
                                  scale=options.val_scale, threshold=options.val_threshold,
                                  max_images=options.val_max_images, ctx_id=ctx_id)
            log.info('validating every %d epochs on %d images of %s', options.val_every, len(validator.images),
                     options.val_path)
        return cls(options.prefix, batch_size, frequent=options.frequent, validator=validator,
                   val_every=options.val_every, early_stop=options.early_stop,
                   resume_step=trainer.step if options.resume is not None else None, config=cfg,
                   tensorboard=not options.no_tensorboard, is_writer=trainer.is_writer)
