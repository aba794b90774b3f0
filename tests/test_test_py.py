"""test.py as a user runs it, with the real mnet.25 on the CPU: results, the bad-input table, and
folder mode (no input ever written, one result per input file, bad files skipped)."""
import hashlib
import json
import os
import shutil
import struct

import cv2
import mxnet as mx
import numpy as np
import pytest

from rcnn.pipeline.records import output_name
from tests.cli_cases import (assert_one_error, assert_success, load_script, peak_memory_command,
                             run_command, run_in_process, write_black_png, write_png_header_only)
from tests.shared_data import mnet25_prefix, shared_path

demo = load_script('test.py', 'retinaface_test_script')
# small enough to keep each detection fast, large enough for t1.jpg's 6 faces
FAST = ['--gpu', '-1', '--target-size', '640', '--max-size', '1000']


@pytest.fixture(scope='module')
def t1():
    return shared_path('images', 'samples', 't1.jpg')


@pytest.fixture
def run(capsys):
    def run_demo(*argv):
        return run_in_process(demo.main, list(argv), capsys)
    return run_demo


def detections(run, image, tmp_path, *extra):
    """The JSON result of test.py on one image (mnet.25, CPU)."""
    result = tmp_path / (os.path.basename(str(image)) + '.result.json')
    assert_success(run('--prefix', mnet25_prefix(), *FAST, '--image', image,
                       '--output', tmp_path / 'drawn.jpg', '--json', result, *extra))
    return json.loads(result.read_text())


def checksums(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in sorted(os.listdir(folder))}


def test_t1_writes_drawn_image_and_json(t1, tmp_path):
    output, faces_json = tmp_path / 'drawn.jpg', tmp_path / 'faces.json'
    outcome = run_command('test.py', '--prefix', mnet25_prefix(), '--gpu', '-1', '--image', t1,
                          '--output', output, '--json', faces_json)
    assert_success(outcome)
    result = json.loads(faces_json.read_text())
    # short side 886 -> 1024: scale 1024 / 886, long side 1479 <= 1980
    assert abs(result['scale'] - 1024 / 886) < 1e-9
    assert len(result['faces']) == 6
    for face in result['faces']:
        x1, y1, x2, y2 = face['box']
        assert face['score'] >= 0.8 and 0 <= x1 < x2 <= 1279 and 0 <= y1 < y2 <= 885
        assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face['landmarks'])
    drawn, original = cv2.imread(str(output)), cv2.imread(t1)
    assert drawn.shape == original.shape
    x1, y1 = (int(v) for v in result['faces'][0]['box'][:2])
    assert drawn[y1 + 5, x1, 2] > 200 and drawn[y1 + 5, x1, :2].max() < 80  # a red box edge


def with_exif_orientation(jpeg, orientation):
    """JPEG bytes with an EXIF APP1 segment holding only the orientation tag (0x0112)."""
    tiff = b'II*\x00' + struct.pack('<I', 8) + struct.pack('<H', 1)
    tiff += struct.pack('<HHIHH', 0x0112, 3, 1, orientation, 0) + struct.pack('<I', 0)
    payload = b'Exif\x00\x00' + tiff
    return jpeg[:2] + b'\xff\xe1' + struct.pack('>H', len(payload) + 2) + payload + jpeg[2:]


