"""tools/detect_folder.py's results folder on a shared machine: it knows the settings that made it
(a rerun with others is refused naming them, --overwrite starts anew), changed inputs are detected
again and deleted ones dropped, one run at a time holds it, links and foreign files are never
written through, and huge images are named, skipped records read from their header."""
import hashlib
import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from rcnn.pipeline import store
from rcnn.utils.lock import acquire, release
from tests.cli_cases import (ROOT, assert_one_error, load_script, peak_memory_command,
                             run_in_process, write_black_png, write_png_header_only)
from tests.shared_data import mnet25_prefix, shared_path

detect_folder = load_script(os.path.join('tools', 'detect_folder.py'), 'detect_folder_script')
FAST = ['--prefix', mnet25_prefix(), '--model-workers', '1', '--workers', '0', '--no-progress']


@pytest.fixture
def photos(tmp_path):
    """Three small photos cut from t1.jpg (one with faces in a subfolder)."""
    folder = tmp_path / 'photos'
    (folder / 'sub').mkdir(parents=True)
    image = cv2.imread(shared_path('images', 'samples', 't1.jpg'))
    cv2.imwrite(str(folder / 'a.jpg'), cv2.resize(image, (320, 222)))
    cv2.imwrite(str(folder / 'b.png'), image[100:400, 200:600])
    cv2.imwrite(str(folder / 'sub' / 'c.jpg'), image[300:, 600:])
    return folder


def run(capsys, *argv):
    return run_in_process(detect_folder.main, list(argv), capsys)


def records_of(out):
    """(header, records by path) of a results folder."""
    with open(out / store.RESULTS_NAME) as f:
        header, *records = [json.loads(line) for line in f]
    return header, {record['path']: record for record in records}


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_rerun_with_other_settings_is_refused_and_overwrite_starts_anew(photos, tmp_path, capsys):
    out = tmp_path / 'out'
    assert run(capsys, photos, '--output', out, *FAST)[0] == 0
    header, first = records_of(out)
    assert header['settings']['threshold'] == 0.8 and header['settings']['rotations'] == [0]
    assert header['settings']['model'] == [digest(p) for p in (
        tmp_path.__class__(mnet25_prefix() + '-symbol.json'), tmp_path.__class__(mnet25_prefix() + '-0000.params'))]
    before = digest(out / store.RESULTS_NAME)
    outcome = run(capsys, photos, '--output', out, '--threshold', '0.5', '--flip', *FAST)
    assert_one_error(outcome, 1, '%s holds results of other settings: flip (was false, now true); '
                     'threshold (was 0.8, now 0.5); rerun with the same settings, pass --overwrite' % out)
    assert digest(out / store.RESULTS_NAME) == before

    assert run(capsys, photos, '--output', out, '--thresh', '0.5', '--flip', '--overwrite', *FAST)[0] == 0
    clean = tmp_path / 'clean'
    assert run(capsys, photos, '--output', clean, '--threshold', '0.5', '--flip', *FAST)[0] == 0
    assert records_of(out) == records_of(clean)
    assert set(first) == set(records_of(out)[1])


def test_changed_inputs_are_detected_again_and_deleted_ones_dropped(photos, tmp_path, capsys):
    out = tmp_path / 'out'
    assert run(capsys, photos, '--output', out, *FAST)[0] == 0
    image = cv2.imread(str(photos / 'b.png'))
    cv2.imwrite(str(photos / 'b.png'), cv2.flip(image, 1))  # same size on disk or not: a new mtime
    os.utime(photos / 'b.png', ns=(1, 1))
    os.remove(photos / 'sub' / 'c.jpg')
    code, printed, _ = run(capsys, photos, '--output', out, *FAST)
    assert code == 0
    assert ('1 images (1 already done, skipped; 1 changed inputs detected again, 1 records of inputs '
            'no longer listed dropped)') in printed
    clean = tmp_path / 'clean'
    assert run(capsys, photos, '--output', clean, *FAST)[0] == 0
    assert records_of(out) == records_of(clean)


