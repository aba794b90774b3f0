import cv2
import numpy as np
import pytest

from rcnn.dataset.imdb import FLIP_ORDER, IMDB
from rcnn.dataset.synthetic import LANDMARK_COLOURS_BGR, write_marked_image
from rcnn.io import image
from rcnn.io.image import get_crop_image, tensor_vstack, transform
from rcnn.io.rpn import assign_anchor_fpn, get_crop_batch
from rcnn.utils.image_file import ImageFileError

SIZE = 640


@pytest.fixture
def no_jitter(mnet_config):
    mnet_config.COLOR_MODE = 0
    return mnet_config


def flipped_entry(roi):
    """The mirrored copy of a roidb entry, as training makes it."""
    return IMDB('synthetic', 'train', '.', '.').append_flipped_images([roi])[1]


def rgb_at(tensor, x, y):
    return tensor[0, :, int(round(y)), int(round(x))]


def crop_offset(roi, new_roi, scale):
    """(left, up) of the crop window, from a kept face (the faces have distinct sizes); None if none."""
    for box in new_roi['boxes']:
        for candidate in roi['boxes'] * scale:
            d = candidate - box
            if abs(d[0] - d[2]) < 1e-3 and abs(d[1] - d[3]) < 1e-3 and abs(d[0] - round(d[0])) < 1e-3:
                return d[0], d[1]
    return None


@pytest.mark.parametrize('flipped', [False, True])
def test_landmarks_stay_on_their_points_after_crop_and_flip(tmp_path, no_jitter, flipped):
    roi = write_marked_image(tmp_path / 'faces.png')
    if flipped:
        roi = flipped_entry(roi)
    expected = LANDMARK_COLOURS_BGR[list(FLIP_ORDER)] if flipped else LANDMARK_COLOURS_BGR
    checked = 0
    rng = np.random.default_rng(11)
    for _ in range(12):
        ims, rois = get_crop_image([roi], rng, cfg=no_jitter)
        tensor, new = ims[0], rois[0]
        assert tensor.shape == (1, 3, SIZE, SIZE) and tensor.dtype == np.float32
        for box, points in zip(new['boxes'], new['landmarks']):
            # the box still frames its face: every landmark lies inside it
            assert ((points[:, 0] > box[0]) & (points[:, 0] < box[2])).all()
            assert ((points[:, 1] > box[1]) & (points[:, 1] < box[3])).all()
            if flipped:  # the mirrored left eye is the one on the left of the picture
                assert points[0, 0] < points[1, 0] and points[3, 0] < points[4, 0]
            for p, (x, y, _) in enumerate(points):
                if 0 <= x < SIZE - 0.5 and 0 <= y < SIZE - 0.5:
                    np.testing.assert_allclose(rgb_at(tensor, x, y), expected[p][::-1], atol=40)
                    checked += 1
    assert checked > 40


def test_faces_whose_centre_leaves_the_crop_are_dropped(tmp_path, no_jitter):
    roi = write_marked_image(tmp_path / 'faces.png')
    rng = np.random.default_rng(3)
    for _ in range(20):
        _, rois = get_crop_image([roi], rng, cfg=no_jitter)
        new = rois[0]
        scale = new['im_info'][2]
        np.testing.assert_array_equal(new['im_info'][:2], [SIZE, SIZE])
        assert len(new['boxes']) == len(new['landmarks']) == len(new['gt_classes']) == len(new['blur'])
        centres = (new['boxes'][:, :2] + new['boxes'][:, 2:]) / 2
        assert ((centres >= 0) & (centres < SIZE)).all()
        offset = crop_offset(roi, new, scale)
        if offset is None:
            continue
        all_centres = (roi['boxes'][:, :2] + roi['boxes'][:, 2:]) / 2 * scale - np.array(offset)
        inside = ((all_centres >= 0) & (all_centres < SIZE)).all(axis=1)
        assert inside.sum() == len(new['boxes'])
        np.testing.assert_allclose(new['boxes'], roi['boxes'][inside] * scale - np.tile(offset, 2), atol=1e-3)


