"""test_widerface.py: image lists, test scales, submission files, skipping, and the real mnet.25."""
import os

import cv2
import numpy as np
import pytest

import test_widerface as tw
from rcnn.tools import widerface_eval as we
from rcnn.tools.widerface_eval import read_prediction_file
from tests.shared_data import mnet25_prefix, shared_path, widerface_val_images


class FakeDetector:
    """Stands in for RetinaFace: two faces per image, records how it was called."""

    def __init__(self):
        self.calls = []

    def detect(self, image, threshold=0.5, scales=(1.0,), do_flip=False):
        self.calls.append((image.shape, threshold, list(scales), do_flip))
        faces = np.array([[10.5, 20.25, 49.5, 70.0, 0.99], [100, 100, 120, 125, 0.5]], np.float32)
        return faces, np.zeros((2, 5, 2), np.float32)


def make_wider_folder(root):
    images = root / 'val' / 'images'
    for name in ('0--Parade/0_a.jpg', '0--Parade/0_b.jpg', '1--Handshaking/1_c.jpg'):
        path = images / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((60, 80, 3), 128, np.uint8))
    (images / '1--Handshaking' / '1_broken.jpg').write_bytes(b'not a jpeg')
    return images


def args_for(root, *extra):
    return tw.parse_args(['--prefix', 'unused', '--dataset-path', str(root), '--output', str(root / 'wout'),
                          *extra])


def test_image_lists(tmp_path):
    label = tmp_path / 'label.txt'
    label.write_text('# 0--Parade/0_a.jpg\n1 2 3 4\n# 1--Handshaking/1_c.jpg\n5 6 7 8\n')
    assert tw.read_image_list(str(label)) == ['0--Parade/0_a.jpg', '1--Handshaking/1_c.jpg']
    listing = tmp_path / 'wider_val.txt'
    listing.write_text('./0--Parade/0_a.jpg\n\n/1--Handshaking/1_c.jpg\n')
    assert tw.read_image_list(str(listing)) == ['0--Parade/0_a.jpg', '1--Handshaking/1_c.jpg']
    images = make_wider_folder(tmp_path)
    assert tw.find_images(str(images)) == ['0--Parade/0_a.jpg', '0--Parade/0_b.jpg',
                                           '1--Handshaking/1_broken.jpg', '1--Handshaking/1_c.jpg']
    (images.parent / 'wider_val.txt').write_text('./0--Parade/0_b.jpg\n')
    assert tw.find_images(str(images)) == ['0--Parade/0_b.jpg']


def test_scales_follow_the_original_schedule():
    shape = (687, 1024, 3)
    # 1600 / 687 would make the long side 2385 > 2150, so the long side sets the scale
    assert tw.target_scale(shape, 1600, 2150) == pytest.approx(2150 / 1024)
    assert tw.target_scale(shape, 800, 1200) == pytest.approx(800 / 687)
    args = tw.parse_args(['--prefix', 'p'])
    assert tw.scales_for(shape, args) == ([pytest.approx(2150 / 1024)], False)
    args = tw.parse_args(['--prefix', 'p', '--scale', '1.0'])
    assert tw.scales_for(shape, args) == ([1.0], False)
    args = tw.parse_args(['--prefix', 'p', '--mode', '1'])
    scales, flip = tw.scales_for(shape, args)
    assert flip and scales == pytest.approx([s / 800 * 800 / 687 for s in (500, 800, 1100, 1400, 1700)])


def test_submission_format_round_trips(tmp_path):
    faces = np.array([[10.5, 20.25, 49.5, 70.0, 0.99], [100, 100, 120, 125, 0.5]], np.float32)
    path = str(tmp_path / 'e' / 'x.txt')
    tw.write_submission(path, 'e/x.jpg', faces)
    lines = open(path).read().splitlines()
    assert lines[:2] == ['e/x.jpg', '2']
    np.testing.assert_allclose(read_prediction_file(path),
                               [[10.5, 20.25, 40, 50.75, 0.99], [100, 100, 21, 26, 0.5]], atol=1e-6)
    tw.write_submission(path, 'e/x.jpg', np.zeros((0, 5)))
    assert open(path).read() == 'e/x.jpg\n0\n'


