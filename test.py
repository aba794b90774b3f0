"""RetinaFace demo: detect faces in an image (or every image of a folder) and draw them.

    python test.py                                   # ./model/R50 epoch 0 on t1.jpg, GPU 0
    python test.py --prefix ./model/mnet.25 --gpu -1 --image group.jpg --output out.jpg --json

The image is resized so that its short side is --target-size pixels, unless its long side would
then pass --max-size (then the long side is --max-size), as in the original demo; an image whose
network input would pass --max-megapixels is refused. Boxes are drawn in red, landmarks as dots
(eye and mouth corner on the image's left green, on its right blue, nose red).

A folder as --image writes, per image file ``<name>`` (extension kept, so ``x.jpg`` and ``x.png``
both get their own results), ``<name>.jpg`` (drawn) and ``<name>.json`` into the --output folder.
No input file is ever written: the input folder itself, or an output folder where a result would
replace an input (a link to one, say), is refused before any work. An image that cannot be read
or is too large is reported and skipped, the others are processed, and the run ends with a
summary and exit status 1 if any image failed.
"""
import json
import logging
import os
import sys
import time

from tqdm import tqdm

from rcnn.utils.cli_guards import (add_max_megapixels_option, check_network_input,
                                   refuse_overwriting_inputs, same_file, skipped_images_error)
from rcnn.utils import cli
from rcnn.utils.image_file import IMAGE_EXTENSIONS, read_image_file, write_image_file
from retinaface import DETECTOR_PRESETS, RetinaFace, draw_detections, target_scale

SCALE_OPTIONS = '--target-size / --max-size'
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
    parser.add_argument('--threshold', type=cli.number(0, 1), default=0.8,
                        help='minimum face score, in [0, 1] (default %(default)s)')
    parser.add_argument('--nms', type=cli.number(0, 1, low_open=True), default=0.4,
                        help='NMS IoU threshold, in (0, 1] (default %(default)s)')
    parser.add_argument('--flip', action='store_true', help='also detect on the mirrored image')
    parser.add_argument('--gpu', type=cli.number(-1, kind=int), default=0,
                        help='GPU id, -1 for the CPU (default %(default)s)')
    parser.add_argument('--output', default=None,
                        help='drawn image (default %s), or folder for a folder input (default %s/)'
                             % (DEFAULT_OUTPUT_IMAGE, DEFAULT_OUTPUT_FOLDER))
    parser.add_argument('--json', nargs='?', const='-', default=None, metavar='PATH',
                        help='write the detections as JSON to PATH, or print them when no PATH (a folder input '
                             'always writes <name>.json per image)')
    return parser.parse_args(argv)


def detections_json(image_path, scale, faces, landmarks):
    """JSON-ready dict of one image's detections (pixels of the original image)."""
    return {'image': image_path, 'scale': scale, 'faces': [
        {'box': [round(float(v), 2) for v in face[:4]], 'score': round(float(face[4]), 5),
         'landmarks': [[round(float(x), 2), round(float(y), 2)] for x, y in landmarks[i]]
         if landmarks is not None else None}
        for i, face in enumerate(faces)]}


def read_checked_image(path, args):
    """(pixels, scale) of an image file, refused when its network input passes the budget."""
    img = read_image_file(path)
    scale = target_scale(img.shape, args.target_size, args.max_size)
    check_network_input(path, img.shape, [scale], args.max_megapixels, SCALE_OPTIONS)
    return img, scale


def detect_one(detector, path, img, scale, args):
    """(drawn image, detections dict) of one image (pixels ``img`` of the file ``path``)."""
    faces, landmarks = detector.detect(img, args.threshold, scales=[scale], do_flip=args.flip)
    return draw_detections(img, faces, landmarks), detections_json(path, scale, faces, landmarks)


def write_json(result, path):
    text = json.dumps(result, indent=1)
    if path == '-':
        print(text)
        return
    try:
        with open(path, 'w') as f:
            f.write(text + '\n')
    except OSError as err:
        raise cli.UserError('cannot write %s: %s' % (path, err.strerror or err)) from None


