"""train.py end to end on generated data: devices, distributed kvstore, resume, failure messages."""
import json
import os
import socket
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from rcnn.dataset import synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 300


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    synthetic.write_split(root, 'train', 8, seed=3, height=160, width=160, min_side=24, max_side=64)
    return root


def train_cmd(dataset, prefix, *extra):
    return [sys.executable, os.path.join(ROOT, 'train.py'), '--network', 'mnet', '--dataset_path', dataset,
            '--root_path', os.path.join(os.path.dirname(prefix), 'cache'), '--prefix', prefix,
            '--pretrained', '', '--image_size', '128', '--batch_images', '2', '--workers', '0',
            '--lr', '0.01', '--seed', '1', '--frequent', '1', '--no_flip'] + list(extra)


def run(cmd, env=None):
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
                          env=dict(os.environ, **(env or {})))
    return proc.returncode, proc.stdout + proc.stderr


def assert_checkpoint_runs(prefix, epoch):
    """The checkpoint is the clean test graph: it loads and gives the nine outputs."""
    sym, arg_params, aux_params = mx.model.load_checkpoint(prefix, epoch)
    assert not any(node['op'] == 'Custom' for node in json.loads(sym.tojson())['nodes'])
    mod = mx.mod.Module(sym, data_names=['data'], label_names=None, context=mx.cpu())
    mod.bind(data_shapes=[('data', (1, 3, 128, 128))], for_training=False)
    mod.set_params(arg_params, aux_params)
    mod.forward(mx.io.DataBatch([mx.nd.array(np.random.rand(1, 3, 128, 128) * 255)]), is_train=False)
    outputs = [o.asnumpy() for o in mod.get_outputs()]
    assert len(outputs) == 9 and all(np.isfinite(o).all() for o in outputs)


def test_two_cpu_devices_train_and_write_checkpoint(dataset, tmp_path):
    prefix = str(tmp_path / 'model' / 'retina')
    code, log = run(train_cmd(dataset, prefix, '--cpus', '2', '--lr_step', '1', '--end_epoch', '1'))
    assert code == 0, log
    assert 'cpu(0), cpu(1)' in log
    assert 'batches of 4 per epoch' in log  # 2 images on each of 2 devices
    for epoch in (0, 1):
        assert_checkpoint_runs(prefix, epoch)
    meta = json.load(open(prefix + '-0000.json'))
    assert meta['epoch'] == 1 and meta['step'] == 2


