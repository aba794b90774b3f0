"""Face detection over a collection of images: what tools/detect_folder.py (one machine) and
tools/detect_ray.py (Ray Data) share.

- :func:`list_inputs`: a folder tree or a list file -> (key, file) pairs. The key is what records
  call the image: the path relative to the folder (``/``-separated), or the list file's line as
  written.
- :func:`build_detector`: the MXNet or ONNX Runtime detector of a :class:`DetectorSpec`.
- :func:`detect_images`: detections of a batch of decoded images under :class:`DetectionSettings`;
  :func:`detect_files`: decode a batch of files and detect (a Ray actor, a model worker).
- :func:`detection_record` / :func:`error_record`: one image's result as a flat record
  (``RECORD_FIELDS``): path, width, height, boxes (N x [x1, y1, x2, y2] pixels, inclusive "+1"
  widths), scores (N), landmarks (N x 5 x [x, y], the detector's order), error (None, or why the
  file could not be read or was not detected, its network input passing ``--max-megapixels``:
  then width, height, boxes, scores and landmarks are None).
- :class:`JsonLinesResults`: the one JSON-lines results file, appended and flushed per batch; a rerun
  reads which paths are done (tolerating a torn last line) and skips them.
- :class:`ModelWorkers` / :func:`loaded_model`: processes that each hold a detector and decode and
  detect whole batches (data parallelism), or one detector in this process.
- :func:`run_pipeline`: with one detector here, decode in worker processes while it runs; with
  model workers, batches to them; batched forwards, records written in input order, optional
  drawn images and aligned crops, a progress bar in images/s.
"""
import collections
import concurrent.futures
import contextlib
import functools
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time

import cv2
import numpy as np
from tqdm import tqdm

from rcnn.detection.batching import DEFAULT_BATCH_SIZE
from rcnn.detection.base import draw_detections, target_scale
from rcnn.processing.align import align, template
from rcnn.processing.presets import DETECTOR_PRESETS
from rcnn.utils.cli_guards import (DEFAULT_MAX_MEGAPIXELS, ImageTooLargeError,
                                   add_max_megapixels_option, check_network_input)
from rcnn.utils import cli
from rcnn.errors import UserError
from rcnn.utils.image_file import (IMAGE_EXTENSIONS, ImageFileError, read_image_file,
                                  write_image_file)

log = logging.getLogger(__name__)

RECORD_FIELDS = ('path', 'width', 'height', 'boxes', 'scores', 'landmarks', 'error')
RESULTS_NAME = 'detections.jsonl'
PARQUET_NAME = 'detections.parquet'
DRAWN_FOLDER = 'drawn'
CROPS_FOLDER = 'crops'
_COORDINATE_DECIMALS = 2
_SCORE_DECIMALS = 5
_PARQUET_CHUNK = 10000
_DECODER_NICENESS = 5

InputItem = collections.namedtuple('InputItem', 'key file')

# How to build a detector in any process (a Ray actor, the pipeline's main process).
#   backend: 'mxnet' or 'onnx'; model: checkpoint prefix or .onnx file; epoch: checkpoint epoch;
#   network, nms: detector presets; threads: intra-op threads of ONNX Runtime, or MXNet's OpenMP
#   threads (0: the runtime's default, one per core).
DetectorSpec = collections.namedtuple('DetectorSpec', 'backend model epoch network nms threads')

# What to detect, per image.
#   threshold: minimum score; scale: fixed resize factor; target_size, max_size: the original's
#   per-image resize (short side to target_size, long side capped at max_size; used when
#   target_size is set); letterbox: None or (height, width) of one network input for every image;
#   flip: also run mirrored; batch_size: images per batched forward; max_megapixels: an image
#   whose network input would pass it is recorded as an error, not detected (0: no limit).
DetectionSettings = collections.namedtuple(
    'DetectionSettings', 'threshold scale target_size max_size letterbox flip batch_size max_megapixels')

# The options that set an image's network input size, named when one passes --max-megapixels.
SCALE_OPTIONS = '--scale, --target-size / --max-size or --letterbox'


