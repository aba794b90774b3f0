"""CPU NMS on 20,000 boxes: the Cython extension against the numpy fallback.

Run: ``.venv/bin/python bench/bench_nms.py [--boxes 20000] [--thresh 0.4] [--repeat 5]``.
Prints the median time of each and their ratio; both must keep the same boxes.
"""
import argparse
import time

import numpy as np

from rcnn.processing.nms import cpu_nms_wrapper, nms


def face_like_dets(n, rng):
    """n detections clustered around n / 20 faces, as a detector's raw output is."""
    centres = rng.uniform(0, 1000, (max(n // 20, 1), 2))
    sides = rng.uniform(10, 120, len(centres))
    pick = rng.integers(0, len(centres), n)
    jitter = rng.normal(0, 0.08, (n, 4)) * sides[pick, None]
    half = sides[pick, None] / 2
    boxes = np.hstack([centres[pick] - half, centres[pick] + half]) + jitter
    return np.hstack([boxes, rng.random((n, 1))]).astype(np.float32)


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--boxes', type=int, default=20000)
    parser.add_argument('--thresh', type=float, default=0.4)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    dets = face_like_dets(args.boxes, np.random.default_rng(0))
    cython_nms = cpu_nms_wrapper(args.thresh)
    t_cython, keep_cython = median_time(lambda: cython_nms(dets), args.repeat)
    t_numpy, keep_numpy = median_time(lambda: nms(dets, args.thresh), args.repeat)
    assert list(keep_cython) == list(keep_numpy), 'Cython and numpy NMS disagree'
    print('boxes %d, kept %d, IoU threshold %.2f' % (args.boxes, len(keep_cython), args.thresh))
    print('cython %.2f ms | numpy %.2f ms | numpy / cython = %.1fx'
          % (t_cython * 1e3, t_numpy * 1e3, t_numpy / t_cython))


if __name__ == '__main__':
    main()
