"""train.py killed with SIGKILL at random moments (every other trial within a checkpoint save):
whatever is on disk afterwards is whole, every checkpoint with a meta JSON verifies (once an
interrupted save's journal is completed), and --resume continues to the weights of an
uninterrupted run, bit for bit, or, when the run was killed before its first checkpoint, refuses
with one line naming the file."""
import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

import mxnet as mx
import pytest

from rcnn.core.hooks import read_log
from rcnn.utils import checkpoint
from tests.train_runs import small_faces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 300


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return small_faces(tmp_path_factory, 8)


def train_cmd(data_root, prefix, *extra):
    """12 steps in 6 epochs of 2 batches: a save (numbered + latest + best loss) every 2 steps."""
    return [sys.executable, os.path.join(ROOT, 'train.py'), '--network', 'mnet', '--dataset_path', str(data_root),
            '--root_path', str(data_root / 'cache'), '--prefix', str(prefix), '--pretrained', '',
            '--image_size', '128', '--batch_images', '4', '--workers', '0', '--lr', '0.01', '--seed', '1',
            '--frequent', '1', '--no_flip', '--lr_step', '4,6', '--end_epoch', '6', '--no_tensorboard'] + list(extra)


def run(cmd):
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    return proc.returncode, proc.stderr


@pytest.fixture(scope='module')
def reference(data_root, tmp_path_factory):
    """(sha256 of the final weights, seconds from the first metrics line to the end) of an
    uninterrupted run."""
    prefix = tmp_path_factory.mktemp('reference') / 'retina'
    proc = subprocess.Popen(train_cmd(data_root, prefix), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    started = wait_for_training(proc, prefix)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr[-3000:]
    return checkpoint.file_sha256(str(prefix) + '-0000.params'), time.time() - started


def wait_for_training(proc, prefix):
    """The time the run logged its first step."""
    while proc.poll() is None and not os.path.exists(str(prefix) + '-metrics.jsonl'):
        time.sleep(0.02)
    return time.time()


def assert_whole_files(prefix):
    """Every file under a final name is whole; every meta JSON's set verifies, unless the save
    journal of an interrupted save says it is being replaced."""
    folder = os.path.dirname(prefix)
    for path in glob.glob(os.path.join(folder, '*.params')) + glob.glob(os.path.join(folder, '*.states')):
        assert isinstance(mx.nd.load(path), dict), path
    for path in glob.glob(os.path.join(folder, '*.json')):
        json.load(open(path))
    read_log(prefix + '-metrics.jsonl')
    for path in glob.glob(os.path.join(folder, '*-[0-9][0-9][0-9][0-9].json')):
        ckpt_prefix, epoch = path[:-10], int(path[-9:-5])
        if not os.path.exists(checkpoint.journal_path(ckpt_prefix, epoch)):
            checkpoint.load_checkpoint(ckpt_prefix, epoch)


def saving(folder):
    """Temporary files or a journal of a save in progress."""
    return glob.glob(os.path.join(folder, '.*')) + glob.glob(os.path.join(folder, '*.saving'))


def kill_and_resume(data_root, prefix, reference, rng, in_save):
    """One trial: SIGKILL at a random moment of the training or, with ``in_save``, within 10 ms of
    the first save seen after a random moment. Returns ('resumed' or 'refused', whether the kill
    came during a save)."""
    digest, duration = reference
    folder = os.path.dirname(str(prefix))
    proc = subprocess.Popen(train_cmd(data_root, prefix), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_training(proc, prefix)
    time.sleep(rng.uniform(0, duration))
    while in_save and proc.poll() is None and not saving(folder):
        pass
    time.sleep(rng.uniform(0, 0.01) if in_save else 0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=TIMEOUT)
    during_save = bool(saving(folder))
    assert_whole_files(str(prefix))
    saved = glob.glob(str(prefix) + '-0000.*')  # a checkpoint was (being) written: it must resume
    code, stderr = run(train_cmd(data_root, prefix, '--resume'))
    if code == 0:
        assert checkpoint.file_sha256(str(prefix) + '-0000.params') == digest
        assert not glob.glob(os.path.join(folder, '.*'))  # no temporary file left
        return 'resumed', during_save
    last = stderr.strip().splitlines()[-1]
    assert code == 1 and not saved, stderr[-3000:]
    assert last.startswith('error: cannot resume: %s-0000.json not found' % prefix), last
    return 'refused', during_save


def trials(data_root, tmp_path, reference, count, seed):
    rng = random.Random(seed)
    results = [kill_and_resume(data_root, tmp_path / str(i) / 'retina', reference, rng, in_save=i % 2 == 1)
               for i in range(count)]
    outcomes = [outcome for outcome, _ in results]
    print('fault trials: %d resumed bit-identical, %d refused; %d killed during a save'
          % (outcomes.count('resumed'), outcomes.count('refused'), sum(during for _, during in results)))
    return outcomes


def test_killed_training_resumes_or_refuses(data_root, tmp_path, reference):
    assert 'resumed' in trials(data_root, tmp_path, reference, 3, seed=11)


@pytest.mark.slow
def test_killed_training_resumes_or_refuses_many_times(data_root, tmp_path, reference):
    trials(data_root, tmp_path, reference, 12, seed=12)
