"""Checkpoints as units: a kill at any moment leaves the previous or the new set, never a mix.

An MXNet checkpoint is ``<prefix>-symbol.json`` + ``<prefix>-<epoch:04d>.params`` (keys
``arg:<name>`` / ``aux:<name>``), readable by ``mx.model.load_checkpoint``. Training adds
``<prefix>-<epoch:04d>.states`` (optimizer state: an NDArray file, never a pickle) and
``<prefix>-<epoch:04d>.json`` (epoch, step, metrics, ... and the sha256 of every file of the set
under ``"sha256"``) for ``--resume``.

A save writes every file of the set under a hidden temporary name, then a journal
``<prefix>-<epoch>.saving`` listing the renames, then renames the files onto their final names
(the meta JSON last) and removes the journal. :func:`finish_interrupted_saves` completes the
renames of a journal that a killed save left behind and removes temporary files; before the
journal exists the previous set is untouched. Files get the user's umask permissions.
"""
import glob
import hashlib
import json
import os
import re

import mxnet as mx
import numpy as np

from rcnn.errors import CheckpointError, UserError
from rcnn.utils.safe_write import TEMP_MARK, fsync_folder, temp_name, write_with

# Key of the meta JSON that maps the basename of each file of the checkpoint to its sha256.
DIGESTS_KEY = 'sha256'


# Two input shapes (N, C, H, W) the weights' shapes are inferred with (graph_shapes).
PROBE_DATA_SHAPES = ((1, 3, 640, 640), (1, 3, 320, 320))

# The first 8 bytes of an NDArray file written by mx.nd.save (kMXAPINDArrayListMagic, little endian).
NDARRAY_FILE_MAGIC = (0x112).to_bytes(8, 'little')
JOURNAL_SUFFIX = '.saving'


def _fsync_file(path):
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def _write_json(path, value):
    with open(path, 'w') as f:
        json.dump(value, f, indent=1, sort_keys=True, default=str)


def journal_path(prefix, epoch):
    return '%s-%04d%s' % (prefix, epoch, JOURNAL_SUFFIX)


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, meta=None, optimizer_states=None):
    """Write a checkpoint set: symbol, params, optionally the optimizer state, and the meta JSON
    (last, with the sha256 of the other files under ``"sha256"``).

    :param symbol: the graph to save (the clean test graph for RetinaFace checkpoints)
    :param arg_params, aux_params: {name: NDArray}
    :param meta: JSON-serialisable dict for ``<prefix>-<epoch>.json`` (default: only the digests)
    :param optimizer_states: {name: NDArray} for ``<prefix>-<epoch>.states``, or None for none
    """
    folder = os.path.dirname(os.path.abspath(params_path(prefix, epoch)))
    arrays = {'arg:' + k: v.as_in_context(mx.cpu()) for k, v in arg_params.items()}
    arrays.update({'aux:' + k: v.as_in_context(mx.cpu()) for k, v in aux_params.items()})
    writers = [(symbol_path(prefix), symbol.save), (params_path(prefix, epoch), lambda tmp: mx.nd.save(tmp, arrays))]
    if optimizer_states is not None:
        states = {k: v.as_in_context(mx.cpu()) for k, v in optimizer_states.items()}
        writers.append((states_path(prefix, epoch), lambda tmp: mx.nd.save(tmp, states)))
    renames = []
    try:
        os.makedirs(folder, exist_ok=True)
        for final, write in writers:
            renames.append((temp_name(final), final))
            write(renames[-1][0])
        meta = dict(meta or {})
        meta[DIGESTS_KEY] = {os.path.basename(final): file_sha256(tmp) for tmp, final in renames}
        renames.append((temp_name(meta_path(prefix, epoch)), meta_path(prefix, epoch)))
        _write_json(renames[-1][0], meta)
        for tmp, _ in renames:
            _fsync_file(tmp)
        journal = [[os.path.basename(tmp), os.path.basename(final)] for tmp, final in renames]
        write_with(journal_path(prefix, epoch), lambda tmp: _write_json(tmp, {'renames': journal}), keep_extension=False)
    except (OSError, mx.base.MXNetError) as err:
        _remove_existing(tmp for tmp, _ in renames)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError('cannot write checkpoint %s-%04d in %s (%s); the previous checkpoint is intact'
                              % (prefix, epoch, folder, reason[:200])) from None
    except BaseException:
        _remove_existing(tmp for tmp, _ in renames)
        raise
    _complete_journal(journal_path(prefix, epoch))


