"""Training-data throughput of one CPU core: crop augmentation and anchor targets per image.

Run: ``.venv/bin/python bench/bench_crop_batch.py [--images 40] [--network mnet]``.
Uses the real WIDER val images in ../shared/data when present (their val boxes as faces), else
generated 1024 x 768 images. Prints milliseconds per image for ``get_crop_batch`` (read, crop,
jitter, transform) and for ``assign_anchor_fpn`` at 640 x 640, and the resulting images/s.
"""
import argparse
import os
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from rcnn.config import generate_config
from rcnn.io.rpn import assign_anchor_fpn, get_crop_batch


def real_roidb():
    """roidb entries of the WIDER val images present in ../shared/data (None when absent)."""
    shared = os.environ.get('RETINAFACE_SHARED_DATA') or os.path.join(os.path.dirname(ROOT), 'shared', 'data')
    label = os.path.join(shared, 'annotations', 'retinaface_gt_val', 'label.txt')
    images = os.path.join(shared, 'images', 'widerface_val')
    if not (os.path.exists(label) and os.path.isdir(images)):
        return None
    from rcnn.dataset.retinaface import read_label_file
    roidb = []
    for name, _, faces in read_label_file(label):
        path = os.path.join(images, name)
        boxes = np.array([[v[0], v[1], v[0] + v[2], v[1] + v[3]] for _, v in faces if v[2] > 0 and v[3] > 0],
                         np.float32).reshape(-1, 4)
        if os.path.exists(path) and len(boxes):
            roidb.append({'image': path, 'flipped': False, 'boxes': boxes, 'gt_classes': np.ones(len(boxes), np.int32),
                          'landmarks': np.full((len(boxes), 5, 3), -1, np.float32)})
    return roidb or None


def generated_roidb(folder, count=8):
    rng = np.random.default_rng(0)
    roidb = []
    for i in range(count):
        path = os.path.join(folder, 'bench%d.jpg' % i)
        cv2.imwrite(path, rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8))
        xy = rng.uniform(0, 900, (20, 2))
        boxes = np.hstack([xy, xy + rng.uniform(8, 120, (20, 1))]).astype(np.float32)
        roidb.append({'image': path, 'flipped': False, 'boxes': boxes, 'gt_classes': np.ones(20, np.int32),
                      'landmarks': np.full((20, 5, 3), -1, np.float32)})
    return roidb


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=40, help='images to process')
    parser.add_argument('--network', default='mnet', help='network preset (colour jitter mode)')
    args = parser.parse_args()
    cfg = generate_config(args.network, 'retinaface')
    cv2.setNumThreads(1)
    roidb = real_roidb()
    source = 'real WIDER val images'
    if roidb is None:
        import tempfile
        roidb = generated_roidb(tempfile.mkdtemp())
        source = 'generated images'
    rng = np.random.default_rng(0)
    size = cfg.SCALES[0][0]
    feat = [(1, 4, size // s, size // s) for s in cfg.RPN_FEAT_STRIDE]
    crop_time = assign_time = 0.0
    for i in range(args.images):
        roi = roidb[i % len(roidb)]
        t0 = time.perf_counter()
        data, labels = get_crop_batch([roi], rng, cfg=cfg)
        t1 = time.perf_counter()
        assign_anchor_fpn(feat, labels[0], data[0]['im_info'], landmark=True, cfg=cfg)
        t2 = time.perf_counter()
        crop_time += t1 - t0
        assign_time += t2 - t1
    per_image = (crop_time + assign_time) / args.images
    print('%d crops of %s (%d distinct), %s preset, one thread' % (args.images, source, len(roidb), args.network))
    print('get_crop_batch     %.1f ms/image' % (1000 * crop_time / args.images))
    print('assign_anchor_fpn  %.1f ms/image' % (1000 * assign_time / args.images))
    print('total              %.1f ms/image = %.0f images/s per worker process' % (1000 * per_image, 1 / per_image))


if __name__ == '__main__':
    main()