def test_crop_scale_is_a_fraction_of_the_short_side(tmp_path, no_jitter):
    roi = write_marked_image(tmp_path / 'faces.png')
    rng = np.random.default_rng(5)
    scales = {round(float(get_crop_image([roi], rng, cfg=no_jitter)[1][0]['im_info'][2]), 4) for _ in range(40)}
    assert scales == {round(SIZE / int(400 * f), 4) for f in image.CROP_FRACTIONS}


def test_seeded_runs_repeat(tmp_path, mnet_config):
    roi = write_marked_image(tmp_path / 'faces.png')
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(1234)
        runs.append([get_crop_image([roi, roi], rng, cfg=mnet_config) for _ in range(3)])
    np.random.seed(99)
    runs.append([get_crop_image([roi, roi], cfg=mnet_config) for _ in range(3)])
    np.random.seed(99)
    runs.append([get_crop_image([roi, roi], cfg=mnet_config) for _ in range(3)])
    for a, b in (runs[:2], runs[2:]):
        for (ims_a, rois_a), (ims_b, rois_b) in zip(a, b):
            for x, y in zip(ims_a, ims_b):
                np.testing.assert_array_equal(x, y)
            for x, y in zip(rois_a, rois_b):
                np.testing.assert_array_equal(x['boxes'], y['boxes'])
    assert not np.array_equal(runs[0][0][0][0], runs[0][1][0][0])


def test_brightness_jitter():
    im = np.full((4, 5, 3), 100, np.float32)
    im[0, 0] = (10, 20, 30)
    out = image.color_aug(im.copy(), 0.125, np.random.default_rng(0), color_mode=1)
    ratio = out / im
    assert np.allclose(ratio, ratio[0, 0, 0]) and 0.875 <= ratio[0, 0, 0] <= 1.125


def test_contrast_and_saturation_by_formula():
    rng = np.random.default_rng(1)
    im = rng.uniform(0, 255, (6, 7, 3)).astype(np.float32)
    luma = im[:, :, 0] * 0.114 + im[:, :, 1] * 0.587 + im[:, :, 2] * 0.299  # BGR
    alpha = 1 + np.random.RandomState(4).uniform(-0.3, 0.3)
    out = image.contrast_aug(im.copy(), 0.3, np.random.RandomState(4))
    np.testing.assert_allclose(out, alpha * im + (1 - alpha) * luma.mean(), rtol=1e-5)
    out = image.saturation_aug(im.copy(), 0.3, np.random.RandomState(4))
    np.testing.assert_allclose(out, alpha * im + (1 - alpha) * luma[:, :, None], rtol=1e-5)
    # saturation keeps grey pixels grey
    grey = np.full((2, 2, 3), 77, np.float32)
    np.testing.assert_allclose(image.saturation_aug(grey.copy(), 0.3, np.random.RandomState(4)), grey, rtol=1e-5)


def test_full_colour_mode_changes_colours_and_keeps_shape(tmp_path, mnet_config):
    mnet_config.COLOR_MODE = 2
    roi = write_marked_image(tmp_path / 'faces.png')
    jittered = get_crop_image([roi], np.random.default_rng(8), cfg=mnet_config)[0][0]
    mnet_config.COLOR_MODE = 0
    plain = get_crop_image([roi], np.random.default_rng(8), cfg=mnet_config)[0][0]
    assert jittered.shape == plain.shape and not np.allclose(jittered, plain)


def test_transform_is_rgb_nchw_with_bgr_ordered_constants():
    im = np.zeros((2, 3, 3), np.uint8)
    im[1, 2] = (10, 20, 30)  # B, G, R
    out = transform(im, pixel_means=(1, 2, 3), pixel_stds=(1, 2, 4), pixel_scale=2.0)
    assert out.shape == (1, 3, 2, 3) and out.dtype == np.float32
    # channel 0 is red: (30 / 2 - 3) / 4
    np.testing.assert_allclose(out[0, :, 1, 2], [(15 - 3) / 4, (10 - 2) / 2, (5 - 1) / 1])
    np.testing.assert_array_equal(image.transform_inverse(transform(im, (0, 0, 0), (1, 1, 1), 1.0), (0, 0, 0)), im)


def test_tensor_vstack_pads():
    a = np.ones((1, 2, 3), np.float32)
    b = np.full((2, 3, 1), 2, np.float32)
    out = tensor_vstack([a, b], pad=-1)
    assert out.shape == (3, 3, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0, :2, :3], 1)
    assert (out[0, 2] == -1).all() and (out[1:, :, 0] == 2).all() and (out[1:, :, 1:] == -1).all()


