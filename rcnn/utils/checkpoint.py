"""Checkpoints written atomically: a crash or Ctrl-C never leaves a half-written file.

An MXNet checkpoint is ``<prefix>-symbol.json`` + ``<prefix>-<epoch:04d>.params`` (keys
``arg:<name>`` / ``aux:<name>``), readable by ``mx.model.load_checkpoint``. Training adds
``<prefix>-<epoch:04d>.states`` (optimizer state) and ``<prefix>-<epoch:04d>.json`` (epoch, step,
metrics, ...) for ``--resume``.
"""
import glob
import hashlib
import json
import os
import re
import tempfile

import mxnet as mx

from .cli import UserError

# Key of the meta JSON that maps the basename of each file of the checkpoint to its sha256.
DIGESTS_KEY = 'sha256'


class CheckpointError(UserError):
    """A checkpoint file that is missing, truncated, corrupt or does not match its meta JSON; the
    message names the file."""


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


def meta_path(prefix, epoch):
    return '%s-%04d.json' % (prefix, epoch)


def symbol_path(prefix):
    return '%s-symbol.json' % prefix


def file_sha256(path):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _require_file(path, what):
    if not os.path.isfile(path):
        raise CheckpointError('%s not found: %s (see model/README.md for where to get the released '
                              'models and where to put them)' % (what, path))
    if os.path.getsize(path) == 0:
        raise CheckpointError('%s %s is empty (an interrupted download or save?)' % (what, path))


def load_symbol_file(path):
    """The ``mx.sym.Symbol`` of a ``-symbol.json`` file; CheckpointError naming it when it is
    missing, empty or not an MXNet graph."""
    _require_file(path, 'network graph')
    try:
        with open(path, 'rb') as f:
            text = f.read().decode('utf-8')
        json.loads(text)
        return mx.sym.load_json(text)
    except (UnicodeDecodeError, ValueError, mx.base.MXNetError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError('%s is not an MXNet network graph (truncated or corrupt?): %s'
                              % (path, reason[:200])) from None


def load_params_file(path):
    """(arg_params, aux_params) {name: NDArray} of a ``.params`` file (keys ``arg:``/``aux:``);
    CheckpointError naming it when it is missing, empty, truncated or not an NDArray file."""
    _require_file(path, 'weights file')
    try:
        arrays = mx.nd.load(path)
    except mx.base.MXNetError:
        raise CheckpointError('%s is not a complete MXNet weights file (truncated or corrupt?)'
                              % path) from None
    if not isinstance(arrays, dict):
        raise CheckpointError('%s holds unnamed arrays, not the arg:/aux: weights of a checkpoint'
                              % path)
    arg_params, aux_params = {}, {}
    for key, value in arrays.items():
        kind, _, name = key.partition(':')
        if kind not in ('arg', 'aux') or not name:
            raise CheckpointError('%s: weight %r is not named arg:<name> or aux:<name>' % (path, key))
        (arg_params if kind == 'arg' else aux_params)[name] = value
    return arg_params, aux_params


def verify_digests(prefix, epoch, meta=None):
    """Check the files a checkpoint's meta JSON lists under ``sha256`` against their bytes.

    :param meta: the meta dict (read from ``<prefix>-<epoch>.json`` when None; a checkpoint
        without one, such as the released models, is not checked)
    :raises CheckpointError: naming the first file that is missing or whose sha256 differs
    """
    if meta is None:
        meta = load_meta(prefix, epoch)
    folder = os.path.dirname(os.path.abspath(meta_path(prefix, epoch)))
    for name, expected in sorted(meta.get(DIGESTS_KEY, {}).items()):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise CheckpointError('%s is missing, but %s lists it as part of the checkpoint'
                                  % (path, meta_path(prefix, epoch)))
        if file_sha256(path) != expected:
            raise CheckpointError('%s does not match the sha256 that %s records for it (a torn or '
                                  'edited checkpoint)' % (path, meta_path(prefix, epoch)))


def load_checkpoint(prefix, epoch):
    """(symbol, arg_params, aux_params) of ``<prefix>-symbol.json`` + ``<prefix>-<epoch>.params``
    on the CPU, as ``mx.model.load_checkpoint`` gives them, with every expected failure raised as
    CheckpointError naming the file: missing, empty, truncated, corrupt, weights the graph needs
    absent, or files that differ from the sha256 recorded in ``<prefix>-<epoch>.json``."""
    symbol = load_symbol_file(symbol_path(prefix))
    params = params_path(prefix, epoch)
    arg_params, aux_params = load_params_file(params)
    meta = _read_meta(prefix, epoch)
    if meta:
        verify_digests(prefix, epoch, meta)
    absent = [name for name in symbol.list_arguments() if name != 'data' and name not in arg_params]
    absent += [name for name in symbol.list_auxiliary_states() if name not in aux_params]
    if absent:
        raise CheckpointError('%s lacks %d weights that %s needs, e.g. %s'
                              % (params, len(absent), symbol_path(prefix), absent[:3]))
    return symbol, arg_params, aux_params


def _read_meta(prefix, epoch):
    """The meta JSON, {} when absent; CheckpointError naming it when it is not valid JSON."""
    try:
        return load_meta(prefix, epoch)
    except ValueError as err:
        raise CheckpointError('%s is not valid JSON: %s' % (meta_path(prefix, epoch), err)) from None
