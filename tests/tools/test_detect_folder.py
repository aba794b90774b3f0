"""tools/detect_folder.py: records equal detect() image by image on the real images, bad files are
recorded and skipped, a killed run resumes without losing or doubling an image, crops and drawn
images never touch the inputs, and each expected failure is one `error:` line."""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from rcnn.pipeline import inputs, store
from rcnn.pipeline.detect import build_detector
from rcnn.pipeline.records import output_name
from rcnn.pipeline.settings import DetectorSpec
from rcnn.utils import cli
from tests.shared_data import ROOT, mnet25_prefix, shared_path

_spec = importlib.util.spec_from_file_location('detect_folder', os.path.join(ROOT, 'tools', 'detect_folder.py'))
detect_folder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(detect_folder)

SCRIPT = os.path.join(ROOT, 'tools', 'detect_folder.py')
SCALE = '0.5'  # keeps the test quick; the records are compared at the same scale


def real_images():
    """Paths of the real photos: the three samples and the five WIDER val images."""
    folders = [shared_path('images', 'samples'), shared_path('images', 'widerface_val')]
    paths = []
    for folder in folders:
        for parent, _, names in os.walk(folder):
            paths += [os.path.join(parent, n) for n in sorted(names) if n.endswith('.jpg')]
    return sorted(paths)


@pytest.fixture(scope='module')
def photo_tree(tmp_path_factory):
    """A folder tree of the real photos (two levels), one undecodable file, one non-image file."""
    root = tmp_path_factory.mktemp('photos')
    for index, path in enumerate(real_images()):
        folder = root / ('group%d' % (index % 2)) / ('sub' if index % 3 == 0 else '')
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / os.path.basename(path))
    (root / 'broken.jpg').write_bytes(b'this is not a JPEG')
    (root / 'notes.txt').write_text('not an image')
    return root


@pytest.fixture(scope='module')
def detector(mnet25_detector):
    return mnet25_detector


def read_records(out_dir):
    """The records of a results folder, after its header record."""
    with open(os.path.join(out_dir, store.RESULTS_NAME)) as f:
        header, *records = [json.loads(line) for line in f]
    assert header['format'] == store.FORMAT
    return records


def run_main(argv):
    """Exit status of detect_folder.py's main run as the command runs it."""
    with pytest.raises(SystemExit) as stopped:
        cli.run_main(detect_folder.main, [str(a) for a in argv])
    return stopped.value.code


