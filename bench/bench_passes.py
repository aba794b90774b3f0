"""Cost of ``pyramid=True`` and ``rotations='auto'`` against the default ``detect()``, side by side
in one run, on the shared upright photos with faces and on photos without faces.

Run: ``.venv/bin/python bench/bench_passes.py [--repeat 5] [--threshold 0.5]
[--wider-ap]``.

``--wider-ap`` instead prints the WIDER FACE val AP (official protocol, easy / medium / hard, only
the shared val images scored) of the four settings default, pyramid, auto, pyramid+auto at
test_widerface.py's default test scale (short side 1600, long side at most 2150; threshold 0.02).

Photos with faces: the shared samples and WIDER val images as they are (t2.jpg, 5334x2767, too).
Photos without faces: windows of the same photos in which the default detect() finds no face at
score 0.3 (the first such 640x480 window of each photo on a 80-pixel grid, else the first 320x240
one), plus a 1024x683 blurred copy of each photo (a 31-pixel box blur: no face survives it,
kept when the same check finds none). Photo by photo, one warm-up round binds the
executors, then every repetition runs the three settings one after the other; the table gives the
median time per photo and setting and the ratios to the default, then the ratio of the summed
medians per group. On a busy machine pin the threads
(``OMP_NUM_THREADS=1``) for steadier figures.
"""
import argparse
import glob
import os
import statistics
import time

import cv2

from rcnn.evaluation import widerface_eval
from retinaface import RetinaFace, target_scale

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get('RETINAFACE_SHARED_DATA') or os.path.join(os.path.dirname(ROOT), 'shared', 'data')
SETTINGS = (('default', {}), ('pyramid', {'pyramid': True}), ('auto', {'rotations': 'auto'}))
WINDOWS = ((480, 640), (240, 320))


def photos():
    paths = sorted(glob.glob(os.path.join(SHARED, 'images', 'samples', '*.jpg')) +
                   glob.glob(os.path.join(SHARED, 'images', 'widerface_val', '*', '*.jpg')))
    return [(os.path.basename(path), cv2.imread(path)) for path in paths]


def faceless_window(detector, img):
    """The first crop of ``img`` of a size in WINDOWS without a face at score 0.3, or None."""
    for height, width in WINDOWS:
        for top in range(0, img.shape[0] - height + 1, 80):
            for left in range(0, img.shape[1] - width + 1, 80):
                crop = img[top:top + height, left:left + width]
                if len(detector.detect(crop, 0.3)[0]) == 0:
                    return crop
    return None


def faceless(detector, images):
    """(name, image) of the photos without faces made from ``images``."""
    found = []
    for name, img in images:
        window = faceless_window(detector, img)
        if window is not None:
            found.append(('%s window' % name, window))
        blurred = cv2.blur(cv2.resize(img, (1024, 683)), (31, 31))
        if len(detector.detect(blurred, 0.3)[0]) == 0:
            found.append(('%s blurred' % name, blurred))
    return found


def time_settings(detector, images, threshold, repeat):
    """{(name, setting): [seconds per repetition]}: photo by photo, one warm-up of the three
    settings (binding their executors), then ``repeat`` rounds of the three, interleaved. (Photo by
    photo, because the detector keeps 16 input shapes: cycling through all photos would time
    re-binding, not detection.)"""
    times = {}
    for name, img in images:
        for rep in range(repeat + 1):
            for setting, options in SETTINGS:
                start = time.perf_counter()
                detector.detect(img, threshold, **options)
                if rep:
                    times.setdefault((name, setting), []).append(time.perf_counter() - start)
    return times


def report(title, images, times):
    print('\n%s' % title)
    print('%-48s %10s %18s %18s' % ('photo', 'default ms', 'pyramid ms (x)', 'auto ms (x)'))
    totals = dict.fromkeys([s for s, _ in SETTINGS], 0.0)
    for name, img in images:
        medians = {s: statistics.median(times[(name, s)]) for s, _ in SETTINGS}
        for setting in totals:
            totals[setting] += medians[setting]
        base = medians['default']
        print('%-48s %10.1f %18s %18s' % (
            '%s %dx%d' % (name[:36], img.shape[1], img.shape[0]), 1000 * base,
            '%.1f (%.2fx)' % (1000 * medians['pyramid'], medians['pyramid'] / base),
            '%.1f (%.2fx)' % (1000 * medians['auto'], medians['auto'] / base)))
    print('%-48s %10.1f %18s %18s' % ('sum of medians', 1000 * totals['default'],
                                      '%.2fx' % (totals['pyramid'] / totals['default']),
                                      '%.2fx' % (totals['auto'] / totals['default'])))


def wider_ap(detector):
    """{setting: {'easy', 'medium', 'hard': AP}} on the shared WIDER val images."""
    images = sorted(glob.glob(os.path.join(SHARED, 'images', 'widerface_val', '*', '*.jpg')))
    settings = SETTINGS + (('pyramid+auto', {'pyramid': True, 'rotations': 'auto'}),)
    aps = {}
    for setting, options in settings:
        predictions = {}
        for path in images:
            img = cv2.imread(path)
            faces, _ = detector.detect(img, 0.02, [target_scale(img.shape, 1600, 2150)], **options)
            predictions[os.path.relpath(path, os.path.dirname(os.path.dirname(path)))] = faces
        aps[setting] = widerface_eval.evaluate(
            predictions, os.path.join(SHARED, 'annotations', 'widerface_eval_gt'), box_format='xyxy',
            only_predicted_images=True)
    return aps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--prefix', default=os.path.join(SHARED, 'models', 'mnet.25', 'mnet.25'))
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--threshold', type=float, default=0.5)
    parser.add_argument('--wider-ap', action='store_true', help='print the WIDER val AP instead')
    args = parser.parse_args()
    detector = RetinaFace(args.prefix, 0, ctx_id=-1, network='net3')
    if args.wider_ap:
        for setting, aps in wider_ap(detector).items():
            print('%-14s %s' % (setting, '  '.join('%s %.4f' % item for item in aps.items())))
        return
    with_faces = photos()
    without = faceless(detector, with_faces)
    report('upright photos with faces', with_faces,
           time_settings(detector, with_faces, args.threshold, args.repeat))
    report('photos without faces', without,
           time_settings(detector, without, args.threshold, args.repeat))


if __name__ == '__main__':
    main()
