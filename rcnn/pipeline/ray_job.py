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
"""
import logging
import math
import os

from rcnn.pipeline import batch_pipeline
from rcnn.errors import UserError

log = logging.getLogger(__name__)

STAGING_FOLDER = '_staging'
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
        self.detector = batch_pipeline.build_detector(spec)
        self.settings = settings

    def __call__(self, batch):
        import pyarrow as pa
        items = [batch_pipeline.InputItem(str(key), str(path))
                 for key, path in zip(batch['key'], batch['file'])]
        records, _ = batch_pipeline.detect_files(self.detector, self.settings, items)
        return pa.Table.from_pylist(records, schema=batch_pipeline.record_schema())


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
    import pyarrow.parquet as pq
    tables = []
    for path in committed_files(out_dir):
        try:
            tables.append(pq.read_table(path, columns=columns))
        except Exception as err:
            raise UserError('%s is not a readable Parquet file (%s): move it out of --output'
                            % (path, err))
    schema = batch_pipeline.record_schema()
    if columns:
        schema = pa.schema([schema.field(name) for name in columns])
    return pa.concat_tables(tables) if tables else schema.empty_table()


def run_ray_job(items, spec, settings, out_dir, address=None, num_cpus=None, actors=0,
                cpus_per_actor=1.0):
    """Detect the inputs not yet in ``out_dir`` on Ray and write their records there.

    :param items: :data:`batch_pipeline.InputItem` list
    :param address: a Ray cluster to join (``ray start --head`` prints it; 'auto' finds a local
        one); None starts Ray in this process, with ``num_cpus`` CPUs (None: all)
    :param actors: detector actors (0: the cluster's CPUs less one, over ``cpus_per_actor``, at
        least 1, so that one CPU stays free for the tasks that feed and write the actors: with
        every CPU held by an actor they cannot run and the job stalls)
    :param cpus_per_actor: CPUs each actor reserves
    :return: (images detected in this run, images skipped as done)
    """
    ray = require_ray()
    os.makedirs(out_dir, exist_ok=True)
    commit_staged(out_dir)
    done = set(read_results(out_dir, ['path']).column('path').to_pylist())
    todo = [item for item in items if item.key not in done]
    if not todo:
        return 0, len(items)
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
                 len(done), actors, cpus_per_actor, total_cpus)
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
    commit_staged(out_dir)
    return len(todo), len(items) - len(todo)