def test_a_locked_folder_is_one_line_naming_the_holder(photos, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    fd = acquire(str(out / store.LOCK_NAME), 'test')
    try:
        outcome = run(capsys, photos, '--output', out, *FAST)
    finally:
        release(fd)
    assert_one_error(outcome, 1, 'results folder %s is in use by another run (pid %d)' % (out, os.getpid()))
    assert sorted(os.listdir(out)) == [store.LOCK_NAME]
    assert run(capsys, photos, '--output', out, *FAST)[0] == 0


@pytest.mark.slow
def test_two_concurrent_runs_one_runs_the_other_says_why(tmp_path):
    folder = tmp_path / 'many'
    folder.mkdir()
    image = cv2.imread(shared_path('images', 'samples', 't1.jpg'))
    for index in range(24):
        cv2.imwrite(str(folder / ('%02d.jpg' % index)), image)
    out = tmp_path / 'out'
    command = [sys.executable, os.path.join(ROOT, 'tools', 'detect_folder.py'), str(folder), '--output',
               str(out), '--batch-size', '1'] + FAST
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = out / store.RESULTS_NAME
    deadline = time.time() + 120
    while time.time() < deadline and not (results.exists() and results.read_text().count('\n') >= 2):
        time.sleep(0.05)
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.poll() is None, 'the first run ended before the second could try'
    assert_one_error((second.returncode, second.stdout, second.stderr), 1,
                     'results folder %s is in use by another run (pid %d)' % (out, first.pid))
    assert first.wait(timeout=300) == 0
    paths = [json.loads(line)['path'] for line in results.read_text().splitlines()[1:]]
    assert sorted(paths) == ['%02d.jpg' % index for index in range(24)]  # each once


def test_a_foreign_results_file_is_refused_untouched(photos, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / store.RESULTS_NAME).write_text('{"path": "somebody else\'s"}\n')
    before = digest(out / store.RESULTS_NAME)
    outcome = run(capsys, photos, '--output', out, *FAST)
    assert_one_error(outcome, 1, '%s is not a retinaface-detections file' % (out / store.RESULTS_NAME))
    assert digest(out / store.RESULTS_NAME) == before


@pytest.mark.parametrize('line, message', [
    ('[1, 2]', ':2: a record must be a JSON object, found list'),
    ('{"scores": []}', ":2: record without 'path'"),
])
def test_bad_records_are_one_line_naming_the_line(photos, tmp_path, capsys, line, message):
    out = tmp_path / 'out'
    assert run(capsys, photos, '--output', out, *FAST)[0] == 0
    header = (out / store.RESULTS_NAME).read_text().splitlines()[0]
    (out / store.RESULTS_NAME).write_text(header + '\n' + line + '\n')
    outcome = run(capsys, photos, '--output', out, *FAST)
    assert_one_error(outcome, 1, str(out / store.RESULTS_NAME) + message)


def test_links_are_refused_or_replaced_never_followed(photos, tmp_path, capsys):
    victim = tmp_path / 'victim.txt'
    victim.write_text('keep me')
    out = tmp_path / 'out'
    out.mkdir()
    os.symlink(victim, out / store.RESULTS_NAME)
    assert_one_error(run(capsys, photos, '--output', out, *FAST), 1, 'symbolic link')
    os.remove(out / store.RESULTS_NAME)
    os.symlink(tmp_path, out / 'drawn')
    assert_one_error(run(capsys, photos, '--output', out, '--draw', *FAST), 1, str(out / 'drawn'),
                     'symbolic link')
    os.remove(out / 'drawn')
    (out / 'drawn').mkdir()
    from rcnn.pipeline.records import output_name
    planted = out / 'drawn' / output_name('a.jpg', '.jpg')
    os.symlink(victim, planted)
    assert run(capsys, photos, '--output', out, '--draw', *FAST)[0] == 0
    assert victim.read_text() == 'keep me' and not planted.is_symlink()
    assert cv2.imread(str(planted)).shape == (222, 320, 3)


def test_crops_links_are_refused_or_replaced_never_followed(photos, tmp_path, capsys):
    victim = tmp_path / 'victim'
    victim.mkdir()
    (victim / 'v.txt').write_text('keep me')
    out = tmp_path / 'out'
    out.mkdir()
    os.symlink(victim, out / 'crops')
    assert_one_error(run(capsys, photos, '--output', out, '--crops', '112', *FAST), 1,
                     'error: output folder %s is a symbolic link; name a real folder' % (out / 'crops'))
    assert os.listdir(victim) == ['v.txt']
    os.remove(out / 'crops')
    assert run(capsys, photos, '--output', out, '--crops', '112', *FAST)[0] == 0
    crops = sorted(os.listdir(out / 'crops'))
    assert len(crops) == sum(len(r['scores']) for r in records_of(out)[1].values()) > 0
    clean = {name: digest(out / 'crops' / name) for name in crops}
    os.remove(out / 'crops' / crops[0])
    os.symlink(victim / 'v.txt', out / 'crops' / crops[0])
    assert run(capsys, photos, '--output', out, '--crops', '112', *FAST, '--overwrite')[0] == 0
    assert (victim / 'v.txt').read_text() == 'keep me' and not os.path.islink(out / 'crops' / crops[0])
    assert {name: digest(out / 'crops' / name) for name in crops} == clean


def test_a_link_at_the_parquet_file_is_replaced_not_followed(photos, tmp_path, capsys):
    pytest.importorskip('pyarrow.parquet')
    import pyarrow.parquet as pq
    victim = tmp_path / 'victim.txt'
    victim.write_text('keep me')
    out = tmp_path / 'out'
    out.mkdir()
    os.symlink(victim, out / store.PARQUET_NAME)
    assert run(capsys, photos, '--output', out, *FAST)[0] == 0
    assert victim.read_text() == 'keep me' and not os.path.islink(out / store.PARQUET_NAME)
    assert sorted(pq.read_table(str(out / store.PARQUET_NAME)).column('path').to_pylist()) == sorted(
        records_of(out)[1])
    assert sorted(os.listdir(out)) == sorted([store.LOCK_NAME, store.RESULTS_NAME, store.PARQUET_NAME])


@pytest.fixture(scope='module')
def huge_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp('huge')
    write_png_header_only(folder / 'claims.png', 50000, 50000)
    write_black_png(folder / 'big.png', 24000)
    return folder


def test_huge_images_are_named_skipped_records_under_500_mb(photos, huge_images, tmp_path, capsys):
    """The good photos small: MXNet with mnet.25 alone takes about 440 MB here; decoding big.png
    would take 1.7 GB."""
    (photos / 'b.png').write_bytes(cv2.imencode('.png', cv2.imread(str(photos / 'a.jpg')))[1].tobytes())
    (photos / 'sub' / 'c.jpg').write_bytes((photos / 'a.jpg').read_bytes())
    for name in ('claims.png', 'big.png'):
        os.symlink(huge_images / name, photos / name)
    out = tmp_path / 'out'
    code, printed, err, peak = peak_memory_command(os.path.join('tools', 'detect_folder.py'), photos,
                                                   '--output', out, *FAST)
    assert_one_error((code, printed, err), 1, '2 of 5 images could not be processed', 'big.png',
                     'claims.png')
    _, records = records_of(out)
    assert records['claims.png']['error'].startswith(
        'claims.png: 50000x50000 pixels at scale 1 give the network a 50000x50000 input (2500.0 '
        'megapixels), over the limit of 16 megapixels')
    assert records['big.png']['error'].startswith(
        'big.png: 24000x24000 pixels at scale 1 give the network a 24000x24000 input (576.0 '
        'megapixels), over the limit of 16 megapixels')
    assert peak < 500, peak
    for name in ('claims.png', 'big.png'):
        os.remove(photos / name)
    clean = tmp_path / 'clean'
    assert run(capsys, photos, '--output', clean, *FAST)[0] == 0
    assert {k: v for k, v in records.items() if not v['error']} == records_of(clean)[1]


@pytest.mark.parametrize('case, message', [
    ('max size alone', '--max-size 900 caps the long side of --target-size resizing; pass '
                       '--target-size too, or leave --max-size out'),
    ('output is a file', '--output {tmp}/file.txt is an existing file; name a folder for the results'),
    ('bad rotations', "argument --rotations: must be 'auto' or a comma-separated list of 0, 90, "
                      "180, 270 (degrees), got '45'"),
])
def test_option_errors_are_one_line(photos, tmp_path, capsys, case, message):
    (tmp_path / 'file.txt').write_text('a file')
    argv = {'max size alone': ['--output', tmp_path / 'o', '--max-size', '900'],
            'output is a file': ['--output', tmp_path / 'file.txt'],
            'bad rotations': ['--output', tmp_path / 'o', '--rotations', '45']}[case]
    outcome = run(capsys, photos, *argv, *FAST)
    assert_one_error(outcome, 2 if case == 'bad rotations' else 1, message.format(tmp=tmp_path))
    assert not (tmp_path / 'o').exists() and (tmp_path / 'file.txt').read_text() == 'a file'


def test_snake_case_spellings_still_parse():
    args = detect_folder.parse_args(['in', '--output', 'o', '--prefix', 'p', '--target_size', '640',
                                     '--max_size', '900', '--thresh', '0.6', '--batch_size', '2'])
    assert (args.target_size, args.max_size, args.threshold, args.batch_size) == (640, 900, 0.6, 2)


class RecordingDetector:
    """Stands in for a detector: no faces, records the keywords of each detect_batch call."""

    def __init__(self):
        self.keywords = []

    def detect_batch(self, images, threshold, scales, do_flip, **keywords):
        self.keywords.append(keywords)
        return [(np.zeros((0, 5)), None) for _ in images]


def test_pyramid_and_rotations_reach_the_detector_only_when_asked(photos, tmp_path):
    from rcnn.pipeline.detect import detect_files
    from rcnn.pipeline.inputs import list_inputs
    from rcnn.pipeline.settings import default_settings
    items = list_inputs(str(photos))
    detector = RecordingDetector()
    for settings in (default_settings(), default_settings(pyramid=True),
                     default_settings(rotations='auto'), default_settings(rotations=(0, 90))):
        detect_files(detector, settings, items)
    assert [{k: v for k, v in kw.items() if k in ('pyramid', 'rotations')} for kw in detector.keywords] == [
        {}, {'pyramid': True}, {'rotations': 'auto'}, {'rotations': (0, 90)}]


def test_the_header_records_pyramid_and_rotations():
    from rcnn.pipeline.settings import DetectorSpec, default_settings
    spec = DetectorSpec('mxnet', mnet25_prefix(), 0, 'net3', 0.4, 0)
    settings = store.run_settings(spec, default_settings(pyramid=True, rotations='auto', letterbox=(640, 480)))
    assert (settings['pyramid'], settings['rotations'], settings['letterbox']) == (True, 'auto', [640, 480])
    assert store.differing_settings(settings, dict(settings, rotations=[0, 90])) == [
        'rotations (was "auto", now [0, 90])']
