"""test.py end to end (as a user runs it) with the real mnet.25 model on the CPU."""
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np

from tests.shared_data import ROOT, mnet25_prefix, shared_path


def run_demo(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'test.py')] + list(args),
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_demo_on_t1_writes_drawn_image_and_json(tmp_path):
    image = shared_path('images', 'samples', 't1.jpg')
    output, detections = tmp_path / 'drawn.jpg', tmp_path / 'faces.json'
    done = run_demo('--prefix', mnet25_prefix(), '--gpu', '-1', '--image', image,
                    '--output', str(output), '--json', str(detections))
    assert done.returncode == 0, done.stderr
    result = json.loads(detections.read_text())
    # short side 886 -> 1024: scale 1024 / 886, long side 1479 <= 1980
    assert abs(result['scale'] - 1024 / 886) < 1e-9
    assert len(result['faces']) == 6
    for face in result['faces']:
        x1, y1, x2, y2 = face['box']
        assert face['score'] >= 0.8 and 0 <= x1 < x2 <= 1279 and 0 <= y1 < y2 <= 885
        assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face['landmarks'])
    drawn, original = cv2.imread(str(output)), cv2.imread(image)
    assert drawn.shape == original.shape
    x1, y1 = (int(v) for v in result['faces'][0]['box'][:2])
    assert drawn[y1 + 5, x1, 2] > 200 and drawn[y1 + 5, x1, :2].max() < 80  # a red box edge


def test_demo_on_a_folder_writes_one_image_and_json_each(tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    t1 = shared_path('images', 'samples', 't1.jpg')
    shutil.copy(t1, folder / 'a.jpg')
    cv2.imwrite(str(folder / 'b.png'), cv2.imread(t1)[:300, :400])
    (folder / 'notes.txt').write_text('not an image')
    done = run_demo('--prefix', mnet25_prefix(), '--gpu', '-1', '--image', str(folder),
                    '--output', str(tmp_path / 'out'), '--target-size', '512')
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp_path / 'out')) == ['a.jpg', 'a.json', 'b.jpg', 'b.json']
    assert len(json.loads((tmp_path / 'out' / 'a.json').read_text())['faces']) == 6
    assert '2/2' in done.stderr  # the progress bar


def test_missing_model_or_image_gives_one_clear_message(tmp_path):
    done = run_demo('--prefix', str(tmp_path / 'R50'), '--gpu', '-1')
    assert done.returncode != 0
    assert 'R50-symbol.json' in done.stderr and 'model/README.md' in done.stderr
    assert 'Traceback' not in done.stderr
    done = run_demo('--prefix', mnet25_prefix(), '--gpu', '-1', '--image', str(tmp_path / 'none.jpg'))
    assert done.returncode != 0 and 'image not found' in done.stderr and 'Traceback' not in done.stderr
