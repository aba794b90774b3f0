"""The options tools/detect_folder.py and tools/detect_ray.py share, and what they become: a
:data:`DetectorSpec` and :data:`DetectionSettings`."""
from rcnn.errors import UserError
from rcnn.pipeline.settings import DetectionSettings, DetectorSpec
from rcnn.processing.align import template
from rcnn.processing.presets import DETECTOR_PRESETS
from rcnn.detection.batching import DEFAULT_BATCH_SIZE
from rcnn.utils import cli
from rcnn.utils.cli_guards import add_max_megapixels_option, add_orientation_options, check_network_input

DEFAULT_MAX_SIZE = 1980


def add_detection_arguments(parser):
    """Input, output, model and what to detect (see the tools' --help)."""
    parser.add_argument('input', help='folder of images (searched recursively) or a text file '
                        'listing one image path per line')
    parser.add_argument('--output', required=True,
                        help='results folder (detections.jsonl or Parquet files); a rerun with the '
                        'same settings skips the images already there')
    parser.add_argument('--overwrite', action='store_true',
                        help='start the results folder anew (a rerun with other settings is '
                        'refused without it)')
    _add_model_arguments(parser.add_argument_group('model'))
    _add_settings_arguments(parser.add_argument_group('detection'))


def _add_model_arguments(model):
    model.add_argument('--prefix', help='MXNet checkpoint prefix (<prefix>-symbol.json, '
                       '<prefix>-<epoch>.params)')
    model.add_argument('--epoch', type=cli.number(0, kind=int), default=0)
    model.add_argument('--onnx', help='run this ONNX model (tools/export_onnx.py --dynamic) on ONNX '
                       'Runtime instead of an MXNet checkpoint')
    model.add_argument('--network', default='net3', choices=DETECTOR_PRESETS,
                       help='detector preset: the anchors and pixel normalisation (default %(default)s)')
    model.add_argument('--nms', type=cli.number(0, 1, low_open=True), default=0.4,
                       help='NMS IoU threshold, in (0, 1] (default %(default)s)')
    model.add_argument('--threads', type=cli.number(0, kind=int), default=0,
                       help='intra-op threads of ONNX Runtime / MXNet per detector (0: the '
                       'runtime\'s default, one per core; detect_folder.py\'s model workers: cores / '
                       'workers)')


def _add_settings_arguments(detect):
    detect.add_argument('--threshold', type=cli.number(0, 1), default=0.8, aliases=('--thresh',),
                        help='minimum face score, in [0, 1] (default %(default)s)')
    sizes = detect.add_mutually_exclusive_group()
    sizes.add_argument('--scale', type=cli.number(0, low_open=True), default=1.0,
                       help='resize factor for every image, > 0 (default %(default)s)')
    sizes.add_argument('--target-size', type=cli.number(1, kind=int),
                       help='resize each image so that its short side is this many pixels ...')
    sizes.add_argument('--letterbox', type=cli.parse_size, metavar='HxW',
                       help='resize each image to fit HxW and pad bottom/right: one network input '
                       'shape for every image (batches fill up; detections near the padded border '
                       'change slightly, see README)')
    detect.add_argument('--max-size', type=cli.number(1, kind=int),
                        help='... unless its long side would pass this (with --target-size; '
                        'default %d)' % DEFAULT_MAX_SIZE)
    detect.add_argument('--flip', action='store_true', help='also detect on the mirrored image')
    add_orientation_options(detect)
    detect.add_argument('--batch-size', type=cli.number(1, 1024, kind=int), default=DEFAULT_BATCH_SIZE,
                        help='images per batched forward (memory grows with it; default %(default)s)')
    add_max_megapixels_option(detect)


def spec_from_args(args):
    """DetectorSpec of the parsed options; UserError unless exactly one of --prefix, --onnx."""
    if bool(args.prefix) == bool(args.onnx):
        raise UserError('pass the model as --prefix PREFIX (MXNet checkpoint) or --onnx FILE '
                        '(ONNX Runtime), exactly one of them')
    if args.onnx:
        return DetectorSpec('onnx', args.onnx, 0, args.network, args.nms, args.threads)
    return DetectorSpec('mxnet', args.prefix, args.epoch, args.network, args.nms, args.threads)


def settings_from_args(args):
    """DetectionSettings of the parsed options.

    :raises UserError: for --max-size without --target-size, or a --letterbox canvas (every
        image's network input) over --max-megapixels
    """
    if args.max_size is not None and not args.target_size:
        raise UserError('--max-size %d caps the long side of --target-size resizing; pass '
                        '--target-size too, or leave --max-size out' % args.max_size)
    if args.letterbox:
        check_network_input('--letterbox %dx%d' % args.letterbox, args.letterbox, [1.0],
                            args.max_megapixels, '--letterbox')
    return DetectionSettings(threshold=args.threshold, scale=args.scale,
                             target_size=args.target_size,
                             max_size=(args.max_size or DEFAULT_MAX_SIZE) if args.target_size else None,
                             letterbox=args.letterbox, flip=args.flip, batch_size=args.batch_size,
                             max_megapixels=args.max_megapixels, pyramid=args.pyramid,
                             rotations=args.rotations)


def check_crop_size(size):
    """UserError naming --crops unless the crop size fits the ArcFace template."""
    try:
        template(size)
    except ValueError as err:
        raise UserError('--crops %d: %s' % (size, err))
