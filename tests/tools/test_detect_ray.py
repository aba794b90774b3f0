"""tools/detect_ray.py on a local 2-CPU Ray: killed half way and rerun, it ends with exactly the
records of the single-process pipeline (tools/detect_folder.py) on the real images: nothing lost,
nothing doubled. Torn Parquet files of a killed run are dropped, complete ones kept."""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

_HINT = 'Ray Data is an optional extra: .venv/bin/pip install -r requirements-ray.txt'
pytest.importorskip('ray.data', reason=_HINT)
pytest.importorskip('pyarrow', reason=_HINT)

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from rcnn.errors import UserError  # noqa: E402
from rcnn.pipeline import ray_job, store  # noqa: E402
from rcnn.pipeline.records import error_record, record_schema  # noqa: E402
from rcnn.pipeline.settings import DetectorSpec, default_settings  # noqa: E402
from rcnn.utils.lock import acquire, release  # noqa: E402
from tests.cli_cases import assert_one_error  # noqa: E402
from tests.shared_data import ROOT, mnet25_prefix, shared_path  # noqa: E402

_spec = importlib.util.spec_from_file_location('detect_folder', os.path.join(ROOT, 'tools', 'detect_folder.py'))
detect_folder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(detect_folder)

RAY_SCRIPT = os.path.join(ROOT, 'tools', 'detect_ray.py')
OPTIONS = ['--scale', '0.5', '--threshold', '0.7']


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """The real photos in two folders, and an undecodable file."""
    root = tmp_path_factory.mktemp('photos')
    for folder, parts in (('samples', ('images', 'samples')), ('wider', ('images', 'widerface_val'))):
        source = shared_path(*parts)
        for parent, _, names in os.walk(source):
            for name in names:
                if name.endswith('.jpg'):
                    os.makedirs(root / folder, exist_ok=True)
                    shutil.copy(os.path.join(parent, name), root / folder / name)
    (root / 'broken.jpg').write_bytes(b'\xff\xd8 not really')
    return root


def by_path(records):
    return sorted(records, key=lambda record: record['path'])


@pytest.mark.slow
def test_killed_and_rerun_gives_exactly_the_single_process_records(photos, tmp_path):
    single = tmp_path / 'single'
    with pytest.raises(UserError, match='1 of 9 images could not be processed'):  # broken.jpg
        detect_folder.main([str(photos), '--output', str(single), '--prefix', mnet25_prefix(),
                            '--no-progress', '--workers', '0'] + OPTIONS)
    with open(single / store.RESULTS_NAME) as f:
        expected = by_path(json.loads(line) for line in f.readlines()[1:])  # after the header
    assert len(expected) == 9

    out = tmp_path / 'ray'
    args = [sys.executable, RAY_SCRIPT, str(photos), '--output', str(out), '--prefix',
            mnet25_prefix(), '--num-cpus', '2', '--batch-size', '1'] + OPTIONS
    # own session: the kill takes Ray's processes (GCS, raylet, workers) with the driver
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    staging = out / ray_job.STAGING_FOLDER
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        if staging.is_dir() and len(os.listdir(staging)) >= 3:
            break
        time.sleep(0.1)
    assert process.poll() is None, 'the job ended before it could be killed'
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    written = len(os.listdir(staging))
    assert 3 <= written < len(expected)

    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]  # broken.jpg
    assert result.stderr.strip().splitlines()[-1].startswith('error: 1 of 9 images')
    done = int(result.stdout.split(' already done')[0].split()[-1])
    assert written <= done < 9  # a block may land in _staging between the count and the kill
    assert 'now holds 9 records' in result.stdout
    records = ray_job.read_results(str(out)).to_pylist()
    assert len({record['path'] for record in records}) == len(records)  # nothing doubled
    assert by_path(records) == expected  # nothing lost, the same records
    assert os.listdir(staging) == []


