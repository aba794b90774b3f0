"""Processes of the folder pipeline: a pool that decodes inputs ahead of the model
(:class:`Decoder`), or model workers that each hold a detector and decode and detect whole batches
(:class:`ModelWorkers`, data parallelism); :func:`loaded_model` gives either kind of model."""
import collections
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time

import cv2

from rcnn.errors import UserError
from rcnn.pipeline.detect import build_detector, detect_files
from rcnn.pipeline.inputs import decode
from rcnn.utils import cli

_DECODER_NICENESS = 5


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


class Decoder:
    """Decodes inputs (header-checked against ``settings``) in ``workers`` processes (0: in this
    process), in order, at most ``ahead`` images in flight; ``waited`` is the time spent waiting for
    a decoded image."""

    def __init__(self, items, settings, workers, ahead):
        self._items = iter(items)
        self._settings = settings
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
            self._pending.append(self._pool.submit(decode, item, self._settings) if self._pool else item)

    def next_batch(self, size):
        """The next ``size`` (or fewer, at the end) inputs as :data:`Decoded`."""
        batch = []
        while len(batch) < size:
            self._fill()
            if not self._pending:
                break
            start = time.perf_counter()
            head = self._pending.popleft()
            batch.append(head.result() if self._pool else decode(head, self._settings))
            self.waited += time.perf_counter() - start
        return batch

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


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
