"""Where a training run starts: its prefix made ready (locked, interrupted saves completed,
another run's files refused or removed), and its starting point (a resumed checkpoint, or
``--pretrained`` weights, or nothing).
"""
import logging
import os
import random
import re
from typing import NamedTuple, Optional

from rcnn.core.hooks import BEST_AP, BEST_LOSS
from rcnn.core.options import RESULT_OPTIONS, option_name
from rcnn.core.trainer import LATEST
from rcnn.errors import CheckpointError, UserError
from rcnn.utils import checkpoint, lock

log = logging.getLogger(__name__)

# What a resumed run reads from the checkpoint's meta JSON besides the weights and optimizer state.
RESUME_KEYS = ('epoch', 'step', 'batch_in_epoch', 'fixed_params', 'loader_seed', 'ohem_rng', 'optimizer')
LOCK_SUFFIX = '-train.lock'  # <prefix>-train.lock: held by the run training that prefix


def checkpoint_prefixes(prefix):
    """Prefixes of a training run's checkpoints: the numbered ones and the best ones."""
    return prefix, prefix + BEST_AP, prefix + BEST_LOSS


def run_files(prefix):
    """Files of a training run under ``prefix``: checkpoints (the best ones included), metrics, curves."""
    files = []
    for name in checkpoint_prefixes(prefix):
        files += checkpoint.checkpoint_files(name)
    return files + [p for p in (prefix + '-metrics.jsonl', prefix + '-curves.png') if os.path.exists(p)]


def lock_prefix(prefix):
    """Take the exclusive lock of a training prefix (its folder made first).

    :returns: the lock's file descriptor (:func:`rcnn.utils.lock.release` it when the run ends)
    :raises UserError: when the folder cannot be made or written; LockedError naming the pid of
        another run of the same prefix
    """
    folder = os.path.dirname(os.path.abspath(prefix))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise UserError('--prefix %s: cannot make the folder %s (%s)' % (prefix, folder, err.strerror)) from None
    if not os.access(folder, os.W_OK):
        raise UserError('--prefix %s: the folder %s is not writable' % (prefix, folder))
    return lock.acquire(prefix + LOCK_SUFFIX, 'training prefix %s' % prefix)


def prepare_prefix(options):
    """Complete saves that a killed run left half-renamed, remove their temporary files, and
    refuse to start a new run over another run's files unless ``--overwrite`` (which removes them)."""
    for prefix in checkpoint_prefixes(options.prefix):
        for journal in checkpoint.finish_interrupted_saves(prefix):
            log.warning('completed the checkpoint save that %s records (the run was killed while saving)', journal)
    if options.resume is not None:
        return
    existing = run_files(options.prefix)
    if existing and not options.overwrite:
        raise UserError('%s already holds a training run (%s): continue it with --resume, replace it with '
                        '--overwrite, or choose another --prefix' % (options.prefix, ', '.join(existing[:3])))
    pretrained = checkpoint.params_path(options.pretrained, options.pretrained_epoch) if options.pretrained else None
    if pretrained and any(os.path.realpath(path) == os.path.realpath(pretrained) for path in existing):
        raise UserError('--overwrite would remove %s, the --pretrained weights of this run: choose another --prefix'
                        % pretrained)
    for path in existing:
        os.remove(path)
    if existing:
        log.warning('--overwrite: removed %d files of the previous run of %s', len(existing), options.prefix)


def _load_resumed_set(options):
    """load_training_checkpoint of --resume; a CheckpointError offers the newest complete numbered set."""
    try:
        return checkpoint.load_training_checkpoint(options.prefix, options.resume)
    except CheckpointError as err:
        newest = checkpoint.newest_complete_epoch(options.prefix, exclude={LATEST, options.resume})
        if newest is None:
            offer = 'no complete numbered checkpoint of %s exists: start again with --overwrite' % options.prefix
        else:
            offer = ('the newest complete checkpoint is %s-%04d: continue from it with --resume %d'
                     % (options.prefix, newest, newest))
        raise CheckpointError('cannot resume: %s; %s' % (err, offer)) from None


def _show(value):
    return "''" if value == '' else str(value)


def check_resumed_options(options, recorded, meta_file):
    """Refuse a resumed run whose options change the run it continues (:data:`RESULT_OPTIONS`).

    :param recorded: the options the checkpoint's meta JSON records (its ``"args"``)
    :raises UserError: naming each changed option with both values; a changed ``--network`` always,
        the others unless ``--resume-with-changes`` (then a warning)
    """
    if 'network' in recorded and recorded['network'] != options.network:
        raise UserError('cannot resume: %s was trained with --network %s, not %s; a run keeps its network '
                        '(pass --network %s, or start a new run with another --prefix)'
                        % (meta_file, recorded['network'], options.network, recorded['network']))
    changed = [name for name in RESULT_OPTIONS if name in recorded and recorded[name] != getattr(options, name)]
    if not changed:
        return
    listed = ', '.join('%s %s (was %s)' % (option_name(name), _show(getattr(options, name)), _show(recorded[name]))
                       for name in changed)
    if not options.resume_with_changes:
        raise UserError('cannot resume: %s differ from the run it continues (%s); give the same values, or '
                        'add --resume-with-changes to continue with the new ones' % (listed, meta_file))
    log.warning('resuming with options that differ from the run it continues (%s): the result will '
                'differ from an uninterrupted run', listed)


