"""The options of ``train.py``: one parser, kebab-case names (the original's snake_case spellings
are accepted as hidden aliases by :class:`rcnn.utils.cli.ArgumentParser`), every value checked.

    options = parse_options(['--prefix', './model/retina', '--network', 'resnet'])
    rcnn.core.run.train_net(options)

The defaults of most options come from the settings file (:mod:`rcnn.config`): the ``--network``
and ``--dataset`` presets are read first, then the other options are added with their values.
"""
import argparse
import os
import re

import rcnn.config
from rcnn.core.schedule import parse_lr_step
from rcnn.core.trainer import LATEST
from rcnn.errors import UserError
from rcnn.utils import cli
from rcnn.utils.cli import number
from rcnn.utils.cli_guards import DECODE_FACTOR, DEFAULT_MAX_MEGAPIXELS

# Options that change the numbers of a run: a resumed run that differs in one is not the run it continues.
RESULT_OPTIONS = ('network', 'dataset', 'image_set', 'lr', 'lr_step', 'wd', 'batch_images', 'image_size',
                  'no_flip', 'no_shuffle', 'seed', 'pretrained', 'pretrained_epoch')

# MXNet kvstore types (mx.kv.create): single machine, then distributed.
KVSTORES = ('local', 'device', 'nccl', 'local_update_cpu', 'local_allreduce_cpu', 'local_allreduce_device',
            'dist_sync', 'dist_async', 'dist_sync_device', 'dist_async_device', 'dist_device_sync', 'horovod')


def option_name(dest):
    """'--lr-step' for the attribute ``lr_step``: how messages name an option."""
    return '--' + dest.replace('_', '-')


