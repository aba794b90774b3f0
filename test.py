"""RetinaFace demo: detect faces in an image (or every image of a folder) and draw them.

    python test.py                                   # ./model/R50 epoch 0 on t1.jpg, GPU 0
    python test.py --prefix ./model/mnet.25 --gpus -1 --image group.jpg --output out.jpg --json

The image is resized so that its short side is --target-size pixels, unless its long side would
then pass --max-size (then the long side is --max-size), as in the original demo; an image whose
network input would pass --max-megapixels is refused (its size is read from the header, before
decoding). Boxes are drawn in red, landmarks as dots (eye and mouth corner on the image's left
green, on its right blue, nose red). Outputs are written fresh, never through a link, and never
over the input.

A folder as --image runs the folder pipeline (tools/detect_folder.py) on every image under it:
``<output>/detections.jsonl`` (a header with the settings, then one record per image) and
``<output>/drawn/<name>-<hash>.jpg``. The output folder may not be or lie inside the input folder.
An image that cannot be read or is too large is recorded and skipped, the others are processed,
and the run ends with a summary and exit status 1 if any image failed. A rerun with the same
settings continues; other settings are refused unless --overwrite.
"""
import logging
import os
import sys

from rcnn.errors import UserError
from rcnn.pipeline import images
from rcnn.pipeline.run import summary_line
from rcnn.pipeline.settings import DetectorSpec, default_settings
from rcnn.processing.presets import DETECTOR_PRESETS
from rcnn.utils import cli
from rcnn.utils.cli_guards import add_max_megapixels_option, add_orientation_options

DEFAULT_OUTPUT_IMAGE = './detector_test.jpg'
DEFAULT_OUTPUT_FOLDER = './detector_test'


def parse_args(argv=None):
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--prefix', default='./model/R50', help='checkpoint prefix (default %(default)s)')
    parser.add_argument('--epoch', type=cli.number(0, kind=int), default=0,
                        help='checkpoint epoch (default %(default)s)')
    parser.add_argument('--network', default='net3', choices=DETECTOR_PRESETS,
                        help='detector preset: the anchors and pixel normalisation (default %(default)s)')
    parser.add_argument('--image', default='t1.jpg', help='image file or folder (default %(default)s)')
    parser.add_argument('--target-size', type=cli.number(1, kind=int), default=1024,
                        help='short side after resizing, pixels (default %(default)s)')
    parser.add_argument('--max-size', type=cli.number(1, kind=int), default=1980,
                        help='cap on the long side after resizing, pixels (default %(default)s)')
    add_max_megapixels_option(parser)
    parser.add_argument('--threshold', type=cli.number(0, 1), default=0.8, aliases=('--thresh',),
                        help='minimum face score, in [0, 1] (default %(default)s)')
    parser.add_argument('--nms', type=cli.number(0, 1, low_open=True), default=0.4,
                        help='NMS IoU threshold, in (0, 1] (default %(default)s)')
    parser.add_argument('--flip', action='store_true', help='also detect on the mirrored image')
    add_orientation_options(parser)
    parser.add_argument('--gpus', type=cli.number(-1, kind=int), default=0, aliases=('--gpu',),
                        help='GPU id, -1 for the CPU (default %(default)s)')
    parser.add_argument('--output', default=None,
                        help='drawn image (default %s), or results folder for a folder input '
                             '(default %s/)' % (DEFAULT_OUTPUT_IMAGE, DEFAULT_OUTPUT_FOLDER))
    parser.add_argument('--json', nargs='?', const='-', default=None, metavar='PATH',
                        help='write the detections as JSON to PATH, or print them when no PATH (a '
                             'folder input records them in <output>/detections.jsonl)')
    parser.add_argument('--overwrite', action='store_true',
                        help='folder input: start the results folder anew')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging(logging.WARNING)
    if not os.path.exists(args.image):
        raise UserError('image not found: %s. Pass --image with an image file or a folder of '
                        'images (t1.jpg is insightface\'s sample: '
                        'python-package/insightface/data/images/t1.jpg)' % args.image)
    spec = DetectorSpec('mxnet', args.prefix, args.epoch, args.network, args.nms, 0, args.gpus)
    settings = default_settings(threshold=args.threshold, target_size=args.target_size,
                                max_size=args.max_size, flip=args.flip, pyramid=args.pyramid,
                                rotations=args.rotations, max_megapixels=args.max_megapixels)
    if os.path.isdir(args.image):
        output = args.output or DEFAULT_OUTPUT_FOLDER
        summary = images.detect_image_folder(args.image, spec, settings, output, args.json, args.overwrite)
        print(summary_line(summary))
        print('records: %s; drawn images in %s' % (summary.results, os.path.join(output, 'drawn')))
        images.check_failures(summary)
        return 0
    output = args.output or DEFAULT_OUTPUT_IMAGE
    result, seconds = images.detect_image_file(args.image, spec, settings, output, args.json)
    print('found %d faces in %s (scale %.3f) in %.3f s'
          % (len(result['faces']), args.image, result['scale'], seconds), file=sys.stderr)
    print('wrote %s' % output, file=sys.stderr)
    if args.json == '-':
        sys.stdout.write(images.json_text(result))
    return 0


if __name__ == '__main__':
    cli.run_main(main)
