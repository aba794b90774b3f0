"""Checkpoints written atomically: a crash or Ctrl-C never leaves a half-written file.

An MXNet checkpoint is ``<prefix>-symbol.json`` + ``<prefix>-<epoch:04d>.params`` (keys
``arg:<name>`` / ``aux:<name>``), readable by ``mx.model.load_checkpoint``. Training adds
``<prefix>-<epoch:04d>.states`` (optimizer state) and ``<prefix>-<epoch:04d>.json`` (epoch, step,
metrics, ...) for ``--resume``.
"""
import glob
import json
import os
import re
import tempfile

import mxnet as mx


def _atomic_write(path, write):
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.')
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def params_path(prefix, epoch):
    return '%s-%04d.params' % (prefix, epoch)


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, meta=None, save_states=None):
    """Write symbol, params, and optionally the meta JSON and the optimizer state.

    :param symbol: the graph to save (the clean test graph for RetinaFace checkpoints)
    :param arg_params, aux_params: {name: NDArray}
    :param meta: JSON-serialisable dict written to ``<prefix>-<epoch>.json``
    :param save_states: ``save_states(path)`` writes the optimizer state (e.g.
        ``Module.save_optimizer_states``) to ``<prefix>-<epoch>.states``
    """
    _atomic_write('%s-symbol.json' % prefix, symbol.save)
    arrays = {'arg:' + k: v.as_in_context(mx.cpu()) for k, v in arg_params.items()}
    arrays.update({'aux:' + k: v.as_in_context(mx.cpu()) for k, v in aux_params.items()})
    _atomic_write(params_path(prefix, epoch), lambda tmp: mx.nd.save(tmp, arrays))
    if save_states is not None:
        _atomic_write(states_path(prefix, epoch), save_states)
    if meta is not None:
        def write_meta(tmp):
            with open(tmp, 'w') as f:
                json.dump(meta, f, indent=1, sort_keys=True, default=str)
        _atomic_write('%s-%04d.json' % (prefix, epoch), write_meta)


def saved_epochs(prefix):
    """Epochs with a params file under ``prefix``, ascending."""
    pattern = re.compile(re.escape(os.path.basename(prefix)) + r'-(\d{4,})\.params$')
    epochs = []
    for path in glob.glob(glob.escape(prefix) + '-*.params'):
        match = pattern.match(os.path.basename(path))
        if match:
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def load_meta(prefix, epoch):
    """The meta JSON of a checkpoint, or {} when there is none."""
    path = '%s-%04d.json' % (prefix, epoch)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def states_path(prefix, epoch):
    return '%s-%04d.states' % (prefix, epoch)
