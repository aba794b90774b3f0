"""A newcomer's first run, with no download: generate a small face data set, train mnet on it
from scratch on the CPU, then detect faces on held-out images, score them and draw them.

Run: ``make demo`` (or ``.venv/bin/python tools/demo.py [--epochs 12] [--out output/demo]``).
Writes ``<out>/data`` (the data set), ``<out>/model/retina-*`` (checkpoints that test.py loads),
and ``<out>/detections.jpg``; prints the AP at IoU 0.5 on the held-out images.
"""
import glob
import logging
import os
import sys

from rcnn.core.options import HelpWithDefaults, parse_options
from rcnn.core.run import train_net
from rcnn.dataset import synthetic
from rcnn.evaluation.widerface_eval import evaluate_label_txt
from rcnn.utils import cli
from rcnn.utils.cli import number
from rcnn.utils.image_file import read_image_file, write_image_file
from retinaface import RetinaFace, draw_detections

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
log = logging.getLogger('demo')


def parse_args(argv=None):
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=HelpWithDefaults)
    parser.add_argument('--out', default=os.path.join(ROOT, 'output', 'demo'), help='output folder')
    parser.add_argument('--train-images', type=number(1, kind=int), default=120, help='generated training images')
    parser.add_argument('--val-images', type=number(1, kind=int), default=20, help='generated held-out images')
    parser.add_argument('--size', type=number(32, kind=int), default=320,
                        help='image and training crop side, pixels')
    parser.add_argument('--epochs', type=number(3, kind=int), default=20,
                        help='training epochs (the lr drops twice, 2 epochs before the end and at the end)')
    parser.add_argument('--lr', type=number(0, low_open=True), default=0.05, help='base learning rate')
    parser.add_argument('--threshold', type=number(0, 1), default=0.5, help='detection score threshold')
    parser.add_argument('--workers', type=number(0, kind=int), default=1, help='data loader processes')
    parser.add_argument('--seed', type=number(0, 2 ** 32 - 1, kind=int), default=1)
    return parser.parse_args(argv)


def main(argv=None):
    cli.setup_logging()
    args = parse_args(argv)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as err:
        raise cli.UserError('--out %s: cannot make the folder (%s)' % (args.out, err.strerror)) from None
    data = os.path.join(args.out, 'data')
    prefix = os.path.join(args.out, 'model', 'retina')
    face_range = dict(height=args.size, width=args.size, min_side=args.size // 8, max_side=args.size // 2)
    synthetic.write_split(data, 'train', args.train_images, seed=args.seed, **face_range)
    synthetic.write_split(data, 'val', args.val_images, seed=args.seed + 1000, **face_range)
    log.info('generated %d training and %d held-out images in %s', args.train_images, args.val_images, data)

    train_net(parse_options([
        '--network', 'mnet', '--dataset-path', data, '--root-path', os.path.join(args.out, 'cache'),
        '--prefix', prefix, '--pretrained', '', '--lr', str(args.lr),
        '--lr-step', '%d,%d' % (args.epochs - 2, args.epochs), '--end-epoch', str(args.epochs),
        '--batch-images', '8', '--image-size', str(args.size), '--workers', str(args.workers),
        '--seed', str(args.seed), '--frequent', '1000', '--overwrite']))  # a new demo replaces the last one

    detector = RetinaFace(prefix, 0, ctx_id=-1, network='net3')
    predictions = {}
    images = sorted(glob.glob(os.path.join(data, 'val', 'images', '*', '*.jpg')))
    for path in images:
        image = read_image_file(path)
        faces, landmarks = detector.detect(image, threshold=args.threshold)
        predictions[os.path.relpath(path, os.path.join(data, 'val', 'images'))] = faces
        if path == images[0]:
            drawn = draw_detections(image.copy(), faces, landmarks)
    ap = evaluate_label_txt(predictions, os.path.join(data, 'val', 'label.txt'), box_format='xyxy')['all']
    picture = os.path.join(args.out, 'detections.jpg')
    write_image_file(picture, drawn)
    print('held-out AP@0.5 = %.3f on %d images; detections drawn in %s' % (ap, len(images), picture))
    print('next: %s test.py --prefix %s --epoch 0 --network net3 --gpus -1 --image %s'
          % (os.path.relpath(sys.executable), os.path.relpath(prefix), os.path.relpath(images[0])))
    return ap


def run(argv=None):
    """The command line: the AP is printed, not made the exit status."""
    main(argv)


if __name__ == '__main__':
    cli.run_main(run)