def default_settings(**changes):
    """DetectionSettings with the tools' defaults (threshold 0.8, scale 1.0, batch 8, 16
    megapixels) changed."""
    settings = DetectionSettings(threshold=0.8, scale=1.0, target_size=None, max_size=None,
                                 letterbox=None, flip=False, batch_size=DEFAULT_BATCH_SIZE,
                                 max_megapixels=DEFAULT_MAX_MEGAPIXELS)
    return settings._replace(**changes)


# ---------------------------------------------------------------------------------------- options
def add_detection_arguments(parser):
    """The options tools/detect_folder.py and tools/detect_ray.py share: input, output, model,
    what to detect."""
    parser.add_argument('input', help='folder of images (searched recursively) or a text file '
                        'listing one image path per line')
    parser.add_argument('--output', required=True,
                        help='results folder (detections.jsonl or Parquet files); a rerun skips '
                        'the images already there')
    model = parser.add_argument_group('model')
    model.add_argument('--prefix', help='MXNet checkpoint prefix (<prefix>-symbol.json, '
                       '<prefix>-<epoch>.params)')
    model.add_argument('--epoch', type=cli.number(0, kind=int), default=0)
    model.add_argument('--onnx', help='run this ONNX model (tools/export_onnx.py --dynamic) on ONNX '
                       'Runtime instead of an MXNet checkpoint')
    model.add_argument('--network', default='net3', choices=DETECTOR_PRESETS,
                       help='detector preset: the anchors and pixel normalisation (default %(default)s)')
    model.add_argument('--nms', type=cli.number(0, 1, low_open=True), default=0.4,
                       help='NMS IoU threshold, in (0, 1] (default %(default)s)')
    model.add_argument('--threads', type=cli.number(0, kind=int), default=0,
                       help='intra-op threads of ONNX Runtime / MXNet per detector (0: the '
                       'runtime\'s default, one per core; detect_folder.py\'s model workers: cores / '
                       'workers)')
    detect = parser.add_argument_group('detection')
    detect.add_argument('--threshold', type=cli.number(0, 1), default=0.8,
                        help='minimum face score, in [0, 1] (default %(default)s)')
    sizes = detect.add_mutually_exclusive_group()
    sizes.add_argument('--scale', type=cli.number(0, low_open=True), default=1.0,
                       help='resize factor for every image, > 0 (default %(default)s)')
    sizes.add_argument('--target-size', type=cli.number(1, kind=int),
                       help='resize each image so that its short side is this many pixels ...')
    sizes.add_argument('--letterbox', type=cli.parse_size, metavar='HxW',
                       help='resize each image to fit HxW and pad bottom/right: one network input '
                       'shape for every image (batches fill up; detections near the padded border '
                       'change slightly, see README)')
    detect.add_argument('--max-size', type=cli.number(1, kind=int), default=1980,
                        help='... unless its long side would pass this (with --target-size)')
    detect.add_argument('--flip', action='store_true', help='also detect on the mirrored image')
    detect.add_argument('--batch-size', type=cli.number(1, 1024, kind=int), default=DEFAULT_BATCH_SIZE,
                        help='images per batched forward (memory grows with it; default %(default)s)')
    add_max_megapixels_option(detect)


def spec_from_args(args):
    """DetectorSpec of the parsed options; UserError unless exactly one of --prefix, --onnx."""
    if bool(args.prefix) == bool(args.onnx):
        raise UserError('pass the model as --prefix PREFIX (MXNet checkpoint) or --onnx FILE '
                        '(ONNX Runtime), exactly one of them')
    if args.onnx:
        return DetectorSpec('onnx', args.onnx, 0, args.network, args.nms, args.threads)
    return DetectorSpec('mxnet', args.prefix, args.epoch, args.network, args.nms, args.threads)


def settings_from_args(args):
    """DetectionSettings of the parsed options; UserError when the --letterbox canvas (every
    image's network input) passes --max-megapixels."""
    if args.letterbox:
        check_network_input('--letterbox %dx%d' % args.letterbox, args.letterbox, [1.0],
                            args.max_megapixels, '--letterbox')
    return DetectionSettings(threshold=args.threshold, scale=args.scale,
                             target_size=args.target_size, max_size=args.max_size,
                             letterbox=args.letterbox, flip=args.flip, batch_size=args.batch_size,
                             max_megapixels=args.max_megapixels)


