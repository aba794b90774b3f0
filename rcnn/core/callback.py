"""Training you can watch: metrics log, curves, TensorBoard, best checkpoints, early stopping.

:class:`TrainingMonitor` is the one callback ``train.py`` hands to ``Trainer.fit``. It writes

- ``<prefix>-metrics.jsonl``: one JSON line per logging step (``"kind": "train"``: step, epoch,
  batch, lr, images/s, the training loss and every metric per stride) and one per validation
  (``"kind": "val"``: step, epoch = the checkpoint validated, AP per setting). On ``--resume`` the
  lines past the resumed step are dropped, so the log continues without duplicate or missing steps;
- ``<prefix>-curves.png``: loss, accuracy and AP curves, redrawn on every validation;
- ``<prefix>-best-loss-0000.*`` (lowest epoch training loss) and ``<prefix>-best-ap-0000.*``
  (highest validation AP): checkpoints that ``RetinaFace(prefix + '-best-ap', 0)`` and test.py load,
  with a JSON beside each (epoch, step, metrics, validation, config, command line);
- TensorBoard event files under ``<prefix>-tensorboard/`` when tensorboardX or PyTorch is installed;

and stops training (:class:`EarlyStop`) after ``early_stop`` validations without a better AP.
"""
import json
import logging
import math
import os
import signal
import threading
import time

import numpy as np

from rcnn.utils.checkpoint import load_meta
from rcnn.errors import UserError
from rcnn.utils.cli import number
from rcnn.core.metric import LOSS_NAMES, SHORT_NAMES, by_kind, training_loss

log = logging.getLogger(__name__)
BEST_AP, BEST_LOSS = '-best-ap', '-best-loss'  # suffixes of the best checkpoints' prefixes


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


def add_arguments(parser):
    """The monitoring options of ``train.py``."""
    group = parser.add_argument_group('validation and monitoring')
    group.add_argument('--val_every', type=number(0, kind=int), default=0,
                       help='validate every N epochs (0: never); needs --val_path')
    group.add_argument('--val_path', default=None,
                       help='validation split in the RetinaFace layout (label.txt + images/), '
                            'e.g. data/retinaface/val')
    group.add_argument('--val_gt', default=None,
                       help="folder of WIDER's .mat ground truth (easy/medium/hard AP); "
                            'default: AP at IoU 0.5 against the label.txt boxes')
    group.add_argument('--val_scale', type=number(0, low_open=True), default=1.0,
                       help='resize factor of the validation images')
    group.add_argument('--val_threshold', type=number(0, 1), default=0.02, help='lowest face score kept in validation')
    group.add_argument('--val_max_images', type=number(0, kind=int), default=0,
                       help='validate on the first N images (0: all)')
    group.add_argument('--early_stop', type=number(0, kind=int), default=0,
                       help='stop after K validations without a better AP (0: never)')
    group.add_argument('--no_tensorboard', action='store_true', help='do not write TensorBoard events')
    return group