def _remove_existing(paths):
    for path in paths:
        if os.path.exists(path):
            os.remove(path)


def _complete_journal(path):
    """Rename the files a journal lists onto their final names (those not yet renamed), then
    remove the journal. Only files of the journal's own checkpoint, in its folder, are renamed."""
    folder, name = os.path.split(os.path.abspath(path))
    base = re.escape(name[:-len(JOURNAL_SUFFIX)].rsplit('-', 1)[0] + '-')
    final_name = re.compile(base + r'(symbol\.json|\d{4,}\.(params|states|json))$')
    with open(path) as f:
        renames = json.load(f)['renames']
    for tmp, final in renames:
        if not (final_name.match(final) and tmp.startswith('.' + final + TEMP_MARK) and os.sep not in tmp):
            raise ValueError('%r -> %r is not a rename of this checkpoint' % (tmp, final))
    for tmp, final in renames:
        if os.path.exists(os.path.join(folder, tmp)):
            os.replace(os.path.join(folder, tmp), os.path.join(folder, final))
    fsync_folder(folder)
    os.remove(path)


def finish_interrupted_saves(prefix):
    """Complete the saves of ``prefix`` that a killed process left with a journal, and remove the
    temporary files of killed saves (of this prefix only).

    :return: paths of the journals completed
    """
    folder = os.path.dirname(os.path.abspath(prefix + '-x'))
    if not os.path.isdir(folder):
        return []
    base = re.escape(os.path.basename(prefix) + '-')
    journal = re.compile(base + r'\d{4,}' + re.escape(JOURNAL_SUFFIX) + '$')
    temp = re.compile(r'\.' + base + r'(symbol\.json|\d{4,}\.(params|states|json|saving))' + re.escape(TEMP_MARK))
    completed = []
    for name in sorted(os.listdir(folder)):
        if journal.match(name):
            path = os.path.join(folder, name)
            try:
                _complete_journal(path)
            except (ValueError, KeyError, TypeError) as err:
                raise CheckpointError('%s is not a save journal that can be completed (%s); remove it '
                                      'and resume from a complete checkpoint' % (path, err)) from None
            completed.append(path)
    for name in os.listdir(folder):
        if temp.match(name):
            os.remove(os.path.join(folder, name))
    return completed


def saved_epochs(prefix):
    """Epochs with a params file under ``prefix``, ascending."""
    pattern = re.compile(re.escape(os.path.basename(prefix)) + r'-(\d{4,})\.params$')
    epochs = []
    for path in glob.glob(glob.escape(prefix) + '-*.params'):
        match = pattern.match(os.path.basename(path))
        if match:
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def checkpoint_files(prefix):
    """Existing files of every checkpoint of ``prefix``: the symbol, and the params, states, meta
    JSON and save journal of each epoch."""
    pattern = re.compile(re.escape(os.path.basename(prefix)) + r'-(symbol\.json|\d{4,}\.(params|states|json|saving))$')
    return sorted(path for path in glob.glob(glob.escape(prefix) + '-*') if pattern.match(os.path.basename(path)))