# ---------------------------------------------------------------------------------------- inputs
def list_inputs(source, exclude=None):
    """The images of a folder tree (sorted, recursive) or of a list file (one path per line).

    :param source: a folder, or a text file naming one image per line (relative paths are relative
        to the list file's folder; blank lines and lines starting with ``#`` are skipped)
    :param exclude: a folder whose contents are never inputs (the output folder)
    :return: list of :data:`InputItem` (key, file); a list file's repeated lines are kept once
    :raises UserError: when ``source`` does not exist or is not a readable text file
    """
    if os.path.isdir(source):
        return _list_folder(source, exclude)
    if not os.path.isfile(source):
        raise UserError('input not found: %s (pass a folder of images or a text file listing one '
                        'image path per line)' % source)
    return _list_file(source, exclude)


def _inside(path, folder):
    """Whether ``path`` is ``folder`` or lies under it."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _list_folder(root, exclude):
    items = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders
                               if exclude is None or not _inside(os.path.join(folder, d), exclude))
        for name in sorted(names):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                path = os.path.join(folder, name)
                items.append(InputItem(os.path.relpath(path, root).replace(os.sep, '/'), path))
    return sorted(items)


def _list_file(list_path, exclude):
    base = os.path.dirname(os.path.abspath(list_path))
    try:
        with open(list_path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError('cannot read the list file %s: %s (it must be a UTF-8 text file naming one '
                        'image per line)' % (list_path, getattr(err, 'strerror', None) or err))
    items, seen = [], set()
    for line in lines:
        key = line.strip()
        if not key or key.startswith('#') or key in seen:
            continue
        seen.add(key)
        path = os.path.join(base, key)
        if exclude is not None and _inside(path, exclude):
            log.warning('%s: %s lies in the output folder: skipped', list_path, key)
            continue
        items.append(InputItem(key, path))
    return items


def check_crop_size(size):
    """UserError naming --crops unless the crop size fits the ArcFace template."""
    try:
        template(size)
    except ValueError as err:
        raise UserError('--crops %d: %s' % (size, err))


def check_output_folder(source, output):
    """UserError when the output folder is the input folder or lies inside it (its files would be
    listed as inputs on the next run)."""
    if os.path.isdir(source) and _inside(output, source):
        raise UserError('--output %s lies inside the input folder %s: choose a folder outside it'
                        % (output, source))


# ---------------------------------------------------------------------------------------- model
def build_detector(spec):
    """The detector a :data:`DetectorSpec` describes: MXNet on the CPU, or ONNX Runtime with its
    threads set and its spinning off (its spinning threads slow everything else on a shared
    machine, itself included: see README)."""
    # the detectors are imported here: the ONNX path never loads MXNet, and MXNet reads
    # OMP_NUM_THREADS when it is first imported
    if spec.backend == 'onnx':
        from rcnn.detection.detector_onnx import RetinaFaceONNX
        return RetinaFaceONNX(spec.model, network=spec.network, nms=spec.nms, threads=spec.threads,
                              spinning=False)
    if spec.backend != 'mxnet':
        raise ValueError('unknown backend %r (mxnet or onnx)' % (spec.backend,))
    if spec.threads:
        if 'mxnet' in sys.modules:
            log.warning('MXNet is already loaded: its thread count stays as it is')
        os.environ['OMP_NUM_THREADS'] = str(spec.threads)
    from rcnn.detection.detector import RetinaFace
    return RetinaFace(spec.model, spec.epoch, ctx_id=-1, network=spec.network, nms=spec.nms)


def image_scales(settings, image_shape):
    """The resize factors of one image under ``settings`` (letterbox: [1.0], the fit is separate)."""
    if settings.letterbox is not None:
        return [1.0]
    if settings.target_size:
        return [target_scale(image_shape, settings.target_size, settings.max_size)]
    return [settings.scale]


def detect_images(detector, images, settings):
    """[(faces (N, 5), landmarks (N, 5, 2) or None)] of each image: ``detector.detect_batch`` with
    the settings' threshold, per-image scales, flip, batch size and letterbox."""
    return detector.detect_batch(images, settings.threshold,
                                 lambda shape: image_scales(settings, shape), settings.flip,
                                 batch_size=settings.batch_size, letterbox=settings.letterbox)


