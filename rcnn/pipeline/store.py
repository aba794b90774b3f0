"""The results folder of the folder pipeline: ``detections.jsonl`` (one record per input, after a
header record that says which settings made the folder), locked while a run writes it, and
``detections.parquet`` made from it at the end.

A rerun with the same settings skips the inputs already recorded; an input whose file changed
(size or mtime) is detected again, the records of inputs no longer listed are dropped. A rerun with
other settings is refused, naming them (``overwrite`` starts the folder anew).
"""
import hashlib
import json
import logging
import os

from rcnn.errors import UserError
from rcnn.pipeline.records import file_stamp, record_schema
from rcnn.utils import safe_write
from rcnn.utils.jsonl import JsonLinesStore
from rcnn.utils.lock import acquire, release

log = logging.getLogger(__name__)

RESULTS_NAME = 'detections.jsonl'
PARQUET_NAME = 'detections.parquet'
LOCK_NAME = '.lock'
FORMAT = 'retinaface-detections'
_PARQUET_CHUNK = 10000
_HASH_BLOCK = 1 << 20


def file_digest(path):
    """sha256 (hex) of a file's bytes; UserError naming it when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(_HASH_BLOCK), b''):
                digest.update(block)
    except OSError as err:
        raise UserError('cannot read the model file %s: %s' % (path, err.strerror or err)) from None
    return digest.hexdigest()


def model_files(spec):
    """The files of the model a :data:`DetectorSpec` names."""
    if spec.backend == 'onnx':
        return [spec.model]
    return ['%s-symbol.json' % spec.model, '%s-%04d.params' % (spec.model, spec.epoch)]


def run_settings(spec, settings):
    """What makes a results folder's records what they are, as JSON-ready data: the model's
    digest and preset and the detection settings (not the batch size or the pixel budget)."""
    return {'model': [file_digest(path) for path in model_files(spec) if os.path.isfile(path)],
            'network': spec.network, 'nms': spec.nms, 'threshold': settings.threshold,
            'scale': settings.scale, 'target_size': settings.target_size,
            'max_size': settings.max_size,
            'letterbox': list(settings.letterbox) if settings.letterbox else None,
            'flip': settings.flip, 'pyramid': settings.pyramid,
            'rotations': (settings.rotations if settings.rotations == 'auto'
                          else list(settings.rotations))}


def differing_settings(recorded, wanted):
    """'name (was X, now Y)' for each setting that differs between two :func:`run_settings`."""
    names = sorted(set(recorded) | set(wanted))
    return ['%s (was %s, now %s)' % (name, json.dumps(recorded.get(name)), json.dumps(wanted.get(name)))
            for name in names if recorded.get(name) != wanted.get(name)]


def refuse_other_settings(folder, recorded, wanted):
    """UserError naming the settings that differ from those that made the results folder."""
    changes = differing_settings(recorded, wanted)
    if changes:
        raise UserError('%s holds results of other settings: %s; rerun with the same settings, pass '
                        '--overwrite to start anew, or choose another --output'
                        % (folder, '; '.join(changes)))


class ResultsFolder:
    """A results folder held for one run (use as a context manager): the lock taken, the settings
    checked, the records of this run appended to ``detections.jsonl``.

    :param settings: :func:`run_settings` of this run (written in the header of a new folder)
    :param overwrite: start anew, whatever the folder holds
    :raises UserError: for a folder locked by another run (naming its pid), a foreign results file,
        other settings
    """

    def __init__(self, folder, settings, overwrite=False):
        self.folder, self.settings, self.overwrite = folder, settings, overwrite
        self.path = os.path.join(folder, RESULTS_NAME)
        self.header = {'format': FORMAT, 'settings': settings}
        self.store, self._lock = None, None

    def __enter__(self):
        safe_write.make_folder(self.folder, '--output')
        self._lock = acquire(os.path.join(self.folder, LOCK_NAME), 'results folder %s' % self.folder)
        try:
            if self.overwrite and os.path.lexists(self.path):
                self._rewrite([])
            self.store = JsonLinesStore(self.path, self.header, required=('path',))
            refuse_other_settings(self.folder, self.store.header.get('settings') or {}, self.settings)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info):
        if self.store is not None:
            self.store.close()
        release(self._lock)

    def _rewrite(self, records):
        """Replace the results file by the header and ``records`` (atomically, never through a link)."""
        if self.store is not None:
            self.store.close()
        with safe_write.open_atomic(self.path, 'w') as f:
            for record in [self.header] + records:
                f.write(json.dumps(record, separators=(',', ':'), allow_nan=False) + '\n')
        self.store = JsonLinesStore(self.path, self.header, required=('path',))

    def reconcile(self, items):
        """Drop the records of inputs no longer listed and of inputs whose file changed (they are
        detected again); keep one record per path (the last).

        :param items: this run's :data:`InputItem` list
        :return: (paths done, number of changed inputs, number of records dropped for absent inputs)
        """
        files = {item.key: item.file for item in items}
        latest = {record['path']: record for record in self.store.records}
        kept, changed, absent = [], 0, 0
        for key, record in latest.items():
            if key not in files:
                absent += 1
            elif tuple(file_stamp(files[key])) != (record.get('bytes'), record.get('mtime_ns')):
                changed += 1
            else:
                kept.append(record)
        if len(kept) != len(self.store.records):
            self._rewrite(kept)
        return {record['path'] for record in kept}, changed, absent

    def append(self, records):
        """Write the records of one batch and flush them to disk."""
        self.store.append(records)

    def failed(self):
        """The paths recorded with an error, in file order."""
        return [record['path'] for record in self.store.records if record.get('error')]

    def write_parquet(self):
        """``detections.parquet`` of the records where pyarrow is installed (its path), else None;
        written under a fresh temporary name, then renamed."""
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            log.info('pyarrow is not installed: results only as JSON lines')
            return None
        schema, records = record_schema(), self.store.records

        def write(tmp):
            with pq.ParquetWriter(tmp, schema) as writer:
                for start in range(0, max(1, len(records)), _PARQUET_CHUNK):
                    writer.write_table(pa.Table.from_pylist(records[start:start + _PARQUET_CHUNK],
                                                            schema=schema))
        return safe_write.write_with(os.path.join(self.folder, PARQUET_NAME), write)
