import numpy as np
import pytest

from rcnn.io.rpn import AA, assign_anchor_fpn
from tests.reference import encode_box_loop, iou_loop

STRIDES = (32, 16, 8)
SCALES = {32: (32, 16), 16: (8, 4), 8: (2, 1)}  # RAC_SSH: anchor side 16 * scale, 2 per cell


def feat_shapes(height, width):
    return [(1, 4, height // s, width // s) for s in STRIDES]


def anchor_loop(stride, h, w, a):
    """The anchor of cell (h, w), index a, of RAC_SSH: a square of side 16 * scale around
    (7.5 + w * stride, 7.5 + h * stride), inclusive coordinates."""
    half = (16 * SCALES[stride][a] - 1) / 2.0
    cx, cy = 7.5 + w * stride, 7.5 + h * stride
    return [cx - half, cy - half, cx + half, cy + half]


def encode_points_loop(anchor, points):
    aw, ah = anchor[2] - anchor[0] + 1, anchor[3] - anchor[1] + 1
    ax, ay = anchor[0] + 0.5 * (aw - 1), anchor[1] + 0.5 * (ah - 1)
    out = []
    for x, y, _ in points:
        out += [(x - ax) / aw, (y - ay) / ah]
    return out


def reference_assign(height, width, gt_boxes, gt_landmarks, force_positive):
    """Per-anchor loop over the original's rules; returns the dict layout of assign_anchor_fpn."""
    keep = [i for i in range(len(gt_boxes)) if gt_boxes[i][4] != -1]
    boxes = [list(map(float, gt_boxes[i][:4])) for i in keep]
    points = [gt_landmarks[i] for i in keep]
    cells = [(s, h, w, a) for s in STRIDES for h in range(height // s) for w in range(width // s) for a in range(2)]
    ious = [[iou_loop(anchor_loop(*c), b) for b in boxes] for c in cells]
    best_of_face = [max(row[g] for row in ious) for g in range(len(boxes))]
    out = {}
    for s in STRIDES:
        fh, fw = height // s, width // s
        out['face_label_stride%d' % s] = np.zeros((1, 2 * fh * fw), np.float32)
        for name, n in (('bbox', 4), ('landmark', 10)):
            out['face_%s_target_stride%d' % (name, s)] = np.zeros((1, n * 2, fh * fw), np.float32)
            out['face_%s_weight_stride%d' % (name, s)] = np.zeros((1, n * 2, fh * fw), np.float32)
    for (s, h, w, a), row in zip(cells, ious):
        fw = width // s
        label = 0.0
        if boxes:
            best = int(np.argmax(row))
            label = -1.0
            if row[best] < 0.3:
                label = 0.0
            if force_positive and any(row[g] == best_of_face[g] and best_of_face[g] > 0 for g in range(len(boxes))):
                label = 1.0
            if row[best] >= 0.5:
                label = 1.0
            anchor = anchor_loop(s, h, w, a)
            box_t = encode_box_loop(anchor, boxes[best])
            point_t = encode_points_loop(anchor, points[best])
            for c in range(4):
                out['face_bbox_target_stride%d' % s][0, a * 4 + c, h * fw + w] = box_t[c]
                out['face_bbox_weight_stride%d' % s][0, a * 4 + c, h * fw + w] = label == 1
            for c in range(10):
                out['face_landmark_target_stride%d' % s][0, a * 10 + c, h * fw + w] = point_t[c]
                out['face_landmark_weight_stride%d' % s][0, a * 10 + c, h * fw + w] = \
                    label == 1 and points[best][0][2] >= 0
        out['face_label_stride%d' % s][0, a * (height // s) * fw + h * fw + w] = label
    return out


def assign(cfg, height, width, boxes, landmarks=None, **kwargs):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 5)
    if landmarks is None:
        landmarks = np.full((len(boxes), 5, 3), -1, np.float32)
    gt = {'gt_boxes': boxes, 'gt_landmarks': np.asarray(landmarks, np.float32)}
    return assign_anchor_fpn(feat_shapes(height, width), gt, [[height, width, 1.0]], landmark=True, cfg=cfg,
                             **kwargs)


def label_at(out, stride, h, w, a, width=64):
    fw = width // stride
    fh = out['face_label_stride%d' % stride].shape[1] // (2 * fw)
    return out['face_label_stride%d' % stride][0, a * fh * fw + h * fw + w]


def test_layout_shapes_and_dtypes(mnet_config):
    out = assign(mnet_config, 96, 64, [[10, 10, 40, 40, 1]])
    for s in STRIDES:
        cells = (96 // s) * (64 // s)
        assert out['face_label_stride%d' % s].shape == (1, 2 * cells)
        assert out['face_bbox_target_stride%d' % s].shape == (1, 8, cells)
        assert out['face_bbox_weight_stride%d' % s].shape == (1, 8, cells)
        assert out['face_landmark_target_stride%d' % s].shape == (1, 20, cells)
        assert out['face_landmark_weight_stride%d' % s].shape == (1, 20, cells)
    assert all(v.dtype == np.float32 for v in out.values())
    np.testing.assert_array_equal(out['face_label'],
                                  np.concatenate([out['face_label_stride%d' % s] for s in STRIDES], 1))
    assert out['face_bbox_target'].shape == (1, 8, sum((96 // s) * (64 // s) for s in STRIDES))
    no_landmarks = assign_anchor_fpn(feat_shapes(96, 64), {'gt_boxes': np.zeros((0, 5))}, [[96, 64, 1]],
                                     cfg=mnet_config)
    assert not any('landmark' in k for k in no_landmarks)


def test_face_equal_to_an_anchor(mnet_config):
    # stride 8, cell (h=2, w=3), anchor 1 (side 16) is [24, 16, 39, 31]
    landmarks = [[[27.5, 19.5, 1], [35.5, 19.5, 1], [31.5, 23.5, 0], [27.5, 27.5, 1], [35.5, 27.5, 1]]]
    out = assign(mnet_config, 64, 64, [[24, 16, 39, 31, 1]], landmarks)
    assert label_at(out, 8, 2, 3, 1) == 1
    # the side-32 anchor of the same cell: IoU 256 / 1024 = 0.25 < 0.3 -> background
    assert label_at(out, 8, 2, 3, 0) == 0
    # the side-16 anchor one cell right, [32, 16, 47, 31]: IoU 128 / 384 = 0.33 -> ignored
    assert label_at(out, 8, 2, 4, 1) == -1
    assert (out['face_label'] == 1).sum() == 1
    column = 2 * 8 + 3
    np.testing.assert_allclose(out['face_bbox_target_stride8'][0, 4:8, column], 0, atol=1e-6)
    np.testing.assert_array_equal(out['face_bbox_weight_stride8'][0, :, column], [0] * 4 + [1] * 4)
    assert out['face_bbox_weight'].sum() == 4
    # points relative to the anchor centre (31.5, 23.5) in anchor widths (16)
    np.testing.assert_allclose(out['face_landmark_target_stride8'][0, 10:20, column],
                               [-0.25, -0.25, 0.25, -0.25, 0, 0, -0.25, 0.25, 0.25, 0.25], atol=1e-6)
    np.testing.assert_array_equal(out['face_landmark_weight_stride8'][0, :, column], [0] * 10 + [1] * 10)


@pytest.mark.parametrize('side, best_iou', [(6, 36 / 256), (11, 121 / 256)])
def test_face_whose_best_iou_is_below_one_half(mnet_config, monkeypatch, side, best_iou):
    # a tiny face centred on the side-16 anchor of stride 8, cell (3, 3): centre (31.5, 31.5)
    lo = 31.5 - (side - 1) / 2.0
    box = [[lo, lo, lo + side - 1, lo + side - 1, 1]]
    out = assign(mnet_config, 64, 64, box)
    assert (out['face_label'] == 1).sum() == 0
    assert label_at(out, 8, 3, 3, 1) == (0 if best_iou < 0.3 else -1)
    assert out['face_bbox_weight'].sum() == 0
    # the original's RPN_FORCE_POSITIVE (off in its configuration) makes the best anchor positive
    monkeypatch.setattr(mnet_config.TRAIN, 'RPN_FORCE_POSITIVE', True)
    forced = assign(mnet_config, 64, 64, box)
    assert (forced['face_label'] == 1).sum() == 1 and label_at(forced, 8, 3, 3, 1) == 1
    assert forced['face_bbox_weight_stride8'][0, 4:8, 3 * 8 + 3].tolist() == [1, 1, 1, 1]


def test_faces_at_the_borders(mnet_config, monkeypatch):
    # the corner anchor [0, 0, 15, 15] (stride 8, cell (0, 0), side 16) and a face half outside
    out = assign(mnet_config, 64, 64, [[0, 0, 15, 15, 1], [56, 56, 71, 71, 1]])
    assert label_at(out, 8, 0, 0, 1) == 1
    # [56, 56, 71, 71] equals the side-16 anchor of cell (7, 7) though it leaves the image:
    # anchors are kept up to ALLOWED_BORDER (9999) pixels outside
    assert label_at(out, 8, 7, 7, 1) == 1
    # with ALLOWED_BORDER 0 every anchor crossing the image edge is ignored, weights 0
    for s in STRIDES:
        monkeypatch.setitem(mnet_config.RPN_ANCHOR_CFG[str(s)], 'ALLOWED_BORDER', 0)
    strict = assign(mnet_config, 64, 64, [[0, 0, 15, 15, 1], [56, 56, 71, 71, 1]])
    assert label_at(strict, 8, 0, 0, 1) == 1
    assert label_at(strict, 8, 7, 7, 1) == -1
    assert (strict['face_label_stride32'] == -1).all()  # sides 512 and 256 never fit in 64 px
    assert strict['face_bbox_weight'].sum() == 4
    assert strict['face_bbox_target_stride8'][0, 4:8, 7 * 8 + 7].tolist() == [0, 0, 0, 0]


def test_missing_landmarks_keep_the_box_target(mnet_config):
    out = assign(mnet_config, 64, 64, [[24, 16, 39, 31, 1]], np.full((1, 5, 3), -1))
    column = 2 * 8 + 3
    assert out['face_bbox_weight_stride8'][0, 4:8, column].tolist() == [1, 1, 1, 1]
    assert out['face_landmark_weight'].sum() == 0


def test_ignored_class_and_no_faces(mnet_config):
    ignored = assign(mnet_config, 64, 64, [[24, 16, 39, 31, -1]])
    assert (ignored['face_label'] == 0).all()  # the -1 face counts as absent: every anchor background
    empty = assign(mnet_config, 64, 64, np.zeros((0, 5)))
    for name, value in empty.items():
        assert (value == 0).all(), name
    empty_gt = {'gt_boxes': np.zeros((0, 5)), 'gt_landmarks': np.zeros((0, 5, 3))}
    none_ok = assign_anchor_fpn(feat_shapes(64, 64), empty_gt, [[64, 64, 1]], landmark=True, cfg=mnet_config)
    assert (none_ok['face_label'] == 0).all()


def test_select_stride(mnet_config):
    box = [[24, 16, 39, 31, 1]]
    full = assign(mnet_config, 64, 64, box)
    only8 = assign(mnet_config, 64, 64, box, select_stride=8)
    np.testing.assert_array_equal(only8['face_label_stride8'], full['face_label_stride8'])
    assert (only8['face_label_stride32'] == -1).all() and (only8['face_label_stride16'] == -1).all()
    only32 = assign(mnet_config, 64, 64, box, select_stride=32)
    assert (only32['face_label_stride8'] == -1).all()


def test_subsampling_without_ohem(mnet_config, monkeypatch):
    monkeypatch.setattr(mnet_config.TRAIN, 'RPN_ENABLE_OHEM', 0)
    monkeypatch.setattr(mnet_config.TRAIN, 'RPN_BATCH_SIZE', 16)
    boxes = [[x, y, x + 15, y + 15, 1] for x in range(0, 128, 16) for y in range(0, 64, 16)]
    out = assign(mnet_config, 64, 128, boxes, rng=np.random.default_rng(0))
    labels = out['face_label']
    assert (labels == 1).sum() == 4  # RPN_FG_FRACTION 0.25 of 16
    assert (labels == 0).sum() == 12
    assert out['face_bbox_weight'].sum() == 4 * 4


@pytest.mark.parametrize('force_positive', [False, True])
def test_random_cases_against_per_anchor_loop(mnet_config, monkeypatch, rng, force_positive):
    monkeypatch.setattr(mnet_config.TRAIN, 'RPN_FORCE_POSITIVE', force_positive)
    height, width = 96, 128
    positives = 0
    for case in range(6):
        n = int(rng.integers(0, 6))
        x1, y1 = rng.uniform(-10, width, n), rng.uniform(-10, height, n)
        side = rng.uniform(3, 70, n)
        aspect = rng.uniform(0.7, 1.4, n)
        boxes = np.stack([x1, y1, x1 + side, y1 + side * aspect, np.where(rng.random(n) < 0.2, -1, 1)], 1)
        for i in range(n):
            if rng.random() < 0.6:  # near an anchor, so that some IoU pass 0.5
                s = int(rng.choice([8, 16]))
                cell = int(rng.integers(height // s)), int(rng.integers(width // s))
                near = anchor_loop(s, cell[0], cell[1], int(rng.integers(2)))
                boxes[i, :4] = np.asarray(near) + rng.uniform(-4, 4, 4)
        boxes = np.round(boxes).astype(np.float32)  # integer ties exercise the tie rule
        landmarks = np.concatenate([rng.uniform(0, 100, (n, 5, 2)), np.ones((n, 5, 1))], 2).astype(np.float32)
        landmarks[rng.random(n) < 0.3] = -1
        got = assign(mnet_config, height, width, boxes, landmarks)
        want = reference_assign(height, width, boxes, landmarks, force_positive)
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5, err_msg='%s case %d' % (key, case))
        positives += int((got['face_label'] == 1).sum())

    assert positives > 10  # the cases do exercise positives


def test_aa_object_matches_function(mnet_config):
    gt = {'gt_boxes': np.array([[10, 12, 40, 44, 1]], np.float32), 'gt_landmarks': np.ones((1, 5, 3), np.float32)}
    a = AA(feat_shapes(64, 96), cfg=mnet_config).assign_anchor_fpn(gt, [[64, 96, 1]], landmark=True)
    b = assign_anchor_fpn(feat_shapes(64, 96), gt, [[64, 96, 1]], landmark=True, cfg=mnet_config)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_bbox_and_landmark_stds(mnet_config, monkeypatch):
    box = [[20, 16, 43, 35, 1]]
    plain = assign(mnet_config, 64, 64, box, np.full((1, 5, 3), 10.0))
    monkeypatch.setattr(mnet_config.TRAIN, 'BBOX_STDS', (0.1, 0.2, 0.5, 0.25))
    monkeypatch.setattr(mnet_config.TRAIN, 'LANDMARK_STD', 0.2)
    scaled = assign(mnet_config, 64, 64, box, np.full((1, 5, 3), 10.0))
    stds = np.tile([0.1, 0.2, 0.5, 0.25], 2)[None, :, None]
    np.testing.assert_allclose(scaled['face_bbox_target_stride8'], plain['face_bbox_target_stride8'] / stds, rtol=1e-5)
    np.testing.assert_allclose(scaled['face_landmark_target'], plain['face_landmark_target'] / 0.2, rtol=1e-5)


def test_training_targets_and_the_detector_share_one_anchor_tiling(mnet_config):
    """rpn's anchors of a stride are the very array the detector decodes against (one cache), and
    equal the per-cell formula."""
    from rcnn.detection.decoding import stride_anchor_plane
    from rcnn.io.rpn import stride_anchors
    from rcnn.processing import presets
    from rcnn.processing.generate_anchor import generate_anchors_fpn
    detector_bases = dict(zip(presets.strides('net3'),
                              generate_anchors_fpn(cfg=presets.anchor_config('net3'))))
    for stride in STRIDES:
        anchors = stride_anchors(stride, 3, 4, mnet_config)
        assert anchors is stride_anchor_plane(stride, 3, 4, detector_bases[stride])
        expected = [anchor_loop(stride, h, w, a) for h in range(3) for w in range(4) for a in range(2)]
        np.testing.assert_array_equal(anchors, expected)