def detect_files(detector, settings, items, on_image=None):
    """Decode ``items`` (:data:`InputItem`) in this process and detect faces in them.

    :param on_image: as :func:`batch_records`
    :return: (their records in order, seconds spent decoding)
    """
    start = time.perf_counter()
    batch = [decode(item) for item in items]
    decoding = time.perf_counter() - start
    return batch_records(detector, settings, batch, on_image), decoding


def batch_records(detector, settings, batch, on_image=None):
    """The records of a batch of decoded inputs, in order.

    :param batch: (key, image or None, error or None) per input, as :func:`decode` gives
    :param on_image: called as ``on_image(key, image, faces, landmarks)`` for each decoded image
    """
    batch = [_within_budget(entry, settings) for entry in batch]
    decoded = [img for _, img, _ in batch if img is not None]
    detections = iter(detect_images(detector, decoded, settings))
    records = []
    for key, img, error in batch:
        if error is not None:
            log.warning('skipped: %s', error)
            records.append(error_record(key, error))
            continue
        faces, landmarks = next(detections)
        if on_image is not None:
            on_image(key, img, faces, landmarks)
        records.append(detection_record(key, img.shape, faces, landmarks))
    return records


def _within_budget(entry, settings):
    """A decoded (key, image, error) entry, made an error entry when the image's network input
    would pass ``settings.max_megapixels`` (a letterbox canvas is checked once, up front)."""
    key, img, _ = entry
    if img is None or settings.letterbox is not None:
        return entry
    try:
        check_network_input(key, img.shape, image_scales(settings, img.shape),
                            settings.max_megapixels, SCALE_OPTIONS)
    except ImageTooLargeError as err:
        return key, None, str(err)
    return entry


# ---------------------------------------------------------------------------------------- records
def _rounded(values, decimals):
    return np.round(np.asarray(values, dtype=np.float64), decimals).tolist()


def detection_record(key, image_shape, faces, landmarks):
    """The record of one image (see the module docstring); coordinates rounded to 0.01 px, scores to
    1e-5."""
    return {'path': key, 'width': int(image_shape[1]), 'height': int(image_shape[0]),
            'boxes': _rounded(np.reshape(faces[:, :4], (-1, 4)), _COORDINATE_DECIMALS),
            'scores': _rounded(faces[:, 4], _SCORE_DECIMALS),
            'landmarks': (_rounded(landmarks, _COORDINATE_DECIMALS)
                          if landmarks is not None else None),
            'error': None}


def error_record(key, message):
    """The record of an image that could not be read."""
    record = dict.fromkeys(RECORD_FIELDS)
    record.update(path=key, error=message)
    return record


def record_schema():
    """The pyarrow schema of the records (for Parquet)."""
    import pyarrow as pa
    coordinates = pa.list_(pa.float64())
    return pa.schema([('path', pa.string()), ('width', pa.int32()), ('height', pa.int32()),
                      ('boxes', pa.list_(coordinates)), ('scores', coordinates),
                      ('landmarks', pa.list_(pa.list_(coordinates))), ('error', pa.string())])


def output_name(key, suffix):
    """A file name unique per input key: ``<stem>-<8 hex digits of the key's sha1><suffix>``."""
    stem = os.path.splitext(os.path.basename(key))[0] or 'image'
    return '%s-%s%s' % (stem, hashlib.sha1(key.encode('utf-8')).hexdigest()[:8], suffix)


