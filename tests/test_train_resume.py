"""--resume continues exactly: a run interrupted anywhere and resumed ends with the weights of the
uninterrupted run with the same --seed, bit for bit (data order, augmentation, OHEM, optimizer
state, lr, frozen layers)."""
import mxnet as mx
import numpy as np
import pytest

from rcnn.core.options import parse_options
from rcnn.core.run import train_net
from rcnn.utils.checkpoint import file_sha256, load_meta
from tests.train_runs import restored_train_config, small_faces

STEPS_PER_EPOCH = 4  # 8 images, batches of 2
OPTIONS = ['--lr_step', '2,3', '--end_epoch', '3']  # lr x0.1 after step 8, end at step 12


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return small_faces(tmp_path_factory, 8)


@pytest.fixture(autouse=True)
def restore_config():
    with restored_train_config():
        yield


def run(data_root, prefix, *options, callbacks=()):
    argv = ['--network', 'mnet', '--dataset_path', str(data_root), '--root_path', str(data_root / 'cache'),
            '--prefix', str(prefix), '--pretrained', '', '--lr', '0.01', '--batch_images', '2',
            '--image_size', '128', '--workers', '0', '--seed', '7', '--frequent', '1', '--no_flip',
            '--no_tensorboard'] + OPTIONS + list(options)
    return train_net(parse_options(argv), callbacks=callbacks)


class StopAt:
    """Stops training at a global step: ``Ctrl-C`` (KeyboardInterrupt, the trainer saves first) at
    the end of that batch, or a crash with no save (as a kill) right after the epoch's checkpoint."""

    def __init__(self, step, hook='batch_end', error=KeyboardInterrupt):
        self.step, self.hook, self.error = step, hook, error

    def __getattr__(self, name):
        if name != self.hook:
            raise AttributeError(name)
        return self._check

    def _check(self, trainer):
        if trainer.step == self.step:
            raise self.error


class Killed(Exception):
    pass


@pytest.fixture(scope='module')
def reference_run(data_root, tmp_path_factory):
    """Prefix of an uninterrupted run from scratch."""
    prefix = tmp_path_factory.mktemp('reference') / 'retina'
    with restored_train_config():
        trainer = run(data_root, prefix)
    assert trainer.step == 3 * STEPS_PER_EPOCH
    return str(prefix)


@pytest.fixture(scope='module')
def reference(reference_run):
    """sha256 of the final weights of the uninterrupted run."""
    return file_sha256(reference_run + '-0000.params')


@pytest.mark.parametrize('stop, resumed_at', [
    (StopAt(6), (1, 6, 2)),                                  # mid-epoch (Ctrl-C after batch 2 of epoch 1)
    (StopAt(8), (1, 8, 4)),                                  # at the epoch boundary, before its save
    (StopAt(4, 'epoch_end', Killed), (1, 4, 0)),             # killed right after the epoch 1 save
], ids=['mid-epoch', 'epoch-boundary', 'after-save'])
def test_resumed_run_ends_bit_identical(data_root, tmp_path, reference, stop, resumed_at):
    prefix = tmp_path / 'retina'
    with pytest.raises((KeyboardInterrupt, Killed)):
        run(data_root, prefix, callbacks=[stop])
    latest = load_meta(str(prefix), 0)
    assert (latest['epoch'], latest['step'], latest['batch_in_epoch']) == resumed_at
    trainer = run(data_root, prefix, '--resume')
    assert trainer.step == 3 * STEPS_PER_EPOCH
    assert file_sha256(str(prefix) + '-0000.params') == reference


def test_resume_freezes_what_the_pretrained_run_froze(data_root, tmp_path, reference_run):
    """mnet freezes (LAYER_FIX) the FIXED_PARAMS layers loaded from --pretrained; a resumed run
    freezes the same ones (recorded in the meta), not every resumed weight."""
    pretrained = ['--pretrained', reference_run, '--pretrained_epoch', '0']
    run(data_root, tmp_path / 'whole', *pretrained)
    fixed = load_meta(str(tmp_path / 'whole'), 0)['fixed_params']
    assert 'mobilenet0_conv0_weight' in fixed and not any(n.startswith('mobilenet0_conv2') for n in fixed)
    before = mx.nd.load(reference_run + '-0000.params')
    after = mx.nd.load(str(tmp_path / 'whole') + '-0000.params')
    assert all(np.array_equal(before['arg:' + n].asnumpy(), after['arg:' + n].asnumpy()) for n in fixed)
    assert not np.array_equal(before['arg:mobilenet0_conv2_weight'].asnumpy(),
                              after['arg:mobilenet0_conv2_weight'].asnumpy())

    with pytest.raises(KeyboardInterrupt):
        run(data_root, tmp_path / 'resumed', *pretrained, callbacks=[StopAt(6)])
    run(data_root, tmp_path / 'resumed', *pretrained, '--resume')
    assert load_meta(str(tmp_path / 'resumed'), 0)['fixed_params'] == fixed
    whole, resumed = (file_sha256(str(tmp_path / name) + '-0000.params') for name in ('whole', 'resumed'))
    assert resumed == whole


def test_overwrite_replaces_the_previous_run(data_root, tmp_path, reference):
    """--overwrite removes the old run's checkpoints and metrics first: none of them survives."""
    prefix = tmp_path / 'retina'
    for name in ('-0009.params', '-0009.json', '-0009.states', '-metrics.jsonl', '-best-loss-0000.params'):
        (tmp_path / ('retina' + name)).write_text('old run')
    run(data_root, prefix, '--overwrite')
    assert not any(p.read_bytes() == b'old run' for p in tmp_path.iterdir() if p.is_file())
    assert not (tmp_path / 'retina-0009.params').exists()
    assert file_sha256(str(prefix) + '-0000.params') == reference
