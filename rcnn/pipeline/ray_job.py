"""The folder/list detection job on Ray Data: the same records as tools/detect_folder.py, on one
machine or a cluster (needs the optional extras of requirements-ray.txt).

    paths -> ray.data.from_items -> map_batches(DetectorActor: an actor pool, one detector each)
          -> write_parquet(<output>/_staging) -> complete files moved into <output>/

Every actor decodes and detects one batch of files at a time (decoding in the actor keeps the bytes
off the object store; the actors run side by side, so decoding of one overlaps the forward of
another). The inputs must be readable at the same path on every node (a shared file system).

Resuming: Ray writes each block's Parquet file into ``<output>/_staging/``; a file there is moved
(renamed, atomically) into ``<output>/`` only once it reads back completely, and a torn one (the
job was killed while writing it) is deleted. A run first does that for files an earlier run left,
then skips the paths already in ``<output>/*.parquet``: a killed job loses at most its blocks in
flight, and no path is recorded twice.

The folder knows what made it (``run.json``: the settings, as tools/detect_folder.py's header
records them); a rerun with other settings is refused naming them (``overwrite`` starts anew), the
records of changed inputs are dropped and detected again, those of inputs no longer listed dropped.
A run holds the folder's lock (``.lock``).
"""
import json
import logging
import math
import os
import socket

from rcnn.errors import UserError
from rcnn.pipeline.detect import build_detector, detect_files
from rcnn.pipeline.inputs import InputItem
from rcnn.pipeline.records import file_stamp, record_schema
from rcnn.pipeline.store import FORMAT, LOCK_NAME, refuse_other_settings
from rcnn.utils import safe_write
from rcnn.utils.lock import exclusive_lock

log = logging.getLogger(__name__)

STAGING_FOLDER = '_staging'
SETTINGS_NAME = 'run.json'
CONNECT_SECONDS = 10
INSTALL_HINT = ('Ray Data is not installed: .venv/bin/pip install -r requirements-ray.txt (the '
                'optional extras; see README)')


def require_ray():
    """The ``ray`` module, or UserError with the install command."""
    try:
        import ray
        import ray.data  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise UserError('%s [%s]' % (INSTALL_HINT, err))
    return ray


class DetectorActor:
    """One detector per Ray actor; called with a batch of {'key', 'file'} rows, returns its records
    as a pyarrow Table."""

    def __init__(self, spec, settings):
        self.detector = build_detector(spec)
        self.settings = settings

    def __call__(self, batch):
        import pyarrow as pa
        items = [InputItem(str(key), str(path)) for key, path in zip(batch['key'], batch['file'])]
        records, _ = detect_files(self.detector, self.settings, items)
        return pa.Table.from_pylist(records, schema=record_schema())


def commit_staged(out_dir):
    """Move the complete Parquet files of ``<out_dir>/_staging`` into ``out_dir``; delete torn ones.

    :return: number of files moved
    """
    import pyarrow.parquet as pq
    staging = os.path.join(out_dir, STAGING_FOLDER)
    moved = 0
    for folder, _, names in os.walk(staging):
        for name in sorted(names):
            path = os.path.join(folder, name)
            try:
                pq.read_table(path, columns=['path'])
            except Exception as err:  # pyarrow raises several kinds for a torn file
                log.warning('%s: incomplete (%s): deleted; its images are detected again', path, err)
                os.remove(path)
                continue
            os.replace(path, os.path.join(out_dir, name))
            moved += 1
    return moved


def committed_files(out_dir):
    """The results' Parquet files in ``out_dir``, sorted."""
    if not os.path.isdir(out_dir):
        return []
    return sorted(os.path.join(out_dir, name) for name in os.listdir(out_dir)
                  if name.endswith('.parquet'))


def read_results(out_dir, columns=None):
    """All records in ``out_dir`` as one pyarrow Table (``columns`` only, when given)."""
    import pyarrow as pa
    tables = [read_results_file(path, columns) for path in committed_files(out_dir)]
    schema = record_schema()
    if columns:
        schema = pa.schema([schema.field(name) for name in columns])
    return pa.concat_tables(tables) if tables else schema.empty_table()


