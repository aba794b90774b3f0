"""End to end: train.py with validation, best checkpoints, early stop, and Ctrl-C + --resume, on a
small generated data set (160-pixel images) so that each run takes seconds on a CPU."""
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import mxnet as mx
import numpy as np
import pytest

from rcnn.config import config, generate_config
from rcnn.core.hooks import BEST_AP, BEST_LOSS, read_log
from rcnn.core.options import parse_options
from rcnn.core.run import train_net
from rcnn.evaluation.widerface_eval import evaluate_label_txt
from rcnn.utils.checkpoint import load_meta
from rcnn.dataset.synthetic import write_split
from retinaface import RetinaFace, read_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 160
STEPS_PER_EPOCH = 4  # 16 images + their flips, batches of 8


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('faces')
    kwargs = dict(height=SIZE, width=SIZE, min_side=24, max_side=64)
    write_split(str(root), 'train', 16, seed=1, **kwargs)
    write_split(str(root), 'val', 6, seed=2, **kwargs)
    return root


@pytest.fixture
def restore_config():
    batch_images, scales = config.TRAIN.BATCH_IMAGES, config.SCALES
    yield
    generate_config('resnet', 'retinaface')
    config.TRAIN.BATCH_IMAGES, config.SCALES = batch_images, scales


def train_argv(data_root, prefix, *options):
    return ['--network', 'mnet', '--dataset_path', str(data_root), '--root_path', str(data_root / 'cache'),
            '--prefix', str(prefix), '--pretrained', '', '--lr', '0.02', '--batch_images', '8',
            '--image_size', str(SIZE), '--workers', '0', '--seed', '3', '--frequent', '1',
            '--val_path', str(data_root / 'val'), '--no_tensorboard'] + list(options)


def run(data_root, prefix, *options, callbacks=()):
    argv = train_argv(data_root, prefix, *options)
    return train_net(parse_options(argv), callbacks=callbacks)


def split(records):
    return ([r for r in records if r['kind'] == 'train'], [r for r in records if r['kind'] == 'val'])


def independent_ap(prefix, data_root):
    """AP@0.5 of a saved checkpoint, detected and scored without the training code."""
    detector = RetinaFace(prefix, 0, ctx_id=-1, network='net3')
    label_file = data_root / 'val' / 'label.txt'
    names = [line[1:].strip() for line in open(label_file) if line.startswith('#')]
    predictions = {name: detector.detect(read_image(str(data_root / 'val' / 'images' / name)), 0.02)[0]
                   for name in names}
    return evaluate_label_txt(predictions, str(label_file), box_format='xyxy')['all']


@pytest.mark.slow
def test_validation_best_checkpoints_and_early_stop(data_root, tmp_path, restore_config):
    prefix = tmp_path / 'retina'
    patience = 2
    trainer = run(data_root, prefix, '--lr_step', '7', '--end_epoch', '7', '--val_every', '1',
                  '--early_stop', str(patience))
    train_records, val_records = split(read_log(str(prefix) + '-metrics.jsonl'))

    # one train record per step, with every metric per stride
    assert [r['step'] for r in train_records] == list(range(1, trainer.step + 1))
    assert {'RPNAcc_s8', 'RPNLogLoss_s16', 'RPNL1Loss_s32', 'RPNLandMarkL1Loss_s8'} <= set(train_records[-1]['metrics'])
    assert all(r['images_per_s'] > 0 and r['lr'] > 0 for r in train_records)

    # early stop where the log says: after `patience` validations without a higher AP, or at the end
    aps = [r['ap'] for r in val_records]
    stop = next((i for i in range(len(aps)) if i - int(np.argmax(aps[:i + 1])) >= patience), None)
    assert len(aps) == (7 if stop is None else stop + 1)
    assert trainer.epoch == val_records[-1]['epoch'] == len(aps)
    assert trainer.step == len(aps) * STEPS_PER_EPOCH

    # the best-AP checkpoint: the log's maximum, and the detector on it scores that AP again
    best = int(np.argmax(aps))
    meta = load_meta(str(prefix) + BEST_AP, 0)
    assert meta['val_ap'] == max(aps)
    assert (meta['epoch'], meta['step']) == (val_records[best]['epoch'], val_records[best]['step'])
    assert independent_ap(str(prefix) + BEST_AP, data_root) == pytest.approx(max(aps), abs=1e-6)
    assert meta['config']['RPN_FEAT_STRIDE'] == [32, 16, 8] and meta['args']['early_stop'] == patience
    assert 'command' in meta

    # the best-loss checkpoint: the lowest epoch-end training loss of the log
    epoch_ends = [r for r in train_records if r['step'] % STEPS_PER_EPOCH == 0]
    loss_meta = load_meta(str(prefix) + BEST_LOSS, 0)
    assert loss_meta['train_loss'] == pytest.approx(min(r['loss'] for r in epoch_ends))
    assert loss_meta['step'] == min(epoch_ends, key=lambda r: r['loss'])['step']

    image = cv2.imread(str(prefix) + '-curves.png')
    assert image is not None and min(image.shape[:2]) > 500


