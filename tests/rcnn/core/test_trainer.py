"""rcnn.core.trainer.Trainer on a small regression graph: the optimizer state saved as arrays
restores the run exactly (both updater placements), epochs, end step, Ctrl-C save, NaN stop."""
import mxnet as mx
import numpy as np
import pytest

from rcnn.core.trainer import LATEST, Trainer, TrainingDiverged
from rcnn.core.schedule import EpochStepScheduler
from rcnn.utils import checkpoint

BATCH = 4


def graphs():
    fc = mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=2, name='fc')
    return mx.sym.LinearRegressionOutput(fc, mx.sym.Variable('label'), name='out'), fc


class CountingIter(mx.io.NDArrayIter):
    """NDArrayIter that counts the resets after its construction."""

    def __init__(self, data, label):
        self.resets = -1
        super().__init__({'data': data}, {'label': label}, batch_size=BATCH)

    def reset(self):
        self.resets += 1
        super().reset()


def make_data(num=16, seed=0, nan=False):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(num, 3)).astype(np.float32)
    if nan:
        data[5, 0] = np.nan
    return CountingIter(data, rng.normal(size=(num, 2)).astype(np.float32))


def make_trainer(tmp_path, kvstore, begin_step=0, ctx=(mx.cpu(),)):
    symbol, test_symbol = graphs()
    it = make_data()
    trainer = Trainer(symbol, test_symbol, it.provide_data, it.provide_label, list(ctx), kvstore,
                      prefix=str(tmp_path / 'fc'))
    optimizer = mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, wd=0.001, begin_num_update=begin_step,
                                 lr_scheduler=EpochStepScheduler([1, 2], 16 / BATCH, 0.1))
    return trainer, optimizer


def weights(trainer):
    return {k: v.asnumpy() for k, v in trainer.module.get_params()[0].items()}


@pytest.mark.parametrize('kvstore', ['device', None], ids=['on-kvstore', 'module-updater'])
def test_saved_optimizer_state_continues_exactly(tmp_path, kvstore):
    mx.random.seed(1)
    kv = mx.kv.create(kvstore) if kvstore else 'local'
    first, optimizer = make_trainer(tmp_path, kv)
    first.init({}, {}, optimizer)
    first.fit(make_data(), mx.metric.MSE(), end_epoch=1)
    assert (first.epoch, first.step) == (1, 4)
    arg_params, aux_params, states, meta = checkpoint.load_training_checkpoint(str(tmp_path / 'fc'), LATEST)
    assert len(states) == 2 and meta['optimizer']['num_update'] == 4  # momentum of fc_weight and fc_bias

    def resumed(with_state):
        trainer, optimizer = make_trainer(tmp_path / ('b%d' % with_state), mx.kv.create(kvstore) if kvstore
                                          else 'local', begin_step=meta['step'])
        trainer.init(arg_params, aux_params, optimizer, (states, meta['optimizer']) if with_state else None)
        trainer.epoch, trainer.step = meta['epoch'], meta['step']
        trainer.fit(make_data(), mx.metric.MSE(), end_epoch=2)
        return weights(trainer)

    first.fit(make_data(), mx.metric.MSE(), end_epoch=2)
    for name, value in resumed(True).items():
        assert np.array_equal(value, weights(first)[name]), name
    assert not np.array_equal(resumed(False)['fc_weight'], weights(first)['fc_weight'])


def test_epochs_end_step_and_learning_rate(tmp_path):
    trainer, optimizer = make_trainer(tmp_path, 'local')
    trainer.init({}, {}, optimizer)
    it = make_data()
    trainer.fit(it, mx.metric.MSE(), end_epoch=5, end_step=6)
    assert (trainer.epoch, trainer.step, it.resets) == (2, 6, 1)  # reset after the first epoch only
    meta = checkpoint.load_meta(str(tmp_path / 'fc'), LATEST)
    assert (meta['epoch'], meta['step'], meta['batch_in_epoch']) == (2, 6, 0)
    assert sorted(checkpoint.saved_epochs(str(tmp_path / 'fc'))) == [0, 1, 2]
    assert trainer.learning_rate == pytest.approx(0.01)  # update 6 comes after the step at iteration 4


class Interrupt:
    def batch_end(self, trainer):
        if trainer.step == 3:
            raise KeyboardInterrupt


def test_ctrl_c_saves_the_latest_with_the_batch(tmp_path):
    trainer, optimizer = make_trainer(tmp_path, 'local')
    trainer.init({}, {}, optimizer)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(make_data(), mx.metric.MSE(), end_epoch=2, callbacks=[Interrupt()])
    meta = checkpoint.load_training_checkpoint(str(tmp_path / 'fc'), LATEST)[3]
    assert (meta['epoch'], meta['step'], meta['batch_in_epoch']) == (0, 3, 3)
    assert checkpoint.saved_epochs(str(tmp_path / 'fc')) == [0]


def test_nan_loss_stops_naming_the_output(tmp_path):
    trainer, optimizer = make_trainer(tmp_path, 'local')
    trainer.init({}, {}, optimizer)
    with pytest.raises(TrainingDiverged) as err:
        trainer.fit(make_data(nan=True), mx.metric.MSE(), end_epoch=1)
    assert str(err.value) == ('the loss became NaN or infinite at epoch 0, step 1 (out_output). Lower --lr, '
                              'check the labels, or resume from the last checkpoint.')


def test_skip_batches_resumes_mid_epoch(tmp_path):
    trainer, optimizer = make_trainer(tmp_path, 'local', begin_step=3)
    trainer.init({}, {}, optimizer)
    trainer.step = 3
    trainer.fit(make_data(), mx.metric.MSE(), end_epoch=1, skip_batches=3)
    assert (trainer.epoch, trainer.step) == (1, 4)
