"""Checkpoint sets (rcnn.utils.checkpoint, write side and --resume's read side): written as a unit,
verified against the sha256 in the meta JSON, never unpickled, and whole after a kill at any file
operation of a save."""
import json
import os
import pickle
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from rcnn.utils import checkpoint
from rcnn.utils.checkpoint import CheckpointError
from tests.planted_pickle import plant_pickle

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def tiny_symbol():
    return mx.sym.FullyConnected(mx.sym.Variable('data'), num_hidden=2, name='fc')


def save(prefix, value, epoch=0, meta=None):
    """A complete set whose every array holds ``value``."""
    weights = {'fc_weight': mx.nd.full((2, 3), value), 'fc_bias': mx.nd.full((2,), value)}
    states = {'state:0': mx.nd.full((2, 3), value)}
    checkpoint.save_checkpoint(prefix, epoch, tiny_symbol(), weights, {}, meta=dict(meta or {}, value=value),
                               optimizer_states=states)


def test_save_writes_a_verified_set_with_umask_permissions(tmp_path):
    prefix = str(tmp_path / 'run' / 'retina')
    old = os.umask(0o022)
    try:
        save(prefix, 1.0, epoch=3, meta={'step': 12})
    finally:
        os.umask(old)
    names = sorted(os.listdir(tmp_path / 'run'))
    assert names == ['retina-0003.json', 'retina-0003.params', 'retina-0003.states', 'retina-symbol.json']
    for name in names:
        assert os.stat(tmp_path / 'run' / name).st_mode & 0o777 == 0o644, name
    meta = json.load(open(prefix + '-0003.json'))
    assert meta['step'] == 12
    assert meta[checkpoint.DIGESTS_KEY] == {name: checkpoint.file_sha256(str(tmp_path / 'run' / name))
                                            for name in names if name != 'retina-0003.json'}
    arg_params, _, states, meta = checkpoint.load_training_checkpoint(prefix, 3)
    np.testing.assert_array_equal(arg_params['fc_weight'].asnumpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(states['state:0'].asnumpy(), np.ones((2, 3)))
    symbol, arg_params, _ = checkpoint.load_checkpoint(prefix, 3)  # what test.py reads
    assert symbol.list_arguments() == ['data', 'fc_weight', 'fc_bias']


def test_torn_set_is_refused_naming_the_file(tmp_path):
    """Epoch 2's params under epoch 1's name (what a kill between two renames used to leave)."""
    prefix = str(tmp_path / 'retina')
    save(prefix, 1.0, epoch=1)
    save(prefix, 2.0, epoch=2)
    os.replace(prefix + '-0002.params', prefix + '-0001.params')
    with pytest.raises(CheckpointError) as err:
        checkpoint.load_training_checkpoint(prefix, 1)
    assert str(err.value) == ('%s-0001.params does not match the sha256 that %s-0001.json records for it '
                              '(a torn or edited checkpoint)' % (prefix, prefix))
    with pytest.raises(CheckpointError, match='retina-0001.params does not match'):
        checkpoint.load_checkpoint(prefix, 1)
    assert checkpoint.newest_complete_epoch(prefix) is None  # epoch 2 has no params any more


@pytest.mark.parametrize('remove, message', [
    ('.json', r'retina-0000.json not found: the checkpoint set is incomplete \(.*retina-0000.params, '
              r'.*retina-0000.states without it\)'),
    ('.states', r'retina-0000.states is missing, but .*retina-0000.json lists it'),
    ('.params', r'retina-0000.params is missing, but .*retina-0000.json lists it'),
])
def test_incomplete_set_is_refused(tmp_path, remove, message):
    prefix = str(tmp_path / 'retina')
    save(prefix, 1.0)
    os.remove(prefix + '-0000' + remove)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load_training_checkpoint(prefix, 0)


def test_meta_without_digests_is_refused_with_a_way_on(tmp_path):
    prefix = str(tmp_path / 'retina')
    save(prefix, 1.0)
    meta = json.load(open(prefix + '-0000.json'))
    del meta[checkpoint.DIGESTS_KEY]
    json.dump(meta, open(prefix + '-0000.json', 'w'))
    with pytest.raises(CheckpointError, match=r'records no sha256 of .*retina-symbol.json.*--pretrained .*retina '
                                              r'--pretrained_epoch 0 and another --prefix'):
        checkpoint.load_training_checkpoint(prefix, 0)


def test_planted_pickle_states_is_never_unpickled(tmp_path):
    """A pickle as .states, even with a meta JSON that records its sha256, is refused and runs nothing."""
    prefix = str(tmp_path / 'retina')
    marker = tmp_path / 'marker'
    save(prefix, 1.0)
    plant_pickle(prefix + '-0000.states', marker)
    with pytest.raises(CheckpointError, match='retina-0000.states does not match'):
        checkpoint.load_training_checkpoint(prefix, 0)
    meta = json.load(open(prefix + '-0000.json'))
    meta[checkpoint.DIGESTS_KEY]['retina-0000.states'] = checkpoint.file_sha256(prefix + '-0000.states')
    json.dump(meta, open(prefix + '-0000.json', 'w'))
    with pytest.raises(CheckpointError) as err:
        checkpoint.load_training_checkpoint(prefix, 0)
    assert str(err.value) == (
        '%s-0000.states is not an NDArray optimizer-state file (an older pickled .states is never read: '
        'unpickling can run code). To continue from its weights alone, start a new run with --pretrained %s '
        '--pretrained_epoch 0 and another --prefix' % (prefix, prefix))
    assert not marker.exists()
    with open(prefix + '-0000.states', 'rb') as f:
        pickle.load(f)  # what MXNet's Updater.set_states did
    assert marker.exists()


def test_full_disk_keeps_the_previous_set(tmp_path, monkeypatch):
    prefix = str(tmp_path / 'retina')
    save(prefix, 1.0)

    def no_space(path, value):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(checkpoint, '_write_json', no_space)
    with pytest.raises(CheckpointError) as err:
        save(prefix, 2.0)
    assert str(err.value) == ('cannot write checkpoint %s-0000 in %s ([Errno 28] No space left on device); the '
                              'previous checkpoint is intact' % (prefix, tmp_path))
    monkeypatch.undo()
    assert checkpoint.load_training_checkpoint(prefix, 0)[3]['value'] == 1.0
    assert sorted(os.listdir(tmp_path)) == [
        'retina-0000.json', 'retina-0000.params', 'retina-0000.states', 'retina-symbol.json']


def test_a_folder_that_cannot_be_made_is_a_checkpoint_error(tmp_path):
    (tmp_path / 'file').write_text('')
    with pytest.raises(CheckpointError) as err:
        save(str(tmp_path / 'file' / 'retina'), 1.0)
    assert str(err.value) == ("cannot write checkpoint %s-0000 in %s ([Errno 17] File exists: '%s'); the previous "
                              'checkpoint is intact' % (tmp_path / 'file' / 'retina', tmp_path / 'file', tmp_path / 'file'))


def test_checkpoint_files_and_temp_cleanup(tmp_path):
    prefix = str(tmp_path / 'retina')
    save(prefix, 1.0, epoch=1)
    stale = [tmp_path / '.retina-0001.params.tmp-123-abcd', tmp_path / '.retina-symbol.json.tmp-9-ff']
    others = [tmp_path / '.retina-v2-0001.params.tmp-1-aa', tmp_path / 'retina-metrics.jsonl']
    for path in stale + others:
        path.write_bytes(b'')
    assert checkpoint.finish_interrupted_saves(prefix) == []
    assert not any(p.exists() for p in stale) and all(p.exists() for p in others)
    assert [os.path.basename(p) for p in checkpoint.checkpoint_files(prefix)] == [
        'retina-0001.json', 'retina-0001.params', 'retina-0001.states', 'retina-symbol.json']


KILL_DRIVER = r'''
import os, signal, sys
from tests.rcnn.utils.test_checkpoint_sets import save
folder = sys.argv[2]
calls = [0]
def killing(function):
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper
kill_at, total = 0, 0  # first a whole save, to count its file operations
while kill_at <= total:
    prefix = os.path.join(folder, str(kill_at), 'retina')
    save(prefix, 1.0)
    pid = os.fork()
    if pid == 0:
        for name in ('replace', 'fsync', 'remove'):
            setattr(os, name, killing(getattr(os, name)))
        save(prefix, 2.0, meta={'second': True})
        os._exit(calls[0])
    status = os.waitpid(pid, 0)[1]
    assert os.WIFSIGNALED(status) == (kill_at > 0), (kill_at, status)
    total = total or os.WEXITSTATUS(status)
    kill_at += 1
print(total)
'''


def killed_saves(folder):
    '''Save a set, then replace it with another in a forked process killed after its file operation
    k, for every k (in folder/<k>); returns the count of file operations of a whole save.'''
    proc = subprocess.run([sys.executable, '-c', KILL_DRIVER, ROOT, folder], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[0])


def test_kill_after_any_file_operation_leaves_one_whole_set(tmp_path):
    """SIGKILL after each file operation (rename, fsync, remove) of a save that replaces a set:
    every file under a final name is whole, the set is the old or the new one once the journal is
    completed, and no temporary file remains."""
    total = killed_saves(str(tmp_path))
    assert total == 12  # 4 files and the journal fsynced, 5 renames, the folder fsynced, the journal removed
    seen = set()
    for kill_at in range(1, total + 1):
        prefix = str(tmp_path / str(kill_at) / 'retina')
        for name in ('-0000.params', '-0000.states'):
            assert isinstance(mx.nd.load(prefix + name), dict)  # whole, whichever set it belongs to
        json.load(open(prefix + '-0000.json'))
        checkpoint.finish_interrupted_saves(prefix)
        arg_params, _, states, meta = checkpoint.load_training_checkpoint(prefix, 0)
        value = meta['value']
        assert arg_params['fc_weight'].asnumpy()[0, 0] == value == states['state:0'].asnumpy()[0, 0]
        assert sorted(os.listdir(os.path.dirname(prefix))) == [
            'retina-0000.json', 'retina-0000.params', 'retina-0000.states', 'retina-symbol.json']
        seen.add(value)
    assert seen == {1.0, 2.0}