# ---------------------------------------------------------------------------------------- results
class JsonLinesResults:
    """The JSON-lines results file: one record per line, appended and flushed per batch.

    Opening it reads the records already there (a rerun skips their paths). A torn last line (the
    run was killed while writing it) is cut off; any other unreadable line is an error naming the
    file and line.
    """

    def __init__(self, path):
        self.path = path
        self.done = set()
        self.faces = self.errors = 0
        if os.path.exists(path):
            self._read_existing()
        self._file = open(path, 'a', encoding='utf-8')

    def _read_existing(self):
        with open(self.path, 'rb') as f:
            data = f.read()
        lines = data.split(b'\n')
        good_bytes = 0
        for number, line in enumerate(lines, 1):
            last = number == len(lines)
            if not line.strip():
                good_bytes += len(line) + (0 if last else 1)
                continue
            try:
                record = json.loads(line)
                if last:  # a complete record always ends with a newline
                    raise ValueError('no newline')
            except ValueError:
                if number >= len(lines) - 1 and (last or not any(lines[number:])):
                    log.warning('%s: dropping a torn last line (an interrupted run); its image is '
                                'detected again', self.path)
                    break
                raise UserError('%s:%d: not a JSON record; this is not a results file of this '
                                'tool (choose another --output)' % (self.path, number))
            self._count(record)
            good_bytes += len(line) + 1
        if good_bytes < len(data):
            with open(self.path, 'r+b') as f:
                f.truncate(good_bytes)

    def _count(self, record):
        self.done.add(record['path'])
        if record.get('error'):
            self.errors += 1
        else:
            self.faces += len(record['scores'])

    def append(self, records):
        """Write the records of one batch and flush them to disk."""
        self._file.write(''.join(json.dumps(r, separators=(',', ':')) + '\n' for r in records))
        self._file.flush()
        os.fsync(self._file.fileno())
        for record in records:
            self._count(record)

    def close(self):
        self._file.close()


def write_parquet(jsonl_path, parquet_path):
    """Convert the JSON-lines results to one Parquet file (written to a temporary name, then renamed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    schema = record_schema()
    temporary = parquet_path + '.partial'
    with pq.ParquetWriter(temporary, schema) as writer, open(jsonl_path, encoding='utf-8') as f:
        chunk = []
        for line in f:
            chunk.append(json.loads(line))
            if len(chunk) == _PARQUET_CHUNK:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                chunk = []
        writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
    os.replace(temporary, parquet_path)


def write_parquet_if_possible(out_dir):
    """``<out_dir>/detections.parquet`` from the JSON-lines results where pyarrow is installed
    (its path), else None."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        log.info('pyarrow is not installed: results only as JSON lines')
        return None
    path = os.path.join(out_dir, PARQUET_NAME)
    write_parquet(os.path.join(out_dir, RESULTS_NAME), path)
    return path


