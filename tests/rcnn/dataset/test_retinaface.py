import json
import logging
import os
import sys
import time

import cv2
import numpy as np
import pytest

from rcnn.dataset import retinaface
from rcnn.dataset.imdb import FLIP_ORDER, flip_boxes, flip_landmarks
from rcnn.dataset.retinaface import LabelFileError, read_label_file
from rcnn.dataset.load_data import load_gt_roidb
from tests.shared_data import shared_path
from tests.planted_pickle import plant_pickle

retinaface_module = sys.modules['rcnn.dataset.retinaface']

TRAIN_LINE = '10 20 30 40 15.0 30.0 0.0 35.0 30.0 1.0 25.0 40.0 0.0 17.0 50.0 0.0 33.0 50.0 0.0 0.82'
NO_LANDMARKS_LINE = '50 5 20 20 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0'


def make_split(root, split, label_text, images):
    """Write <root>/<split>/label.txt and (width, height) gray images; return the data path."""
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'label.txt').write_text(label_text)
    for name, (w, h) in images.items():
        path = folder / 'images' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))
    return str(root)


def test_train_format_boxes_landmarks_and_blur(tmp_path, mnet_config):
    text = '# a/one.jpg\n%s\n%s\n# a/two.jpg\n5 5 10 10 %s 0.3\n' % (
        TRAIN_LINE, NO_LANDMARKS_LINE, ' '.join(['-1'] * 15))
    data = make_split(tmp_path, 'train', text, {'a/one.jpg': (64, 48), 'a/two.jpg': (32, 32)})
    roidb = retinaface('train', str(tmp_path / 'root'), data).gt_roidb()
    assert len(roidb) == 2
    one = roidb[0]
    assert one['image'] == os.path.join(data, 'train', 'images', 'a/one.jpg')
    assert (one['width'], one['height']) == (64, 48)
    # x2 = x + w, y2 = y + h, clipped to the image size (48 rows, 64 columns)
    np.testing.assert_array_equal(one['boxes'], [[10, 20, 40, 48], [50, 5, 64, 25]])
    assert one['boxes'].dtype == np.float32
    # flags: file 0 (visible) -> 1, file 1 (occluded) -> 0; -1 points stay -1
    np.testing.assert_array_equal(one['landmarks'][0],
                                  [[15, 30, 1], [35, 30, 0], [25, 40, 1], [17, 50, 1], [33, 50, 1]])
    np.testing.assert_array_equal(one['landmarks'][1], np.full((5, 3), -1))
    # a negative blur score becomes 0.3, as the original
    np.testing.assert_allclose(one['blur'], [0.82, 0.3])
    np.testing.assert_array_equal(one['gt_classes'], [1, 1])
    np.testing.assert_array_equal(one['gt_overlaps'], [[0, 1], [0, 1]])
    np.testing.assert_array_equal(one['max_classes'], [1, 1])
    np.testing.assert_array_equal(one['max_overlaps'], [1, 1])
    assert one['flipped'] is False and one['max_num_boxes'] == 2
    np.testing.assert_allclose(roidb[1]['blur'], [0.3])


def test_val_format_and_zero_area_boxes(tmp_path, mnet_config, caplog):
    text = '# e/x.jpg\n1 2 3 4\n5 5 0 7\n6 6 4 0\n70 10 5 5\n# e/empty.jpg\n'
    data = make_split(tmp_path, 'val', text, {'e/x.jpg': (70, 60), 'e/empty.jpg': (20, 20)})
    with caplog.at_level(logging.WARNING, logger='rcnn.dataset.retinaface'):
        roidb = retinaface('val', str(tmp_path / 'root'), data).gt_roidb()
    label = os.path.join(data, 'val', 'label.txt')
    assert [r.getMessage() for r in caplog.records] == [
        'retinaface_val: dropped 3 boxes with no area or entirely outside their image (%s:3, %s:4, %s:5)'
        % (label, label, label)]
    # zero width, zero height and a box starting at the right edge (clipped to no area) are dropped;
    # val keeps images without faces, train drops them
    assert [len(r['boxes']) for r in roidb] == [1, 0]
    np.testing.assert_array_equal(roidb[0]['boxes'], [[1, 2, 4, 6]])
    np.testing.assert_array_equal(roidb[0]['landmarks'], np.full((1, 5, 3), -1))
    assert roidb[1]['boxes'].shape == (0, 4) and roidb[1]['landmarks'].shape == (0, 5, 3)
    train = make_split(tmp_path / 't', 'train', text, {'e/x.jpg': (70, 60), 'e/empty.jpg': (20, 20)})
    assert len(retinaface('train', str(tmp_path / 'root2'), train).gt_roidb()) == 1