def test_torn_staged_files_are_deleted_and_complete_ones_kept(tmp_path):
    staging = tmp_path / ray_job.STAGING_FOLDER
    staging.mkdir()
    schema = record_schema()
    for name, key in (('a.parquet', 'a.jpg'), ('b.parquet', 'b.jpg')):
        table = pa.Table.from_pylist([error_record(key, 'unreadable')], schema=schema)
        pq.write_table(table, str(staging / name))
    data = (staging / 'b.parquet').read_bytes()
    (staging / 'b.parquet').write_bytes(data[:len(data) // 2])  # killed while writing
    assert ray_job.commit_staged(str(tmp_path)) == 1
    assert os.listdir(staging) == []
    assert ray_job.read_results(str(tmp_path), ['path']).column('path').to_pylist() == ['a.jpg']


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, 'ray', None)  # import ray now fails
    with pytest.raises(UserError) as error:
        ray_job.require_ray()
    assert str(error.value).startswith('Ray Data is not installed: .venv/bin/pip install -r '
                                       'requirements-ray.txt (the optional extras; see README)')


@pytest.mark.parametrize('address, message', [
    ('127.0.0.1:1', '--address 127.0.0.1:1: no Ray cluster answers there'),
    ('not an address', "--address not an address: expected 'auto' or host:port"),
    ('host:99999', "--address host:99999: expected 'auto' or host:port"),
])
def test_a_bad_address_is_one_line_in_bounded_time(photos, tmp_path, address, message):
    start = time.time()
    result = subprocess.run([sys.executable, RAY_SCRIPT, str(photos), '--output', str(tmp_path / 'out'),
                             '--prefix', mnet25_prefix(), '--address', address],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert time.time() - start < 60
    assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith('error: ' + message)
    assert not (tmp_path / 'out').exists()


def test_a_rerun_with_other_settings_is_refused(tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    settings = {'threshold': 0.7}
    ray_job.check_settings(str(out), settings, overwrite=False)
    ray_job.check_settings(str(out), settings, overwrite=False)  # the same: accepted
    with pytest.raises(UserError, match=r'holds results of other settings: threshold \(was 0.7, now 0.5\)'):
        ray_job.check_settings(str(out), {'threshold': 0.5}, overwrite=False)
    (out / 'part-0.parquet').write_bytes(b'old results')
    (out / ray_job.STAGING_FOLDER).mkdir()
    (out / ray_job.STAGING_FOLDER / 'part-1.parquet').write_bytes(b'staged old results')
    ray_job.check_settings(str(out), {'threshold': 0.5}, overwrite=True)
    assert json.loads((out / ray_job.SETTINGS_NAME).read_text())['settings'] == {'threshold': 0.5}
    assert sorted(os.listdir(out)) == [ray_job.STAGING_FOLDER, ray_job.SETTINGS_NAME]
    assert os.listdir(out / ray_job.STAGING_FOLDER) == []


def test_results_without_a_settings_record_are_refused(tmp_path):
    (tmp_path / 'part-0.parquet').write_bytes(b'results of an older version')
    with pytest.raises(UserError, match='holds results without a record of their settings'):
        ray_job.check_settings(str(tmp_path), {'threshold': 0.5}, overwrite=False)
    assert os.listdir(tmp_path) == ['part-0.parquet']


def test_records_of_changed_and_deleted_inputs_are_dropped(tmp_path):
    from rcnn.pipeline.inputs import InputItem
    from rcnn.pipeline.records import file_stamp
    for name in ('kept.jpg', 'changed.jpg', 'deleted.jpg'):
        (tmp_path / name).write_bytes(b'x')
    stamps = {name: file_stamp(str(tmp_path / name)) for name in ('kept.jpg', 'changed.jpg', 'deleted.jpg')}
    table = pa.Table.from_pylist([error_record(name, 'e', stamps[name]) for name in stamps],
                                 schema=record_schema())
    out = tmp_path / 'out'
    out.mkdir()
    pq.write_table(table, str(out / 'part-0.parquet'))
    (tmp_path / 'changed.jpg').write_bytes(b'xy')
    items = [InputItem(name, str(tmp_path / name)) for name in ('kept.jpg', 'changed.jpg')]
    assert ray_job.drop_stale(str(out), items) == (1, 1)
    assert ray_job.read_results(str(out), ['path']).column('path').to_pylist() == ['kept.jpg']


@pytest.mark.slow
def test_huge_images_are_named_records_and_the_run_fails_after_the_rest(tmp_path):
    from tests.cli_cases import write_black_png, write_png_header_only
    folder = tmp_path / 'in'
    folder.mkdir()
    shutil.copy(shared_path('images', 'samples', 't1.jpg'), folder / 't1.jpg')
    write_png_header_only(folder / 'claims.png', 50000, 50000)
    write_black_png(folder / 'big.png', 24000)
    out = tmp_path / 'out'
    result = subprocess.run([sys.executable, RAY_SCRIPT, str(folder), '--output', str(out), '--prefix',
                             mnet25_prefix(), '--num-cpus', '2', '--scale', '0.5'],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        'error: 2 of 3 images could not be processed and have no output (see the "skipped" lines '
        'above): big.png, claims.png')
    records = {r['path']: r for r in ray_job.read_results(str(out)).to_pylist()}
    assert 'over the limit of 16 megapixels' in records['claims.png']['error']
    assert 'over the limit of 16 megapixels' in records['big.png']['error']
    assert records['t1.jpg']['error'] is None and len(records['t1.jpg']['scores']) > 0


def ray_command(*argv):
    """(exit status, stdout, stderr) of tools/detect_ray.py with mnet.25 and ``argv``."""
    done = subprocess.run([sys.executable, RAY_SCRIPT, *map(str, argv), '--prefix', mnet25_prefix()],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_a_rerun_with_other_settings_is_one_line_and_touches_nothing(photos, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    spec = DetectorSpec('mxnet', mnet25_prefix(), 0, 'net3', 0.4, 0)
    ray_job.check_settings(str(out), store.run_settings(spec, default_settings(threshold=0.8)), overwrite=False)
    before = (out / ray_job.SETTINGS_NAME).read_bytes()
    assert_one_error(ray_command(photos, '--output', out, '--threshold', '0.5'), 1,
                     'error: %s holds results of other settings: threshold (was 0.8, now 0.5); rerun with the '
                     'same settings, pass --overwrite to start anew, or choose another --output' % out)
    assert (out / ray_job.SETTINGS_NAME).read_bytes() == before
    assert sorted(os.listdir(out)) == sorted([ray_job.SETTINGS_NAME, store.LOCK_NAME])


def test_a_locked_folder_is_one_line_naming_the_holder(photos, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    fd = acquire(str(out / store.LOCK_NAME), 'test')
    try:
        outcome = ray_command(photos, '--output', out)
    finally:
        release(fd)
    assert_one_error(outcome, 1, 'error: results folder %s is in use by another run (pid %d)' % (out, os.getpid()))
    assert os.listdir(out) == [store.LOCK_NAME]


@pytest.mark.parametrize('case, message', [
    ('max size alone', '--max-size 900 caps the long side of --target-size resizing; pass --target-size too, '
                       'or leave --max-size out'),
    ('output is a file', '--output {tmp}/file.txt is an existing file; name a folder for the results'),
])
def test_option_errors_are_one_line(photos, tmp_path, case, message):
    (tmp_path / 'file.txt').write_text('a file')
    argv = {'max size alone': ['--output', tmp_path / 'o', '--max-size', '900'],
            'output is a file': ['--output', tmp_path / 'file.txt']}[case]
    assert_one_error(ray_command(photos, *argv), 1, 'error: ' + message.format(tmp=tmp_path))
    assert not (tmp_path / 'o').exists() and (tmp_path / 'file.txt').read_text() == 'a file'