def lr_step_option(text):
    """argparse type of --lr-step: the epochs, checked (increasing, > 0), as 'e1,e2,...'."""
    try:
        return ','.join(str(e) for e in parse_lr_step(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace('--lr-step ', '')) from None


def gpus_option(text):
    """argparse type of --gpus: comma-separated device ids ('-1': the CPU)."""
    if not re.fullmatch(r'\s*-?\d+\s*(,\s*-?\d+\s*)*', text):
        raise argparse.ArgumentTypeError("expected GPU ids such as '0,1' (or -1 for the CPU), got %r" % text)
    return text


def kvstore_option(text):
    """argparse type of --kvstore: one of :data:`KVSTORES`."""
    if text not in KVSTORES:
        raise argparse.ArgumentTypeError('unknown kvstore %r: choose one of %s' % (text, ', '.join(KVSTORES)))
    return text


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Help with every default shown (cli.ArgumentParser lists the kebab-case names only)."""


def _add_data_options(parser, default):
    parser.add_argument('--image-set', default=default.image_set, help='split(s) to train on, joined by +')
    parser.add_argument('--root-path', default=default.root_path, help='folder for caches')
    parser.add_argument('--dataset-path', default=default.dataset_path, help='folder with <split>/label.txt')
    parser.add_argument('--no-flip', action='store_true', help='do not add flipped images')
    parser.add_argument('--no-shuffle', action='store_true', help='keep the data order')
    parser.add_argument('--workers', type=number(0, kind=int), default=default.workers,
                        help='data worker processes (0: none)')


def _add_run_options(parser, default):
    parser.add_argument('--pretrained', default=default.pretrained,
                        help="backbone (or whole-model) checkpoint prefix; '' trains from scratch")
    parser.add_argument('--pretrained-epoch', type=number(0, kind=int), default=default.pretrained_epoch)
    parser.add_argument('--prefix', default=default.prefix, help='checkpoint prefix to write')
    parser.add_argument('--begin-epoch', type=number(0, kind=int), default=0, help='epoch to start counting from')
    parser.add_argument('--end-epoch', type=number(1, kind=int), default=default.end_epoch, help='last epoch')
    parser.add_argument('--resume', type=number(0, kind=int), nargs='?', const=LATEST, default=None,
                        metavar='EPOCH', help='continue the run of --prefix from <prefix>-0000 (the latest) '
                                              'or from <prefix>-EPOCH, with its optimizer state')
    parser.add_argument('--resume-with-changes', action='store_true',
                        help='let --resume continue with options that change the run (%s)'
                             % ', '.join(option_name(n) for n in RESULT_OPTIONS if n != 'network'))
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the checkpoints and metrics of a run that --prefix already holds')
    parser.add_argument('--seed', type=number(0, 2 ** 32 - 1, kind=int), default=None,
                        help='seed of numpy, MXNet and the data order')


def _add_optimizer_options(parser, default):
    parser.add_argument('--lr', type=number(0, low_open=True), default=default.lr, help='base learning rate')
    parser.add_argument('--lr-step', type=lr_step_option, default=default.lr_step,
                        help='increasing epochs of the lr steps; training ends at the last one')
    parser.add_argument('--wd', type=number(0), default=0.0005, help='weight decay')
    parser.add_argument('--batch-images', type=number(1, kind=int), default=default.batch_images,
                        help='images per device and batch')
    parser.add_argument('--image-size', type=number(32, kind=int), default=default.image_size,
                        help='training crop side, pixels')
    parser.add_argument('--max-megapixels', type=number(0), default=DECODE_FACTOR * DEFAULT_MAX_MEGAPIXELS,
                        help='refuse a training image whose header declares more megapixels, before '
                             'decoding any (0: only the limit of OpenCV, 1073.7)')
    parser.add_argument('--frequent', type=number(1, kind=int), default=default.frequent, help='log every N batches')


def _add_device_options(parser, default):
    parser.add_argument('--gpus', type=gpus_option, default=None, aliases=('--gpu',),
                        help="GPU ids, e.g. '0,1' (default: CUDA_VISIBLE_DEVICES; none: CPU)")
    parser.add_argument('--cpus', type=number(1, kind=int), default=1, help='CPU contexts when no GPU is used')
    parser.add_argument('--kvstore', type=kvstore_option, default=default.kvstore,
                        help='MXNet kvstore: device, local, dist_sync, ...')


def add_monitor_options(parser):
    """The validation and monitoring options (:meth:`rcnn.core.hooks.TrainingMonitor.from_options`)."""
    group = parser.add_argument_group('validation and monitoring')
    group.add_argument('--val-every', type=number(0, kind=int), default=0,
                       help='validate every N epochs (0: never); needs --val-path')
    group.add_argument('--val-path', default=None,
                       help='validation split in the RetinaFace layout (label.txt + images/), '
                            'e.g. data/retinaface/val')
    group.add_argument('--val-gt', default=None,
                       help="folder of WIDER's .mat ground truth (easy/medium/hard AP); "
                            'default: AP at IoU 0.5 against the label.txt boxes')
    group.add_argument('--val-scale', type=number(0, low_open=True), default=1.0,
                       help='resize factor of the validation images')
    group.add_argument('--val-threshold', type=number(0, 1), default=0.02, help='lowest face score kept in validation')
    group.add_argument('--val-max-images', type=number(0, kind=int), default=0,
                       help='validate on the first N images (0: all)')
    group.add_argument('--early-stop', type=number(0, kind=int), default=0,
                       help='stop after K validations without a better AP (0: never)')
    group.add_argument('--no-tensorboard', action='store_true', help='do not write TensorBoard events')
    return group


def _preset_defaults(argv):
    """The option defaults of the --network / --dataset presets named in ``argv`` (parsed alone)."""
    parser = cli.ArgumentParser(add_help=False)
    parser.add_argument('--network', default=rcnn.config.default.network)
    parser.add_argument('--dataset', default=rcnn.config.default.dataset)
    known, _ = parser.parse_known_args(argv)
    try:
        preset, default = rcnn.config.build_config(known.network, known.dataset)
    except ValueError as err:
        parser.error(str(err))
    default.batch_images, default.image_size = preset.TRAIN.BATCH_IMAGES, preset.SCALES[0][0]
    default.workers = preset.NUM_CPU
    return default


def build_parser(argv=None):
    """The parser of train.py, its defaults from the presets that ``argv`` names."""
    default = _preset_defaults(argv)
    parser = cli.ArgumentParser(description='Train RetinaFace', formatter_class=HelpWithDefaults)
    parser.add_argument('--network', default=default.network, help='network preset: mnet or resnet')
    parser.add_argument('--dataset', default=default.dataset, help='dataset preset')
    _add_data_options(parser, default)
    _add_run_options(parser, default)
    _add_optimizer_options(parser, default)
    _add_device_options(parser, default)
    add_monitor_options(parser)
    return parser


def parse_options(argv=None):
    """train.py's options (an argparse Namespace); a bad option exits with one ``error:`` line (status 2)."""
    parser = build_parser(argv)
    options = parser.parse_args(argv)
    try:
        check_options(options)
    except UserError as err:
        parser.error(str(err))
    return options


def check_options(options):
    """UserError when options contradict each other (--resume with --overwrite, the epochs); the
    monitoring options are checked by :func:`check_monitor_options` when training starts."""
    if options.resume is not None and options.overwrite:
        raise UserError('--resume continues the run of --prefix and --overwrite replaces it: give one of them')
    if options.resume is None and options.begin_epoch >= options.end_epoch:
        raise UserError('--begin-epoch %d is not before --end-epoch %d: nothing to train (raise --end-epoch)'
                        % (options.begin_epoch, options.end_epoch))


def check_monitor_options(options):
    """UserError when the monitoring options of :func:`add_monitor_options` do not fit together."""
    if options.val_every > 0 and not options.val_path:
        raise UserError('--val-every needs --val-path (a folder with label.txt and images/, '
                        'e.g. data/retinaface/val)')
    if options.val_every > 0 and not os.path.isfile(os.path.join(options.val_path, 'label.txt')):
        raise UserError('--val-path %s holds no label.txt (a split in the RetinaFace layout: label.txt and '
                        'images/)' % options.val_path)
    if options.early_stop and not options.val_every:
        raise UserError('--early-stop needs validation (--val-every N --val-path DIR)')