@pytest.mark.parametrize('text, line, reason', [
    ('1 2 3 4\n', 1, 'before the first'),
    ('# a.jpg\n1 2 3\n', 2, 'expected 4 numbers'),
    ('# a.jpg\n1 2 3 4\n1 2 x 4\n', 3, 'not a list of numbers'),
    ('# a.jpg\n#\n', 2, 'without a path'),
    ('# a.jpg\n# a.jpg\n', 2, 'listed twice'),
    ('# a.jpg\n\n1 2 3 4 ' + ' '.join(['-1'] * 14) + ' 0 0.5\n', 3, 'must have flag -1'),
    ('# a.jpg\n1 2 3 4 5 5 -1' + ' 5 5 0' * 4 + ' 0.5\n', 2, 'negative flag'),
    ('# a.jpg\n1 2 3 4\nnan 2 3 4\n', 3, 'a number is not finite (nan or inf)'),
    ('# a.jpg\n1 2 inf 4\n', 2, 'a number is not finite (nan or inf)'),
    ('# a.jpg\n1 2 3 4 5 nan 0' + ' 5 5 0' * 4 + ' 0.5\n', 2, 'a number is not finite (nan or inf)'),
    ('# a.jpg\n1 2 3 4' + ' 5 5 0' * 5 + ' -inf\n', 2, 'a number is not finite (nan or inf)'),
])
def test_malformed_line_names_file_and_line(tmp_path, mnet_config, text, line, reason):
    data = make_split(tmp_path, 'train', text, {'a.jpg': (20, 20)})
    with pytest.raises(LabelFileError) as err:
        retinaface('train', str(tmp_path / 'root'), data).gt_roidb()
    label = os.path.join(data, 'train', 'label.txt')
    assert str(err.value).startswith('%s:%d: ' % (label, line)) and reason in str(err.value)


def test_missing_image_stops_unless_not_checked(tmp_path, mnet_config):
    data = make_split(tmp_path, 'val', '# here.jpg\n1 1 5 5\n# gone.jpg\n1 1 50 50\n', {'here.jpg': (20, 20)})
    with pytest.raises(LabelFileError, match=r'label.txt:3: image not found: .*gone.jpg'):
        retinaface('val', str(tmp_path / 'root'), data).gt_roidb()
    roidb = retinaface('val', str(tmp_path / 'root'), data, check_images=False).gt_roidb()
    assert roidb[1]['width'] is None
    np.testing.assert_array_equal(roidb[1]['boxes'], [[1, 1, 51, 51]])  # not clipped: size unknown
    with pytest.raises(FileNotFoundError, match='label file not found'):
        retinaface('test', str(tmp_path / 'root'), data)


def test_label_changes_are_always_read(tmp_path, mnet_config):
    """label.txt is parsed on every run: an edit of the same size and modification time counts."""
    data = make_split(tmp_path, 'val', '# a.jpg\n1 1 5 5\n', {'a.jpg': (20, 20)})
    root = str(tmp_path / 'root')
    assert len(retinaface('val', root, data).gt_roidb()[0]['boxes']) == 1
    label = os.path.join(data, 'val', 'label.txt')
    st = os.stat(label)
    with open(label, 'w') as f:
        f.write('# a.jpg\n1 1 5 6\n')
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns))
    np.testing.assert_array_equal(retinaface('val', root, data).gt_roidb()[0]['boxes'], [[1, 1, 6, 7]])


