"""The body of ``train.py``: train RetinaFace as its options say.

    options = rcnn.core.options.parse_options(argv)
    trainer = rcnn.core.run.train_net(options)

Data parallel over the devices of ``--gpus`` (default: those of CUDA_VISIBLE_DEVICES; the CPU
when there are none) and, with ``--kvstore dist_sync``, over machines started with MXNet's DMLC_*
variables (each worker reads its own shard of the data; rank 0 writes the checkpoints and holds
the prefix's lock). Checkpoints hold the clean test graph: ``<prefix>-<epoch>`` after each epoch
and ``<prefix>-0000`` as the latest, with optimizer state for ``--resume``
(:mod:`rcnn.utils.checkpoint`); :mod:`rcnn.core.start` prepares the prefix and the starting
point, :mod:`rcnn.core.hooks` logs, validates and keeps the best checkpoints.
"""
import logging
import os
import random

import mxnet as mx
import numpy as np

from rcnn.config import generate_config
from rcnn.core.hooks import EarlyStop, StopOnCtrlC, TrainingMonitor
from rcnn.core.loader import CropLoader
from rcnn.core.metric import get_train_metrics
from rcnn.core.options import check_monitor_options
from rcnn.core.schedule import EpochStepScheduler, parse_lr_step
from rcnn.core.start import lock_prefix, prepare_prefix, starting_point
from rcnn.core.trainer import LATEST, Trainer
from rcnn.dataset.load_data import load_gt_roidb
from rcnn.errors import UserError
from rcnn.processing import presets
from rcnn.PY_OP import rpn_fpn_ohem3
from rcnn.utils import lock
from rcnn.utils.image_file import OPENCV_MAX_PIXELS
from symbol import get_symbol, train_to_test_symbol

log = logging.getLogger('train')


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


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def make_config(options):
    """The run's configuration: the --network / --dataset presets with the command line's overrides."""
    cfg = generate_config(options.network, options.dataset)
    cfg.TRAIN.BATCH_IMAGES = options.batch_images
    cfg.SCALES = [(options.image_size, options.image_size)]
    return cfg


def build_optimizer(options, num_devices, num_workers, iters_per_epoch, begin_step):
    """The SGD of training: momentum 0.9, weight decay ``options.wd``, gradients divided by the
    devices of all workers (the losses are normalised in the graph), and the original's lr
    schedule (:class:`rcnn.core.schedule.EpochStepScheduler`) counted from ``begin_step``.

    :param options: needs ``lr``, ``lr_step``, ``wd``
    :param iters_per_epoch: images of one worker's epoch / batch size (a float)
    :param begin_step: updates done so far (a resumed run's step)
    """
    scheduler = EpochStepScheduler(parse_lr_step(options.lr_step), iters_per_epoch, options.lr)
    return mx.optimizer.SGD(learning_rate=options.lr, momentum=0.9, wd=options.wd,
                            rescale_grad=1.0 / (num_devices * num_workers), lr_scheduler=scheduler,
                            begin_num_update=begin_step)


def training_max_pixels(options):
    """Pixels a training image's header may declare: ``--max-megapixels``, or OpenCV's limit for 0."""
    return int(options.max_megapixels * 1e6) if options.max_megapixels else OPENCV_MAX_PIXELS


def load_roidb(options, batch_size, num_parts, cfg):
    """The training roidb of ``--image-set``; UserError when it cannot fill one batch per worker."""
    roidb = []
    for image_set in options.image_set.split('+'):
        roidb += load_gt_roidb(options.dataset, image_set, options.root_path, options.dataset_path,
                               flip=not options.no_flip, cfg=cfg, max_pixels=training_max_pixels(options))
    if len(roidb) // num_parts < batch_size:
        raise UserError('%d training images with faces in %s (%s) cannot fill one batch of %d per worker: add '
                        'images or lower --batch-images' % (len(roidb), options.dataset_path, options.image_set,
                                                            batch_size))
    return roidb


def _make_trainer(options, cfg, sym, test_sym, start, loader, ctx, kv, rank, optimizer):
    """The :class:`Trainer` of the run, initialised at ``start`` with ``optimizer``."""
    trainer = Trainer(sym, test_sym, loader.provide_data, loader.provide_label, ctx, kv,
                      fixed_param_names=start.fixed_params, prefix=options.prefix, is_writer=rank == 0)
    trainer.epoch, trainer.step = start.epoch, start.step
    trainer.extra_meta = {'network': options.network, 'dataset': options.dataset,
                          presets.META_KEY: cfg.DETECTOR_PRESET, 'args': vars(options),
                          'fixed_params': start.fixed_params, 'loader_seed': start.loader_seed}
    trainer.state_hooks = {'ohem_rng': rpn_fpn_ohem3.rng_state}
    trainer.init(start.arg_params, start.aux_params, optimizer, start.optimizer_state)
    return trainer


