"""The folder pipeline: detect every input of a folder or list not yet in the results folder, in
batched forwards, records appended in input order, optional drawn images and aligned crops, a
progress bar in images/s."""
import collections
import functools
import itertools
import os
import time

from tqdm import tqdm

from rcnn.detection.base import draw_detections
from rcnn.pipeline.detect import batch_records
from rcnn.pipeline.records import output_name
from rcnn.pipeline.store import ResultsFolder, run_settings
from rcnn.pipeline.workers import Decoder, ModelWorkers, loaded_model
from rcnn.processing.align import align
from rcnn.utils import safe_write
from rcnn.utils.image_file import write_image_file

DRAWN_FOLDER = 'drawn'
CROPS_FOLDER = 'crops'

# One run: images detected, skipped (already done), faces found, errors (inputs not detected in
# this run), seconds, decode_wait (seconds the model waited for decoding), results (the JSON-lines
# file), changed (inputs detected again because their file changed), dropped (records of inputs no
# longer listed), failed (every listed input recorded with an error), parquet (its path or None).
PipelineSummary = collections.namedtuple(
    'PipelineSummary', 'images skipped faces errors seconds decode_wait results changed dropped '
    'failed parquet')


def _write_image(out_dir, folder, name, img):
    """``<out_dir>/<folder>/<name>``: a fresh file renamed over the target (never through a link)."""
    write_image_file(safe_write.inside(out_dir, folder + '/' + name), img)


def _write_extras(out_dir, key, img, faces, landmarks, draw, crop_size):
    """The drawn image and the aligned face crops of one input (names unique per input), each
    written fresh (never through a link)."""
    if draw:
        _write_image(out_dir, DRAWN_FOLDER, output_name(key, '.jpg'),
                     draw_detections(img.copy(), faces, landmarks))
    if crop_size and landmarks is not None:
        for index, points in enumerate(landmarks):
            _write_image(out_dir, CROPS_FOLDER, output_name(key, '-%d.jpg' % index),
                         align(img, points, crop_size))


def summary_line(summary):
    """One line about a run: images, faces, bad files, changes, speed, time waiting for decoding."""
    rate = summary.images / summary.seconds if summary.seconds > 0 else 0.0
    return ('%d images (%d already done, skipped; %d changed inputs detected again, %d records of '
            'inputs no longer listed dropped), %d faces, %d files not detected (unreadable or too '
            'large, recorded with their error); %.1f images/s, the model waited for decoding %.0f%% '
            'of the time'
            % (summary.images, summary.skipped, summary.changed, summary.dropped, summary.faces,
               summary.errors, rate,
               100.0 * summary.decode_wait / summary.seconds if summary.seconds > 0 else 0.0))


def _detect_here(items, detector, settings, workers, on_image):
    """(records, seconds the model waited for decoding) of each batch, in order: decoding in
    ``workers`` processes, the model in this one."""
    decoder = Decoder(items, settings, workers, ahead=2 * settings.batch_size)
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


def run_pipeline(items, model, settings, results, workers=1, draw=False, crop_size=0, progress=True):
    """Detect faces in ``items`` and append their records to ``results``, one flushed batch at a
    time, in input order.

    :param items: :data:`InputItem` list to detect (see :func:`list_inputs`)
    :param model: what :func:`loaded_model` gives: a RetinaFace or RetinaFaceONNX detector (run here,
        fed by ``workers`` decoding processes), or :class:`ModelWorkers` (each decodes and detects
        whole batches; at most two batches per worker are in flight)
    :param settings: :data:`DetectionSettings`
    :param results: an open :class:`ResultsFolder`
    :param workers: decoding processes for a detector run here (0: decode in this process, in
        series with the model); unused with ModelWorkers
    :param draw: also write ``drawn/<name>.jpg`` with the boxes and landmarks
    :param crop_size: also write ``crops/<name>-<i>.jpg`` aligned crops of this size (0: none)
    :return: (faces, errors, seconds, decode_wait) of this run; ``decode_wait`` is the time the
        model waited for decoded images (with ModelWorkers: each worker's time decoding, averaged)
    """
    extras = (functools.partial(_write_extras, results.folder, draw=draw, crop_size=crop_size)
              if draw or crop_size else None)
    if isinstance(model, ModelWorkers):
        batches = _detect_in_workers(items, model, settings, extras)
    else:
        batches = _detect_here(items, model, settings, workers, extras)
    bar = tqdm(total=len(items), unit='img', desc='detecting', disable=not progress or None)
    faces = errors = 0
    decode_wait, start = 0.0, time.perf_counter()
    try:
        for records, waited in batches:
            results.append(records)
            decode_wait += waited
            errors += sum(1 for r in records if r['error'])
            faces += sum(len(r['scores']) for r in records if not r['error'])
            bar.update(len(records))
            bar.set_postfix(faces=faces, bad=errors, refresh=False)
    finally:
        bar.close()
        batches.close()
    return faces, errors, time.perf_counter() - start, decode_wait


def detect_into_folder(items, spec, settings, out_dir, model_workers=1, workers=1, draw=False,
                       crop_size=0, overwrite=False, progress=True):
    """The folder job: load the model, take the results folder (locked, settings checked, changed
    and absent inputs reconciled), detect the inputs not yet there, write Parquet.

    :param spec: :data:`DetectorSpec`; ``model_workers`` > 1 runs :class:`ModelWorkers`
    :return: :data:`PipelineSummary`
    """
    with loaded_model(spec, model_workers) as model, \
            ResultsFolder(out_dir, run_settings(spec, settings), overwrite) as results:
        for wanted, folder in ((draw, DRAWN_FOLDER), (crop_size, CROPS_FOLDER)):
            if wanted:  # made up front, a link there refused
                safe_write.make_folder(os.path.join(out_dir, folder), 'output folder')
        done, changed, dropped = results.reconcile(items)
        todo = [item for item in items if item.key not in done]
        faces, errors, seconds, decode_wait = run_pipeline(
            todo, model, settings, results, workers, draw, crop_size, progress)
        parquet = results.write_parquet()
        return PipelineSummary(images=len(todo), skipped=len(items) - len(todo), faces=faces,
                               errors=errors, seconds=seconds, decode_wait=decode_wait,
                               results=results.path, changed=changed, dropped=dropped,
                               failed=results.failed(), parquet=parquet)