def test_image_size_cache_is_used_and_follows_the_image(tmp_path, mnet_config, monkeypatch):
    data = make_split(tmp_path, 'val', '# a.jpg\n1 1 50 50\n', {'a.jpg': (20, 30)})
    root = str(tmp_path / 'root')
    first = retinaface('val', root, data)
    assert (first.gt_roidb()[0]['width'], json.load(open(first.cache_file))['version']) == (20, 2)
    reads = []
    monkeypatch.setattr(retinaface_module, '_image_size', lambda path: reads.append(path) or (1, 1))
    assert retinaface('val', root, data).gt_roidb()[0]['width'] == 20 and reads == []
    time.sleep(0.01)
    cv2.imwrite(os.path.join(data, 'val', 'images', 'a.jpg'), np.zeros((40, 60, 3), np.uint8))
    monkeypatch.undo()
    roidb = retinaface('val', root, data).gt_roidb()
    assert (roidb[0]['width'], roidb[0]['height']) == (60, 40)
    with open(first.cache_file, 'w') as f:
        f.write('{not json')
    assert retinaface('val', root, data).gt_roidb()[0]['width'] == 60


def test_planted_pickles_in_the_cache_folder_run_nothing(tmp_path, mnet_config, caplog):
    data = make_split(tmp_path, 'train', '# a.jpg\n%s\n' % TRAIN_LINE, {'a.jpg': (64, 48)})
    root = tmp_path / 'root'
    (root / 'cache').mkdir(parents=True)
    marker = tmp_path / 'marker'
    imdb = retinaface('train', str(root), data)
    for path in (os.path.join(imdb.cache_path, 'retinaface_train_gt_roidb.pkl'), imdb.cache_file):
        plant_pickle(path, marker)
    assert len(imdb.gt_roidb()) == 1
    assert not marker.exists()
    assert 'ignoring unreadable image size cache %s' % imdb.cache_file in caplog.text


def test_flip_boxes_and_landmarks_by_formula():
    boxes = np.array([[10, 20, 40, 48, 1]], np.float32)
    np.testing.assert_array_equal(flip_boxes(boxes, 64), [[23, 20, 53, 48, 1]])
    lm = np.array([[[15, 30, 1], [35, 31, 0], [25, 40, 1], [-1, -1, -1], [33, 50, 1]]], np.float32)
    flipped = flip_landmarks(lm, 64)
    # x -> 63 - x, then left/right eye and mouth corners swap; absent points are not moved
    np.testing.assert_array_equal(flipped[0], [[28, 31, 0], [48, 30, 1], [38, 40, 1], [30, 50, 1], [-1, -1, -1]])
    assert FLIP_ORDER == (1, 0, 2, 4, 3)
    np.testing.assert_array_equal(flip_landmarks(flipped, 64), lm)


def test_append_flipped_images(tmp_path, mnet_config):
    data = make_split(tmp_path, 'train', '# a.jpg\n%s\n' % TRAIN_LINE, {'a.jpg': (64, 48)})
    roidb = load_gt_roidb('retinaface', 'train', str(tmp_path / 'root'), data, flip=True)
    assert len(roidb) == 2 and [r['flipped'] for r in roidb] == [False, True]
    plain, mirrored = roidb
    np.testing.assert_array_equal(mirrored['boxes'], flip_boxes(plain['boxes'], 64))
    np.testing.assert_array_equal(mirrored['landmarks'], flip_landmarks(plain['landmarks'], 64))
    assert mirrored['image'] == plain['image']
    np.testing.assert_array_equal(mirrored['blur'], plain['blur'])
    # the mirrored left eye is the right one and has the smaller x
    assert mirrored['landmarks'][0, 0, 0] < mirrored['landmarks'][0, 1, 0]