def load_meta(prefix, epoch):
    """The meta JSON of a checkpoint, or {} when there is none.

    :raises ValueError: when it is not valid JSON
    :raises CheckpointError: naming the file when it is not a JSON object, or its ``"sha256"`` not
        an object of file name -> hex digest
    """
    path = meta_path(prefix, epoch)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        meta = json.load(f)
    if not isinstance(meta, dict):
        raise CheckpointError('%s is not a checkpoint meta JSON: it holds a %s, not an object; remove it or '
                              'restore the file train.py wrote' % (path, type(meta).__name__))
    digests = meta.get(DIGESTS_KEY, {})
    if not (isinstance(digests, dict) and all(isinstance(v, str) for v in digests.values())):
        raise CheckpointError('%s: "%s" must map each file name to its hex digest, found a %s; remove it or '
                              'restore the file train.py wrote' % (path, DIGESTS_KEY, type(digests).__name__))
    return meta


def params_path(prefix, epoch):
    return '%s-%04d.params' % (prefix, epoch)


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
        _check_values(path, name, value)
        (arg_params if kind == 'arg' else aux_params)[name] = value
    return arg_params, aux_params


def _check_values(path, name, array):
    """CheckpointError naming the file and weight unless ``array`` is float32 and finite."""
    if array.dtype != np.float32:
        raise CheckpointError('%s: weight %s is %s, not float32: not a RetinaFace checkpoint (convert it to '
                              'float32)' % (path, name, np.dtype(array.dtype).name))
    values = array.asnumpy()
    if not np.isfinite(values).all():
        raise CheckpointError('%s: weight %s holds %d NaN or infinite values (a diverged run?): use an earlier '
                              'checkpoint' % (path, name, int(values.size - np.isfinite(values).sum())))


def _inferred_shapes(symbol, data_shape):
    """{weight: shape} that ``symbol`` infers for its input ``data`` of ``data_shape`` ({} when it cannot)."""
    try:
        arg_shapes, _, aux_shapes = symbol.infer_shape_partial(data=data_shape)
    except mx.base.MXNetError:
        return {}
    names = symbol.list_arguments() + symbol.list_auxiliary_states()
    return {name: tuple(shape) for name, shape in zip(names, (arg_shapes or []) + (aux_shapes or []))
            if name != 'data' and shape and 0 not in shape}


def graph_shapes(symbol):
    """{weight: shape} of the weights whose shape a graph with the input ``data`` fixes by itself:
    those inferred alike for two input sizes of 3 channels (:data:`PROBE_DATA_SHAPES`; a
    fully connected layer on the input, whose shape follows the input's, is left out); {} for a
    graph without that input."""
    if 'data' not in symbol.list_arguments():
        return {}
    first, second = (_inferred_shapes(symbol, shape) for shape in PROBE_DATA_SHAPES)
    return {name: shape for name, shape in first.items() if second.get(name) == shape}


def check_shapes(path, symbol, arg_params, aux_params):
    """CheckpointError naming the weight of ``path`` whose shape differs from the one ``symbol`` needs."""
    for name, shape in graph_shapes(symbol).items():
        array = arg_params.get(name, aux_params.get(name))
        if array is not None and tuple(array.shape) != shape:
            raise CheckpointError('%s: weight %s has shape %s, but the graph needs %s: the weights are of '
                                  'another network' % (path, name, tuple(array.shape), shape))


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
            journal = journal_path(prefix, epoch)
            cause = ('a save was interrupted: train.py --resume completes it' if os.path.exists(journal)
                     else 'a torn or edited checkpoint')
            raise CheckpointError('%s does not match the sha256 that %s records for it (%s)'
                                  % (path, meta_path(prefix, epoch), cause))


def load_checkpoint(prefix, epoch):
    """(symbol, arg_params, aux_params) of ``<prefix>-symbol.json`` + ``<prefix>-<epoch>.params``
    on the CPU, as ``mx.model.load_checkpoint`` gives them, with every expected failure raised as
    CheckpointError naming the file: missing, empty, truncated, corrupt, weights the graph needs
    absent, weights not float32, NaN or infinite, or of another shape than the graph's (naming
    the weight), or files that differ from the sha256 recorded in ``<prefix>-<epoch>.json``."""
    symbol = load_symbol_file(symbol_path(prefix))
    params = params_path(prefix, epoch)
    meta = _read_meta(prefix, epoch)
    if meta:
        verify_digests(prefix, epoch, meta)
    arg_params, aux_params = load_params_file(params)
    absent = [name for name in symbol.list_arguments() if name != 'data' and name not in arg_params]
    absent += [name for name in symbol.list_auxiliary_states() if name not in aux_params]
    if absent:
        raise CheckpointError('%s lacks %d weights that %s needs, e.g. %s'
                              % (params, len(absent), symbol_path(prefix), absent[:3]))
    check_shapes(params, symbol, arg_params, aux_params)
    return symbol, arg_params, aux_params


