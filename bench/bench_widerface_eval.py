"""WIDER FACE evaluation of the whole val set (3226 images, easy / medium / hard) per protocol.

Run: ``.venv/bin/python bench/bench_widerface_eval.py [--pred DIR] [--gt DIR] [--repeat 3]``.
Defaults to the original mnet.25 detections and the official ground truth in ../shared/data.
Prints the time to read the 3226 prediction files and the median time of each protocol.
"""
import argparse
import os
import time

from rcnn.evaluation import widerface_eval

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SHARED = os.path.join(os.path.dirname(ROOT), 'shared', 'data')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--pred', default=os.path.join(
        SHARED, 'reference_outputs', 'charrin_retinaface_cpp', 'mnet.25', 'python_detect'))
    parser.add_argument('--gt', default=os.path.join(SHARED, 'annotations', 'widerface_eval_gt'))
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    ground_truth = widerface_eval.load_ground_truth(args.gt)
    loaded = time.perf_counter()
    predictions, missing = widerface_eval.read_predictions(args.pred, ground_truth.keys)
    read = time.perf_counter()
    print('ground truth (.mat, scipy)  %.2f s' % (loaded - start))
    print('read %d prediction files  %.2f s (%d missing)' % (len(predictions), read - loaded, len(missing)))
    for protocol in widerface_eval.PROTOCOLS:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            curves, _ = widerface_eval.compute_pr_curves(predictions, ground_truth, protocol)
            times.append(time.perf_counter() - start)
        aps = ' / '.join('%.4f' % (100 * c.ap) for c in curves.values())
        print('%-8s protocol, 3 settings  %.2f s (median of %d)  AP %s'
              % (protocol, sorted(times)[len(times) // 2], args.repeat, aps))


if __name__ == '__main__':
    main()
