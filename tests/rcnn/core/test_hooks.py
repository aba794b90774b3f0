import json
import os
import sys
import types

import cv2
import pytest

from rcnn.core.hooks import BEST_AP, BEST_LOSS, EarlyStop, MetricsLog, TrainingMonitor, plot_curves, read_log
from rcnn.utils.checkpoint import load_meta

STRIDES = (32, 16, 8)


def metric_values(loss):
    """Trainer-like metric values whose training loss (sum of the loss metrics) is ``loss``."""
    values = {}
    for stride in STRIDES:
        values.update({'RPNAcc_s%d' % stride: 1 - loss / 10, 'RPNAcc_s%d_BG' % stride: 0.99,
                       'RPNAcc_s%d_FG' % stride: float('nan'), 'RPNLogLoss_s%d' % stride: loss / 3,
                       'RPNL1Loss_s%d' % stride: 0.0, 'RPNLandMarkL1Loss_s%d' % stride: 0.0})
    return values


class FakeTrainer:
    """What the monitor reads of ``rcnn.core.trainer.Trainer``; ``save`` writes only the meta JSON."""

    def __init__(self, batches_per_epoch=5):
        self.epoch, self.step, self.batch_in_epoch = 0, 0, 0
        self.batches_per_epoch = batches_per_epoch
        self.metric_values = {}
        self.learning_rate = 0.01
        self.test_symbol = 'test graph'
        self.is_writer = True
        self.module = types.SimpleNamespace(get_params=lambda: ({'w': self.step}, {}))
        self.saved = []

    def save(self, epoch, prefix=None, with_states=True, meta=None):
        self.saved.append((prefix, epoch, self.step))
        with open('%s-%04d.json' % (prefix, epoch), 'w') as f:
            json.dump(dict(meta, epoch=self.epoch, step=self.step), f)

    def run_epoch(self, monitor, losses):
        """One epoch of ``Trainer.fit``'s callback calls, the running loss going through ``losses``."""
        for loss in losses:
            self.step += 1
            self.batch_in_epoch += 1
            self.metric_values = metric_values(loss)
            monitor.batch_end(self)
        self.epoch += 1
        self.batch_in_epoch = 0
        monitor.epoch_end(self)


class ScriptedValidator:
    """Returns the given APs in turn and records the weights it was called with."""

    def __init__(self, aps):
        self.aps, self.calls = list(aps), []

    def __call__(self, symbol, arg_params, aux_params):
        self.calls.append(arg_params['w'])
        ap = self.aps[len(self.calls) - 1]
        return {'ap': ap, 'settings': {'all': ap}, 'images': 3, 'seconds': 0.0}


def test_log_keeps_the_resumed_steps_only(tmp_path):
    path = str(tmp_path / 'm.jsonl')
    log = MetricsLog(path)
    for step in range(1, 6):
        log.write({'kind': 'train', 'step': step, 'loss': float('nan')})
    log.close()
    assert read_log(path)[0]['loss'] is None  # NaN is written as JSON null
    resumed = MetricsLog(path, resume_step=3)
    resumed.write({'kind': 'train', 'step': 4})
    resumed.close()
    assert [r['step'] for r in read_log(path)] == [1, 2, 3, 4]
    MetricsLog(path).close()  # a new run starts a new log
    assert read_log(path) == []


def test_best_checkpoints_and_early_stop(tmp_path):
    prefix = str(tmp_path / 'retina')
    aps = [0.2, 0.5, 0.4, 0.5, 0.3]
    validator = ScriptedValidator(aps)
    monitor = TrainingMonitor(prefix, batch_size=4, frequent=2, validator=validator, val_every=1, early_stop=3,
                              config={'SCALES': [(640, 640)]}, tensorboard=False)
    trainer = FakeTrainer()
    epoch_losses = [3.0, 2.0, 2.5, 1.0, 1.5]
    with pytest.raises(EarlyStop):
        for loss in epoch_losses:
            trainer.run_epoch(monitor, [loss + 1, loss + 0.5, loss, loss, loss])
    monitor.close()
    # validated after every epoch on the weights of that moment; stopped after the 3rd AP without gain
    assert validator.calls == [5, 10, 15, 20, 25]
    records = read_log(prefix + '-metrics.jsonl')
    train_steps = [r['step'] for r in records if r['kind'] == 'train']
    assert train_steps == [2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19, 20, 22, 24, 25]
    assert [r['ap'] for r in records if r['kind'] == 'val'] == aps
    assert [r['epoch'] for r in records if r['kind'] == 'val'] == [1, 2, 3, 4, 5]
    assert records[0]['images_per_s'] > 0 and records[0]['lr'] == 0.01
    # best AP: the first epoch reaching 0.5 (a tie is no gain); best loss: epoch 4's 1.0
    best_ap, best_loss = load_meta(prefix + BEST_AP, 0), load_meta(prefix + BEST_LOSS, 0)
    assert (best_ap['epoch'], best_ap['step'], best_ap['val_ap']) == (2, 10, 0.5)
    assert best_ap['validation']['settings'] == {'all': 0.5}
    assert best_ap['config'] == {'SCALES': [[640, 640]]}
    assert (best_loss['epoch'], best_loss['step']) == (4, 20)
    assert best_loss['train_loss'] == pytest.approx(1.0)
    assert all(prefix_ == prefix + BEST_AP or prefix_ == prefix + BEST_LOSS for prefix_, _, _ in trainer.saved)
    image = cv2.imread(prefix + '-curves.png')
    assert image is not None and image.shape[0] > 500 and image.shape[1] > 500


