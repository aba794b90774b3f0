"""Run RetinaFace over WIDER FACE images and write the official submission files.

Example (the original's accurate mode: pyramid, flip and box voting, threshold 0.02)::

    python test_widerface.py --prefix model/R50 --epoch 0 --network net3 --mode 1 --output wout
    python -m rcnn.evaluation.widerface_eval --pred wout --gt data/widerface_eval_gt

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
folder are an error (one line: how many, the first few) unless ``--allow-missing``; an image that
cannot be decoded, or whose network input would pass ``--max-megapixels``, is reported and
skipped, and the run then ends with exit status 1. ``--gt DIR`` prints the official AP at the end
over the images that have an output file, exactly as ``python -m rcnn.evaluation.widerface_eval --pred
<output> --gt DIR --only-predicted`` does.
"""
import argparse
import logging
import os
import sys

import numpy as np
from tqdm import tqdm

from rcnn.dataset.retinaface import LabelFileError, read_label_file
from rcnn.evaluation import widerface_eval
from rcnn.utils.cli_guards import (add_max_megapixels_option, check_network_input, first_few,
                                   skipped_images_error)
from rcnn.utils import cli
from rcnn.utils.image_file import IMAGE_EXTENSIONS, read_image_file
from retinaface import DETECTOR_PRESETS, RetinaFace, target_scale

logger = logging.getLogger('test_widerface')

PYRAMID_SIZES = (500, 800, 1100, 1400, 1700)
PYRAMID_BASE = (800, 1200)


