"""RetinaFace demo: detect faces in an image (or every image of a folder) and draw them.

    python test.py                                   # ./model/R50 epoch 0 on t1.jpg, GPU 0
    python test.py --prefix ./model/mnet.25 --gpu -1 --image group.jpg --output out.jpg --json

The image is resized so that its short side is --target-size pixels, unless its long side would
then pass --max-size (then the long side is --max-size), as in the original demo. Boxes are drawn
in red, landmarks as dots (subject's right side green, left blue, nose red). A folder as --image
writes, per image, ``<name>.jpg`` (drawn) and ``<name>.json`` into the --output folder.
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np
from tqdm import tqdm

from retinaface import RetinaFace, draw_detections, read_image

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--prefix', default='./model/R50', help='checkpoint prefix (default %(default)s)')
    parser.add_argument('--epoch', type=int, default=0, help='checkpoint epoch (default %(default)s)')
    parser.add_argument('--network', default='net3', help='network preset (default %(default)s)')
    parser.add_argument('--image', default='t1.jpg', help='image file or folder (default %(default)s)')
    parser.add_argument('--target-size', type=int, default=1024, help='short side after resizing')
    parser.add_argument('--max-size', type=int, default=1980, help='cap on the long side')
    parser.add_argument('--threshold', type=float, default=0.8, help='minimum face score')
    parser.add_argument('--nms', type=float, default=0.4, help='NMS IoU threshold')
    parser.add_argument('--flip', action='store_true', help='also detect on the mirrored image')
    parser.add_argument('--gpu', type=int, default=0, help='GPU id, -1 for the CPU (default %(default)s)')
    parser.add_argument('--output', default=None,
                        help='drawn image (default ./detector_test.jpg), or folder for a folder input '
                             '(default ./detector_test/)')
    parser.add_argument('--json', nargs='?', const='-', default=None, metavar='PATH',
                        help='write the detections as JSON to PATH, or print them when no PATH')
    return parser.parse_args(argv)


def image_scale(shape, target_size, max_size):
    """Resize factor: short side to ``target_size`` unless the long side would pass ``max_size``."""
    short, long = min(shape[:2]), max(shape[:2])
    scale = float(target_size) / short
    if np.round(scale * long) > max_size:
        scale = float(max_size) / long
    return scale


def detections_json(image_path, scale, faces, landmarks):
    """JSON-ready dict of one image's detections (pixels of the original image)."""
    return {'image': image_path, 'scale': scale, 'faces': [
        {'box': [round(float(v), 2) for v in face[:4]], 'score': round(float(face[4]), 5),
         'landmarks': [[round(float(x), 2), round(float(y), 2)] for x, y in landmarks[i]]
         if landmarks is not None else None}
        for i, face in enumerate(faces)]}


def detect_one(detector, path, args):
    """(drawn image, detections dict) of one image file."""
    img = read_image(path)
    scale = image_scale(img.shape, args.target_size, args.max_size)
    faces, landmarks = detector.detect(img, args.threshold, scales=[scale], do_flip=args.flip)
    return draw_detections(img, faces, landmarks), detections_json(path, scale, faces, landmarks)


def write_json(result, path):
    text = json.dumps(result, indent=1)
    if path == '-':
        print(text)
    else:
        with open(path, 'w') as f:
            f.write(text + '\n')


def main(argv=None):
    args = parse_args(argv)
    model_files = ['%s-symbol.json' % args.prefix, '%s-%04d.params' % (args.prefix, args.epoch)]
    missing = [path for path in model_files if not os.path.isfile(path)]
    if missing:
        sys.exit('error: model file not found: %s. Get the released RetinaFace models from the '
                 'insightface model zoo (RetinaFace-R50, or RetinaFace-MobileNet0.25 as mnet.25) and '
                 'put <name>-symbol.json and <name>-0000.params in ./model/ (see model/README.md), '
                 'or pass --prefix and --epoch.' % ', '.join(missing))
    if not os.path.exists(args.image):
        sys.exit('error: image not found: %s. Pass --image with an image file or a folder of images '
                 '(t1.jpg is insightface\'s sample: python-package/insightface/data/images/t1.jpg).'
                 % args.image)

    detector = RetinaFace(args.prefix, args.epoch, args.gpu, args.network, nms=args.nms)
    if os.path.isdir(args.image):
        output = args.output or './detector_test'
        os.makedirs(output, exist_ok=True)
        names = sorted(n for n in os.listdir(args.image) if n.lower().endswith(IMAGE_EXTENSIONS))
        total = 0
        for name in tqdm(names, desc='detecting', unit='image'):
            drawn, result = detect_one(detector, os.path.join(args.image, name), args)
            stem = os.path.splitext(name)[0]
            cv2.imwrite(os.path.join(output, stem + '.jpg'), drawn)
            write_json(result, os.path.join(output, stem + '.json'))
            total += len(result['faces'])
        print('%d faces in %d images; drawn images and JSON written to %s' % (total, len(names), output))
        return

    start = time.perf_counter()
    drawn, result = detect_one(detector, args.image, args)
    print('found %d faces in %s (scale %.3f) in %.3f s'
          % (len(result['faces']), args.image, result['scale'], time.perf_counter() - start),
          file=sys.stderr)
    output = args.output or './detector_test.jpg'
    if not cv2.imwrite(output, drawn):
        sys.exit('error: cannot write %s (does its folder exist, and is the extension an image one?)'
                 % output)
    print('wrote %s' % output, file=sys.stderr)
    if args.json:
        write_json(result, args.json)


if __name__ == '__main__':
    main()