def test_resume_restores_best_values_and_patience(tmp_path):
    prefix = str(tmp_path / 'retina')
    trainer = FakeTrainer()
    monitor = TrainingMonitor(prefix, 4, frequent=1, validator=ScriptedValidator([0.5, 0.4, 0.3]), val_every=1,
                              early_stop=3, tensorboard=False)
    for loss in (2.0, 1.0, 3.0):
        trainer.run_epoch(monitor, [loss] * 5)
    monitor.close()
    # resume from the end of epoch 2: the third validation and the steps after 10 are forgotten
    trainer.epoch, trainer.step = 2, 10
    monitor = TrainingMonitor(prefix, 4, frequent=1, validator=ScriptedValidator([0.45, 0.6]), val_every=1,
                              early_stop=2, resume_step=10, tensorboard=False)
    assert (monitor.best_ap, monitor.best_loss, monitor.validations_without_gain) == (0.5, 1.0, 1)
    with pytest.raises(EarlyStop):  # 0.45 is the second validation without gain
        trainer.run_epoch(monitor, [2.0] * 5)
    monitor.close()
    records = read_log(prefix + '-metrics.jsonl')
    assert [r['step'] for r in records if r['kind'] == 'train'] == list(range(1, 16))
    assert [r['ap'] for r in records if r['kind'] == 'val'] == [0.5, 0.4, 0.45]


def test_tensorboard_events_through_the_installed_library(tmp_path, monkeypatch):
    scalars = []

    class SummaryWriter:
        def __init__(self, logdir, purge_step=None):
            self.logdir, self.purge_step = logdir, purge_step

        def add_scalar(self, tag, value, step):
            scalars.append((tag, value, step))

        def flush(self):
            pass

        def close(self):
            scalars.append('closed')

    monkeypatch.setitem(sys.modules, 'tensorboardX', types.SimpleNamespace(SummaryWriter=SummaryWriter))
    prefix = str(tmp_path / 'retina')
    monitor = TrainingMonitor(prefix, 4, frequent=1, validator=ScriptedValidator([0.7]), val_every=1,
                              resume_step=None)
    assert monitor.writer.logdir == prefix + '-tensorboard'
    FakeTrainer().run_epoch(monitor, [1.0, 1.0])
    monitor.close()
    assert ('train/RPNLogLoss_s8', pytest.approx(1 / 3), 2) in scalars
    assert ('val/ap_all', 0.7, 2) in scalars and scalars[-1] == 'closed'


def test_curves_png_without_validation(tmp_path):
    records = [{'kind': 'train', 'step': s, 'loss': 1.0 / s, 'metrics': metric_values(1.0 / s)} for s in (1, 2, 3)]
    plot_curves(records, str(tmp_path / 'c.png'))
    assert cv2.imread(str(tmp_path / 'c.png')) is not None


def test_close_logs_the_step_an_interrupt_left_unlogged(tmp_path):
    prefix = str(tmp_path / 'retina')
    monitor = TrainingMonitor(prefix, 4, frequent=5, tensorboard=False)
    trainer = FakeTrainer()
    for _ in range(3):  # Ctrl-C after the third batch of the epoch, before the 5-batch logging step
        trainer.step += 1
        trainer.batch_in_epoch += 1
        trainer.metric_values = metric_values(1.0)
        monitor.batch_end(trainer)
    monitor.close(trainer)
    assert [(r['step'], r['epoch'], r['batch']) for r in read_log(prefix + '-metrics.jsonl')] == [(3, 0, 3)]


def test_a_cut_last_line_is_ignored_and_a_bad_line_named(tmp_path):
    path = tmp_path / 'm.jsonl'
    path.write_text('{"kind": "train", "step": 1}\n{"kind": "train", "step": 2}\n{"kind": "tr')
    assert [r['step'] for r in read_log(str(path))] == [1, 2]
    path.write_text('{"kind": "train", "step": 1}\n{"kind": \n{"kind": "train", "step": 3}\n')
    with pytest.raises(ValueError, match='m.jsonl:2'):
        read_log(str(path))


def test_ctrl_c_stops_at_the_next_batch_end_then_at_once():
    import os
    import signal

    from rcnn.core.hooks import StopOnCtrlC

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        pytest.skip('SIGINT is ignored in this process')
    before = signal.getsignal(signal.SIGINT)
    stopper = StopOnCtrlC().install()
    try:
        stopper.batch_end(None)  # no Ctrl-C yet: nothing happens
        os.kill(os.getpid(), signal.SIGINT)  # the first one only asks
        assert stopper.requested
        with pytest.raises(KeyboardInterrupt):
            stopper.batch_end(None)
        with pytest.raises(KeyboardInterrupt):  # the second one interrupts at once
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        stopper.restore()
    assert signal.getsignal(signal.SIGINT) is before


def test_log_and_curves_replace_a_link_instead_of_writing_through_it(tmp_path):
    """Both files go through rcnn.utils.safe_write: a link planted at their names is replaced, its
    target left as it was."""
    outside = tmp_path / 'outside.txt'
    outside.write_text('keep me')
    prefix = str(tmp_path / 'retina')
    for name in ('-metrics.jsonl', '-curves.png'):
        (tmp_path / ('retina' + name)).symlink_to(outside)
    monitor = TrainingMonitor(prefix, 4, frequent=1, validator=ScriptedValidator([0.5]), val_every=1,
                              tensorboard=False)
    FakeTrainer().run_epoch(monitor, [1.0, 1.0])
    monitor.close()
    assert outside.read_text() == 'keep me'
    for name in ('-metrics.jsonl', '-curves.png'):
        assert not os.path.islink(prefix + name) and os.path.getsize(prefix + name) > 0
    assert [r['kind'] for r in read_log(prefix + '-metrics.jsonl')] == ['train', 'train', 'val']