# ---------------------------------------------------------------------------------------- decoding
def _follow_parent():
    """A worker process of a pool: Ctrl-C is left to the process that started it (which stops the
    pool), and the worker ends as soon as that process ends (a pool's workers otherwise outlive a
    killed run, waiting for tasks that never come)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch(parent):
        parent.join()
        os._exit(1)
    threading.Thread(target=watch, args=(multiprocessing.parent_process(),), daemon=True).start()


def _init_decoder():
    """A decoding process: one OpenCV thread, and a lower priority than the model's process, whose
    threads meet at barriers (one preempted thread stalls the others)."""
    _follow_parent()
    cv2.setNumThreads(1)
    os.nice(_DECODER_NICENESS)


def decode(item):
    """(key, (H, W, 3) uint8 BGR image or None, error message or None) of one input."""
    try:
        return item.key, read_image_file(item.file), None
    except ImageFileError as err:
        return item.key, None, str(err)


class Decoder:
    """Decodes inputs in ``workers`` processes (0: in this process), in order, at most ``ahead``
    images in flight; ``waited`` is the time spent waiting for a decoded image."""

    def __init__(self, items, workers, ahead):
        self._items = iter(items)
        self._pending = collections.deque()
        self._ahead = max(1, ahead)
        self.waited = 0.0
        self._pool = None
        if workers > 0:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context('spawn'), initializer=_init_decoder)

    def _fill(self):
        while len(self._pending) < self._ahead:
            item = next(self._items, None)
            if item is None:
                return
            self._pending.append(self._pool.submit(decode, item) if self._pool else item)

    def next_batch(self, size):
        """The next ``size`` (or fewer, at the end) decoded inputs as (key, image, error)."""
        batch = []
        while len(batch) < size:
            self._fill()
            if not self._pending:
                break
            start = time.perf_counter()
            head = self._pending.popleft()
            batch.append(head.result() if self._pool else decode(head))
            self.waited += time.perf_counter() - start
        return batch

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------- model workers
_worker = {}  # in a model worker process: its 'detector', or the 'error' that stopped building it


def _init_model_worker(spec, loaded, log_level):
    """A model worker process: logging as in the parent, one OpenCV thread, its own detector (a
    UserError building it is kept and raised by every task); then wait until all are loaded."""
    _follow_parent()
    cli.setup_logging(log_level)
    cv2.setNumThreads(1)
    try:
        _worker['detector'] = build_detector(spec)
    except UserError as err:
        _worker['error'] = err
    loaded.wait()


def _worker_detector():
    if 'error' in _worker:
        raise _worker['error']
    return _worker['detector']


def _check_worker():
    _worker_detector()


def _detect_files_in_worker(settings, items, on_image):
    return detect_files(_worker_detector(), settings, items, on_image)


class ModelWorkers:
    """``count`` processes, each with its own detector, that decode and detect whole batches
    (data parallelism: on few cores, single-threaded runtimes side by side use the cores better
    than one runtime's intra-op threads, which wait for each other at every layer).

    :param spec: :data:`DetectorSpec`; ``threads`` 0 shares the cores out: ``cpu_count // count``
        intra-op threads per worker (at least 1)
    :param count: worker processes, >= 1
    Construction returns once every worker has loaded its model; a UserError loading it (a missing
    or corrupt model file) is raised here. Use as a context manager (or call :meth:`close`).
    """

    def __init__(self, spec, count):
        if spec.threads == 0:
            spec = spec._replace(threads=max(1, (os.cpu_count() or 1) // count))
        self.spec, self.count = spec, count
        context = multiprocessing.get_context('spawn')
        self._pool = concurrent.futures.ProcessPoolExecutor(
            count, mp_context=context, initializer=_init_model_worker,
            initargs=(spec, context.Barrier(count), logging.getLogger().getEffectiveLevel()))
        try:  # one task per worker starts them all; the barrier holds each until all are loaded
            for future in [self._pool.submit(_check_worker) for _ in range(count)]:
                future.result()
        except BaseException:
            self.close()
            raise

    def submit(self, settings, items, on_image=None):
        """A future of :func:`detect_files` on ``items`` in a worker: (records, seconds decoding)."""
        return self._pool.submit(_detect_files_in_worker, settings, items, on_image)

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


@contextlib.contextmanager
def loaded_model(spec, model_workers=1):
    """What :func:`run_pipeline` runs, as a context: one detector in this process (``model_workers``
    1) or :class:`ModelWorkers` (> 1, closed on exit)."""
    if model_workers == 1:
        yield build_detector(spec)
        return
    with ModelWorkers(spec, model_workers) as workers:
        yield workers


# ---------------------------------------------------------------------------------------- pipeline
PipelineSummary = collections.namedtuple(
    'PipelineSummary', 'images skipped faces errors seconds decode_wait results')


def _write_extras(out_dir, key, img, faces, landmarks, draw, crop_size):
    """The drawn image and the aligned face crops of one input (names unique per input)."""
    if draw:
        write_image_file(os.path.join(out_dir, DRAWN_FOLDER, output_name(key, '.jpg')),
                         draw_detections(img.copy(), faces, landmarks))
    if crop_size and landmarks is not None:
        for index, points in enumerate(landmarks):
            write_image_file(os.path.join(out_dir, CROPS_FOLDER, output_name(key, '-%d.jpg' % index)),
                             align(img, points, crop_size))


def summary_line(summary):
    """One line about a run: images, faces, bad files, speed, time the model waited for decoding."""
    rate = summary.images / summary.seconds if summary.seconds > 0 else 0.0
    return ('%d images (%d already done, skipped), %d faces, %d files not detected (unreadable '
            'or too large, recorded with their error); %.1f images/s, the model waited for '
            'decoding %.0f%% of the time'
            % (summary.images, summary.skipped, summary.faces, summary.errors, rate,
               100.0 * summary.decode_wait / summary.seconds if summary.seconds > 0 else 0.0))


def _detect_here(items, detector, settings, workers, on_image):
    """(records, seconds the model waited for decoding) of each batch, in order: decoding in
    ``workers`` processes, the model in this one."""
    decoder = Decoder(items, workers, ahead=2 * settings.batch_size)
    try:
        while True:
            waited = decoder.waited
            batch = decoder.next_batch(settings.batch_size)
            if not batch:
                return
            yield (batch_records(detector, settings, batch, on_image=on_image),
                   decoder.waited - waited)
    finally:
        decoder.close()


def _detect_in_workers(items, model_workers, settings, on_image):
    """(records, seconds decoding per worker) of each batch, in order: whole batches in the model
    workers, at most two per worker in flight."""
    size = settings.batch_size
    batches = (items[start:start + size] for start in range(0, len(items), size))
    pending = collections.deque(model_workers.submit(settings, batch, on_image)
                                for batch in itertools.islice(batches, 2 * model_workers.count))
    while pending:
        records, decoding = pending.popleft().result()
        batch = next(batches, None)
        if batch is not None:
            pending.append(model_workers.submit(settings, batch, on_image))
        yield records, decoding / model_workers.count


def run_pipeline(items, model, settings, out_dir, workers=1, draw=False, crop_size=0,
                 progress=True):
    """Detect faces in every input not yet in ``<out_dir>/detections.jsonl`` and append their
    records there, one flushed batch at a time, in input order.

    :param items: :data:`InputItem` list (see :func:`list_inputs`)
    :param model: what :func:`loaded_model` gives: a RetinaFace or RetinaFaceONNX detector (run here,
        fed by ``workers`` decoding processes), or :class:`ModelWorkers` (each decodes and detects
        whole batches; at most two batches per worker are in flight)
    :param settings: :data:`DetectionSettings`
    :param workers: decoding processes for a detector run here (0: decode in this process, in
        series with the model); unused with ModelWorkers
    :param draw: also write ``drawn/<name>.jpg`` with the boxes and landmarks
    :param crop_size: also write ``crops/<name>-<i>.jpg`` aligned crops of this size (0: none)
    :return: :data:`PipelineSummary` of this run; its ``decode_wait`` is the time the model waited
        for decoded images (with ModelWorkers: each worker's time decoding, averaged)
    """
    os.makedirs(out_dir, exist_ok=True)
    for wanted, folder in ((draw, DRAWN_FOLDER), (crop_size, CROPS_FOLDER)):
        if wanted:
            os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
    results = JsonLinesResults(os.path.join(out_dir, RESULTS_NAME))
    todo = [item for item in items if item.key not in results.done]
    faces_before, errors_before = results.faces, results.errors
    extras = (functools.partial(_write_extras, out_dir, draw=draw, crop_size=crop_size)
              if draw or crop_size else None)
    if isinstance(model, ModelWorkers):
        batches = _detect_in_workers(todo, model, settings, extras)
    else:
        batches = _detect_here(todo, model, settings, workers, extras)
    bar = tqdm(total=len(todo), unit='img', desc='detecting', disable=not progress or None)
    decode_wait = 0.0
    start = time.perf_counter()
    try:
        for records, waited in batches:
            results.append(records)
            decode_wait += waited
            bar.update(len(records))
            bar.set_postfix(faces=results.faces - faces_before, bad=results.errors - errors_before,
                            refresh=False)
    finally:
        bar.close()
        batches.close()
        results.close()
    seconds = time.perf_counter() - start
    return PipelineSummary(images=len(todo), skipped=len(items) - len(todo),
                           faces=results.faces - faces_before, errors=results.errors - errors_before,
                           seconds=seconds, decode_wait=decode_wait, results=results.path)