def read_log(path):
    """The records of a metrics log, in order ([] when it does not exist). A last line cut short
    by a killed process is left out; a bad line elsewhere raises ValueError naming it."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = f.read().splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as err:
            if number == len(lines):
                log.warning('%s:%d: ignoring an incomplete last line', path, number)
                break
            raise ValueError('%s:%d: not a JSON record (%s)' % (path, number, err)) from None
    return records


def _finite_or_none(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


class MetricsLog:
    """Append-only JSON-lines log; reopened on resume with the lines past ``resume_step`` dropped.

    :param path: the ``.jsonl`` file
    :param resume_step: global step the run continues from, or None to start a new log
    """

    def __init__(self, path, resume_step=None):
        self.path = path
        kept = [r for r in read_log(path) if r['step'] <= resume_step] if resume_step is not None else []
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            f.writelines(json.dumps(r) + '\n' for r in kept)
        os.replace(tmp, path)
        self.records = kept
        self._file = open(path, 'a')

    def write(self, record):
        """Append one record (NaN / infinite numbers are written as null)."""
        record = json.loads(json.dumps(record, default=float), parse_constant=lambda _: None)
        self._file.write(json.dumps(record) + '\n')
        self._file.flush()
        self.records.append(record)

    def close(self):
        self._file.close()


def tensorboard_writer(logdir, purge_step=None):
    """A SummaryWriter of tensorboardX, or else of PyTorch, or None when neither is installed."""
    for module in ('tensorboardX', 'torch.utils.tensorboard'):
        try:
            writer_class = __import__(module, fromlist=['SummaryWriter']).SummaryWriter
        except ImportError:
            continue
        return writer_class(logdir, purge_step=purge_step)
    return None


def plot_curves(records, path, title='RetinaFace training'):
    """PNG of the training loss, the anchor accuracy and the validation AP against the step.

    :param records: metrics log records (:class:`MetricsLog`)
    :param path: PNG file to write
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    train = [r for r in records if r['kind'] == 'train']
    val = [r for r in records if r['kind'] == 'val']
    steps = [r['step'] for r in train]

    def series(kind, stride=None):
        values = []
        for r in train:
            per_stride = by_kind(r['metrics']).get(kind, {})
            value = per_stride.get(stride) if stride else _mean(per_stride.values())
            values.append(np.nan if value is None else value)
        return values

    fig, (ax_loss, ax_acc, ax_ap) = plt.subplots(3, 1, figsize=(9, 10), sharex=True)
    ax_loss.plot(steps, [np.nan if r['loss'] is None else r['loss'] for r in train], color='black',
                 label='training loss (sum)')
    for kind in LOSS_NAMES:
        if any(kind in by_kind(r['metrics']) for r in train[:1]):
            ax_loss.plot(steps, series(kind), label='%s (mean over strides)' % SHORT_NAMES[kind])
    ax_loss.set_ylabel('loss per anchor')
    ax_loss.set_title('Training loss: classification cross-entropy, box and landmark smooth-L1')
    strides = sorted({s for r in train[:1] for s in by_kind(r['metrics']).get('RPNAcc', {})}, reverse=True)
    for stride in strides:
        ax_acc.plot(steps, series('RPNAcc', stride), label='stride %d' % stride)
    ax_acc.set_ylabel('accuracy (fraction)')
    ax_acc.set_title('Anchor classification accuracy (labelled anchors)')
    if val:
        val_steps = [r['step'] for r in val]
        for setting in val[0]['settings']:
            ax_ap.plot(val_steps, [r['settings'].get(setting) for r in val], marker='o', label='AP %s' % setting)
        best = max(val, key=lambda r: r['ap'])
        ax_ap.scatter([best['step']], [best['ap']], s=120, facecolors='none', edgecolors='red', zorder=3,
                      label='best mean AP %.3f (epoch %d)' % (best['ap'], best['epoch']))
        ax_ap.set_ylim(0, 1.02)
    ax_ap.set_ylabel('AP (0 to 1)')
    ax_ap.set_title('Validation average precision')
    ax_ap.set_xlabel('training step (batches)')
    for ax in (ax_loss, ax_acc, ax_ap):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize='small', loc='best')
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path + '.tmp.png'
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)