def test_real_val_label_file(tmp_path, mnet_config):
    label = shared_path('annotations', 'retinaface_gt_val', 'label.txt')
    images = read_label_file(label)
    assert len(images) == 3226
    assert sum(len(faces) for _, _, faces in images) == 39708
    assert images[0][0] == '0--Parade/0_Parade_marchingband_1_465.jpg'
    split = tmp_path / 'data' / 'val'
    split.mkdir(parents=True)
    os.symlink(label, split / 'label.txt')
    roidb = retinaface('val', str(tmp_path / 'root'), str(tmp_path / 'data'), check_images=False).gt_roidb()
    assert len(roidb) == 3226
    num_boxes = sum(len(r['boxes']) for r in roidb)
    # faces with zero width or height are dropped
    zero_area = sum(1 for _, _, faces in images for _, v in faces if v[2] <= 0 or v[3] <= 0)
    assert num_boxes == 39708 - zero_area and zero_area > 0
    assert all((r['boxes'][:, 2] > r['boxes'][:, 0]).all() and (r['boxes'][:, 3] > r['boxes'][:, 1]).all()
               for r in roidb)


def test_small_faces_become_masks_with_bbox_mask_thresh(tmp_path, mnet_config, monkeypatch):
    monkeypatch.setattr(mnet_config, 'BBOX_MASK_THRESH', 10)
    data = make_split(tmp_path, 'val', '# a.jpg\n1 1 5 20\n2 2 30 30\n', {'a.jpg': (64, 64)})
    roi = retinaface('val', str(tmp_path / 'root'), data, cfg=mnet_config).gt_roidb()[0]
    np.testing.assert_array_equal(roi['boxes'], [[2, 2, 32, 32]])
    np.testing.assert_array_equal(roi['boxes_mask'], [[1, 1, 6, 21]])


# (face line in a 40 x 30 image, kept box or None when dropped with the warning)
BOX_CASES = [
    ('5 5 10 10', [5, 5, 15, 15]),
    ('5 5 0 10', None),          # no width
    ('5 5 10 -2', None),         # negative height
    ('-20 5 10 10', None),       # entirely left of the image
    ('5 -30 10 10', None),       # entirely above
    ('40 5 10 10', None),        # starts at the right edge
    ('5 30 10 10', None),        # starts at the bottom edge
    ('35 25 10 10', [35, 25, 40, 30]),  # partly outside: clipped, as the original
    ('-5 -5 10 10', [-5, -5, 5, 5]),    # the original clips only x2 / y2
]


def test_bad_box_table_one_warning_with_the_first_lines(tmp_path, mnet_config, caplog):
    text = '# a.jpg\n' + '\n'.join(line for line, _ in BOX_CASES) + '\n'
    data = make_split(tmp_path, 'train', text, {'a.jpg': (40, 30)})
    with caplog.at_level(logging.WARNING, logger='rcnn.dataset.retinaface'):
        roidb = retinaface('train', str(tmp_path / 'root'), data).gt_roidb()
    np.testing.assert_array_equal(roidb[0]['boxes'], [box for _, box in BOX_CASES if box is not None])
    label = os.path.join(data, 'train', 'label.txt')
    dropped = [number for number, (_, box) in enumerate(BOX_CASES, start=2) if box is None]
    assert [r.getMessage() for r in caplog.records] == [
        'retinaface_train: dropped %d boxes with no area or entirely outside their image (%s, ...)'
        % (len(dropped), ', '.join('%s:%d' % (label, n) for n in dropped[:5]))]