def test_16_bit_png_gives_the_faces_of_the_8_bit_image(t1, tmp_path, run):
    upright = detections(run, t1, tmp_path)
    png16 = tmp_path / 't1-16bit.png'
    cv2.imwrite(str(png16), cv2.imread(t1).astype(np.uint16) * 257)  # v * 257 >> 8 == v
    assert cv2.imread(str(png16), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    deep = detections(run, png16, tmp_path)
    assert len(upright['faces']) == 6
    assert deep['faces'] == upright['faces'] and deep['scale'] == upright['scale']


def test_exif_rotated_jpeg_is_detected_upright(t1, tmp_path, run):
    stored = cv2.rotate(cv2.imread(t1), cv2.ROTATE_90_COUNTERCLOCKWISE)  # portrait pixels
    ok, jpeg = cv2.imencode('.jpg', stored, [cv2.IMWRITE_JPEG_QUALITY, 98])
    rotated = tmp_path / 't1-exif6.jpg'
    rotated.write_bytes(with_exif_orientation(jpeg.tobytes(), 6))  # 6: turn 90 degrees clockwise
    # the reference: the stored pixels as decoded, turned by hand, saved losslessly
    raw = cv2.imread(str(rotated), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    assert raw.shape == stored.shape
    reference = tmp_path / 't1-turned.png'
    cv2.imwrite(str(reference), cv2.rotate(raw, cv2.ROTATE_90_CLOCKWISE))
    turned, expected = detections(run, rotated, tmp_path), detections(run, reference, tmp_path)
    assert len(expected['faces']) == 6
    assert turned['faces'] == expected['faces']
    # and the faces of the original upright t1.jpg, up to the re-encoding's JPEG noise
    upright = detections(run, t1, tmp_path)
    np.testing.assert_allclose([f['box'] for f in turned['faces']],
                               [f['box'] for f in upright['faces']], atol=3)


def write_bytes(path, data):
    path.write_bytes(data)
    return path


@pytest.fixture
def bad_files(tmp_path, t1):
    """Files for the table: name -> path."""
    truncated = tmp_path / 'model' / 'cut'
    truncated.parent.mkdir()
    shutil.copy(mnet25_prefix() + '-symbol.json', str(truncated) + '-symbol.json')
    params = open(mnet25_prefix() + '-0000.params', 'rb').read()
    write_bytes(tmp_path / 'model' / 'cut-0000.params', params[:len(params) // 2])
    write_bytes(tmp_path / 'model' / 'garbage-symbol.json', b'\xff\xfe not json')
    write_bytes(tmp_path / 'model' / 'garbage-0000.params', params)
    shutil.copy(mnet25_prefix() + '-symbol.json', str(tmp_path / 'model' / 'nan') + '-symbol.json')
    arrays = mx.nd.load(mnet25_prefix() + '-0000.params')
    poisoned = arrays['arg:face_rpn_cls_score_stride8_weight'].asnumpy()
    poisoned[0, 0, 0, 0] = np.inf
    arrays['arg:face_rpn_cls_score_stride8_weight'] = mx.nd.array(poisoned)
    mx.nd.save(str(tmp_path / 'model' / 'nan-0000.params'), arrays)
    return {
        'undecodable': write_bytes(tmp_path / 'broken.jpg', b'not a jpeg at all'),
        'empty': write_bytes(tmp_path / 'empty.png', b''),
        'truncated': str(truncated),
        'garbage': str(tmp_path / 'model' / 'garbage'),
        'infinite': str(tmp_path / 'model' / 'nan'),
        'empty folder': (tmp_path / 'no-images').mkdir() or tmp_path / 'no-images',
    }


# (argv after --prefix mnet.25, exit status, strings the one error line must name)
BAD_INPUTS = [
    (['--threshold', 'nan'], 2, ['--threshold', 'finite']),
    (['--threshold', '1.5'], 2, ['--threshold', '[0, 1]']),
    (['--threshold', '-0.1'], 2, ['--threshold']),
    (['--nms', 'nan'], 2, ['--nms', 'finite']),
    (['--nms', '2'], 2, ['--nms', '(0, 1]']),
    (['--nms', '0'], 2, ['--nms']),
    (['--target-size', '0'], 2, ['--target-size']),
    (['--target-size', 'inf'], 2, ['--target-size']),
    (['--max-size', '-5'], 2, ['--max-size']),
    (['--max-megapixels', 'nan'], 2, ['--max-megapixels']),
    (['--epoch', '-1'], 2, ['--epoch']),
    (['--gpu', '-2'], 2, ['--gpu']),
    (['--network', 'net9'], 2, ['--network', 'net9']),
    (['--image', '{tmp}/none.jpg'], 1, ['{tmp}/none.jpg']),
    (['--image', '{undecodable}'], 1, ['{undecodable}', 'cannot read image']),
    (['--image', '{empty}'], 1, ['{empty}', 'empty']),
    (['--image', '{empty folder}'], 1, ['no image files', '{empty folder}']),
    (['--image', '{t1}', '--output', '{t1}'], 1, ['would overwrite', '{t1}']),
    (['--image', '{t1}', '--json', '{t1}'], 1, ['--json', 'would overwrite']),
    (['--image', '{t1}', '--output', '{tmp}/absent/out.jpg'], 1, ['cannot write', '{tmp}/absent/out.jpg']),
    (['--image', '{t1}', '--output', '{tmp}/out.txt'], 1, ['cannot write', 'out.txt']),
    (['--image', '{t1}', '--max-megapixels', '0.5'], 1, ['{t1}', '1280x886', 'megapixels', '--max-megapixels']),
    (['--image', '{t1}', '--target-size', '5000', '--max-size', '8000'], 1,   # the default budget
     ['{t1}', '7223x5000 input', 'over the limit of 16 megapixels']),
    (['--image', '{t1}', '--prefix', '{tmp}/R50'], 1, ['{tmp}/R50-symbol.json']),
    (['--image', '{t1}', '--prefix', '{truncated}'], 1, ['{truncated}-0000.params']),
    (['--image', '{t1}', '--prefix', '{garbage}'], 1, ['{garbage}-symbol.json']),
    (['--image', '{t1}', '--prefix', '{infinite}'], 1,   # it said "found 0 faces", exit 0
     ['{infinite}-0000.params: weight face_rpn_cls_score_stride8_weight holds 1 NaN or infinite values']),
    (['--image', '{t1}', '--epoch', '3'], 1, ['mnet.25-0003.params']),
    (['--image', '{t1}', '--network', 'net3a'], 1, ['net3a', 'net3']),
    (['--image', '{t1}', '--network', 'net4'], 1, ['net4']),
    (['--image', '{t1}', '--network', 'net5'], 1, ['net5']),
]


@pytest.mark.parametrize('argv, status, names', BAD_INPUTS,
                         ids=[' '.join(argv) for argv, _, _ in BAD_INPUTS])
def test_bad_input_gives_one_error_line(argv, status, names, bad_files, t1, tmp_path, run):
    fill = dict(bad_files, tmp=tmp_path, t1=t1)
    argv = [a.format(**fill) for a in argv]
    outcome = run('--prefix', mnet25_prefix(), '--gpu', '-1', *argv)
    assert_one_error(outcome, status, *[n.format(**fill) for n in names])
    assert not (tmp_path / 'absent').exists()


def test_bad_option_on_the_real_command_line(tmp_path):
    outcome = run_command('test.py', '--nms', 'nan')
    assert_one_error(outcome, 2, '--nms')
    outcome = run_command('test.py', '--prefix', tmp_path / 'R50', '--gpu', '-1', '--image',
                          shared_path('images', 'samples', 't1.jpg'))
    assert_one_error(outcome, 1, str(tmp_path / 'R50-symbol.json'), 'model/README.md')


# ------------------------------------------------------------------ folder mode

@pytest.fixture
def photos(tmp_path, t1):
    """A folder with x.jpg and x.png (one name, two images), a third image and a text file."""
    folder = tmp_path / 'photos'
    folder.mkdir()
    image = cv2.imread(t1)
    shutil.copy(t1, folder / 'x.jpg')
    cv2.imwrite(str(folder / 'x.png'), image[:400, :700])
    cv2.imwrite(str(folder / 'y.bmp'), image[300:, 500:])
    (folder / 'notes.txt').write_text('not an image')
    return folder


def folder_records(out):
    """The records of test.py's folder mode (after the header record), by path."""
    lines = (out / 'detections.jsonl').read_text().splitlines()
    assert json.loads(lines[0])['format'] == 'retinaface-detections'
    return {record['path']: record for record in map(json.loads, lines[1:])}


def test_folder_results_for_every_input_file_and_inputs_untouched(photos, tmp_path, run):
    before = checksums(photos)
    out = tmp_path / 'out'
    outcome = run('--prefix', mnet25_prefix(), *FAST, '--image', photos, '--output', out)
    assert_success(outcome)
    assert checksums(photos) == before
    records = folder_records(out)
    assert sorted(records) == ['x.jpg', 'x.png', 'y.bmp']
    assert len(records['x.jpg']['scores']) == 6
    assert 0 < len(records['x.png']['scores']) < 6   # a crop: not the same result as x.jpg
    assert len(os.listdir(out / 'drawn')) == 3
    # the same faces as the single-image mode
    single = detections(run, photos / 'x.jpg', tmp_path)
    np.testing.assert_allclose(records['x.jpg']['boxes'], [f['box'] for f in single['faces']], atol=0.011)
    total = sum(len(r['scores']) for r in records.values())
    assert '3 images (0 already done' in outcome[1] and '%d faces' % total in outcome[1]


def test_folder_with_an_undecodable_file_processes_the_rest_and_fails(photos, tmp_path):
    (photos / 'broken.jpg').write_bytes(b'\xff\xd8 truncated jpeg')
    before = checksums(photos)
    out = tmp_path / 'out'
    outcome = run_command('test.py', '--prefix', mnet25_prefix(), *FAST, '--image', photos,
                          '--output', out)
    assert_one_error(outcome, 1, '1 of 4 images could not be processed', 'broken.jpg')
    assert checksums(photos) == before
    records = folder_records(out)
    assert sorted(records) == ['broken.jpg', 'x.jpg', 'x.png', 'y.bmp']
    assert records['broken.jpg']['error'].startswith('cannot read image %s' % (photos / 'broken.jpg'))
    assert len(os.listdir(out / 'drawn')) == 3
    skipped = [line for line in outcome[2].splitlines() if 'skipped:' in line]
    assert len(skipped) == 1 and str(photos / 'broken.jpg') in skipped[0]
    assert '4 images (0 already done' in outcome[1]


def test_output_folder_equal_to_the_input_folder_is_refused(photos, run):
    before = checksums(photos)
    outcome = run('--prefix', mnet25_prefix(), *FAST, '--image', photos, '--output', photos)
    assert_one_error(outcome, 1, 'input folder', str(photos))
    outcome = run('--prefix', mnet25_prefix(), *FAST, '--image', photos,
                  '--output', str(photos) + '/./')
    assert_one_error(outcome, 1, 'input folder')
    assert checksums(photos) == before


def test_output_that_is_an_existing_file_is_refused_for_a_folder(photos, tmp_path, run):
    (tmp_path / 'file.txt').write_text('a file')
    outcome = run('--prefix', mnet25_prefix(), *FAST, '--image', photos, '--output', tmp_path / 'file.txt')
    assert_one_error(outcome, 1, 'error: --output %s is an existing file; name a folder for the results'
                     % (tmp_path / 'file.txt'))
    assert (tmp_path / 'file.txt').read_text() == 'a file'


def test_links_in_the_output_folder_are_never_followed(photos, tmp_path, run):
    out = tmp_path / 'out'
    out.mkdir()
    os.symlink(photos / 'x.png', out / 'detections.jsonl')  # appending would write into x.png
    before = checksums(photos)
    outcome = run('--prefix', mnet25_prefix(), *FAST, '--image', photos, '--output', out)
    assert_one_error(outcome, 1, str(out / 'detections.jsonl'), 'symbolic link')
    assert checksums(photos) == before
    os.remove(out / 'detections.jsonl')
    (out / 'drawn').mkdir()
    planted = out / 'drawn' / output_name('x.jpg', '.jpg')
    os.symlink(photos / 'y.bmp', planted)  # the drawing of x.jpg would replace y.bmp
    assert_success(run('--prefix', mnet25_prefix(), *FAST, '--image', photos, '--output', out))
    assert checksums(photos) == before
    assert not os.path.islink(planted) and cv2.imread(str(planted)).shape == (886, 1280, 3)


def test_folder_image_over_the_pixel_budget_is_skipped(photos, tmp_path, run):
    out = tmp_path / 'out'
    outcome = run('--prefix', mnet25_prefix(), *FAST, '--image', photos, '--output', out,
                  '--max-megapixels', '0.2')
    line = assert_one_error(outcome, 1, 'images could not be processed')
    errors = [r['error'] for r in folder_records(out).values() if r['error']]
    assert all('--max-megapixels' in e for e in errors) and 1 <= len(errors) <= 3, line
    assert len(os.listdir(out / 'drawn')) == 3 - len(errors)


@pytest.mark.slow
def test_huge_images_in_a_folder_are_named_records_under_500_mb(photos, tmp_path):
    """A 100-byte PNG claiming 50000x50000 and a real 24000x24000 one (1.7 GB decoded) among the
    photos: refused from their headers, the photos still detected, one error line naming both."""
    write_png_header_only(photos / 'claims.png', 50000, 50000)
    write_black_png(photos / 'big.png', 24000)
    before = checksums(photos)
    out = tmp_path / 'out'
    code, printed, err, peak = peak_memory_command('test.py', '--prefix', mnet25_prefix(), *FAST,
                                                   '--image', photos, '--output', out)
    assert_one_error((code, printed, err), 1, '2 of 5 images could not be processed', 'big.png, claims.png')
    assert peak < 500, peak
    assert checksums(photos) == before
    records = folder_records(out)
    assert records['claims.png']['error'] == (
        'claims.png: the image is 50000x50000 (2500.0 megapixels, 7.5 GB once decoded), over 4 x '
        '--max-megapixels 16; it was not decoded (raise --max-megapixels, 0: no limit)')
    assert records['big.png']['error'] == (
        'big.png: the image is 24000x24000 (576.0 megapixels, 1.7 GB once decoded), over 4 x '
        '--max-megapixels 16; it was not decoded (raise --max-megapixels, 0: no limit)')
    assert [name for name in sorted(records) if not records[name]['error']] == ['x.jpg', 'x.png', 'y.bmp']
    assert len(os.listdir(out / 'drawn')) == 3
    assert len(records['x.jpg']['scores']) == 6


def test_a_single_24000_pixel_png_is_one_error_line_under_500_mb(tmp_path):
    big = write_black_png(tmp_path / 'big.png', 24000)
    code, printed, err, peak = peak_memory_command('test.py', '--prefix', mnet25_prefix(), *FAST,
                                                   '--image', big, '--output', tmp_path / 'o.jpg')
    assert_one_error((code, printed, err), 1, '%s: the image is 24000x24000 (576.0 megapixels, 1.7 GB '
                     'once decoded), over 4 x --max-megapixels 16; it was not decoded' % big)
    assert peak < 500, peak
    assert sorted(os.listdir(tmp_path)) == ['big.png']


def test_json_path_with_a_folder_input_is_refused(photos, tmp_path, run):
    outcome = run('--prefix', mnet25_prefix(), *FAST, '--image', photos, '--output', tmp_path / 'out',
                  '--json', tmp_path / 'all.json')
    assert_one_error(outcome, 1, '--json', 'detections.jsonl')
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'all.json').exists()


def test_json_and_output_naming_one_file_are_refused(t1, tmp_path, run):
    (tmp_path / 'x.jpg').write_bytes(b'keep me')
    outcome = run('--prefix', mnet25_prefix(), *FAST, '--image', t1, '--output', tmp_path / 'x.jpg',
                  '--json', tmp_path / 'x.jpg')
    assert_one_error(outcome, 1, '--json %s and --output %s name one file' % (tmp_path / 'x.jpg',
                                                                              tmp_path / 'x.jpg'))
    assert (tmp_path / 'x.jpg').read_bytes() == b'keep me'


def test_a_single_huge_image_is_one_error_line_before_decoding(tmp_path, run):
    claimed = write_png_header_only(tmp_path / 'claims.png', 50000, 50000)
    outcome = run('--prefix', mnet25_prefix(), *FAST, '--image', claimed, '--output', tmp_path / 'o.jpg')
    # at --target-size 640 the network input would be small, decoding the image would not
    assert_one_error(outcome, 1, '%s: the image is 50000x50000 (2500.0 megapixels, 7.5 GB once decoded), '
                     'over 4 x --max-megapixels 16; it was not decoded' % claimed)
    outcome = run('--prefix', mnet25_prefix(), *FAST, '--image', claimed, '--output', tmp_path / 'o.jpg',
                  '--max-megapixels', '0')  # no budget: OpenCV's own limit still holds
    assert_one_error(outcome, 1, '%s: the image is 50000x50000 (2500.0 megapixels), over the limit '
                     'of 1073.7; it was not decoded' % claimed)
    outcome = run('--prefix', mnet25_prefix(), '--gpus', '-1', '--image', claimed, '--output',
                  tmp_path / 'o.jpg', '--target-size', '50000', '--max-size', '50000')
    assert_one_error(outcome, 1, '%s: 50000x50000 pixels at scale 1 give the network a 50000x50000 '
                     'input' % claimed, '--max-megapixels')
    assert not (tmp_path / 'o.jpg').exists()


def test_the_original_spellings_still_parse():
    args = demo.parse_args(['--gpu', '-1', '--thresh', '0.5', '--target_size', '640', '--max_size', '900'])
    assert (args.gpus, args.threshold, args.target_size, args.max_size) == (-1, 0.5, 640, 900)
    args = demo.parse_args(['--rotations', '270,0,90,0', '--pyramid'])
    assert args.rotations == (0, 90, 270) and args.pyramid
