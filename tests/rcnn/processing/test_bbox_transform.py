import numpy as np
import pytest

from rcnn.processing import bbox_transform as bt
from tests.reference import encode_box_loop, overlaps_loop, random_boxes

OVERLAP_FUNCS = [bt.bbox_overlaps, bt.bbox_overlaps_py]


@pytest.mark.parametrize('overlaps', OVERLAP_FUNCS)
def test_overlaps_equal_loop_on_random_boxes(overlaps, rng):
    for n, k in [(1, 1), (7, 3), (50, 40), (200, 5)]:
        boxes, query = random_boxes(rng, n), random_boxes(rng, k)
        np.testing.assert_allclose(overlaps(boxes, query), overlaps_loop(boxes, query), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('overlaps', OVERLAP_FUNCS)
def test_overlaps_edge_cases(overlaps):
    empty = np.zeros((0, 4))
    box = np.array([[0, 0, 9, 9]], dtype=np.float32)
    assert overlaps(empty, box).shape == (0, 1)
    assert overlaps(box, empty).shape == (1, 0)
    assert overlaps(box, box)[0, 0] == 1.0
    # touching at one pixel column: the inclusive convention counts a 1-pixel-wide overlap
    touching = np.array([[9, 0, 18, 9]])
    assert overlaps(box, touching)[0, 0] == pytest.approx(10 / 190)
    # adjacent without a shared pixel
    assert overlaps(box, np.array([[10, 0, 19, 9]]))[0, 0] == 0.0
    # a zero-area box (x2 = x1 - 1) overlaps nothing
    assert overlaps(box, np.array([[5, 5, 4, 8]]))[0, 0] == 0.0
    # a fifth column (score or class) is ignored
    assert overlaps(np.array([[0, 0, 9, 9, 0.7]]), np.array([[0, 0, 4, 9, 1]]))[0, 0] == pytest.approx(0.5)


def test_nonlinear_transform_equals_formula_and_pred_inverts_it(rng):
    anchors = random_boxes(rng, 100) + [0, 0, 5, 5]
    gt = random_boxes(rng, 100) + [0, 0, 3, 3]
    gt_with_class = np.hstack([gt, np.ones((100, 1))])
    targets = bt.nonlinear_transform(anchors, gt_with_class)
    expected = np.array([encode_box_loop(a, g) for a, g in zip(anchors, gt)])
    np.testing.assert_allclose(targets, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(bt.nonlinear_pred(anchors, targets), gt, rtol=1e-9, atol=1e-7)


def test_nonlinear_pred_per_class_columns_and_empty(rng):
    anchors = random_boxes(rng, 10) + [0, 0, 5, 5]
    deltas = rng.normal(0, 0.2, (10, 8))
    pred = bt.nonlinear_pred(anchors, deltas)
    np.testing.assert_allclose(pred[:, 4:], bt.nonlinear_pred(anchors, deltas[:, 4:]))
    assert bt.nonlinear_pred(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0, 4)
    f32 = bt.nonlinear_pred(anchors.astype(np.float32), deltas.astype(np.float32))
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, pred, rtol=1e-5, atol=1e-3)


def test_landmark_transform_and_pred(rng):
    anchors = random_boxes(rng, 30) + [0, 0, 5, 5]
    points = np.concatenate([rng.uniform(0, 200, (30, 5, 2)), np.ones((30, 5, 1))], axis=2)
    targets = bt.landmark_transform(anchors, points)
    assert targets.shape == (30, 10)
    for a, p, t in zip(anchors, points, targets):
        aw, ah = a[2] - a[0] + 1, a[3] - a[1] + 1
        ax, ay = a[0] + 0.5 * (aw - 1), a[1] + 0.5 * (ah - 1)
        expected = [v for x, y, _ in p for v in ((x - ax) / aw, (y - ay) / ah)]
        np.testing.assert_allclose(t, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(bt.landmark_pred(anchors, targets), points[:, :, :2].reshape(30, 10), atol=1e-7)
    np.testing.assert_allclose(bt.landmark_pred(anchors, targets.reshape(30, 5, 2)), points[:, :, :2], atol=1e-7)
    assert bt.landmark_pred(np.zeros((0, 4)), np.zeros((0, 5, 2))).shape == (0, 5, 2)


def test_clip_boxes_in_place():
    boxes = np.array([[-5, -3, 700, 500, -1, 2, 3, 4]], dtype=np.float64)
    out = bt.clip_boxes(boxes, (480, 640, 3))
    assert out is boxes
    np.testing.assert_array_equal(boxes, [[0, 0, 639, 479, 0, 2, 3, 4]])