def test_without_cfg_no_face_is_masked_or_dropped_for_size(tmp_path, monkeypatch):
    import rcnn.config
    monkeypatch.setitem(rcnn.config.config, 'BBOX_MASK_THRESH', 10)  # the global is not read
    data = make_split(tmp_path, 'val', '# a.jpg\n1 1 5 20\n2 2 30 30\n', {'a.jpg': (64, 64)})
    roi = retinaface('val', str(tmp_path / 'root'), data).gt_roidb()[0]
    np.testing.assert_array_equal(roi['boxes'], [[1, 1, 6, 21], [2, 2, 32, 32]])
    assert 'boxes_mask' not in roi


def test_label_file_encoding_bom_and_line_ends(tmp_path, mnet_config):
    data = make_split(tmp_path, 'val', '', {'a.jpg': (20, 20)})
    label = os.path.join(data, 'val', 'label.txt')
    with open(label, 'wb') as f:
        f.write(b'\xef\xbb\xbf# a.jpg\r\n1 1 5 5\r\n')  # a UTF-8 BOM and Windows line ends
    assert read_label_file(label) == [('a.jpg', 1, [(2, (1.0, 1.0, 5.0, 5.0))])]
    np.testing.assert_array_equal(retinaface('val', str(tmp_path / 'root'), data).gt_roidb()[0]['boxes'],
                                  [[1, 1, 6, 6]])
    with open(label, 'wb') as f:
        f.write(b'# a.jpg\n1 1 5 5\n# caf\xe9.jpg\n1 1 5 5\n')  # Latin-1, not UTF-8
    with pytest.raises(LabelFileError) as err:
        retinaface('val', str(tmp_path / 'root'), data).gt_roidb()
    assert str(err.value) == '%s:3: not UTF-8 text (byte 0xe9); label.txt must be UTF-8' % label


def test_a_huge_image_header_is_one_error_naming_image_and_line(tmp_path, mnet_config):
    """A 100-byte PNG claiming 50000x50000: no DecompressionBombError, no decoding."""
    from tests.rcnn.utils.test_image_file import png_header
    data = make_split(tmp_path, 'train', '# a.jpg\n%s\n# bomb.png\n%s\n' % (TRAIN_LINE, TRAIN_LINE),
                      {'a.jpg': (64, 48)})
    bomb = os.path.join(data, 'train', 'images', 'bomb.png')
    with open(bomb, 'wb') as f:
        f.write(png_header(50000, 50000))
    with pytest.raises(LabelFileError) as err:
        retinaface('train', str(tmp_path / 'root'), data).gt_roidb()
    label = os.path.join(data, 'train', 'label.txt')
    assert str(err.value) == ('%s:3: image %s is 50000x50000 (2500.0 megapixels), over the limit of 1073.7 '
                              'that OpenCV decodes; remove it from the split or shrink it' % (label, bomb))
    with pytest.raises(LabelFileError, match=r'label.txt:1: image .*a.jpg is 64x48 \(0.0 megapixels\), over '
                                             r'the limit of 0.0'):
        retinaface('train', str(tmp_path / 'root'), data, max_pixels=1000).gt_roidb()
    roidb = retinaface('train', str(tmp_path / 'root'), data, max_pixels=0).gt_roidb()
    assert (roidb[1]['width'], roidb[1]['height']) == (50000, 50000)


def test_the_size_cache_replaces_a_planted_link(tmp_path, mnet_config):
    data = make_split(tmp_path, 'val', '# a.jpg\n1 1 5 5\n', {'a.jpg': (20, 30)})
    root = tmp_path / 'root'
    victim = tmp_path / 'victim.json'
    victim.write_bytes(b'precious')
    split = retinaface('val', str(root), data)
    os.symlink(victim, split.cache_file)
    assert split.gt_roidb()[0]['width'] == 20
    assert victim.read_bytes() == b'precious' and not os.path.islink(split.cache_file)
    assert json.load(open(split.cache_file))['images'][os.path.join(data, 'val', 'images', 'a.jpg')][:2] == [20, 30]
    assert [n for n in os.listdir(os.path.dirname(split.cache_file)) if '.tmp-' in n] == []
