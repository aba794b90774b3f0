"""Images/s of the folder pipeline (tools/detect_folder.py's code) against a plain detect() loop, on
the same mixed-size photos, while another process keeps part of a core busy.

Run: ``.venv/bin/python bench/bench_folder.py [--images 60] [--busy 0.7] [--batch-size 8]
[--workers 1]``.

The photos are made at run time in a temporary folder from the shared test images
(``$RETINAFACE_SHARED_DATA/images``): random crops resized to one of twelve common photo sizes
(512x512 to 1280x720, both orientations), saved as JPEG. Every method gets its own freshly loaded
released mnet.25 (so each pays for binding its input shapes) and runs at threshold 0.8:

- ``loop``: ``read_image_file`` + ``RetinaFace.detect(img, 0.8, [1.0])`` one image after the other
- ``pipeline mxnet``: one model in the main process (``--mxnet-threads`` OpenMP threads) fed by
  --workers decoding processes, ``detect_batch`` on MXNet
- ``pipeline onnx``: the same on ONNX Runtime (the model exported with open height, width and
  batch; ``--ort-threads`` intra-op threads, spinning off)
- ``... model workers``: --model-workers processes, each with its own model (cores / N threads),
  decoding and detecting whole batches (``detect_folder.py --model-workers N``)
- ``loop at the 640x640 fit``: the loop with each image resized by the factor that fits it into
  640x640 (the work of letterbox mode without the padding)
- ``... letterbox``: the model-worker pipelines with ``--letterbox 640x640`` (every image one input
  shape, so batches fill up; fewer pixels for the larger photos than at scale 1: fewer small faces)

Every method runs --rounds times, in turn, each in a fresh process (so that the thread settings
apply), timed once its model (every model worker's) is loaded; printed per method is its best run:
images/s, the ratio to the loop (and for letterbox to the loop at the fit), and the share of the
time the model waited for decoded images (model workers: spent decoding). A competing process
(--busy: the share of one core it keeps busy, in 100 ms periods) runs throughout, as on a machine
shared with other jobs.
"""
import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from rcnn.detection.batching import letterbox_scale  # noqa: E402
from rcnn.pipeline.inputs import InputItem  # noqa: E402
from rcnn.pipeline.run import run_pipeline  # noqa: E402
from rcnn.pipeline.settings import DetectorSpec, default_settings  # noqa: E402
from rcnn.pipeline.store import ResultsFolder  # noqa: E402
from rcnn.pipeline.workers import loaded_model  # noqa: E402
from rcnn.utils.image_file import read_image_file  # noqa: E402

SHARED = os.environ.get('RETINAFACE_SHARED_DATA') or os.path.join(os.path.dirname(ROOT), 'shared', 'data')
LETTERBOX = (640, 640)
SIZES = [(512, 512), (640, 480), (480, 640), (800, 600), (600, 800), (1024, 768), (768, 1024),
         (1280, 720), (720, 1280), (960, 540), (1000, 750), (683, 1024)]  # (width, height)


