"""Train RetinaFace: ``python -u train.py --prefix ./model/retina --network resnet`` (or mnet).

Data parallel over the devices of ``--gpus`` (default: those of CUDA_VISIBLE_DEVICES; the CPU
when there are none) and, with ``--kvstore dist_sync``, over machines started with MXNet's DMLC_*
variables (each worker reads its own shard of the data; rank 0 writes the checkpoints).
Checkpoints hold the clean test graph: ``<prefix>-<epoch>`` after each epoch and ``<prefix>-0000``
as the latest (what test.py loads by default), with optimizer state for ``--resume``; each is a
unit verified by the sha256 in its meta JSON (see :mod:`rcnn.utils.checkpoint`). A prefix that
already holds a run needs ``--resume`` (continue it exactly) or ``--overwrite`` (replace it).
Every run writes ``<prefix>-metrics.jsonl``; ``--val_every N --val_path DIR`` adds validation AP,
``<prefix>-best-ap`` / ``<prefix>-best-loss`` checkpoints, ``<prefix>-curves.png`` and
``--early_stop K`` (see :mod:`rcnn.core.callback`).
"""
import argparse
import logging
import os
import random
import re
from typing import NamedTuple, Optional

import mxnet as mx
import numpy as np

import rcnn.config
from rcnn.config import build_config, generate_config
from rcnn.core import callback
from rcnn.core.loader import CropLoader
from rcnn.core.metric import get_train_metrics
from rcnn.core.module import LATEST, Trainer
from rcnn.core.schedule import EpochStepScheduler, parse_lr_step
from rcnn.processing import presets
from rcnn.PY_OP import rpn_fpn_ohem3
from rcnn.utils import checkpoint, cli
from rcnn.utils.cli import UserError, number
from rcnn.dataset.load_data import load_gt_roidb
from symbol import get_symbol, train_to_test_symbol

log = logging.getLogger('train')

# Options that change the numbers of a run: a resumed run that differs in one is not the run it continues.
RESULT_OPTIONS = ('network', 'dataset', 'image_set', 'lr', 'lr_step', 'wd', 'batch_images', 'image_size',
                  'no_flip', 'no_shuffle', 'seed', 'pretrained', 'pretrained_epoch')

# What a resumed run reads from the checkpoint's meta JSON besides the weights and optimizer state.
RESUME_KEYS = ('epoch', 'step', 'batch_in_epoch', 'fixed_params', 'loader_seed', 'ohem_rng', 'optimizer')


