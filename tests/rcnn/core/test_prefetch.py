"""rcnn.core.prefetch: batch assembly, the shared slot layout and the worker processes."""
import numpy as np
import pytest

from rcnn.core import prefetch
from rcnn.dataset.synthetic import write_marked_image
from rcnn.io.rpn import assign_anchor_fpn, get_crop_batch

SIZE = 128


@pytest.fixture
def cfg(mnet_config):
    mnet_config.SCALES = [(SIZE, SIZE)]
    return mnet_config


@pytest.fixture
def roidb(tmp_path):
    return [write_marked_image(tmp_path / ('%d.png' % i), width=160, height=140,
                               faces=((10 + 5 * i, 20, 60), (90, 60, 40))) for i in range(3)]


def feat_shapes(cfg):
    return [(1, 4, SIZE // s, SIZE // s) for s in cfg.RPN_FEAT_STRIDE]


def batch_shapes(cfg, batch):
    """{name: shape} of a batch, from one image's targets."""
    empty = {'gt_boxes': np.zeros((0, 5), np.float32), 'gt_landmarks': np.zeros((0, 5, 3), np.float32)}
    targets = assign_anchor_fpn(feat_shapes(cfg), empty, [[SIZE, SIZE, 1]], True, cfg=cfg)
    shapes = {'data': (batch, 3, SIZE, SIZE)}
    shapes.update({name: (batch,) + targets[name].shape[1:]
                   for name in prefetch.label_names(cfg.RPN_FEAT_STRIDE, cfg.FACE_LANDMARK)})
    return shapes


def empty_batch(shapes):
    return {name: np.full(shape, np.nan, np.float32) for name, shape in shapes.items()}


def test_label_names_are_stride_major_in_the_original_order():
    assert prefetch.label_names([32, 8], landmark=False) == [
        'face_label_stride32', 'face_bbox_target_stride32', 'face_bbox_weight_stride32',
        'face_label_stride8', 'face_bbox_target_stride8', 'face_bbox_weight_stride8']
    with_landmarks = prefetch.label_names([16], landmark=True)
    assert with_landmarks[3:] == ['face_landmark_target_stride16', 'face_landmark_weight_stride16']


def test_slot_layout_packs_the_arrays_back_to_back():
    layout = prefetch.SlotLayout({'a': (2, 3), 'b': (5,), 'c': (1, 1, 4)})
    assert layout.offsets == {'a': 0, 'b': 24, 'c': 44} and layout.nbytes == 60
    buffer = layout.allocate()
    views = layout.views(buffer)
    views['b'][:] = np.arange(5)
    views['c'][0, 0, 3] = 7
    raw = np.frombuffer(buffer, np.float32)
    np.testing.assert_array_equal(raw[6:11], np.arange(5))
    assert raw[14] == 7 and views['a'].shape == (2, 3)


def test_make_batch_writes_the_crops_and_their_targets(cfg, roidb):
    """Each row of the batch is get_crop_batch's image and assign_anchor_fpn's targets for it,
    drawn from the same random sequence."""
    shapes = batch_shapes(cfg, len(roidb))
    out = empty_batch(shapes)
    prefetch.make_batch(roidb, feat_shapes(cfg), np.random.default_rng(5), out, cfg)
    rng = np.random.default_rng(5)
    data, labels = get_crop_batch(roidb, rng, cfg=cfg)
    for i, (d, label) in enumerate(zip(data, labels)):
        np.testing.assert_array_equal(out['data'][i], d['data'][0])
        targets = assign_anchor_fpn(feat_shapes(cfg), label, d['im_info'], True, rng=rng, cfg=cfg)
        for name in shapes:
            if name != 'data':
                np.testing.assert_array_equal(out[name][i], targets[name][0], err_msg=name)
    assert any((out['face_label_stride%d' % s] == 1).any() for s in cfg.RPN_FEAT_STRIDE)


def test_random_feat_stride_keeps_the_labels_of_one_stride(cfg, roidb):
    cfg.RANDOM_FEAT_STRIDE = True
    chosen = set()
    for seed in range(8):
        out = empty_batch(batch_shapes(cfg, 1))
        prefetch.make_batch(roidb[:1], feat_shapes(cfg), np.random.default_rng(seed), out, cfg)
        kept = [s for s in cfg.RPN_FEAT_STRIDE if (out['face_label_stride%d' % s] != -1).any()]
        assert len(kept) == 1
        chosen.add(kept[0])
    assert len(chosen) > 1


def test_workers_use_the_configuration_they_are_given(cfg, roidb):
    """A worker's batch equals the in-thread batch of the same cfg (here with pixel constants no
    preset has): the configuration object travels to the workers, nothing is regenerated there."""
    cfg.PIXEL_MEANS = np.array([10.0, 20.0, 30.0])
    cfg.PIXEL_SCALE = 2.0
    cfg.COLOR_MODE = 0
    shapes = batch_shapes(cfg, 2)
    pool = prefetch.WorkerPool(roidb, feat_shapes(cfg), shapes, num_workers=1, num_slots=2, cfg=cfg)
    try:
        assert pool.submit('key', [2, 0], seed=[1, 2])
        slot, key = pool.get()
        assert key == 'key'
        got = {name: np.array(array) for name, array in pool.slots[slot].items()}
        pool.release(slot)
    finally:
        pool.close()
    want = empty_batch(shapes)
    prefetch.make_batch([roidb[2], roidb[0]], feat_shapes(cfg), np.random.default_rng([1, 2]), want, cfg)
    for name in shapes:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert got['data'].max() <= 255 / 2.0 - 10  # this cfg's pixel constants, not the preset's raw pixels


def test_no_free_slot_and_a_dead_worker_are_reported(cfg, roidb):
    pool = prefetch.WorkerPool(roidb, feat_shapes(cfg), batch_shapes(cfg, 1), num_workers=1, num_slots=1, cfg=cfg)
    try:
        assert pool.submit('a', [0], seed=0)
        assert not pool.submit('b', [1], seed=1)  # the only slot is in use
        slot, _ = pool.get()
        pool.release(slot)
        pool.workers[0].terminate()
        pool.workers[0].join()
        with pytest.raises(RuntimeError, match=r'data worker retinaface-data-0 exited with code -15'):
            pool.get(poll_s=0.05)
    finally:
        pool.close()