def parse_args(argv=None):
    parser = cli.ArgumentParser(description='Detect faces on WIDER FACE and write the submission files',
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    model = parser.add_argument_group('model')
    model.add_argument('--prefix', required=True,
                       help='checkpoint prefix (<prefix>-symbol.json, <prefix>-NNNN.params)')
    model.add_argument('--epoch', type=cli.number(0, kind=int), default=0, help='checkpoint epoch')
    model.add_argument('--network', default='net3', choices=DETECTOR_PRESETS,
                       help='detector preset: the anchors and pixel normalisation')
    model.add_argument('--gpu', type=cli.number(-1, kind=int), default=0, help='GPU id; -1 runs on the CPU')
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
    test.add_argument('--thresh', type=cli.number(0, 1), default=0.02,
                      help='keep faces with score >= thresh, in [0, 1]')
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
    add_max_megapixels_option(test)
    test.add_argument('--gt', help='after detection, evaluate against this folder of WIDER .mat files '
                                   '(or a label.txt), over the images that have an output file')
    args = parser.parse_args(argv)
    if not 0 <= args.part < args.parts:
        parser.error('--part must be in [0, --parts)')
    return args


def read_image_list(path):
    """Image names '<event>/<image>.jpg' from a RetinaFace label.txt (read by the project's one
    parser, :func:`rcnn.dataset.retinaface.read_label_file`) or a wider_val.txt (one name a line).

    :raises cli.UserError: naming the file (and line) that cannot be read
    """
    try:
        with open(path) as f:
            lines = [line.strip() for line in f if line.strip()]
        names = ([name for name, _, _ in read_label_file(path)]
                 if any(line.startswith('#') for line in lines) else lines)
    except LabelFileError as err:
        raise cli.UserError(str(err)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise cli.UserError('cannot read the image list %s: %s'
                            % (path, getattr(err, 'strerror', None) or err)) from None
    return ['/'.join(name.replace('\\', '/').split('/')[-2:]) for name in names]


def find_images(image_root, image_list=None):
    """The images to process, as '<event>/<image>.jpg' relative to ``image_root``."""
    if image_list is None:
        parent = os.path.dirname(os.path.normpath(image_root))
        image_list = next((os.path.join(parent, name) for name in ('label.txt', 'wider_val.txt')
                           if os.path.isfile(os.path.join(parent, name))), None)
    if image_list is not None:
        return read_image_list(image_list)
    if not os.path.isdir(image_root):
        raise cli.UserError('image folder not found: %s (pass --images, or --dataset-path and '
                            '--image-set)' % image_root)
    names = []
    for event in sorted(os.listdir(image_root)):
        folder = os.path.join(image_root, event)
        if os.path.isdir(folder):
            names += ['%s/%s' % (event, name) for name in sorted(os.listdir(folder))
                      if name.lower().endswith(IMAGE_EXTENSIONS)]
    return names


def scales_for(image_shape, args):
    """(scales, do_flip) for one image under the chosen ``--mode``."""
    if args.mode == 0:
        if args.scale is not None:
            return [args.scale], args.flip
        return [target_scale(image_shape, args.target_size, args.max_size)], args.flip
    base = target_scale(image_shape, *PYRAMID_BASE)
    return [float(size) / PYRAMID_BASE[0] * base for size in PYRAMID_SIZES], True


def submission_text(name, faces):
    """The submission file for one image.

    :param name: '<event>/<image>.jpg'
    :param faces: (N, >=5) [x1, y1, x2, y2, score] in original-image pixels
    """
    faces = np.asarray(faces, dtype=np.float64)
    faces = faces.reshape(-1, faces.shape[-1]) if faces.size else np.zeros((0, 5))
    lines = [name, str(len(faces))]
    for x1, y1, x2, y2, score in faces[:, :5]:
        lines.append('%.4f %.4f %.4f %.4f %.7f' % (x1, y1, x2 - x1 + 1, y2 - y1 + 1, score))
    return '\n'.join(lines) + '\n'


def output_path(output, name):
    return os.path.join(output, os.path.splitext(name)[0] + '.txt')


def write_submission(path, name, faces):
    """Write atomically, so that an interrupted run never leaves a half file to be skipped later;
    cli.UserError naming the file when it cannot be written."""
    partial = path + '.partial'
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(partial, 'w') as f:
            f.write(submission_text(name, faces))
        os.replace(partial, path)
    except OSError as err:
        raise cli.UserError('cannot write %s: %s (is --output a writable folder?)'
                            % (path, err.strerror or err)) from None


def load_detector(args):
    return RetinaFace(args.prefix, args.epoch, ctx_id=args.gpu, network=args.network, nms=args.nms,
                      nocrop=args.nocrop, vote=args.mode == 1)


def image_root_of(args):
    return args.images or os.path.join(args.dataset_path, args.image_set, 'images')


def select_images(args):
    """The images of this part that exist, as '<event>/<image>.jpg'.

    :raises cli.UserError: when the list is empty, or (without ``--allow-missing``) when listed
        images are absent: one line with how many and the first few
    """
    image_root = image_root_of(args)
    names = find_images(image_root, args.image_list)[args.part::args.parts]
    if not names:
        raise cli.UserError('no images to process under %s (part %d of %d)'
                            % (image_root, args.part, args.parts))
    missing = [n for n in names if not os.path.isfile(os.path.join(image_root, n))]
    if missing:
        summary = ('%d of %d listed images are not under %s (e.g. %s)'
                   % (len(missing), len(names), image_root, first_few(missing)))
        if not args.allow_missing:
            raise cli.UserError('%s: pass --allow-missing to process the %d that are there'
                                % (summary, len(names) - len(missing)))
        logger.warning('%s; processing the %d that are there', summary, len(names) - len(missing))
        absent = set(missing)
        names = [n for n in names if n not in absent]
    return names


def run(args, detector, names):
    """Detect and write the images ``names`` (skipping those already written unless
    ``--overwrite``); returns the names that failed, each reported on one "skipped" line."""
    image_root = image_root_of(args)
    todo = [n for n in names if args.overwrite or not os.path.isfile(output_path(args.output, n))]
    if len(todo) < len(names):
        logger.info('%d of %d images already written to %s (use --overwrite to redo them)',
                    len(names) - len(todo), len(names), args.output)
    failed = []
    progress = tqdm(todo, desc='WIDER %s' % args.image_set, unit='img')
    for name in progress:
        path = os.path.join(image_root, name)
        try:
            image = read_image_file(path)
            scales, do_flip = scales_for(image.shape, args)
            check_network_input(path, image.shape, scales, args.max_megapixels,
                                '--scale, or --target-size / --max-size, with --mode 0')
        except cli.UserError as err:
            failed.append(name)
            progress.write('skipped: %s' % err, file=sys.stderr)
            continue
        faces, _ = detector.detect(image, threshold=args.thresh, scales=scales, do_flip=do_flip)
        write_submission(output_path(args.output, name), name, faces)
        progress.set_postfix(faces=len(faces))
    return failed


def main(argv=None):
    args = parse_args(argv)
    cli.setup_logging()
    names = select_images(args)
    ground_truth = widerface_eval.load_any_ground_truth(args.gt) if args.gt else None
    logger.info('called with %s', vars(args))
    failed = run(args, load_detector(args), names)
    if ground_truth is not None:
        evaluate_output(args.output, ground_truth)
    if failed:
        raise skipped_images_error(failed, len(names))
    return 0


def evaluate_output(output, ground_truth):
    """Print the official AP of the files in ``output`` over the images that have one, as
    ``python -m rcnn.evaluation.widerface_eval --only-predicted`` does."""
    curves, coverage = widerface_eval.score_folder(output, ground_truth, only_predicted=True)
    print(widerface_eval.format_report(curves, 'official', coverage))


if __name__ == '__main__':
    cli.run_main(main)