def lr_step_option(text):
    """argparse type of --lr_step: the epochs, checked, as 'e1,e2,...'."""
    try:
        return ','.join(str(e) for e in parse_lr_step(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace('--lr_step ', '')) from None


def gpus_option(text):
    """argparse type of --gpus: comma-separated device ids ('-1': the CPU)."""
    if not re.fullmatch(r'\s*-?\d+\s*(,\s*-?\d+\s*)*', text):
        raise argparse.ArgumentTypeError("expected GPU ids such as '0,1' (or -1 for the CPU), got %r" % text)
    return text


def parse_args(argv=None):
    parser = cli.ArgumentParser(description='Train RetinaFace',
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--network', default=rcnn.config.default.network, help='network preset: mnet or resnet')
    parser.add_argument('--dataset', default=rcnn.config.default.dataset, help='dataset preset')
    args, _ = parser.parse_known_args(argv)
    try:  # the presets' values, as the other options' defaults; train_net makes the run's configuration
        preset, default = build_config(args.network, args.dataset)
    except ValueError as err:
        parser.error(str(err))
    parser.add_argument('--image_set', default=default.image_set, help='split(s) to train on, joined by +')
    parser.add_argument('--root_path', default=default.root_path, help='folder for caches')
    parser.add_argument('--dataset_path', default=default.dataset_path, help='folder with <split>/label.txt')
    parser.add_argument('--frequent', type=number(1, kind=int), default=default.frequent, help='log every N batches')
    parser.add_argument('--kvstore', default=default.kvstore, help='device, local, dist_sync, ...')
    parser.add_argument('--no_flip', action='store_true', help='do not add flipped images')
    parser.add_argument('--no_shuffle', action='store_true', help='keep the data order')
    parser.add_argument('--pretrained', default=default.pretrained,
                        help="backbone (or whole-model) checkpoint prefix; '' trains from scratch")
    parser.add_argument('--pretrained_epoch', type=number(0, kind=int), default=default.pretrained_epoch)
    parser.add_argument('--prefix', default=default.prefix, help='checkpoint prefix to write')
    parser.add_argument('--begin_epoch', type=number(0, kind=int), default=0, help='epoch to start counting from')
    parser.add_argument('--end_epoch', type=number(1, kind=int), default=default.end_epoch, help='last epoch')
    parser.add_argument('--lr', type=number(0, low_open=True), default=default.lr, help='base learning rate')
    parser.add_argument('--lr_step', type=lr_step_option, default=default.lr_step,
                        help='epochs of the lr steps; training ends at the last one')
    parser.add_argument('--wd', type=number(0), default=0.0005, help='weight decay')
    parser.add_argument('--gpus', type=gpus_option, default=None,
                        help="GPU ids, e.g. '0,1' (default: CUDA_VISIBLE_DEVICES; none: CPU)")
    parser.add_argument('--cpus', type=number(1, kind=int), default=1, help='CPU contexts when no GPU is used')
    parser.add_argument('--batch_images', type=number(1, kind=int), default=preset.TRAIN.BATCH_IMAGES,
                        help='images per device and batch')
    parser.add_argument('--image_size', type=number(32, kind=int), default=preset.SCALES[0][0],
                        help='training crop side, pixels')
    parser.add_argument('--workers', type=number(0, kind=int), default=preset.NUM_CPU,
                        help='data worker processes (0: none)')
    parser.add_argument('--resume', type=number(0, kind=int), nargs='?', const=LATEST, default=None,
                        metavar='EPOCH', help='continue the run of --prefix from <prefix>-0000 (the latest) '
                                              'or from <prefix>-EPOCH, with its optimizer state')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the checkpoints and metrics of a run that --prefix already holds')
    parser.add_argument('--seed', type=number(0, 2 ** 32 - 1, kind=int), default=None,
                        help='seed of numpy, MXNet and the data order')
    callback.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.resume is not None and args.overwrite:
        parser.error('--resume continues the run of --prefix and --overwrite replaces it: give one of them')
    return args


def get_contexts(gpus, cpus):
    """Devices to train on: the listed GPUs, else those of CUDA_VISIBLE_DEVICES, else CPUs."""
    if gpus is None:
        gpus = os.environ.get('CUDA_VISIBLE_DEVICES', '').strip()
        gpus = ','.join(str(i) for i in range(len(gpus.split(',')))) if gpus else ''
    ids = [int(g) for g in str(gpus).split(',') if g.strip() and int(g) >= 0]
    if ids:
        if mx.context.num_gpus() < len(ids):
            raise UserError('--gpus %s asks for %d GPUs but MXNet sees %d (CPU build, or CUDA not found); '
                            'use --gpus -1 for the CPU' % (gpus, len(ids), mx.context.num_gpus()))
        return [mx.gpu(i) for i in ids]
    return [mx.cpu(i) for i in range(max(cpus, 1))]


def load_pretrained(prefix, epoch):
    """(arg_params, aux_params) of ``<prefix>-<epoch>.params``; UserError saying where to get it."""
    path = checkpoint.params_path(prefix, epoch)
    if not os.path.exists(path):
        raise UserError('pretrained checkpoint %s not found. Put it there (see model/README.md for the '
                        "ImageNet backbones and released models), or pass --pretrained '' to train from scratch."
                        % path)
    return checkpoint.load_params_file(path)


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


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def make_config(args):
    """The run's configuration: the --network / --dataset presets with the command line's overrides."""
    cfg = generate_config(args.network, args.dataset)
    cfg.TRAIN.BATCH_IMAGES = args.batch_images
    cfg.SCALES = [(args.image_size, args.image_size)]
    return cfg


def build_optimizer(args, num_devices, num_workers, iters_per_epoch, begin_step):
    """The SGD of training: momentum 0.9, weight decay ``args.wd``, gradients divided by the
    devices of all workers (the losses are normalised in the graph), and the original's lr
    schedule (:class:`rcnn.core.schedule.EpochStepScheduler`) counted from ``begin_step``.

    :param args: needs ``lr``, ``lr_step``, ``wd``
    :param iters_per_epoch: images of one worker's epoch / batch size (a float)
    :param begin_step: updates done so far (a resumed run's step)
    """
    scheduler = EpochStepScheduler(parse_lr_step(args.lr_step), iters_per_epoch, args.lr)
    return mx.optimizer.SGD(learning_rate=args.lr, momentum=0.9, wd=args.wd,
                            rescale_grad=1.0 / (num_devices * num_workers), lr_scheduler=scheduler,
                            begin_num_update=begin_step)


def checkpoint_prefixes(prefix):
    """Prefixes of a training run's checkpoints: the numbered ones and the best ones."""
    return prefix, prefix + callback.BEST_AP, prefix + callback.BEST_LOSS


def run_files(prefix):
    """Files of a training run under ``prefix``: checkpoints (the best ones included), metrics, curves."""
    files = []
    for name in checkpoint_prefixes(prefix):
        files += checkpoint.checkpoint_files(name)
    return files + [p for p in (prefix + '-metrics.jsonl', prefix + '-curves.png') if os.path.exists(p)]


def prepare_prefix(args):
    """Complete saves that a killed run left half-renamed, remove their temporary files, and
    refuse to start a new run over another run's files unless ``--overwrite`` (which removes them).
    The folder of ``--prefix`` is made here, so that one that cannot be written stops the run before any work."""
    folder = os.path.dirname(os.path.abspath(args.prefix))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise UserError('--prefix %s: cannot make the folder %s (%s)' % (args.prefix, folder, err.strerror)) from None
    if not os.access(folder, os.W_OK):
        raise UserError('--prefix %s: the folder %s is not writable' % (args.prefix, folder))
    for prefix in checkpoint_prefixes(args.prefix):
        for journal in checkpoint.finish_interrupted_saves(prefix):
            log.warning('completed the checkpoint save that %s records (the run was killed while saving)', journal)
    if args.resume is not None:
        return
    existing = run_files(args.prefix)
    if existing and not args.overwrite:
        raise UserError('%s already holds a training run (%s): continue it with --resume, replace it with '
                        '--overwrite, or choose another --prefix' % (args.prefix, ', '.join(existing[:3])))
    pretrained = checkpoint.params_path(args.pretrained, args.pretrained_epoch) if args.pretrained else None
    if pretrained and any(os.path.realpath(path) == os.path.realpath(pretrained) for path in existing):
        raise UserError('--overwrite would remove %s, the --pretrained weights of this run: choose another --prefix'
                        % pretrained)
    for path in existing:
        os.remove(path)
    if existing:
        log.warning('--overwrite: removed %d files of the previous run of %s', len(existing), args.prefix)


def load_resume_point(args):
    """(arg_params, aux_params, optimizer states, meta) of the checkpoint ``--resume`` names; a
    CheckpointError naming the files of an incomplete or inconsistent set offers the newest
    complete numbered checkpoint."""
    try:
        resumed = checkpoint.load_training_checkpoint(args.prefix, args.resume)
    except checkpoint.CheckpointError as err:
        newest = checkpoint.newest_complete_epoch(args.prefix, exclude={LATEST, args.resume})
        if newest is None:
            offer = 'no complete numbered checkpoint of %s exists: start again with --overwrite' % args.prefix
        else:
            offer = ('the newest complete checkpoint is %s-%04d: continue from it with --resume %d'
                     % (args.prefix, newest, newest))
        raise checkpoint.CheckpointError('cannot resume: %s; %s' % (err, offer)) from None
    meta = resumed[3]
    missing = [key for key in RESUME_KEYS if key not in meta]
    if missing:
        raise checkpoint.CheckpointError('cannot resume: %s lacks %s: not written by train.py'
                                         % (checkpoint.meta_path(args.prefix, args.resume), ', '.join(missing)))
    changed = [name for name in RESULT_OPTIONS if meta.get('args', {}).get(name) != getattr(args, name)]
    if changed:
        log.warning('resuming with options that differ from the run it continues (%s): the result will '
                    'differ from an uninterrupted run', ', '.join('--%s' % name for name in changed))
    return resumed


def load_roidb(args, batch_size, num_parts, cfg):
    """The training roidb of ``--image_set``; UserError when it cannot fill one batch per worker."""
    roidb = []
    for image_set in args.image_set.split('+'):
        roidb += load_gt_roidb(args.dataset, image_set, args.root_path, args.dataset_path, flip=not args.no_flip,
                               cfg=cfg)
    if len(roidb) // num_parts < batch_size:
        raise UserError('%d training images with faces in %s (%s) cannot fill one batch of %d per worker: add '
                        'images or lower --batch_images' % (len(roidb), args.dataset_path, args.image_set,
                                                            batch_size))
    return roidb


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


def starting_point(args, sym, cfg):
    """The checkpoint ``--resume`` names, or else ``--pretrained`` (or nothing) at ``--begin_epoch``."""
    if args.resume is not None:
        arg_params, aux_params, states, meta = load_resume_point(args)
        log.info('resuming from %s-%04d at epoch %d, step %d', args.prefix, args.resume, meta['epoch'], meta['step'])
        if meta['optimizer'] is None:
            log.warning('%s-%04d holds no optimizer state (distributed training): momentum restarts from zero',
                        args.prefix, args.resume)
        return StartingPoint(arg_params, aux_params, meta['epoch'], meta['step'], meta['batch_in_epoch'],
                             meta['fixed_params'], meta['loader_seed'],
                             None if meta['optimizer'] is None else (states, meta['optimizer']), meta['ohem_rng'])
    if args.pretrained:
        arg_params, aux_params = load_pretrained(args.pretrained, args.pretrained_epoch)
    else:
        arg_params, aux_params = {}, {}
        log.info('no --pretrained: every layer starts from Xavier initialisation')
    loader_seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 31)
    return StartingPoint(arg_params, aux_params, args.begin_epoch, 0, 0, fixed_param_names(sym, arg_params, cfg),
                         loader_seed, None, None)


def train_net(args, callbacks=()):
    """Train as ``args`` say; ``callbacks`` are passed to ``Trainer.fit`` after the monitor.

    Every expected failure (options, data, checkpoints) is raised as UserError before the data
    workers start."""
    cfg = make_config(args)
    callback.check_arguments(args)
    ctx = get_contexts(args.gpus, args.cpus)
    kv = mx.kv.create(args.kvstore)
    distributed = 'dist' in kv.type
    rank, num_workers = (kv.rank, kv.num_workers) if distributed else (0, 1)
    log.info('training %s on %s (worker %d of %d, kvstore %s)', args.network, ctx, rank, num_workers, kv.type)
    if rank == 0:
        prepare_prefix(args)
    batch_size = cfg.TRAIN.BATCH_IMAGES * len(ctx)
    roidb = load_roidb(args, batch_size, num_workers, cfg)

    sym = get_symbol(args.network, mode='train', cfg=cfg)
    start = starting_point(args, sym, cfg)
    if args.seed is not None:
        seed_everything(args.seed)
    rpn_fpn_ohem3.seed_rng(args.seed)
    if start.ohem_rng is not None:
        rpn_fpn_ohem3.set_rng_state(start.ohem_rng)

    test_sym = train_to_test_symbol(sym, cfg.RPN_FEAT_STRIDE, cfg.NUM_ANCHORS)
    feat_sym = [sym.get_internals()['face_rpn_cls_score_stride%d_output' % s] for s in cfg.RPN_FEAT_STRIDE]
    train_data = CropLoader(feat_sym, roidb, batch_size=batch_size, shuffle=not args.no_shuffle, cfg=cfg,
                            num_workers=args.workers, seed=start.loader_seed + rank, num_parts=num_workers,
                            part_index=rank, first_epoch=start.epoch)
    monitor = None
    ctrl_c = callback.StopOnCtrlC()
    try:
        iters_per_epoch = train_data.size / batch_size
        optimizer = build_optimizer(args, len(ctx), num_workers, iters_per_epoch, start.step)
        scheduler = optimizer.lr_scheduler
        trainer = Trainer(sym, test_sym, train_data.provide_data, train_data.provide_label, ctx, kv,
                          fixed_param_names=start.fixed_params, prefix=args.prefix, is_writer=rank == 0)
        trainer.epoch, trainer.step = start.epoch, start.step
        trainer.extra_meta = {'network': args.network, 'dataset': args.dataset,
                              presets.META_KEY: cfg.DETECTOR_PRESET, 'args': vars(args),
                              'fixed_params': start.fixed_params, 'loader_seed': start.loader_seed}
        trainer.state_hooks = {'ohem_rng': rpn_fpn_ohem3.rng_state}
        trainer.init(start.arg_params, start.aux_params, optimizer, start.optimizer_state)
        log.info('%d images, %d batches of %d per epoch; lr %g, steps at epochs %s (iterations %s)',
                 len(roidb), train_data.num_batches, batch_size, args.lr, parse_lr_step(args.lr_step),
                 scheduler.step_iters)
        monitor = callback.build_monitor(args, trainer, batch_size, cfg,
                                         ctx_id=ctx[0].device_id if ctx[0].device_type == 'gpu' else -1)
        ctrl_c.install()
        trainer.fit(train_data, get_train_metrics(cfg, log_loss=True), end_epoch=args.end_epoch,
                    end_step=scheduler.step_iters[-1], skip_batches=start.skip, frequent=args.frequent,
                    callbacks=[monitor, ctrl_c, *callbacks])
    except callback.EarlyStop as stop:
        log.info('early stop: %s', stop)
    finally:
        ctrl_c.restore()
        train_data.close()
        if monitor is not None:
            monitor.close(trainer)
    log.info('finished at epoch %d, step %d: %s-%04d holds the final weights', trainer.epoch, trainer.step,
             args.prefix, LATEST)
    return trainer


def main(argv=None):
    cli.setup_logging()
    args = parse_args(argv)
    log.info('called with %s', vars(args))
    train_net(args)


if __name__ == '__main__':
    cli.run_main(main)