def _seed(options, start):
    if options.seed is not None:
        seed_everything(options.seed)
    rpn_fpn_ohem3.seed_rng(options.seed)
    if start.ohem_rng is not None:
        rpn_fpn_ohem3.set_rng_state(start.ohem_rng)


def _fit(options, cfg, roidb, sym, test_sym, start, ctx, kv, rank, num_workers, callbacks):
    """Make the loader, trainer and monitor, and fit; the loader's workers are closed however it ends."""
    batch_size = cfg.TRAIN.BATCH_IMAGES * len(ctx)
    feat_sym = [sym.get_internals()['face_rpn_cls_score_stride%d_output' % s] for s in cfg.RPN_FEAT_STRIDE]
    train_data = CropLoader(feat_sym, roidb, batch_size=batch_size, shuffle=not options.no_shuffle, cfg=cfg,
                            num_workers=options.workers, seed=start.loader_seed + rank, num_parts=num_workers,
                            part_index=rank, first_epoch=start.epoch)
    monitor = trainer = None
    ctrl_c = StopOnCtrlC()
    try:
        optimizer = build_optimizer(options, len(ctx), num_workers, train_data.size / batch_size, start.step)
        scheduler = optimizer.lr_scheduler
        trainer = _make_trainer(options, cfg, sym, test_sym, start, train_data, ctx, kv, rank, optimizer)
        log.info('%d images, %d batches of %d per epoch; lr %g, steps at epochs %s (iterations %s)',
                 len(roidb), train_data.num_batches, batch_size, options.lr, parse_lr_step(options.lr_step),
                 scheduler.step_iters)
        monitor = TrainingMonitor.from_options(options, trainer, batch_size, cfg,
                                               ctx_id=ctx[0].device_id if ctx[0].device_type == 'gpu' else -1)
        ctrl_c.install()
        trainer.fit(train_data, get_train_metrics(cfg, log_loss=True), end_epoch=options.end_epoch,
                    end_step=scheduler.step_iters[-1], skip_batches=start.skip,
                    frequent=options.frequent, callbacks=[monitor, ctrl_c, *callbacks])
    except EarlyStop as stop:
        log.info('early stop: %s', stop)
    finally:
        ctrl_c.restore()
        train_data.close()
        if monitor is not None:
            monitor.close(trainer)
    return trainer


def train_net(options, callbacks=()):
    """Train as ``options`` (:func:`rcnn.core.options.parse_options`) say; ``callbacks`` are passed
    to ``Trainer.fit`` after the monitor. Returns the :class:`Trainer`.

    Every expected failure (options, data, checkpoints, a prefix in use) is raised as UserError
    before the data workers start."""
    cfg = make_config(options)
    check_monitor_options(options)
    ctx = get_contexts(options.gpus, options.cpus)
    kv = mx.kv.create(options.kvstore)
    distributed = 'dist' in kv.type
    rank, num_workers = (kv.rank, kv.num_workers) if distributed else (0, 1)
    log.info('training %s on %s (worker %d of %d, kvstore %s)', options.network, ctx, rank, num_workers, kv.type)
    held = lock_prefix(options.prefix) if rank == 0 else None
    try:
        if rank == 0:
            prepare_prefix(options)
        roidb = load_roidb(options, cfg.TRAIN.BATCH_IMAGES * len(ctx), num_workers, cfg)
        sym = get_symbol(options.network, mode='train', cfg=cfg)
        test_sym = train_to_test_symbol(sym, cfg.RPN_FEAT_STRIDE, cfg.NUM_ANCHORS)
        start = starting_point(options, sym, cfg, test_sym)
        _seed(options, start)
        trainer = _fit(options, cfg, roidb, sym, test_sym, start, ctx, kv, rank, num_workers, callbacks)
    finally:
        if held is not None:
            lock.release(held)
    log.info('finished at epoch %d, step %d: %s-%04d holds the final weights', trainer.epoch, trainer.step,
             options.prefix, LATEST)
    return trainer
