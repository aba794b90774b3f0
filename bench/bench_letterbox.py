"""How much letterbox mode (resize to fit, pad bottom/right) changes detections against unpadded
detect() at the same resize factor, on the real photos.

Run: ``.venv/bin/python bench/bench_letterbox.py [--size 640x640] [--threshold 0.8]``.

For each shared photo (``$RETINAFACE_SHARED_DATA/images``) and the released mnet.25: the faces of
``detect_batch([img], letterbox=size)`` and of ``detect(img, scales=[fit])`` (fit = the letterbox
factor) are matched greedily by IoU >= 0.5. Printed per photo and in total: faces found by each,
faces only one of them found (with the other's best score below the threshold), and for matched
faces the largest box and landmark differences in pixels of the original photo, and the largest
score difference. Differences come only from the padding: without it the two are identical.
"""
import argparse
import os

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from rcnn.detection.passes import letterbox_scale
from rcnn.detection.detector import RetinaFace
from rcnn.processing.bbox_transform import bbox_overlaps
from rcnn.utils.cli import parse_size

SHARED = os.environ.get('RETINAFACE_SHARED_DATA') or os.path.join(os.path.dirname(ROOT), 'shared', 'data')


def match(faces_a, faces_b):
    """Greedy pairs (i, j) by IoU >= 0.5, best score first."""
    if not len(faces_a) or not len(faces_b):
        return []
    overlaps = bbox_overlaps(faces_a[:, :4].astype(np.float64), faces_b[:, :4].astype(np.float64))
    pairs, taken = [], set()
    for i in range(len(faces_a)):
        order = [j for j in np.argsort(-overlaps[i]) if j not in taken and overlaps[i, j] >= 0.5]
        if order:
            pairs.append((i, order[0]))
            taken.add(order[0])
    return pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=parse_size, default=(640, 640), help='letterbox HxW')
    parser.add_argument('--threshold', type=float, default=0.8)
    args = parser.parse_args()
    detector = RetinaFace(os.path.join(SHARED, 'models', 'mnet.25', 'mnet.25'), 0, ctx_id=-1)
    paths = sorted(os.path.join(parent, name) for parent, _, names in os.walk(os.path.join(SHARED, 'images'))
                   for name in names if name.endswith('.jpg'))
    totals = dict(plain=0, letterbox=0, matched=0, box=0.0, points=0.0, score=0.0)
    box_differences = []
    print('letterbox %dx%d, threshold %.2f (box / landmark / score: largest difference of a matched '
          'face, pixels of the photo)' % (args.size[0], args.size[1], args.threshold))
    for path in paths:
        img = cv2.imread(path)
        fit = letterbox_scale(img.shape, args.size)
        plain, plain_points = detector.detect(img, args.threshold, [fit])
        (boxed, boxed_points), = detector.detect_batch([img], args.threshold, letterbox=args.size)
        pairs = match(plain, boxed)
        box_differences += [np.abs(plain[i, :4] - boxed[j, :4]).max() for i, j in pairs]
        box = max([np.abs(plain[i, :4] - boxed[j, :4]).max() for i, j in pairs], default=0.0)
        points = max([np.abs(plain_points[i] - boxed_points[j]).max() for i, j in pairs], default=0.0)
        score = max([abs(plain[i, 4] - boxed[j, 4]) for i, j in pairs], default=0.0)
        print('  %-45s %4dx%-4d fit %.3f  faces %3d / %3d letterbox, matched %3d  box %.3f  '
              'landmark %.3f  score %.4f' % (os.path.basename(path), img.shape[1], img.shape[0], fit,
                                              len(plain), len(boxed), len(pairs), box, points, score))
        totals['plain'] += len(plain)
        totals['letterbox'] += len(boxed)
        totals['matched'] += len(pairs)
        totals['box'] = max(totals['box'], box)
        totals['points'] = max(totals['points'], points)
        totals['score'] = max(totals['score'], score)
    print('total: %(plain)d faces unpadded, %(letterbox)d letterboxed, %(matched)d matched; largest '
          'differences: box %(box).3f px, landmark %(points).3f px, score %(score).4f' % totals)
    print('matched faces whose box moved by more than 0.01 px: %d; by more than 1 px: %d; median %.4f px'
          % (sum(d > 0.01 for d in box_differences), sum(d > 1 for d in box_differences),
             float(np.median(box_differences))))


if __name__ == '__main__':
    main()
