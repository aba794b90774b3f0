"""Per-image time of RetinaFace.detect, split into preprocess / forward / postprocess, against a bare
forward plus read-out of the same bound graph.

Run: ``.venv/bin/python bench/bench_detect.py [--repeat 50] [--repeat-r50 7] [--threshold 0.8]
[--models mnet25,r50]``.

- ``mnet25``: the released mnet.25 (``--mnet25 PREFIX``, default the shared test material) on a
  640x480 photo (t1.jpg resized; random pixels when it is absent).
- ``r50``: the released R50 graph (``--r50-symbol``) with random weights (the real ones are not
  available here), handed to ``RetinaFace.from_params``, on a 640x640 image.

Every repetition times, in turn: the bare forward (input already in the executor; forward and
``asnumpy`` of every output), the whole ``detect()``, and its stages called one by one. Medians and
minima over the repetitions are printed, with detect() / bare forward.

Where onnx and onnxruntime are installed (``requirements-onnx.txt``; ``--no-onnx`` skips this), each
model is also exported to ONNX (``tools/export_onnx.py``'s code, fixed input size, or ``--onnx-dynamic``)
and ``RetinaFaceONNX.detect`` and its forward are timed against ``RetinaFace``'s, interleaved in the
same run, with the ONNX Runtime / MXNet ratios (below 1: ONNX Runtime is faster). ONNX Runtime
gets ``OMP_NUM_THREADS`` intra-op threads when it is set (as MXNet does), else one per core; on a busy
machine ``OMP_NUM_THREADS=1`` gives steadier figures.
"""
import argparse
import os
import tempfile
import time

import cv2
import mxnet as mx
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from rcnn.detection.detector import without_graph_upgrade_messages
from retinaface import RetinaFace

SHARED = os.environ.get('RETINAFACE_SHARED_DATA') or os.path.join(os.path.dirname(ROOT), 'shared', 'data')


def photo(width, height):
    """t1.jpg resized to width x height (BGR uint8), or random pixels when it is absent."""
    path = os.path.join(SHARED, 'images', 'samples', 't1.jpg')
    img = cv2.imread(path)
    if img is None:
        print('(%s not found: using random pixels)' % path)
        return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def random_weight_detector(symbol_path):
    """RetinaFace on ``symbol_path``'s graph with Xavier-initialised weights (in memory)."""
    with without_graph_upgrade_messages():
        symbol = mx.sym.load(symbol_path)
    module = mx.mod.Module(symbol, data_names=['data'], label_names=None, context=mx.cpu())
    module.bind(data_shapes=[('data', (1, 3, 640, 640))], for_training=False)
    module.init_params(mx.init.Xavier(magnitude=2.0))
    return RetinaFace.from_params(symbol, *module.get_params(), ctx_id=-1)