class InterruptAt:
    """Raises KeyboardInterrupt (as Ctrl-C does) after the given global step."""

    def __init__(self, step):
        self.step = step

    def batch_end(self, trainer):
        if trainer.step == self.step:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_interrupted_run_resumes_the_log_without_gaps(data_root, tmp_path, restore_config):
    prefix = tmp_path / 'retina'
    options = ['--lr_step', '3', '--end_epoch', '3', '--val_every', '1']
    with pytest.raises(KeyboardInterrupt):
        run(data_root, prefix, *options, callbacks=[InterruptAt(6)])
    latest = load_meta(str(prefix), 0)
    assert (latest['epoch'], latest['step'], latest['batch_in_epoch']) == (1, 6, 2)
    # lines a killed run wrote after its last checkpoint must go
    with open(str(prefix) + '-metrics.jsonl', 'a') as f:
        f.write(json.dumps({'kind': 'train', 'step': 7, 'epoch': 1, 'metrics': {}}) + '\n')

    trainer = run(data_root, prefix, *options, '--resume')
    assert (trainer.epoch, trainer.step) == (3, 3 * STEPS_PER_EPOCH)
    train_records, val_records = split(read_log(str(prefix) + '-metrics.jsonl'))
    assert [r['step'] for r in train_records] == list(range(1, 3 * STEPS_PER_EPOCH + 1))
    assert [r['epoch'] for r in train_records] == [s // STEPS_PER_EPOCH for s in range(12)]
    assert [(r['epoch'], r['step']) for r in val_records] == [(1, 4), (2, 8), (3, 12)]
    assert load_meta(str(prefix) + BEST_AP, 0)['val_ap'] == max(r['ap'] for r in val_records)


@pytest.mark.slow
def test_ctrl_c_saves_a_resumable_checkpoint(data_root, tmp_path):
    """SIGINT to a real train.py with a data worker process: exit status 130, a checkpoint of the
    step reached, and a log that ends at that step."""
    prefix = tmp_path / 'retina'
    argv = train_argv(data_root, prefix, '--lr_step', '50', '--end_epoch', '50', '--workers', '1')
    output = tmp_path / 'output.txt'
    with open(output, 'w') as out:  # a file, not a pipe: the run's log must never block it
        # a shell that starts jobs in the background ignores SIGINT in them: give the run the default
        proc = subprocess.Popen([sys.executable, 'train.py'] + argv, cwd=ROOT, stdout=out, stderr=out,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        log_path = str(prefix) + '-metrics.jsonl'
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline and len(read_log(log_path)) < 6:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    stderr = output.read_text()
    assert proc.returncode == 130, stderr[-2000:]
    meta = load_meta(str(prefix), 0)
    train_records = split(read_log(log_path))[0]
    assert meta['step'] >= 6 and [r['step'] for r in train_records] == list(range(1, meta['step'] + 1))
    assert meta['epoch'] * STEPS_PER_EPOCH + meta['batch_in_epoch'] == meta['step']
    assert os.path.exists(str(prefix) + '-0000.states')
    assert 'interrupted' in stderr and '--resume' in stderr
    symbol, arg_params, _ = mx.model.load_checkpoint(str(prefix), 0)
    assert set(symbol.list_arguments()) - {'data'} <= set(arg_params)