def load_resume_point(options):
    """(arg_params, aux_params, optimizer states, meta) of the checkpoint ``--resume`` names, its
    options checked against those it records (:func:`check_resumed_options`)."""
    resumed = _load_resumed_set(options)
    meta = resumed[3]
    meta_file = checkpoint.meta_path(options.prefix, options.resume)
    missing = [key for key in RESUME_KEYS if key not in meta]
    if missing:
        raise CheckpointError('cannot resume: %s lacks %s: not written by train.py' % (meta_file, ', '.join(missing)))
    recorded = meta.get('args', {})
    if not isinstance(recorded, dict):
        raise CheckpointError('cannot resume: %s records its options ("args") as %s, not an object'
                              % (meta_file, type(recorded).__name__))
    check_resumed_options(options, recorded, meta_file)
    return resumed


def load_pretrained(prefix, epoch, test_symbol=None):
    """(arg_params, aux_params) of ``<prefix>-<epoch>.params``; UserError saying where to get it.

    :param test_symbol: the run's test graph: weights it also has must have its shapes
    :raises CheckpointError: naming the weight that is not float32, not finite or of another shape
    """
    path = checkpoint.params_path(prefix, epoch)
    if not os.path.exists(path):
        raise UserError('pretrained checkpoint %s not found. Put it there (see model/README.md for the '
                        "ImageNet backbones and released models), or pass --pretrained '' to train from scratch."
                        % path)
    arg_params, aux_params = checkpoint.load_params_file(path)
    if test_symbol is not None:
        checkpoint.check_shapes(path, test_symbol, arg_params, aux_params)
    return arg_params, aux_params


def fixed_param_names(symbol, loaded, cfg):
    """Arguments frozen during training: with cfg.LAYER_FIX, those matching cfg.FIXED_PARAMS.

    Only weights loaded from ``--pretrained`` (``loaded``) are frozen: a frozen layer's BatchNorm
    never updates its running statistics, so freezing a freshly initialised layer would leave the
    saved model normalising with the initial mean 0 / variance 1. A resumed run takes the list
    from its checkpoint instead.
    """
    if not cfg.LAYER_FIX:
        return []
    patterns = [re.compile(p) for p in cfg.FIXED_PARAMS]
    matching = [n for n in symbol.list_arguments() if any(p.match(n) for p in patterns)]
    skipped = [n for n in matching if n not in loaded]
    if skipped:
        log.info('not freezing %d layers that start from initialisation: %s', len(skipped), skipped)
    return [n for n in matching if n in loaded]


class StartingPoint(NamedTuple):
    """Where a run starts: weights, counters, frozen layers, seeds and saved states."""
    arg_params: dict
    aux_params: dict
    epoch: int
    step: int
    skip: int  # batches of the first epoch already done
    fixed_params: list
    loader_seed: int
    optimizer_state: Optional[tuple]  # (arrays, info) for Trainer.init, or None
    ohem_rng: Optional[dict]  # rpn_fpn_ohem3.rng_state() of the resumed run, or None


def _resumed_start(options):
    arg_params, aux_params, states, meta = load_resume_point(options)
    log.info('resuming from %s-%04d at epoch %d, step %d', options.prefix, options.resume, meta['epoch'], meta['step'])
    if meta['optimizer'] is None:
        log.warning('%s-%04d holds no optimizer state (distributed training): momentum restarts from zero',
                    options.prefix, options.resume)
    return StartingPoint(arg_params, aux_params, meta['epoch'], meta['step'], meta['batch_in_epoch'],
                         meta['fixed_params'], meta['loader_seed'],
                         None if meta['optimizer'] is None else (states, meta['optimizer']), meta['ohem_rng'])


def starting_point(options, sym, cfg, test_sym=None):
    """The checkpoint ``--resume`` names, or else ``--pretrained`` (or nothing) at ``--begin-epoch``.

    :param sym: the train graph; ``test_sym``: its test graph (the pretrained weights' shapes are checked on it)
    """
    if options.resume is not None:
        return _resumed_start(options)
    if options.pretrained:
        arg_params, aux_params = load_pretrained(options.pretrained, options.pretrained_epoch, test_sym)
    else:
        arg_params, aux_params = {}, {}
        log.info('no --pretrained: every layer starts from Xavier initialisation')
    loader_seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2 ** 31)
    return StartingPoint(arg_params, aux_params, options.begin_epoch, 0, 0, fixed_param_names(sym, arg_params, cfg),
                         loader_seed, None, None)
