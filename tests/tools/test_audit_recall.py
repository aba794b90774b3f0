"""tools/audit_recall.py and its library rcnn/detection/audit.py."""
import os
import shutil

import numpy as np
import pytest

from rcnn.detection import audit
from tests.cli_cases import assert_one_error, assert_success, load_script, run_in_process
from tests.shared_data import mnet25_prefix, shared_path

audit_recall = load_script('tools/audit_recall.py', 'audit_recall')


def test_match_pairs_each_face_with_one_detection_by_iou():
    boxes = np.array([[0, 0, 9, 9], [20, 0, 29, 9], [40, 0, 49, 9]], float)
    faces = np.array([[0, 0, 9, 9, 0.9], [1, 0, 10, 9, 0.8], [20, 0, 24, 9, 0.7]], np.float32)
    # the second detection overlaps the first face too, but that face is taken by the exact one;
    # the third overlaps the second face by 5/10 = 0.5
    np.testing.assert_array_equal(audit.match(boxes, faces), [0, 2, -1])
    np.testing.assert_array_equal(audit.match(boxes, faces[:0]), [-1, -1, -1])


def test_recall_table_counts_by_group():
    rows = [{'setting': 'default', 'kind': 'turned', 'rotation': 90, 'pixels': 40.0, 'fraction': 0.05,
             'found': found, 'landmark_error': error} for found, error in ((True, 1.0), (False, np.nan))]
    table = audit.recall_table(rows, ['default'])
    assert list(table) == ['all', 'kind turned', 'rotation 90', 'size 32-64 px', 'fraction 0-0.1']
    assert table['rotation 90']['default'] == (1, 2, 1.0)
    assert '0.500 (1/2) lm 1.0' in audit.format_table(table, ['default'])


@pytest.fixture
def one_photo(tmp_path):
    folder = tmp_path / 'photos'
    folder.mkdir()
    shutil.copy(shared_path('images', 'samples', 't1.jpg'), str(folder / 't1.jpg'))
    return folder


@pytest.mark.slow
def test_audit_of_a_photo_folder_writes_the_table_and_the_plot(one_photo, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(audit, 'CLOSEUP_FRAMES', (800,))  # keep the test short
    monkeypatch.setattr(audit, 'SMALL_FACTORS', (0.5,))
    plot, table = tmp_path / 'recall.png', tmp_path / 'recall.txt'
    outcome = run_in_process(audit_recall.main, [one_photo, '--prefix', mnet25_prefix(), '--settings',
                                                 'default,auto', '--plot', plot, '--table', table], capsys)
    assert_success(outcome)
    lines = outcome[1].splitlines()
    assert lines[0].split() == ['group', 'default', 'auto']
    assert lines[1].startswith('all ') and 'rotation 90' in outcome[1]
    rotation_90 = next(line for line in lines if line.startswith('rotation 90'))
    assert '1.000 (6/6)' in rotation_90  # auto finds every face of the turned copy
    assert table.read_text() == outcome[1]
    assert plot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert sorted(os.listdir(tmp_path)) == ['photos', 'recall.png', 'recall.txt']


@pytest.mark.parametrize('argv, status, names', [
    (['--settings', 'default,fast'], 2, ("--settings: unknown 'fast'",)),
    (['--plot', 'chart.jpg'], 2, ('--plot chart.jpg', '.png')),
    ([], 2, ('--prefix', '--onnx')),
])
def test_bad_options_are_one_line_errors(one_photo, capsys, argv, status, names):
    model = [] if argv == [] else ['--prefix', mnet25_prefix()]
    outcome = run_in_process(audit_recall.main, [one_photo] + model + argv, capsys)
    assert_one_error(outcome, status, *names)


def test_a_missing_folder_and_labels_are_named(tmp_path, one_photo, capsys):
    assert_one_error(run_in_process(audit_recall.main, [tmp_path / 'nowhere', '--prefix', mnet25_prefix()],
                                    capsys), 1, 'nowhere: no such folder')
    assert_one_error(run_in_process(audit_recall.main, [one_photo, '--prefix', mnet25_prefix(), '--labels',
                                                        tmp_path / 'label.txt'], capsys), 1,
                     'label.txt: no such file')


def test_labelled_photos_are_audited_as_they_are(one_photo, tmp_path, capsys):
    """A WIDER-format label.txt: t1's six faces (x y w h) and one made-up face nothing is at."""
    faces = [(901, 59, 106, 143), (743, 341, 101, 133), (462, 266, 111, 150), (60, 263, 110, 134),
             (1132, 276, 96, 124), (273, 152, 95, 115), (600, 700, 40, 40)]
    labels = tmp_path / 'label.txt'
    labels.write_text('# t1.jpg\n' + ''.join('%d %d %d %d\n' % face for face in faces))
    outcome = run_in_process(audit_recall.main, [one_photo, '--prefix', mnet25_prefix(), '--labels', labels,
                                                 '--settings', 'default,pyramid'], capsys)
    assert_success(outcome)
    assert outcome[1].splitlines()[1].split() == ['all', '0.857', '(6/7)', '0.857', '(6/7)']