def _read_meta(prefix, epoch):
    """The meta JSON, {} when absent; CheckpointError naming it when it is not valid JSON."""
    try:
        return load_meta(prefix, epoch)
    except ValueError as err:
        raise CheckpointError('%s is not valid JSON: %s' % (meta_path(prefix, epoch), err)) from None


def _weights_only_hint(prefix, epoch):
    return ('To continue from its weights alone, start a new run with --pretrained %s --pretrained-epoch %d '
            'and another --prefix' % (prefix, epoch))


def load_states_file(prefix, epoch):
    """{name: NDArray} of the optimizer state ``<prefix>-<epoch>.states`` (:func:`save_checkpoint`).

    Only MXNet's NDArray file format is read: an older ``.states`` file (a pickle, which could run
    code when read) is refused with CheckpointError saying how to continue.
    """
    path = states_path(prefix, epoch)
    _require_file(path, 'optimizer state')
    with open(path, 'rb') as f:
        head = f.read(len(NDARRAY_FILE_MAGIC))
    if head != NDARRAY_FILE_MAGIC:
        raise CheckpointError('%s is not an NDArray optimizer-state file (an older pickled .states is never '
                              'read: unpickling can run code). %s' % (path, _weights_only_hint(prefix, epoch)))
    try:
        arrays = mx.nd.load(path)
    except mx.base.MXNetError:
        raise CheckpointError('%s is not a complete optimizer-state file (truncated or corrupt?)' % path) from None
    return arrays if isinstance(arrays, dict) else {}


def load_training_checkpoint(prefix, epoch):
    """What ``--resume`` needs from a complete checkpoint set, verified against its meta JSON.

    :return: (arg_params, aux_params, optimizer_states {name: NDArray} or None when the set has
        none (distributed training), meta dict)
    :raises CheckpointError: naming the files when the set is incomplete (no meta JSON, no
        recorded sha256, a file it lists missing) or inconsistent (a file differs from its
        sha256: a torn or edited set)
    """
    meta_file = meta_path(prefix, epoch)
    if not os.path.isfile(meta_file):
        present = [p for p in (params_path(prefix, epoch), states_path(prefix, epoch)) if os.path.exists(p)]
        raise CheckpointError('%s not found: the checkpoint set is incomplete%s'
                              % (meta_file, ' (%s without it)' % ', '.join(present) if present else ''))
    meta = _read_meta(prefix, epoch)
    digests = meta.get(DIGESTS_KEY) or {}
    for path in (symbol_path(prefix), params_path(prefix, epoch)):
        if os.path.basename(path) not in digests:
            raise CheckpointError('%s records no sha256 of %s: not a complete training checkpoint (written by '
                                  'an older version?). %s' % (meta_file, path, _weights_only_hint(prefix, epoch)))
    verify_digests(prefix, epoch, meta)
    arg_params, aux_params = load_params_file(params_path(prefix, epoch))
    states = None
    if os.path.basename(states_path(prefix, epoch)) in digests:
        states = load_states_file(prefix, epoch)
    return arg_params, aux_params, states, meta


def newest_complete_epoch(prefix, exclude=()):
    """The highest checkpoint epoch of ``prefix`` (not in ``exclude``) whose set is complete and
    consistent, or None."""
    for epoch in reversed(saved_epochs(prefix)):
        if epoch in exclude:
            continue
        try:
            load_training_checkpoint(prefix, epoch)
        except CheckpointError:
            continue
        return epoch
    return None
