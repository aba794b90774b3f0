"""Train RetinaFace: ``python -u train.py --prefix ./model/retina --network resnet`` (or mnet).

Data parallel over the devices of ``--gpus`` (default: those of CUDA_VISIBLE_DEVICES; the CPU
when there are none) and, with ``--kvstore dist_sync``, over machines started with MXNet's DMLC_*
variables (each worker reads its own shard of the data; rank 0 writes the checkpoints).
Checkpoints hold the clean test graph: ``<prefix>-<epoch>`` after each epoch and ``<prefix>-0000``
as the latest (what test.py loads by default), with optimizer state for ``--resume``.
Every run writes ``<prefix>-metrics.jsonl``; ``--val_every N --val_path DIR`` adds validation AP,
``<prefix>-best-ap`` / ``<prefix>-best-loss`` checkpoints, ``<prefix>-curves.png`` and
``--early_stop K`` (see :mod:`rcnn.core.callback`).
"""
import argparse
import logging
import os
import random
import re
import sys

import mxnet as mx
import numpy as np

from rcnn.config import config, default, generate_config
from rcnn.core import callback
from rcnn.core.loader import CropLoader
from rcnn.core.metric import get_train_metrics
from rcnn.core.module import LATEST, Trainer, TrainingDiverged
from rcnn.core.schedule import EpochStepScheduler, parse_lr_step
from rcnn.utils import checkpoint
from rcnn.utils.load_data import load_gt_roidb
from symbol import get_symbol, train_to_test_symbol

log = logging.getLogger('train')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train RetinaFace',
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--network', default=default.network, help='network preset: mnet or resnet')
    parser.add_argument('--dataset', default=default.dataset, help='dataset preset')
    args, _ = parser.parse_known_args(argv)
    generate_config(args.network, args.dataset)
    parser.add_argument('--image_set', default=default.image_set, help='split(s) to train on, joined by +')
    parser.add_argument('--root_path', default=default.root_path, help='folder for caches')
    parser.add_argument('--dataset_path', default=default.dataset_path, help='folder with <split>/label.txt')
    parser.add_argument('--frequent', type=int, default=default.frequent, help='log every N batches')
    parser.add_argument('--kvstore', default=default.kvstore, help='device, local, dist_sync, ...')
    parser.add_argument('--no_flip', action='store_true', help='do not add flipped images')
    parser.add_argument('--no_shuffle', action='store_true', help='keep the data order')
    parser.add_argument('--pretrained', default=default.pretrained,
                        help="backbone (or whole-model) checkpoint prefix; '' trains from scratch")
    parser.add_argument('--pretrained_epoch', type=int, default=default.pretrained_epoch)
    parser.add_argument('--prefix', default=default.prefix, help='checkpoint prefix to write')
    parser.add_argument('--begin_epoch', type=int, default=0, help='epoch to start counting from')
    parser.add_argument('--end_epoch', type=int, default=default.end_epoch, help='last epoch')
    parser.add_argument('--lr', type=float, default=default.lr, help='base learning rate')
    parser.add_argument('--lr_step', default=default.lr_step,
                        help='epochs of the lr steps; training ends at the last one')
    parser.add_argument('--wd', type=float, default=0.0005, help='weight decay')
    parser.add_argument('--gpus', default=None,
                        help="GPU ids, e.g. '0,1' (default: CUDA_VISIBLE_DEVICES; none: CPU)")
    parser.add_argument('--cpus', type=int, default=1, help='CPU contexts when no GPU is used')
    parser.add_argument('--batch_images', type=int, default=config.TRAIN.BATCH_IMAGES,
                        help='images per device and batch')
    parser.add_argument('--image_size', type=int, default=config.SCALES[0][0], help='training crop side, pixels')
    parser.add_argument('--workers', type=int, default=config.NUM_CPU, help='data worker processes (0: none)')
    parser.add_argument('--resume', action='store_true', help='continue from <prefix>-0000 with its optimizer state')
    parser.add_argument('--seed', type=int, default=None, help='seed of numpy, MXNet and the data order')
    callback.add_arguments(parser)
    return parser.parse_args(argv)


def get_contexts(gpus, cpus):
    """Devices to train on: the listed GPUs, else those of CUDA_VISIBLE_DEVICES, else CPUs."""
    if gpus is None:
        gpus = os.environ.get('CUDA_VISIBLE_DEVICES', '').strip()
        gpus = ','.join(str(i) for i in range(len(gpus.split(',')))) if gpus else ''
    ids = [int(g) for g in str(gpus).split(',') if g.strip() and int(g) >= 0]
    if ids:
        if mx.context.num_gpus() < len(ids):
            sys.exit('error: --gpus %s asks for %d GPUs but MXNet sees %d (CPU build, or CUDA not found); '
                     'use --gpus -1 for the CPU' % (gpus, len(ids), mx.context.num_gpus()))
        return [mx.gpu(i) for i in ids]
    return [mx.cpu(i) for i in range(max(cpus, 1))]


def load_params(prefix, epoch, what):
    """(arg_params, aux_params) of ``<prefix>-<epoch>.params``, or exit with where to get it."""
    path = checkpoint.params_path(prefix, epoch)
    if not os.path.exists(path):
        sys.exit('error: %s checkpoint %s not found. Put it there (see model/README.md for the '
                 "ImageNet backbones and released models), or pass --pretrained '' to train from scratch."
                 % (what, path))
    arg_params, aux_params = {}, {}
    for key, value in mx.nd.load(path).items():
        kind, name = key.split(':', 1)
        (arg_params if kind == 'arg' else aux_params)[name] = value
    return arg_params, aux_params


