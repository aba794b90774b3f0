"""Run RetinaFace over WIDER FACE images and write the official submission files.

Example (the original's accurate mode: pyramid, flip and box voting, threshold 0.02)::

    python test_widerface.py --prefix model/R50 --epoch 0 --network net3 --mode 1 --output wout
    python -m rcnn.tools.widerface_eval --pred wout --gt data/widerface_eval_gt

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
Images already written are skipped unless ``--overwrite``; an unreadable image is reported and
skipped. ``--gt DIR`` prints the official AP at the end, over the images that have an output file.
"""
import argparse
import logging
import os
import sys

import numpy as np

from retinaface import RetinaFace, target_scale

logger = logging.getLogger('test_widerface')

PYRAMID_SIZES = (500, 800, 1100, 1400, 1700)
PYRAMID_BASE = (800, 1200)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Detect faces on WIDER FACE and write the submission files',
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    model = parser.add_argument_group('model')
    model.add_argument('--prefix', required=True,
                       help='checkpoint prefix (<prefix>-symbol.json, <prefix>-NNNN.params)')
    model.add_argument('--epoch', type=int, default=0, help='checkpoint epoch')
    model.add_argument('--network', default='net3', help='detector head layout, as RetinaFace(network=...)')
    model.add_argument('--gpu', type=int, default=0, help='GPU id; -1 runs on the CPU')
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
    data.add_argument('--part', type=int, default=0, help='process only images i with i %% parts == part')
    data.add_argument('--parts', type=int, default=1, help='number of parts the list is split into')
    test = parser.add_argument_group('detection')
    test.add_argument('--thresh', type=float, default=0.02, help='keep faces with score >= thresh')
    test.add_argument('--nms', type=float, default=0.4, help='NMS IoU threshold')
    test.add_argument('--mode', type=int, choices=(0, 1, 2), default=0,
                      help='0 single scale, 1 pyramid + flip + box voting, 2 pyramid + flip + NMS')
    test.add_argument('--target-size', type=int, default=1600, help='mode 0: short side in pixels')
    test.add_argument('--max-size', type=int, default=2150, help='mode 0: cap on the long side in pixels')
    test.add_argument('--scale', type=float, help='mode 0: fixed resize factor instead (1.0 = original size)')
    test.add_argument('--flip', action='store_true', help='mode 0: also detect on the mirrored image')
    test.add_argument('--gt', help='after detection, evaluate against this folder of WIDER .mat files')
    args = parser.parse_args(argv)
    if not 0 <= args.part < args.parts:
        parser.error('--part must be in [0, --parts)')
    return args


def read_image_list(path):
    """Image names '<event>/<image>.jpg' from a RetinaFace label.txt or a wider_val.txt."""
    names = []
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip()]
    is_label_file = any(line.startswith('#') for line in lines)
    for line in lines:
        if is_label_file and not line.startswith('#'):
            continue
        name = line.lstrip('#').strip().replace('\\', '/')
        names.append('/'.join(name.split('/')[-2:]))
    return names


def find_images(image_root, image_list=None):
    """The images to process, as '<event>/<image>.jpg' relative to ``image_root``."""
    if image_list is None:
        parent = os.path.dirname(os.path.normpath(image_root))
        image_list = next((os.path.join(parent, name) for name in ('label.txt', 'wider_val.txt')
                           if os.path.isfile(os.path.join(parent, name))), None)
    if image_list is not None:
        return read_image_list(image_list)
    if not os.path.isdir(image_root):
        raise FileNotFoundError('image folder not found: %s' % image_root)
    names = []
    for event in sorted(os.listdir(image_root)):
        folder = os.path.join(image_root, event)
        if os.path.isdir(folder):
            names += ['%s/%s' % (event, name) for name in sorted(os.listdir(folder))
                      if name.lower().endswith(('.jpg', '.jpeg', '.png'))]
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
    """Write atomically, so that an interrupted run never leaves a half file to be skipped later."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + '.partial'
    with open(partial, 'w') as f:
        f.write(submission_text(name, faces))
    os.replace(partial, path)


def load_detector(args):
    return RetinaFace(args.prefix, args.epoch, ctx_id=args.gpu, network=args.network, nms=args.nms,
                      nocrop=args.nocrop, vote=args.mode == 1)


def run(args, detector):
    """Detect and write every image of this part; returns the names that could not be read."""
    import cv2
    from tqdm import tqdm

    image_root = args.images or os.path.join(args.dataset_path, args.image_set, 'images')
    names = find_images(image_root, args.image_list)[args.part::args.parts]
    todo = [n for n in names if args.overwrite or not os.path.isfile(output_path(args.output, n))]
    if len(todo) < len(names):
        print('%d of %d images already written to %s (use --overwrite to redo them)'
              % (len(names) - len(todo), len(names), args.output))
    unreadable = []
    progress = tqdm(todo, desc='WIDER %s' % args.image_set, unit='img')
    for name in progress:
        path = os.path.join(image_root, name)
        image = cv2.imread(path)
        if image is None:
            unreadable.append(path)
            progress.write('cannot read image, skipped: %s' % path)
            continue
        scales, do_flip = scales_for(image.shape, args)
        faces, _ = detector.detect(image, threshold=args.thresh, scales=scales, do_flip=do_flip)
        write_submission(output_path(args.output, name), name, faces)
        progress.set_postfix(faces=len(faces))
    if unreadable:
        print('%d image(s) could not be read and have no output:' % len(unreadable))
        for path in unreadable:
            print('  %s' % path)
    return unreadable


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    logger.info('called with %s', vars(args))
    run(args, load_detector(args))
    if args.gt:
        evaluate_output(args.output, args.gt)


def evaluate_output(output, gt_dir):
    """Print the official AP of the files in ``output``, over the images that have one."""
    from rcnn.tools import widerface_eval
    ground_truth = widerface_eval.load_ground_truth(gt_dir)
    written = [k for k in ground_truth.keys if os.path.isfile(os.path.join(output, k + '.txt'))]
    predictions, _ = widerface_eval.read_predictions(output, written)
    curves, _ = widerface_eval.compute_pr_curves(predictions, ground_truth, only_predicted_images=True)
    print('WIDER FACE AP (official protocol, %d of %d images): %s'
          % (len(written), len(ground_truth.keys),
             ', '.join('%s %.2f' % (setting, 100 * c.ap) for setting, c in curves.items())))


if __name__ == '__main__':
    sys.exit(main())