def folder_images(folder):
    """Sorted names of the image files (by extension) directly in ``folder``."""
    return sorted(name for name in os.listdir(folder)
                  if name.lower().endswith(IMAGE_EXTENSIONS)
                  and os.path.isfile(os.path.join(folder, name)))


def result_paths(output, name):
    """(drawn image, JSON) paths of the input file ``name``: its full name, extension included,
    so that ``x.jpg`` and ``x.png`` do not share results."""
    return os.path.join(output, name + '.jpg'), os.path.join(output, name + '.json')


def detect_folder(args):
    """Detect on every image of the folder ``args.image``; returns the exit status."""
    output = args.output or DEFAULT_OUTPUT_FOLDER
    if args.json not in (None, '-'):
        raise cli.UserError('--json %s names one file, but a folder input writes <name>.json per '
                            'image into the --output folder; leave --json out' % args.json)
    names = folder_images(args.image)
    if not names:
        raise cli.UserError('no image files (%s) in the folder %s'
                            % (', '.join(IMAGE_EXTENSIONS), args.image))
    if os.path.exists(output) and not os.path.isdir(output):
        raise cli.UserError('--output %s is a file; a folder input needs an output folder' % output)
    if same_file(output, args.image):
        raise cli.UserError('--output %s is the input folder: the results would mix with the images '
                            '(and be read as images on the next run); choose another --output'
                            % output)
    inputs = [os.path.join(args.image, name) for name in os.listdir(args.image)]
    outputs = [path for name in names for path in result_paths(output, name)]
    refuse_overwriting_inputs([p for p in inputs if os.path.isfile(p)], outputs, '--output')

    detector = load_detector(args)
    os.makedirs(output, exist_ok=True)
    total, failed = 0, []
    progress = tqdm(names, desc='detecting', unit='image')
    for name in progress:
        path = os.path.join(args.image, name)
        try:
            drawn, result = detect_one(detector, path, *read_checked_image(path, args), args)
            drawn_path, json_path = result_paths(output, name)
            write_image_file(drawn_path, drawn)
            write_json(result, json_path)
        except cli.UserError as err:
            failed.append(name)
            progress.write('skipped: %s' % err, file=sys.stderr)
            continue
        total += len(result['faces'])
    print('%d faces in %d of %d images; drawn images and JSON in %s'
          % (total, len(names) - len(failed), len(names), output))
    if failed:
        raise skipped_images_error(failed, len(names))
    return 0


def detect_file(args):
    """Detect on the one image ``args.image``, draw it and write the results."""
    output = args.output or DEFAULT_OUTPUT_IMAGE
    refuse_overwriting_inputs([args.image], [output], '--output')
    if args.json not in (None, '-'):
        refuse_overwriting_inputs([args.image], [args.json], '--json')
    img, scale = read_checked_image(args.image, args)  # a bad image fails before the model loads
    detector = load_detector(args)
    start = time.perf_counter()
    drawn, result = detect_one(detector, args.image, img, scale, args)
    print('found %d faces in %s (scale %.3f) in %.3f s'
          % (len(result['faces']), args.image, result['scale'], time.perf_counter() - start),
          file=sys.stderr)
    write_image_file(output, drawn)
    print('wrote %s' % output, file=sys.stderr)
    if args.json:
        write_json(result, args.json)
    return 0


def load_detector(args):
    return RetinaFace(args.prefix, args.epoch, args.gpu, args.network, nms=args.nms)


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging(logging.WARNING)
    if not os.path.exists(args.image):
        raise cli.UserError('image not found: %s. Pass --image with an image file or a folder of '
                            'images (t1.jpg is insightface\'s sample: '
                            'python-package/insightface/data/images/t1.jpg)' % args.image)
    if os.path.isdir(args.image):
        return detect_folder(args)
    return detect_file(args)


if __name__ == '__main__':
    cli.run_main(main)