def check_address(address):
    """UserError unless ``address`` is 'auto' or [ray://]host:port; a host:port that does not
    answer within CONNECT_SECONDS is one line too (Ray itself would wait on it for minutes)."""
    if address == 'auto':
        return
    target = address[len('ray://'):] if address.startswith('ray://') else address
    host, _, port = target.rpartition(':')
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError("--address %s: expected 'auto' or host:port (e.g. 10.0.0.1:6379)" % address)
    try:
        socket.create_connection((host.strip('[]'), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as err:
        raise UserError('--address %s: no Ray cluster answers there (%s); start one with ray start '
                        '--head, or leave --address out to run Ray here'
                        % (address, err.strerror or err)) from None


def check_settings(out_dir, settings, overwrite):
    """Record ``settings`` in ``<out_dir>/run.json``, or refuse other settings than those recorded,
    and results without a record (``overwrite``: delete the folder's results, staged ones
    included, and start anew)."""
    path = os.path.join(out_dir, SETTINGS_NAME)
    if os.path.lexists(path) and not overwrite:
        refuse_other_settings(out_dir, _recorded_settings(path), settings)
        return
    if overwrite:
        staging = os.path.join(out_dir, STAGING_FOLDER)
        staged = [os.path.join(folder, name) for folder, _, names in os.walk(staging) for name in names]
        for name in committed_files(out_dir) + staged:
            os.remove(name)
    elif committed_files(out_dir):
        raise UserError('%s holds results without a record of their settings (%s; an older version '
                        'of this tool?): pass --overwrite to start anew, or choose another --output'
                        % (out_dir, SETTINGS_NAME))
    safe_write.write_bytes(path, json.dumps({'format': FORMAT, 'settings': settings}) + '\n')


def _recorded_settings(path):
    """The settings ``run.json`` holds; UserError naming it when it is not this tool's."""
    try:
        with open(path, encoding='utf-8') as f:
            recorded = json.load(f)
    except (OSError, ValueError) as err:
        raise UserError('%s is not a settings file of this tool (%s); move it away or choose '
                        'another --output' % (path, err)) from None
    if not isinstance(recorded, dict) or recorded.get('format') != FORMAT:
        raise UserError('%s is not a settings file of this tool; move it away or choose another '
                        '--output' % path)
    return recorded.get('settings') or {}


def drop_stale(out_dir, items):
    """Remove the records of inputs no longer listed, or whose file changed, from the Parquet files.

    :return: (changed, absent): how many records were dropped for each reason
    """
    import pyarrow.parquet as pq
    files = {item.key: item.file for item in items}
    changed = absent = 0
    for path in committed_files(out_dir):
        table = read_results_file(path)
        keep = []
        for row in table.select(['path', 'bytes', 'mtime_ns']).to_pylist():
            listed = row['path'] in files
            fresh = listed and tuple(file_stamp(files[row['path']])) == (row['bytes'], row['mtime_ns'])
            absent += not listed
            changed += listed and not fresh
            keep.append(fresh)
        if all(keep):
            continue
        if any(keep):
            kept = table.filter(keep)
            safe_write.write_with(path, lambda tmp: pq.write_table(kept, tmp))
        else:
            os.remove(path)
    return changed, absent


def read_results_file(path, columns=None):
    """One results Parquet file as a pyarrow Table; UserError naming it when it cannot be read."""
    import pyarrow.parquet as pq
    try:
        return pq.read_table(path, columns=columns)
    except Exception as err:  # pyarrow raises several kinds for a bad file
        raise UserError('%s is not a readable Parquet file (%s): move it out of --output'
                        % (path, err)) from None


def run_ray_job(items, spec, settings, out_dir, address=None, num_cpus=None, actors=0,
                cpus_per_actor=1.0, run_settings=None, overwrite=False):
    """Detect the inputs not yet in ``out_dir`` on Ray and write their records there.

    :param items: :data:`rcnn.pipeline.inputs.InputItem` list
    :param address: a Ray cluster to join (``ray start --head`` prints it; 'auto' finds a local
        one); None starts Ray in this process, with ``num_cpus`` CPUs (None: all)
    :param actors: detector actors (0: the cluster's CPUs less one, over ``cpus_per_actor``, at
        least 1, so that one CPU stays free for the tasks that feed and write the actors: with
        every CPU held by an actor they cannot run and the job stalls)
    :param cpus_per_actor: CPUs each actor reserves
    :param run_settings: what made the records (:func:`rcnn.pipeline.store.run_settings`)
    :param overwrite: start the folder anew
    :return: (images detected in this run, images skipped as done, changed, absent)
    """
    require_ray()
    if address:
        check_address(address)
    safe_write.make_folder(out_dir, '--output')
    with exclusive_lock(os.path.join(out_dir, LOCK_NAME), 'results folder %s' % out_dir):
        check_settings(out_dir, run_settings or {}, overwrite)
        commit_staged(out_dir)
        changed, absent = drop_stale(out_dir, items)
        done = set(read_results(out_dir, ['path']).column('path').to_pylist())
        todo = [item for item in items if item.key not in done]
        if todo:
            safe_write.make_folder(os.path.join(out_dir, STAGING_FOLDER), 'staging folder')
            _run_actors(todo, len(done), spec, settings, out_dir, address, num_cpus, actors,
                        cpus_per_actor)
            commit_staged(out_dir)
    return len(todo), len(items) - len(todo), changed, absent


def _run_actors(todo, done, spec, settings, out_dir, address, num_cpus, actors, cpus_per_actor):
    """Detect ``todo`` on Ray, records into ``<out_dir>/_staging``."""
    ray = require_ray()
    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False)
    try:
        total_cpus = ray.cluster_resources().get('CPU', 1)
        if not actors:
            actors = max(1, int((total_cpus - 1) // cpus_per_actor))
        if actors * cpus_per_actor >= total_cpus:
            log.warning('%d actors of %g CPUs hold all %g CPUs of the cluster: the tasks that feed '
                        'and write them may not run', actors, cpus_per_actor, total_cpus)
        log.info('%d images to detect (%d done), %d actors of %g CPUs on %g CPUs', len(todo),
                 done, actors, cpus_per_actor, total_cpus)
        rows = [{'key': item.key, 'file': os.path.abspath(item.file)} for item in todo]
        dataset = ray.data.from_items(
            rows, override_num_blocks=math.ceil(len(rows) / settings.batch_size))
        records = dataset.map_batches(
            DetectorActor, fn_constructor_args=(spec, settings), batch_size=settings.batch_size,
            batch_format='numpy', compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=cpus_per_actor)
        records.write_parquet(os.path.join(out_dir, STAGING_FOLDER))
    finally:
        ray.shutdown()