def test_run_writes_skips_and_reports_unreadable(tmp_path, capsys):
    make_wider_folder(tmp_path)
    detector = FakeDetector()
    unreadable = tw.run(args_for(tmp_path, '--thresh', '0.3', '--scale', '1.0'), detector)
    assert [os.path.basename(p) for p in unreadable] == ['1_broken.jpg']
    assert 'cannot read image, skipped' in capsys.readouterr().out
    assert len(detector.calls) == 3 and detector.calls[0] == ((60, 80, 3), 0.3, [1.0], False)
    out = tmp_path / 'wout'
    assert sorted(os.listdir(out / '0--Parade')) == ['0_a.txt', '0_b.txt']
    assert read_prediction_file(str(out / '1--Handshaking' / '1_c.txt')).shape == (2, 5)

    again = FakeDetector()
    tw.run(args_for(tmp_path), again)
    assert len(again.calls) == 0   # only the unreadable image is retried, and still fails
    assert '3 of 4 images already written' in capsys.readouterr().out
    tw.run(args_for(tmp_path, '--overwrite', '--mode', '1'), again)
    assert len(again.calls) == 3 and all(flip and len(scales) == 5 for _, _, scales, flip in again.calls)


def test_parts_split_the_list(tmp_path):
    make_wider_folder(tmp_path)
    detector = FakeDetector()
    tw.run(args_for(tmp_path, '--parts', '2', '--part', '1'), detector)
    assert sorted(os.listdir(tmp_path / 'wout')) == ['0--Parade', '1--Handshaking']
    assert os.listdir(tmp_path / 'wout' / '0--Parade') == ['0_b.txt']


def test_real_mnet25_reproduces_the_original_files(tmp_path):
    pytest.importorskip('retinaface', reason='retinaface.py (the detector) is not in this checkout')
    images = widerface_val_images()
    reference = shared_path('reference_outputs', 'charrin_retinaface_cpp', 'mnet.25', 'python_detect')
    output = tmp_path / 'wout'
    tw.main(['--prefix', mnet25_prefix(), '--epoch', '0', '--gpu', '-1', '--scale', '1.0',
             '--thresh', '0.8', '--nms', '0.4', '--images', os.path.dirname(os.path.dirname(images[0][1])),
             '--output', str(output)])
    for name, _ in images:
        key = os.path.splitext(name)[0] + '.txt'
        with open(output / key) as f:
            assert f.readline().strip() == name
        ours = read_prediction_file(str(output / key))
        theirs = read_prediction_file(os.path.join(reference, key))
        assert ours.shape == theirs.shape and len(ours) > 0, name
        np.testing.assert_allclose(ours, theirs, atol=1e-3, rtol=0, err_msg=name)


def test_evaluate_output_scores_the_written_images(tmp_path, capsys):
    reference = shared_path('reference_outputs', 'charrin_retinaface_cpp', 'mnet.25', 'python_detect')
    gt_dir = shared_path('annotations', 'widerface_eval_gt')
    for name, _ in widerface_val_images():
        key = os.path.splitext(name)[0] + '.txt'
        os.makedirs(tmp_path / os.path.dirname(key), exist_ok=True)
        (tmp_path / key).write_text(open(os.path.join(reference, key)).read())
    tw.evaluate_output(str(tmp_path), gt_dir)
    # the same as a ground truth cut down to those 5 images by hand
    full = we.load_ground_truth(gt_dir)
    rows = [full.keys.index(os.path.splitext(name)[0]) for name, _ in widerface_val_images()]
    subset = we.GroundTruth([full.keys[i] for i in rows], [full.boxes[i] for i in rows],
                            {s: [keep[i] for i in rows] for s, keep in full.settings.items()})
    aps = we.evaluate(str(tmp_path), subset)
    expected = 'official protocol, 5 of 3226 images): ' + ', '.join(
        '%s %.2f' % (s, 100 * ap) for s, ap in aps.items())
    assert expected in capsys.readouterr().out