def test_masked_regions_are_grey(tmp_path, no_jitter, monkeypatch):
    monkeypatch.setattr(image, 'CROP_FRACTIONS', (1.0,))
    roi = write_marked_image(tmp_path / 'faces.png')
    roi['boxes_mask'] = np.array([[0, 0, 400, 400]], np.float32)
    tensor, new = get_crop_image([roi], np.random.default_rng(0), cfg=no_jitter)
    assert abs(tensor[0][0, :, 320, 320] - image.MASK_GREY).max() < 1


def test_missing_image_is_named(tmp_path, mnet_config):
    roi = write_marked_image(tmp_path / 'faces.png')
    roi['image'] = str(tmp_path / 'nope.jpg')
    with pytest.raises(ImageFileError, match='cannot read image .*nope.jpg: no such file'):
        get_crop_image([roi], cfg=mnet_config)


def test_crop_batch_feeds_assign_anchor_fpn(tmp_path, mnet_config):
    roi = write_marked_image(tmp_path / 'faces.png')
    data, labels = get_crop_batch([roi, flipped_entry(roi)], np.random.default_rng(2), cfg=mnet_config)
    assert len(data) == len(labels) == 2
    for d, lab in zip(data, labels):
        assert d['data'].shape == (1, 3, SIZE, SIZE) and d['im_info'].shape == (1, 3)
        n = len(lab['gt_boxes'])
        assert lab['gt_boxes'].shape == (n, 5) and (lab['gt_boxes'][:, 4] == 1).all()
        assert lab['gt_landmarks'].shape == (n, 5, 3)
        feat = [(1, 4, SIZE // s, SIZE // s) for s in mnet_config.RPN_FEAT_STRIDE]
        out = assign_anchor_fpn(feat, lab, d['im_info'], landmark=True, cfg=mnet_config)
        assert out['face_label_stride8'].shape == (1, 2 * 80 * 80)
        if n:
            assert (out['face_label'] == 1).sum() > 0


@pytest.mark.parametrize('scale, left, up', [(1.6, 0, 0), (3.2, 517, 100), (640 / 399, 130, 1), (0.7, 3, 2)])
def test_resized_window_equals_resize_then_crop(rng, scale, left, up):
    noise = rng.integers(0, 256, (400, 480, 3)).astype(np.uint8)
    im = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 1.5), None, 0, 255, cv2.NORM_MINMAX)  # image-like
    full = cv2.resize(im, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    size = min(64, full.shape[0] - up, full.shape[1] - left)
    want = full[up:up + size, left:left + size].astype(int)
    got = image.resized_window(im, scale, left, up, size).astype(int)
    assert np.abs(got - want).max() <= 1 and np.abs(got - want).mean() < 0.3


def test_mixup_averages_two_crops_and_keeps_both_faces(tmp_path, no_jitter):
    one = write_marked_image(tmp_path / 'one.png')
    two = write_marked_image(tmp_path / 'two.png', faces=((100, 100, 200),))
    plain_ims, plain_rois = get_crop_image([one, two], np.random.default_rng(4), cfg=no_jitter)
    no_jitter.MIXUP = 1.0
    rng = np.random.default_rng(4)
    mixed_ims, mixed_rois = get_crop_image([one, two], rng, cfg=no_jitter)
    # same crops (the mixup draws come after them), each averaged with the other one
    np.testing.assert_allclose(mixed_ims[0], (plain_ims[0] + plain_ims[1]) / 2, atol=1e-4)
    assert len(plain_rois[0]['boxes']) and len(plain_rois[1]['boxes'])
    both = np.concatenate([plain_rois[0]['boxes'], plain_rois[1]['boxes']])
    np.testing.assert_array_equal(mixed_rois[0]['boxes'], both)


def test_the_configuration_is_a_required_keyword(tmp_path):
    roi = write_marked_image(tmp_path / 'faces.png')
    for call in (lambda: get_crop_image([roi]), lambda: get_crop_batch([roi]),
                 lambda: assign_anchor_fpn([(1, 4, 4, 4)], {'gt_boxes': np.zeros((0, 5))}, [[64, 64, 1]])):
        with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'cfg'"):
            call()