def time_call(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench(name, detector, img, threshold, repeat):
    tensor, size = detector.preprocess(img)
    executor = detector.executor(*tensor.shape[2:])
    executor.arg_dict['data'][:] = tensor

    def bare_forward():
        executor.forward(is_train=False)
        return [out.asnumpy() for out in executor.outputs]

    for _ in range(2):  # warm-up: binding, MKLDNN primitive creation
        detector.detect(img, threshold)
        bare_forward()
    times = {key: [] for key in ('bare', 'detect', 'preprocess', 'forward', 'postprocess')}
    for _ in range(repeat):
        executor.arg_dict['data'][:] = tensor
        times['bare'].append(time_call(bare_forward)[0])
        elapsed, (faces, _) = time_call(lambda: detector.detect(img, threshold))
        times['detect'].append(elapsed)
        elapsed, (stage_tensor, stage_size) = time_call(lambda: detector.preprocess(img))
        times['preprocess'].append(elapsed)
        elapsed, outputs = time_call(lambda: detector.forward(stage_tensor))
        times['forward'].append(elapsed)
        times['postprocess'].append(time_call(lambda: detector.postprocess(outputs, threshold, stage_size))[0])
    median = {key: 1e3 * float(np.median(v)) for key, v in times.items()}
    least = {key: 1e3 * float(np.min(v)) for key, v in times.items()}
    height, width = img.shape[:2]
    print('%s %dx%d, threshold %.2f, %d faces, %d repetitions (ms: median / min)'
          % (name, width, height, threshold, len(faces), repeat))
    print('  preprocess  %7.2f / %7.2f' % (median['preprocess'], least['preprocess']))
    print('  forward     %7.2f / %7.2f   (input copy, forward, read-out)' % (median['forward'], least['forward']))
    print('  postprocess %7.2f / %7.2f   (decode above threshold, NMS)' % (median['postprocess'], least['postprocess']))
    print('  detect()    %7.2f / %7.2f' % (median['detect'], least['detect']))
    print('  bare fwd    %7.2f / %7.2f   (forward + read-out only)' % (median['bare'], least['bare']))
    print('  detect() / bare forward: %.3fx median, %.3fx min'
          % (median['detect'] / median['bare'], least['detect'] / least['bare']))


def onnx_detector(mxnet_detector, img, folder, dynamic):
    """RetinaFaceONNX on ``mxnet_detector``'s weights, exported for ``img``'s size (or any size)."""
    from rcnn.export.onnx_export import export_onnx
    from retinaface_onnx import RetinaFaceONNX
    path = os.path.join(folder, 'model.onnx')
    height, width = img.shape[:2]
    export_onnx(mxnet_detector.symbol, mxnet_detector.arg_params, mxnet_detector.aux_params, path,
                (1, 3, height, width), dynamic)
    threads = int(os.environ.get('OMP_NUM_THREADS', 0))  # MXNet's thread count, given to both
    return RetinaFaceONNX(path, network=mxnet_detector.network, nms=mxnet_detector.nms_threshold,
                          threads=threads)


def bench_onnx(name, mxnet_detector, ort_detector, img, threshold, repeat, rounds=2):
    """detect() and forward of both runtimes in alternating blocks; ONNX Runtime / MXNet ratios.

    Each runtime runs ``repeat / rounds`` repetitions at a time, after a pause: both keep their
    threads spinning for a while after a call (OpenMP's block time, ONNX Runtime's spinning), which
    would slow the other runtime down if the calls alternated one by one.
    """
    tensor, _ = mxnet_detector.preprocess(img)
    runtimes = {'mxnet': mxnet_detector, 'onnx': ort_detector}
    times = {'%s %s' % (runtime, stage): [] for runtime in runtimes for stage in ('detect', 'forward')}
    for _ in range(rounds):
        for runtime, detector in runtimes.items():
            time.sleep(0.5)
            detector.detect(img, threshold)  # warm-up (binding, first-run allocations)
            for _ in range(max(1, repeat // rounds)):
                times[runtime + ' detect'].append(time_call(lambda: detector.detect(img, threshold))[0])
                times[runtime + ' forward'].append(time_call(lambda: detector.forward(tensor))[0])
    median = {key: 1e3 * float(np.median(v)) for key, v in times.items()}
    least = {key: 1e3 * float(np.min(v)) for key, v in times.items()}
    faces = [len(detector.detect(img, threshold)[0]) for detector in runtimes.values()]
    height, width = img.shape[:2]
    print('%s %dx%d: ONNX Runtime (model input %s) against MXNet, %d / %d faces, %d repetitions '
          '(ms: median / min)' % (name, width, height, 'x'.join(map(str, ort_detector.input_shape[2:])),
                                  faces[0], faces[1], len(times['onnx detect'])))
    for key in times:
        print('  %-14s %8.2f / %8.2f' % (key, median[key], least[key]))
    for stage in ('detect', 'forward'):
        print('  ONNX Runtime / MXNet %-8s %.3fx median, %.3fx min'
              % (stage, median['onnx ' + stage] / median['mxnet ' + stage],
                 least['onnx ' + stage] / least['mxnet ' + stage]))


def onnx_available():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        print('(ONNX Runtime path skipped: %s; see requirements-onnx.txt)' % error)
        return False
    return True


def run(name, detector, img, args, repeat):
    """The MXNet benchmark of one model, then the ONNX Runtime comparison where it is installed."""
    bench(name, detector, img, args.threshold, repeat)
    if args.onnx and onnx_available():
        with tempfile.TemporaryDirectory() as folder:
            ort_detector = onnx_detector(detector, img, folder, args.onnx_dynamic)
            bench_onnx(name, detector, ort_detector, img, args.threshold, repeat)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=50, help='repetitions for mnet.25')
    parser.add_argument('--repeat-r50', type=int, default=7, help='repetitions for R50 (seconds each)')
    parser.add_argument('--threshold', type=float, default=0.8)
    parser.add_argument('--models', default='mnet25,r50', help='comma-separated: mnet25, r50')
    parser.add_argument('--mnet25', default=os.path.join(SHARED, 'models', 'mnet.25', 'mnet.25'),
                        help='mnet.25 checkpoint prefix')
    parser.add_argument('--r50-symbol', default=os.path.join(SHARED, 'models', 'retinaface-R50', 'R50-symbol.json'),
                        help='R50 graph to fill with random weights')
    parser.add_argument('--no-onnx', dest='onnx', action='store_false',
                        help='skip the ONNX Runtime comparison')
    parser.add_argument('--onnx-dynamic', action='store_true',
                        help='export with dynamic height and width instead of the image size')
    args = parser.parse_args()
    print('MXNet %s, MKLDNN %s, %d CPU cores, OMP_NUM_THREADS=%s'
          % (mx.__version__, mx.runtime.Features().is_enabled('MKLDNN'), os.cpu_count(),
             os.environ.get('OMP_NUM_THREADS', 'unset')))
    models = args.models.split(',')
    if 'mnet25' in models:
        run('mnet.25', RetinaFace(args.mnet25, 0, ctx_id=-1), photo(640, 480), args, args.repeat)
    if 'r50' in models:
        run('R50 (random weights)', random_weight_detector(args.r50_symbol), photo(640, 640), args,
            args.repeat_r50)


if __name__ == '__main__':
    main()