def run_tool(*args):
    return subprocess.run([sys.executable, SCRIPT] + [str(a) for a in args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope='module')
def full_run(photo_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp('out') / 'results'
    status = run_main([str(photo_tree), '--output', str(out), '--prefix', mnet25_prefix(),
                       '--scale', SCALE, '--batch-size', '3', '--model-workers', '1',
                       '--workers', '1', '--crops', '112', '--draw', '--no-progress'])
    assert status == 1  # broken.jpg was not detected
    return out


def test_records_equal_detect_image_by_image(full_run, photo_tree, detector):
    records = read_records(full_run)
    expected_keys = sorted(os.path.relpath(os.path.join(p, n), photo_tree).replace(os.sep, '/')
                           for p, _, names in os.walk(photo_tree) for n in names if n.endswith('.jpg'))
    assert sorted(r['path'] for r in records) == expected_keys
    for record in records:
        if record['path'] == 'broken.jpg':
            assert record['error'] == ('cannot read image %s: not an image OpenCV can decode'
                                       % (photo_tree / 'broken.jpg'))
            assert record['boxes'] is None and record['width'] is None
            continue
        img = cv2.imread(str(photo_tree / record['path']))
        faces, landmarks = detector.detect(img, threshold=0.8, scales=[float(SCALE)])
        assert (record['height'], record['width']) == img.shape[:2]
        assert record['error'] is None and len(record['scores']) == len(faces), record['path']
        np.testing.assert_allclose(np.reshape(record['boxes'], (-1, 4)), faces[:, :4], atol=0.006)
        np.testing.assert_allclose(record['scores'], faces[:, 4], atol=6e-6)
        np.testing.assert_allclose(np.reshape(record['landmarks'], (-1, 5, 2)), landmarks, atol=0.006)
    assert sum(len(r['scores'] or []) for r in records) > 100  # the group photos have many faces


def test_an_image_over_max_megapixels_is_recorded_and_skipped(tmp_path):
    (tmp_path / 'in').mkdir()
    shutil.copy(real_images()[0], tmp_path / 'in' / 'big.jpg')
    cv2.imwrite(str(tmp_path / 'in' / 'small.png'), np.zeros((100, 100, 3), np.uint8))
    status = run_main([str(tmp_path / 'in'), '--output', str(tmp_path / 'out'), '--prefix',
                       mnet25_prefix(), '--max-megapixels', '0.02', '--model-workers', '1',
                       '--workers', '0', '--no-progress'])
    big, small = read_records(tmp_path / 'out')
    height, width = cv2.imread(str(tmp_path / 'in' / 'big.jpg')).shape[:2]
    assert status == 1
    assert big['error'] == (
        'big.jpg: %dx%d pixels at scale 1 give the network a %dx%d input (%.1f megapixels), over the '
        'limit of 0.02 megapixels; lower the scale (--scale, --target-size / --max-size or '
        '--letterbox) or raise --max-megapixels (0: no limit)'
        % (width, height, width, height, width * height / 1e6))
    assert big['boxes'] is None
    assert small['error'] is None and small['scores'] == []


def test_crops_and_drawn_images_are_written_beside_not_over_the_inputs(full_run, photo_tree):
    records = [r for r in read_records(full_run) if r['error'] is None]
    crops = os.listdir(full_run / 'crops')
    assert len(crops) == sum(len(r['scores']) for r in records)
    drawn = os.listdir(full_run / 'drawn')
    assert sorted(drawn) == sorted(output_name(r['path'], '.jpg') for r in records)
    crop = cv2.imread(str(full_run / 'crops' / crops[0]))
    assert crop.shape == (112, 112, 3)
    assert not any(name.startswith(('drawn', 'crops')) for name in os.listdir(photo_tree))


def test_output_names_are_unique_per_input():
    names = {output_name(key, '.jpg') for key in ('a/x.jpg', 'b/x.jpg', 'x.jpg', 'x.png')}
    assert len(names) == 4


def test_parquet_holds_the_same_records(full_run):
    pq = pytest.importorskip('pyarrow.parquet', reason='Parquet output needs pyarrow (requirements-ray.txt)')
    table = pq.read_table(str(full_run / store.PARQUET_NAME))
    assert table.to_pylist() == read_records(full_run)


def test_a_rerun_skips_everything(full_run, photo_tree):
    before = read_records(full_run)
    result = run_tool(photo_tree, '--output', full_run, '--prefix', mnet25_prefix(), '--scale', SCALE,
                      '--no-progress')
    assert result.returncode == 1, result.stderr  # broken.jpg is still not detected
    assert '0 images (%d already done, skipped; 0 changed' % len(before) in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith('error: 1 of %d images' % len(before))
    assert read_records(full_run) == before


def child_processes(pid):
    """Ids of the processes whose parent is ``pid`` (from /proc)."""
    children = []
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
        except OSError:  # not a process, or it has just ended
            continue
        if int(stat.rsplit(')', 1)[1].split()[1]) == pid:
            children.append(int(entry))
    return children


def ended(pid):
    """Whether process ``pid`` is gone (or a zombie waiting to be reaped)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


@pytest.mark.slow
@pytest.mark.parametrize('mode', [['--model-workers', '1', '--workers', '1'],
                                  ['--model-workers', '2']], ids=['decoding-workers', 'model-workers'])
def test_a_killed_run_resumes_without_losing_or_doubling(full_run, photo_tree, tmp_path, mode):
    out = tmp_path / 'killed'
    args = [sys.executable, SCRIPT, str(photo_tree), '--output', str(out), '--prefix',
            mnet25_prefix(), '--scale', SCALE, '--batch-size', '1', '--no-progress'] + mode
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / store.RESULTS_NAME
    deadline = time.time() + 120
    while time.time() < deadline and not (results.exists() and results.read_text().count('\n') >= 3):
        time.sleep(0.05)
    workers = child_processes(process.pid) if os.path.isdir('/proc') else []
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.time() + 10  # the pool's processes end with the run, not hang on
    while time.time() < deadline and not all(ended(pid) for pid in workers):
        time.sleep(0.05)
    assert all(ended(pid) for pid in workers)
    done = results.read_text().count('\n') - 1  # the header
    assert 2 <= done < len(read_records(full_run))
    with open(results, 'a') as f:  # as if killed in the middle of writing the next line
        f.write('{"path": "group1/t')
    result = run_tool(*args[2:])
    assert result.returncode == 1, result.stderr  # broken.jpg
    assert 'ignoring an incomplete last line' in result.stderr
    assert sorted(read_records(out), key=lambda r: r['path']) == \
        sorted(read_records(full_run), key=lambda r: r['path'])


@pytest.mark.slow
def test_two_model_workers_give_the_records_of_one(full_run, photo_tree, tmp_path):
    out = tmp_path / 'two'
    status = run_main([str(photo_tree), '--output', str(out), '--prefix', mnet25_prefix(),
                       '--scale', SCALE, '--batch-size', '2', '--model-workers', '2',
                       '--crops', '112', '--draw', '--no-progress'])
    assert status == 1
    assert read_records(out) == read_records(full_run)  # the same records, in input order
    for folder in ('crops', 'drawn'):
        assert sorted(os.listdir(out / folder)) == sorted(os.listdir(full_run / folder))


def test_a_list_file_names_images_relative_to_itself(photo_tree, tmp_path, detector):
    listed = sorted(os.path.relpath(p, tmp_path) for p in real_images())[:2]
    list_file = tmp_path / 'list.txt'
    list_file.write_text('# two photos, one twice\n%s\n\n%s\n%s\n' % (listed[0], listed[1], listed[0]))
    items = inputs.list_inputs(str(list_file))
    assert [item.key for item in items] == listed
    assert [os.path.realpath(item.file) for item in items] == sorted(real_images())[:2]


@pytest.mark.parametrize('case, status, message', [
    ('missing input', 1, 'error: input not found: {tmp}/nowhere (pass a folder of images or a text '
                         'file listing one image path per line)'),
    ('no model', 1, 'error: pass the model as --prefix PREFIX (MXNet checkpoint) or --onnx FILE '
                    '(ONNX Runtime), exactly one of them'),
    ('output inside input', 1, 'error: --output {tmp}/in/out lies inside the input folder {tmp}/in: '
                               'choose a folder outside it'),
    ('bad crop size', 1, 'error: --crops 100: aligned crop size must be a multiple of 112 or of 128 '
                         '(the ArcFace template sizes), got 100'),
    ('bad letterbox', 2, "error: argument --letterbox: must look like 480x640 (height x width), got "
                         "'640' (see detect_folder.py --help)"),
    ('nms 0', 2, "error: argument --nms: must be in (0, 1], got '0' (see detect_folder.py --help)"),
    ('unknown network', 2, "error: argument --network: invalid choice: 'net9' (choose from 'net3', "
                           "'net3a', 'net4', 'net4a', 'net5', 'net5a', 'net6', 'ssh', 'vgg', 'x3', "
                           "'x3a', 'x5') (see detect_folder.py --help)"),
    ('letterbox over max-megapixels', 1, 'error: --letterbox 4000x5000: 5000x4000 pixels at scale 1 '
                                         'give the network a 5000x4000 input (20.0 megapixels), over '
                                         'the limit of 16 megapixels; lower the scale (--letterbox) or '
                                         'raise --max-megapixels (0: no limit)'),
    ('empty folder', 1, 'error: no images in {tmp}/empty (looked for .jpg, .jpeg, .png, .bmp, .tif, '
                        '.tiff, .webp files)'),
    ('decoders with model workers', 1, 'error: --workers 2: decoding processes feed a model in '
                                       'this process, but --model-workers 2 decode their own '
                                       'batches; drop one of the two'),
    ('missing model in model workers', 1, 'error: network graph not found: {tmp}/nothing-symbol.json '
                                          '(see model/README.md for where to get the released '
                                          'models and where to put them)'),
    ('not a results file', 1, 'error: {tmp}/res/detections.jsonl is not a retinaface-detections file '
                              '(its first line is not the header this tool writes); choose another '
                              'output, or move the file away'),
])
def test_expected_failures_are_one_error_line(tmp_path, case, status, message):
    (tmp_path / 'in').mkdir()
    shutil.copy(real_images()[0], tmp_path / 'in' / 'a.jpg')
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'res').mkdir()
    (tmp_path / 'res' / 'detections.jsonl').write_text('{"path": "x", "scores": []}\nhello\n{}\n')
    model = ['--prefix', mnet25_prefix()]
    args = {
        'missing input': [tmp_path / 'nowhere', '--output', tmp_path / 'o'] + model,
        'no model': [tmp_path / 'in', '--output', tmp_path / 'o'],
        'output inside input': [tmp_path / 'in', '--output', tmp_path / 'in' / 'out'] + model,
        'bad crop size': [tmp_path / 'in', '--output', tmp_path / 'o', '--crops', '100'] + model,
        'bad letterbox': [tmp_path / 'in', '--output', tmp_path / 'o', '--letterbox', '640'] + model,
        'nms 0': [tmp_path / 'in', '--output', tmp_path / 'o', '--nms', '0'] + model,
        'unknown network': [tmp_path / 'in', '--output', tmp_path / 'o', '--network', 'net9'] + model,
        'letterbox over max-megapixels': [tmp_path / 'in', '--output', tmp_path / 'o', '--letterbox',
                                          '4000x5000'] + model,
        'empty folder': [tmp_path / 'empty', '--output', tmp_path / 'o'] + model,
        'decoders with model workers': [tmp_path / 'in', '--output', tmp_path / 'o', '--workers',
                                        '2', '--model-workers', '2'] + model,
        'missing model in model workers': [tmp_path / 'in', '--output', tmp_path / 'o', '--prefix',
                                           tmp_path / 'nothing', '--model-workers', '2'],
        'not a results file': [tmp_path / 'in', '--output', tmp_path / 'res', '--no-progress'] + model,
    }[case]
    result = run_tool(*args)
    assert result.returncode == status
    assert result.stderr.strip().splitlines()[-1] == message.format(tmp=tmp_path)
    assert 'Traceback' not in result.stderr


def test_the_onnx_backend_gives_the_mxnet_records(full_run, photo_tree, detector, tmp_path):
    pytest.importorskip('onnxruntime', reason='optional extra: pip install -r requirements-onnx.txt')
    from rcnn.export.onnx_batch import with_dynamic_batch
    from rcnn.export.onnx_export import export_onnx
    single = str(tmp_path / 'mnet.25.onnx')
    export_onnx(detector.symbol, detector.arg_params, detector.aux_params, single, dynamic=True)
    model = str(tmp_path / 'mnet.25-batch.onnx')
    with_dynamic_batch(single, model)
    spec = DetectorSpec('onnx', model, 0, 'net3', 0.4, 1)
    onnx_detector = build_detector(spec)
    options = onnx_detector.session.get_session_options()
    assert options.get_session_config_entry('session.intra_op.allow_spinning') == '0'
    assert options.intra_op_num_threads == 1
    status = run_main([str(photo_tree), '--output', str(tmp_path / 'out'), '--onnx', model,
                       '--threads', '1', '--scale', SCALE, '--no-progress'])
    assert status == 1
    expected = {r['path']: r for r in read_records(full_run)}
    for record in read_records(tmp_path / 'out'):
        want = expected[record['path']]
        if want['error']:
            assert record['error'] == want['error']
            continue
        assert len(record['scores']) == len(want['scores']), record['path']
        np.testing.assert_allclose(np.reshape(record['boxes'], (-1, 4)),
                                   np.reshape(want['boxes'], (-1, 4)), atol=0.02)


@pytest.mark.parametrize('argv, model_workers', [
    ([], detect_folder.DEFAULT_MODEL_WORKERS),
    (['--workers', '2'], 1),  # decoding processes feed one model in the main process
    (['--model-workers', '3'], 3),
])
def test_model_workers_default_follows_workers(argv, model_workers):
    args = detect_folder.parse_args(['in', '--output', 'out', '--prefix', 'm'] + argv)
    assert args.model_workers == model_workers
