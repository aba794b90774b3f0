"""Run RetinaFace over WIDER FACE images and write the official submission files.

Example (the original's accurate mode: pyramid, flip and box voting, threshold 0.02)::

    python test_widerface.py --prefix model/R50 --epoch 0 --network net3 --mode 1 --output wout
    python tools/widerface_eval.py --pred wout --gt data/widerface_eval_gt

The images are ``<images>/<event>/<image>.jpg`` (default ``<dataset-path>/<image-set>/images``),
listed by ``label.txt`` or ``wider_val.txt`` beside that folder, or found by walking it. Each image
gets ``<output>/<event>/<image>.txt``: line 1 ``<event>/<image>.jpg``, line 2 the number of
faces, then ``x y w h score`` per face in original-image pixels with ``w = x2 - x1 + 1``.

Test scales (``--mode``):
  0  single scale: the short side resized to ``--target-size`` (1600) unless the long side would
     pass ``--max-size`` (2150); ``--scale S`` instead multiplies the image by S (1.0 = original).
  1  the original's pyramid: short side 500, 800, 1100, 1400, 1700 relative to an 800 / 1200
     base, each also flipped, merged by box voting.
  2  the same pyramid and flip, merged by NMS.
Images already written are skipped unless ``--overwrite``. Listed images absent from the image
folder are an error (one line: how many, the first few) unless ``--allow-missing``. A list entry
with '..', two images that would write one file (``a.jpg``, ``a.png``) and an output that would
replace a listed image are refused before any work. An image that cannot be decoded, or whose
network input would pass ``--max-megapixels`` (read from its header), is reported and skipped, and
the run then ends with exit status 1. The settings are recorded in ``<output>.run.json`` beside the folder; a rerun with other
settings is refused, naming them (``--overwrite`` redoes the images). ``--gt DIR`` prints the official AP at the end over the
images that have an output file, exactly as ``tools/widerface_eval.py --pred
<output> --gt DIR --only-predicted`` does.
"""
import argparse
import logging

from rcnn.detection.detector import RetinaFace
from rcnn.evaluation import widerface_eval
from rcnn.pipeline import widerface
from rcnn.processing.presets import DETECTOR_PRESETS
from rcnn.utils import cli
from rcnn.utils.cli_guards import add_max_megapixels_option, add_orientation_options, skipped_images_error

logger = logging.getLogger('test_widerface')


def parse_args(argv=None):
    parser = cli.ArgumentParser(description='Detect faces on WIDER FACE and write the submission files',
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    model = parser.add_argument_group('model')
    model.add_argument('--prefix', required=True,
                       help='checkpoint prefix (<prefix>-symbol.json, <prefix>-NNNN.params)')
    model.add_argument('--epoch', type=cli.number(0, kind=int), default=0, help='checkpoint epoch')
    model.add_argument('--network', default='net3', choices=DETECTOR_PRESETS,
                       help='detector preset: the anchors and pixel normalisation')
    model.add_argument('--gpus', type=cli.number(-1, kind=int), default=0, aliases=('--gpu',),
                       help='GPU id; -1 runs on the CPU')
    model.add_argument('--nocrop', action='store_true', help='keep the padded border of the feature maps')
    data = parser.add_argument_group('data')
    data.add_argument('--dataset-path', default='./data/retinaface', help='folder holding <image-set>/images')
    data.add_argument('--image-set', default='val', help='split name under --dataset-path')
    data.add_argument('--images',
                      help='image root (<event>/<image>.jpg); default <dataset-path>/<image-set>/images')
    data.add_argument('--image-list', help='label.txt or wider_val.txt naming the images; default: the one '
                                           'beside the image root, else every .jpg under it')
    data.add_argument('--output', default='./wout', help='folder for <event>/<image>.txt')
    data.add_argument('--overwrite', action='store_true', help='redo images whose output file exists')
    data.add_argument('--allow-missing', action='store_true',
                      help='process the listed images that exist instead of stopping when some are absent')
    data.add_argument('--part', type=cli.number(0, kind=int), default=0,
                      help='process only images i with i %% parts == part')
    data.add_argument('--parts', type=cli.number(1, kind=int), default=1,
                      help='number of parts the list is split into')
    test = parser.add_argument_group('detection')
    test.add_argument('--threshold', dest='thresh', type=cli.number(0, 1), default=0.02, aliases=('--thresh',),
                      help='keep faces with score >= threshold, in [0, 1]')
    test.add_argument('--nms', type=cli.number(0, 1, low_open=True), default=0.4,
                      help='NMS IoU threshold, in (0, 1]')
    test.add_argument('--mode', type=int, choices=(0, 1, 2), default=0,
                      help='0 single scale, 1 pyramid + flip + box voting, 2 pyramid + flip + NMS')
    test.add_argument('--target-size', type=cli.number(1, kind=int), default=1600,
                      help='mode 0: short side in pixels')
    test.add_argument('--max-size', type=cli.number(1, kind=int), default=2150,
                      help='mode 0: cap on the long side in pixels')
    test.add_argument('--scale', type=cli.number(0, low_open=True),
                      help='mode 0: fixed resize factor instead (1.0 = original size)')
    test.add_argument('--flip', action='store_true', help='mode 0: also detect on the mirrored image')
    add_orientation_options(test)
    add_max_megapixels_option(test)
    test.add_argument('--gt', help='after detection, evaluate against this folder of WIDER .mat files '
                                   '(or a label.txt), over the images that have an output file')
    args = parser.parse_args(argv)
    if not 0 <= args.part < args.parts:
        parser.error('--part must be in [0, --parts)')
    return args


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging()
    names = widerface.select_images(args)
    ground_truth = widerface_eval.load_any_ground_truth(args.gt) if args.gt else None
    logger.info('called with %s', vars(args))
    detector = RetinaFace(args.prefix, args.epoch, ctx_id=args.gpus, network=args.network, nms=args.nms,
                          nocrop=args.nocrop, vote=args.mode == 1)
    failed = widerface.run(args, detector, names)
    if ground_truth is not None:
        print(widerface.evaluation_report(args.output, ground_truth))
    if failed:
        raise skipped_images_error(failed, len(names))
    return 0


if __name__ == '__main__':
    cli.run_main(main)