def test_gpus_default_to_cpu_without_cuda_visible_devices(dataset, tmp_path):
    prefix = str(tmp_path / 'retina')
    env = {k: v for k, v in os.environ.items() if k != 'CUDA_VISIBLE_DEVICES'}
    proc = subprocess.run(train_cmd(dataset, prefix, '--lr_step', '1', '--end_epoch', '1'), cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert 'on [cpu(0)]' in proc.stderr


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_dist_sync_on_loopback(dataset, tmp_path):
    """Scheduler, one server and two workers on 127.0.0.1; only rank 0 writes the checkpoint."""
    prefix = str(tmp_path / 'model' / 'retina')
    env = dict(os.environ, DMLC_PS_ROOT_URI='127.0.0.1', DMLC_PS_ROOT_PORT=str(free_port()),
               DMLC_NUM_SERVER='1', DMLC_NUM_WORKER='2', DMLC_NODE_HOST='127.0.0.1')
    import_mxnet = [sys.executable, '-c', 'import mxnet']
    procs = [subprocess.Popen(import_mxnet, env=dict(env, DMLC_ROLE=role), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for role in ('scheduler', 'server')]
    cmd = train_cmd(dataset, prefix, '--kvstore', 'dist_sync', '--batch_images', '1', '--lr_step', '1',
                    '--end_epoch', '1')
    workers = [subprocess.Popen(cmd, env=dict(env, DMLC_ROLE='worker'), cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    try:
        logs = [w.communicate(timeout=TIMEOUT)[0] for w in workers]
        for proc in procs:
            proc.wait(timeout=60)
    finally:
        for proc in procs + workers:
            if proc.poll() is None:
                proc.kill()
    for worker, log in zip(workers, logs):
        assert worker.returncode == 0, log
    assert sorted('worker 0 of 2' in log for log in logs) == [False, True]
    assert all('4 batches of 1 per epoch' in log for log in logs)  # 8 images, half each
    assert_checkpoint_runs(prefix, 1)


@pytest.mark.slow
def test_resume_continues_epoch_and_step(dataset, tmp_path):
    prefix = str(tmp_path / 'retina')
    code, log = run(train_cmd(dataset, prefix, '--lr_step', '3', '--end_epoch', '1'))
    assert code == 0, log
    code, log = run(train_cmd(dataset, prefix, '--lr_step', '3', '--end_epoch', '2', '--resume'))
    assert code == 0, log
    assert 'at epoch 1, step 4' in log
    assert json.load(open(prefix + '-0000.json'))['step'] == 8
    assert os.path.exists(prefix + '-0002.params') and os.path.exists(prefix + '-0000.states')


def test_nan_loss_stops_with_one_error_line(dataset, tmp_path):
    code, log = run(train_cmd(dataset, str(tmp_path / 'retina'), '--lr', '1e12', '--lr_step', '5',
                              '--end_epoch', '5'))
    errors = [line for line in log.splitlines() if line.startswith('error:')]
    assert code == 1 and len(errors) == 1 and log.strip().splitlines()[-1] == errors[0]
    assert errors[0].startswith('error: the loss became NaN or infinite at epoch 0, step ')
    assert 'Traceback' not in log


def test_missing_pretrained_says_where(dataset, tmp_path):
    cmd = train_cmd(dataset, str(tmp_path / 'retina'))
    cmd[cmd.index('--pretrained') + 1] = str(tmp_path / 'nowhere' / 'resnet-50')
    code, log = run(cmd)
    assert code == 1 and 'Traceback' not in log
    assert log.strip().splitlines()[-1] == (
        "error: pretrained checkpoint %s-0000.params not found. Put it there (see model/README.md for the "
        "ImageNet backbones and released models), or pass --pretrained '' to train from scratch."
        % (tmp_path / 'nowhere' / 'resnet-50'))


def test_option_errors_are_one_line(dataset, tmp_path):
    """An option that needs another ends in one `error:` line (UserError through cli.run_main)."""
    proc = subprocess.run(train_cmd(dataset, str(tmp_path / 'retina'), '--early_stop', '2', '--end_epoch', '1',
                                    '--lr_step', '1'), cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == 'error: --early-stop needs validation (--val-every N --val-path DIR)'
    assert 'Traceback' not in proc.stderr


def test_unknown_network_preset_is_an_option_error(dataset, tmp_path):
    cmd = train_cmd(dataset, str(tmp_path / 'retina'))
    cmd[cmd.index('--network') + 1] = 'vgg'
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == ("error: unknown network 'vgg': choose one of ['mnet', 'resnet'] "
                                            "(see train.py --help)")


@pytest.mark.slow
def test_two_runs_on_one_fresh_prefix_exactly_one_trains(dataset, tmp_path):
    """The prefix's lock: the second train.py names the first one's pid in one error line and
    touches nothing; the first trains to the end."""
    prefix = str(tmp_path / 'retina')
    cmd = train_cmd(dataset, prefix, '--lr_step', '2', '--end_epoch', '2')
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    logs = [proc.communicate(timeout=TIMEOUT)[0] for proc in procs]
    codes = [proc.returncode for proc in procs]
    assert sorted(codes) == [0, 1], logs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    errors = [line for line in logs[loser].splitlines() if line.startswith('error:')]
    assert errors == ['error: training prefix %s is in use by another run (pid %d); wait for it to finish or '
                      'choose another' % (prefix, procs[winner].pid)], logs[loser]
    assert logs[loser].strip().splitlines()[-1] == errors[0]
    assert json.load(open(prefix + '-0000.json'))['epoch'] == 2
    code, log = run(cmd + ['--overwrite'])
    assert code == 0, log  # the lock went with the first run