def fixed_param_names(symbol, loaded):
    """Arguments frozen during training: with LAYER_FIX, those matching config.FIXED_PARAMS.

    Only weights loaded from a checkpoint (``loaded``) are frozen: a frozen layer's BatchNorm
    never updates its running statistics, so freezing a freshly initialised layer would leave the
    saved model normalising with the initial mean 0 / variance 1.
    """
    if not config.LAYER_FIX:
        return []
    patterns = [re.compile(p) for p in config.FIXED_PARAMS]
    matching = [n for n in symbol.list_arguments() if any(p.match(n) for p in patterns)]
    skipped = [n for n in matching if n not in loaded]
    if skipped:
        log.info('not freezing %d layers that start from initialisation: %s', len(skipped), skipped)
    return [n for n in matching if n in loaded]


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def train_net(args, callbacks=()):
    """Train as ``args`` say; ``callbacks`` are passed to ``Trainer.fit`` after the monitor."""
    config.TRAIN.BATCH_IMAGES = args.batch_images
    config.SCALES = [(args.image_size, args.image_size)]
    if args.seed is not None:
        seed_everything(args.seed)
    ctx = get_contexts(args.gpus, args.cpus)
    kv = mx.kv.create(args.kvstore)
    distributed = 'dist' in kv.type
    rank, num_workers = (kv.rank, kv.num_workers) if distributed else (0, 1)
    log.info('training %s on %s (worker %d of %d, kvstore %s)', args.network, ctx, rank, num_workers, kv.type)

    roidb = []
    for image_set in args.image_set.split('+'):
        roidb += load_gt_roidb(args.dataset, image_set, args.root_path, args.dataset_path, flip=not args.no_flip)
    sym = get_symbol(args.network, mode='train')
    test_sym = train_to_test_symbol(sym, config.RPN_FEAT_STRIDE, config.NUM_ANCHORS)
    feat_sym = [sym.get_internals()['face_rpn_cls_score_stride%d_output' % s] for s in config.RPN_FEAT_STRIDE]
    batch_size = config.TRAIN.BATCH_IMAGES * len(ctx)
    loader_seed = None if args.seed is None else args.seed + rank
    train_data = CropLoader(feat_sym, roidb, batch_size=batch_size, shuffle=not args.no_shuffle,
                            num_workers=args.workers, seed=loader_seed, num_parts=num_workers, part_index=rank)

    begin_epoch, step, skip = args.begin_epoch, 0, 0
    states_file = None
    if args.resume:
        arg_params, aux_params = load_params(args.prefix, LATEST, 'latest')
        meta = checkpoint.load_meta(args.prefix, LATEST)
        begin_epoch, step, skip = meta.get('epoch', 0), meta.get('step', 0), meta.get('batch_in_epoch', 0)
        path = checkpoint.states_path(args.prefix, LATEST)
        states_file = path if os.path.exists(path) else None
        log.info('resuming from %s-%04d at epoch %d, step %d', args.prefix, LATEST, begin_epoch, step)
    elif args.pretrained:
        arg_params, aux_params = load_params(args.pretrained, args.pretrained_epoch, 'pretrained')
    else:
        arg_params, aux_params = {}, {}
        log.info('no --pretrained: every layer starts from Xavier initialisation')

    step_epochs = parse_lr_step(args.lr_step)
    iters_per_epoch = train_data.num_batches
    scheduler = EpochStepScheduler(step_epochs, iters_per_epoch, args.lr)
    optimizer = mx.optimizer.SGD(learning_rate=args.lr, momentum=0.9, wd=args.wd,
                                 rescale_grad=1.0 / (len(ctx) * num_workers), lr_scheduler=scheduler,
                                 begin_num_update=step)
    trainer = Trainer(sym, test_sym, train_data.provide_data, train_data.provide_label, ctx, kv,
                      fixed_param_names=fixed_param_names(sym, arg_params), prefix=args.prefix, is_writer=rank == 0)
    trainer.epoch, trainer.step = begin_epoch, step
    trainer.extra_meta = {'network': args.network, 'dataset': args.dataset, 'detector_preset': config.DETECTOR_PRESET, 'args': vars(args)}
    trainer.init(arg_params, aux_params, optimizer, states_file)
    log.info('%d images, %d batches of %d per epoch; lr %g, steps at epochs %s (iterations %s)',
             len(roidb), iters_per_epoch, batch_size, args.lr, step_epochs, scheduler.step_iters)
    monitor = callback.build_monitor(args, trainer, batch_size, config,
                                     ctx_id=ctx[0].device_id if ctx[0].device_type == 'gpu' else -1)
    ctrl_c = callback.StopOnCtrlC().install()
    try:
        trainer.fit(train_data, get_train_metrics(log_loss=True), end_epoch=args.end_epoch,
                    end_step=scheduler.step_iters[-1], skip_batches=skip, frequent=args.frequent,
                    callbacks=[monitor, ctrl_c, *callbacks])
    except TrainingDiverged as err:
        sys.exit('error: %s' % err)
    except callback.EarlyStop as stop:
        log.info('early stop: %s', stop)
    finally:
        ctrl_c.restore()
        train_data.close()
        monitor.close(trainer)
    log.info('finished at epoch %d, step %d: %s-%04d holds the final weights', trainer.epoch, trainer.step,
             args.prefix, LATEST)
    return trainer


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(levelname)s %(message)s')
    args = parse_args(argv)
    log.info('called with %s', vars(args))
    try:
        train_net(args)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == '__main__':
    main()