def _mean(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else None


def _json_config(cfg):
    """The configuration as plain JSON values (numpy arrays become lists)."""
    return json.loads(json.dumps(cfg, default=lambda v: v.tolist() if hasattr(v, 'tolist') else str(v)))


class TrainingMonitor:
    """The ``Trainer.fit`` callback that logs, plots, keeps the best checkpoints and stops early.

    :param prefix: checkpoint prefix; the log, PNG and best checkpoints are named after it
    :param batch_size: images per step (for images/s)
    :param frequent: write a train record every N batches (and after the last batch of an epoch)
    :param validator: callable ``(test_symbol, arg_params, aux_params) -> {'ap', 'settings', ...}``
        (:class:`rcnn.core.validation.Validator`), or None
    :param val_every: validate every N epochs (0: never)
    :param early_stop: stop after K validations without a better AP (0: never)
    :param resume_step: the global step a resumed run continues from, or None for a new run
    :param config: training configuration stored in the best checkpoints' JSON
    :param tensorboard: write TensorBoard events when a logger library is installed
    :param is_writer: this process writes files (rank 0 of a distributed run)
    """

    def __init__(self, prefix, batch_size, frequent=20, validator=None, val_every=0, early_stop=0,
                 resume_step=None, config=None, tensorboard=True, is_writer=True):
        self.prefix, self.batch_size, self.frequent = prefix, batch_size, max(frequent, 1)
        self.validator, self.val_every, self.early_stop = validator, val_every, early_stop
        self.config = _json_config(config or {})
        self.is_writer = is_writer
        self.log_path = prefix + '-metrics.jsonl'
        self.plot_path = prefix + '-curves.png'
        self.log = MetricsLog(self.log_path, resume_step) if is_writer else None
        records = self.log.records if self.log else []
        self.best_loss = self._resumed_best(BEST_LOSS, 'train_loss', resume_step, math.inf)
        self.best_ap = self._resumed_best(BEST_AP, 'val_ap', resume_step, -math.inf)
        val_aps = [r['ap'] for r in records if r['kind'] == 'val']
        best_at = int(np.argmax(val_aps)) if val_aps else -1
        self.validations_without_gain = len(val_aps) - 1 - best_at
        self.last_step = records[-1]['step'] if records else resume_step or 0
        self.writer = None
        if tensorboard and is_writer:
            self.writer = tensorboard_writer(prefix + '-tensorboard',
                                             purge_step=None if resume_step is None else resume_step + 1)
        self._tic = time.time()
        self._batch = None  # batch_in_epoch of the last batch seen

    def _resumed_best(self, suffix, key, resume_step, default):
        """The best value recorded by a resumed run's best checkpoint (not a newer one)."""
        if resume_step is None:
            return default
        meta = load_meta(self.prefix + suffix, 0)
        value = meta.get(key)
        return value if value is not None and meta.get('step', math.inf) <= resume_step else default

    # ------------------------------------------------------------------ Trainer.fit callbacks
    def batch_end(self, trainer):
        self._batch = trainer.batch_in_epoch
        if trainer.batch_in_epoch % self.frequent == 0:
            self._log_train(trainer, trainer.epoch, trainer.batch_in_epoch)

    def epoch_end(self, trainer):
        if trainer.step != self.last_step:  # the epoch's last batch, when not a multiple of frequent
            self._log_train(trainer, trainer.epoch - 1, self._batch)
        loss = training_loss(trainer.metric_values)
        if math.isfinite(loss) and loss < self.best_loss:
            self.best_loss = loss
            self._save_best(trainer, BEST_LOSS, train_loss=loss)
            log.info('epoch %d: lowest training loss so far (%.4f): saved %s%s-0000', trainer.epoch, loss,
                     self.prefix, BEST_LOSS)
        if self.validator is not None and self.val_every > 0 and trainer.epoch % self.val_every == 0:
            self._validate(trainer)
        self._tic = time.time()

    # ------------------------------------------------------------------ parts
    def _log_train(self, trainer, epoch, batch):
        now = time.time()
        speed = (trainer.step - self.last_step) * self.batch_size / max(now - self._tic, 1e-9)
        self._tic, self.last_step = now, trainer.step
        record = {'kind': 'train', 'step': trainer.step, 'epoch': epoch, 'batch': batch,
                  'lr': trainer.learning_rate, 'images_per_s': round(speed, 2),
                  'loss': _finite_or_none(training_loss(trainer.metric_values)),
                  'metrics': {k: _finite_or_none(v) for k, v in trainer.metric_values.items()}}
        if self.log:
            self.log.write(record)
        if self.writer:
            self.writer.add_scalar('train/loss', record['loss'] or float('nan'), trainer.step)
            self.writer.add_scalar('train/lr', record['lr'], trainer.step)
            self.writer.add_scalar('train/images_per_s', speed, trainer.step)
            for name, value in trainer.metric_values.items():
                self.writer.add_scalar('train/' + name, value, trainer.step)

    def _validate(self, trainer):
        arg_params, aux_params = trainer.module.get_params()
        result = self.validator(trainer.test_symbol, arg_params, aux_params)
        record = dict(kind='val', step=trainer.step, epoch=trainer.epoch, **result)
        log.info('validation after epoch %d: AP %.4f (%s) on %d images in %.1f s', trainer.epoch, result['ap'],
                 ' '.join('%s %.4f' % kv for kv in result['settings'].items()), result['images'],
                 result['seconds'])
        if self.log:
            self.log.write(record)
        if self.writer:
            self.writer.add_scalar('val/ap', result['ap'], trainer.step)
            for setting, ap in result['settings'].items():
                self.writer.add_scalar('val/ap_' + setting, ap, trainer.step)
            self.writer.flush()
        if result['ap'] > self.best_ap:
            self.best_ap, self.validations_without_gain = result['ap'], 0
            self._save_best(trainer, BEST_AP, val_ap=result['ap'], validation=result)
            log.info('best validation AP so far: saved %s%s-0000', self.prefix, BEST_AP)
        else:
            self.validations_without_gain += 1
        if self.log:
            plot_curves(self.log.records, self.plot_path, title=os.path.basename(self.prefix))
        if self.early_stop and self.validations_without_gain >= self.early_stop:
            raise EarlyStop('no better validation AP in the last %d validations (best %.4f); stopping after epoch %d'
                            % (self.validations_without_gain, self.best_ap, trainer.epoch))

    def _save_best(self, trainer, suffix, **meta):
        trainer.save(0, prefix=self.prefix + suffix, with_states=False, meta=dict(meta, config=self.config))

    def close(self, trainer=None):
        """Close the files; with ``trainer``, first log its last step when not yet logged (a run
        stopped by Ctrl-C or an error between two logging steps)."""
        if trainer is not None and trainer.step > self.last_step:
            in_epoch = trainer.batch_in_epoch > 0
            self._log_train(trainer, trainer.epoch if in_epoch else trainer.epoch - 1,
                            trainer.batch_in_epoch if in_epoch else self._batch)
        if self.log:
            self.log.close()
        if self.writer:
            self.writer.close()


def check_arguments(args):
    """UserError when the monitoring options of :func:`add_arguments` do not fit together."""
    if args.val_every > 0 and not args.val_path:
        raise UserError('--val_every needs --val_path (a folder with label.txt and images/, '
                        'e.g. data/retinaface/val)')
    if args.val_every > 0 and not os.path.isfile(os.path.join(args.val_path, 'label.txt')):
        raise UserError('--val_path %s holds no label.txt (a split in the RetinaFace layout: label.txt and '
                        'images/)' % args.val_path)
    if args.early_stop and not args.val_every:
        raise UserError('--early_stop needs validation (--val_every N --val_path DIR)')


def build_monitor(args, trainer, batch_size, cfg, ctx_id=-1):
    """The :class:`TrainingMonitor` of ``train.py``'s options (see :func:`add_arguments`).

    :param trainer: the :class:`rcnn.core.module.Trainer` about to fit (its step is the resumed one)
    :param cfg: the training configuration (anchors and pixel normalisation of the detector)
    :param ctx_id: device of the validation detector: GPU id, or -1 for the CPU
    :raises rcnn.errors.UserError: for options that need others (--val_every without
        --val_path, --early_stop without validation)
    """
    check_arguments(args)
    validator = None
    if args.val_every > 0:
        from rcnn.core.validation import Validator, detector_preset
        validator = Validator(args.val_path, gt_dir=args.val_gt, network=detector_preset(cfg),
                              scale=args.val_scale, threshold=args.val_threshold,
                              max_images=args.val_max_images, ctx_id=ctx_id)
        log.info('validating every %d epochs on %d images of %s', args.val_every, len(validator.images),
                 args.val_path)
    return TrainingMonitor(args.prefix, batch_size, frequent=args.frequent, validator=validator,
                           val_every=args.val_every, early_stop=args.early_stop,
                           resume_step=trainer.step if args.resume is not None else None, config=cfg,
                           tensorboard=not args.no_tensorboard, is_writer=trainer.is_writer)