def make_photos(folder, count, seed=0):
    """``count`` JPEG photos of the SIZES, random crops of the shared images; their paths."""
    sources = []
    for parent, _, names in os.walk(os.path.join(SHARED, 'images')):
        sources += [cv2.imread(os.path.join(parent, n)) for n in sorted(names) if n.endswith('.jpg')]
    if not sources:
        sys.exit('error: no images under %s (set RETINAFACE_SHARED_DATA)' % os.path.join(SHARED, 'images'))
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        img = sources[index % len(sources)]
        width, height = SIZES[rng.integers(len(SIZES))]
        crop_h = int(img.shape[0] * rng.uniform(0.6, 1.0))
        crop_w = min(img.shape[1], int(crop_h * width / height))
        crop_h = int(crop_w * height / width)
        y, x = rng.integers(0, img.shape[0] - crop_h + 1), rng.integers(0, img.shape[1] - crop_w + 1)
        photo = cv2.resize(img[y:y + crop_h, x:x + crop_w], (width, height), interpolation=cv2.INTER_AREA)
        paths.append(os.path.join(folder, '%03d.jpg' % index))
        cv2.imwrite(paths[-1], photo, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return paths


def busy_loop(share, stop):
    """Keep ``share`` of one core busy (busy, then idle, in 100 ms periods) until ``stop`` is set."""
    while not stop.is_set():
        end = time.perf_counter() + 0.1 * share
        while time.perf_counter() < end:
            pass
        time.sleep(0.1 * (1 - share))


def mnet25_prefix():
    return os.path.join(SHARED, 'models', 'mnet.25', 'mnet.25')


def export_batch_onnx(folder):
    """mnet.25 as an ONNX model with open height, width and batch; its path."""
    from rcnn.detection.detector import RetinaFace
    from rcnn.export.onnx_batch import with_dynamic_batch
    from rcnn.export.onnx_export import export_onnx
    detector = RetinaFace(mnet25_prefix(), 0, ctx_id=-1)
    single = os.path.join(folder, 'mnet.25.onnx')
    export_onnx(detector.symbol, detector.arg_params, detector.aux_params, single, dynamic=True)
    batched = os.path.join(folder, 'mnet.25-batch.onnx')
    with_dynamic_batch(single, batched)
    return batched


def plain_loop(paths, threshold, fit=None):
    """read + detect() image by image, at scale 1.0 or at the factor that fits ``fit`` (H, W)."""
    from rcnn.detection.detector import RetinaFace
    detector = RetinaFace(mnet25_prefix(), 0, ctx_id=-1)
    start = time.perf_counter()
    faces = 0
    for path in paths:
        img = read_image_file(path)
        scale = letterbox_scale(img.shape, fit) if fit else 1.0
        faces += len(detector.detect(img, threshold, [scale])[0])
    return time.perf_counter() - start, 0.0, faces


def pipeline(paths, spec, settings, workers, model_workers):
    """run_pipeline on the photos once the model (or every model worker's) is loaded."""
    items = [InputItem(os.path.basename(p), p) for p in paths]
    with loaded_model(spec, model_workers) as model, tempfile.TemporaryDirectory() as out, \
            ResultsFolder(out, {}) as results:
        faces, _, seconds, decode_wait = run_pipeline(items, model, settings, results,
                                                      workers=workers, progress=False)
    return seconds, decode_wait, faces


def run_method(args):
    """One method in this (fresh) process; prints 'seconds waited faces'."""
    paths = sorted(os.path.join(args.folder, n) for n in os.listdir(args.folder) if n.endswith('.jpg'))
    if args.run.startswith('loop'):
        result = plain_loop(paths, args.threshold, LETTERBOX if args.run == 'loop-fit' else None)
    else:
        backend, mode = args.run.split('-')
        settings = default_settings(
            threshold=args.threshold, batch_size=args.batch_size,
            letterbox=LETTERBOX if mode == 'letterbox' else None)
        model_workers = 1 if mode == 'exact' else args.model_workers
        threads = 0 if model_workers > 1 else args.ort_threads if backend == 'onnx' else args.mxnet_threads
        spec = DetectorSpec(backend, args.onnx if backend == 'onnx' else mnet25_prefix(),
                            0, 'net3', 0.4, threads)
        result = pipeline(paths, spec, settings, args.workers, model_workers)
    print('%.4f %.4f %d' % result)


METHODS = [('loop', 'loop (MXNet detect())'), ('mxnet-exact', 'pipeline mxnet'),
           ('onnx-exact', 'pipeline onnx'), ('mxnet-workers', 'pipeline mxnet, model workers'),
           ('onnx-workers', 'pipeline onnx, model workers'), ('loop-fit', 'loop at the 640x640 fit'),
           ('mxnet-letterbox', 'model workers mxnet letterbox'),
           ('onnx-letterbox', 'model workers onnx letterbox')]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=60)
    parser.add_argument('--busy', type=float, default=0.7, help='share of a core kept busy (0: none)')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int, default=1,
                        help='decoding processes of the pipeline with one model')
    parser.add_argument('--model-workers', type=int, default=2,
                        help='processes of the model-worker pipelines (each with cores / N threads)')
    parser.add_argument('--ort-threads', type=int, default=2, help='ONNX Runtime intra-op threads')
    parser.add_argument('--mxnet-threads', type=int, default=2,
                        help="MXNet's OpenMP threads in the pipeline (the loop keeps MXNet's default)")
    parser.add_argument('--threshold', type=float, default=0.8)
    parser.add_argument('--rounds', type=int, default=2,
                        help='runs of every method, in turn; the best of each is printed')
    parser.add_argument('--run', help=argparse.SUPPRESS)
    parser.add_argument('--folder', help=argparse.SUPPRESS)
    parser.add_argument('--onnx', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        return run_method(args)
    if not os.path.isfile(mnet25_prefix() + '-0000.params'):
        sys.exit('error: the released mnet.25 is not in %s' % os.path.dirname(mnet25_prefix()))

    stop = multiprocessing.Event()
    competitor = multiprocessing.Process(target=busy_loop, args=(args.busy, stop), daemon=True)
    with tempfile.TemporaryDirectory() as folder:
        photos = os.path.join(folder, 'photos')
        os.makedirs(photos)
        count = len(make_photos(photos, args.images))
        onnx_path = export_batch_onnx(folder)
        if args.busy > 0:
            competitor.start()
        print('%d photos of %d sizes, batch %d; one model: %d decoding workers, ONNX Runtime %d '
              'threads (spinning off), MXNet %d threads; %d model workers; a competing process busy '
              '%.0f%% of a core, %d cores' % (count, len(SIZES), args.batch_size, args.workers,
                                              args.ort_threads, args.mxnet_threads,
                                              args.model_workers, 100 * args.busy, os.cpu_count()))
        best = {}  # method -> (images/s, share of the time waiting for decoding, faces)
        for _ in range(args.rounds):
            for method, _ in METHODS:
                command = [sys.executable, os.path.abspath(__file__), '--run', method, '--folder',
                           photos, '--onnx', onnx_path] + sys.argv[1:]
                output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                seconds, waited, faces = (float(v) for v in output.split()[-3:])
                if count / seconds > best.get(method, (0,))[0]:
                    best[method] = (count / seconds, waited / seconds, faces)
        for method, name in METHODS:
            rate, waited, faces = best[method]
            against_fit = (', %.2fx the loop at the fit' % (rate / best['loop-fit'][0])
                           if method.endswith('letterbox') else '')
            print('  %-32s %6.2f images/s  %5.2fx the loop%s; model waited for decoding %4.1f%%  '
                  '(%d faces)' % (name, rate, rate / best['loop'][0], against_fit, 100 * waited, faces))
        stop.set()


if __name__ == '__main__':
    main()
