import mxnet as mx
import numpy as np
import pytest

from rcnn.core.loader import CropLoader
from rcnn.dataset.synthetic import write_marked_image


def score_symbols(strides):
    """Stand-ins for the train graph's score outputs: one map of 1/stride the input size each."""
    data = mx.sym.Variable('data')
    return [mx.sym.Pooling(data, kernel=(s, s), stride=(s, s), pool_type='avg') for s in strides]


@pytest.fixture
def roidb(tmp_path):
    return [write_marked_image(tmp_path / ('%d.png' % i)) for i in range(5)]


def batches(loader):
    return [[a.asnumpy() for a in batch.data + batch.label] for batch in loader]


def test_worker_batches_equal_in_thread_batches(mnet_config, roidb):
    feat = score_symbols(mnet_config.RPN_FEAT_STRIDE)
    background = CropLoader(feat, roidb, batch_size=2, shuffle=True, cfg=mnet_config, num_workers=2, seed=7)
    try:
        inline = CropLoader(feat, roidb, batch_size=2, shuffle=True, cfg=mnet_config, num_workers=0, seed=7)
        for epoch in range(2):
            got, want = batches(background), batches(inline)
            assert len(got) == len(want) == 2  # 5 images, batches of 2: the last image is dropped
            for g, w in zip(got, want):
                for a, b in zip(g, w):
                    np.testing.assert_array_equal(a, b)
            background.reset()
            inline.reset()
        # a reset in the middle of an epoch starts the next one cleanly
        next(background)
        background.reset()
        assert len(batches(background)) == 2
    finally:
        background.close()


def test_shapes_names_and_consistent_targets(mnet_config, roidb):
    loader = CropLoader(score_symbols(mnet_config.RPN_FEAT_STRIDE), roidb, batch_size=2, cfg=mnet_config,
                        num_workers=0, seed=3)
    names = [d.name for d in loader.provide_label]
    assert names[:5] == ['face_label_stride32', 'face_bbox_target_stride32', 'face_bbox_weight_stride32',
                         'face_landmark_target_stride32', 'face_landmark_weight_stride32']
    assert len(names) == 15
    shapes = dict(loader.infer_shape()[1])
    assert shapes['face_label_stride8'] == (2, 2 * 80 * 80)
    assert shapes['face_landmark_weight_stride16'] == (2, 20, 40 * 40)
    assert loader.provide_data[0].shape == (2, 3, 640, 640)
    positives = 0
    for batch in loader:
        arrays = dict(zip(names, (a.asnumpy() for a in batch.label)))
        for stride in mnet_config.RPN_FEAT_STRIDE:
            label = arrays['face_label_stride%d' % stride].reshape(2, 2, -1)  # (B, A, H*W)
            weight = arrays['face_bbox_weight_stride%d' % stride].reshape(2, 2, 4, -1)  # (B, A, 4, H*W)
            assert ((weight == 1) == (label == 1)[:, :, None, :]).all()
            positives += int((label == 1).sum())
    assert positives > 0


def test_epoch_order_and_shards(mnet_config, roidb):
    feat = score_symbols(mnet_config.RPN_FEAT_STRIDE)
    plain = CropLoader(feat, roidb, batch_size=1, cfg=mnet_config, num_workers=0, seed=0)
    np.testing.assert_array_equal(plain.order, np.arange(5))
    shuffled = CropLoader(feat, roidb, batch_size=1, shuffle=True, cfg=mnet_config, num_workers=0, seed=0)
    orders = [shuffled.order.copy()]
    for _ in range(3):
        shuffled.reset()
        orders.append(shuffled.order.copy())
    assert all(sorted(o) == list(range(5)) for o in orders)
    assert any(not np.array_equal(orders[0], o) for o in orders[1:])
    parts = [CropLoader(feat, roidb, batch_size=1, cfg=mnet_config, num_workers=0, num_parts=2, part_index=i).index
             for i in range(2)]
    assert sorted(np.concatenate(parts)) == list(range(5)) and len(parts[0]) == 3
    with pytest.raises(ValueError, match='cannot fill one batch'):
        CropLoader(feat, roidb[:1], batch_size=2, cfg=mnet_config, num_workers=0)


def test_worker_error_is_raised_with_its_cause(mnet_config, roidb, tmp_path):
    roidb[1]['image'] = str(tmp_path / 'missing.jpg')
    loader = CropLoader(score_symbols(mnet_config.RPN_FEAT_STRIDE), roidb[:2], batch_size=2, cfg=mnet_config,
                        num_workers=1, seed=0)
    try:
        with pytest.raises(RuntimeError, match='missing.jpg'):
            next(loader)
    finally:
        loader.close()


def test_the_configuration_is_a_required_keyword(roidb):
    """No global configuration is read in its place: without cfg the call fails and says so."""
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'cfg'"):
        CropLoader(score_symbols((32, 16, 8)), roidb, batch_size=1, num_workers=0)


@pytest.mark.parametrize('num_workers', [0, 1])
def test_skip_passes_over_batches_without_making_them(mnet_config, roidb, monkeypatch, num_workers):
    """A run resumed mid-epoch: the batches after the skipped ones equal an uninterrupted epoch's."""
    feat = score_symbols(mnet_config.RPN_FEAT_STRIDE)
    roidb = roidb[:4]
    whole = batches(CropLoader(feat, roidb, batch_size=1, shuffle=True, cfg=mnet_config, num_workers=0, seed=5))
    made = []
    if num_workers == 0:
        import rcnn.core.loader
        real = rcnn.core.loader.make_batch
        monkeypatch.setattr(rcnn.core.loader, 'make_batch', lambda roidb, *a: made.append(roidb) or real(roidb, *a))
    resumed = CropLoader(feat, roidb, batch_size=1, shuffle=True, cfg=mnet_config, num_workers=num_workers, seed=5)
    try:
        resumed.skip(2)
        rest = batches(resumed)
    finally:
        resumed.close()
    assert len(rest) == 2 and len(made) == (2 if num_workers == 0 else 0)
    for got, want in zip(rest, whole[2:]):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
