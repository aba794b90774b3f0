"""rpn_fpn_ohem3 against a brute-force loop written from the original's rule."""
import mxnet as mx
import numpy as np
import pytest

from rcnn.PY_OP import rpn_fpn_ohem3  # noqa: F401  (registers the operator)


def brute_force_ohem(scores, labels, batch_size, fg_fraction, num_anchors, mode):
    """Loop version: returns (labels (B, N), anchor_weight (B, N, 1) in (h, w, a) order, valid (B, 1))."""
    batch, num = labels.shape
    out_labels = labels.copy()
    weight = np.zeros((batch, num, 1), np.float32)
    valid = np.zeros((batch, 1), np.float32)
    cells = num // num_anchors
    for b in range(batch):
        fg = [(scores[b, 1, k] - scores[b, 0, k], k) for k in range(num) if labels[b, k] == 1]
        bg = [(scores[b, 1, k] - scores[b, 0, k], k) for k in range(num) if labels[b, k] == 0]
        num_fg = int(fg_fraction * batch_size)
        kept_fg = [k for _, k in sorted(fg)[:num_fg]] if len(fg) > num_fg else [k for _, k in fg]
        if mode == 2:
            num_bg = max(48, len(kept_fg) * int(round(1 / fg_fraction)) - len(kept_fg))
        else:
            num_bg = batch_size - len(kept_fg)
        kept_bg = [k for _, k in sorted(bg, key=lambda item: -item[0])[:num_bg]]
        for k in range(num):
            if labels[b, k] >= 0:
                out_labels[b, k] = 1 if k in kept_fg else (0 if k in kept_bg else -1)
        for k in kept_fg:
            anchor, cell = divmod(k, cells)
            weight[b, cell * num_anchors + anchor, 0] = 1
        valid[b, 0] = len(kept_fg)
    return out_labels, weight, valid


def run_op(scores, labels, **kwargs):
    outs = mx.nd.Custom(mx.nd.array(scores), mx.nd.array(labels), op_type='rpn_fpn_ohem3', **kwargs)
    return [out.asnumpy() for out in outs]


def random_case(rng, batch=3, anchors=2, cells=150, fg_share=0.3):
    num = anchors * cells
    scores = rng.normal(size=(batch, 2, num)).astype(np.float32)
    labels = rng.choice([1, 0, -1], size=(batch, num), p=[fg_share, 0.9 - fg_share, 0.1]).astype(np.float32)
    return scores, labels


@pytest.mark.parametrize('mode', [1, 2])
@pytest.mark.parametrize('fg_share', [0.02, 0.3])  # fewer and more positives than the fraction allows
def test_matches_brute_force(rng, mode, fg_share):
    scores, labels = random_case(rng, fg_share=fg_share)
    kwargs = dict(num_anchors=2, batch_size=64, fg_fraction=0.25, ohem_mode=mode)
    actual = run_op(scores, labels, **kwargs)
    expected = brute_force_ohem(scores, labels, 64, 0.25, 2, mode)
    for got, want in zip(actual, expected):
        np.testing.assert_array_equal(got, want)


def test_random_mode_keeps_the_counts(rng):
    scores, labels = random_case(rng, fg_share=0.3)
    out_labels, weight, valid = run_op(scores, labels, num_anchors=2, batch_size=64, fg_fraction=0.25, ohem_mode=0)
    assert (np.sum(out_labels == 1, axis=1) == 16).all()
    assert (np.sum(out_labels == 0, axis=1) == 48).all()
    assert (out_labels[labels == -1] == -1).all()
    assert (valid[:, 0] == 16).all() and (weight.sum(axis=(1, 2)) == 16).all()


def test_no_gradient_flows_back(rng):
    scores, labels = random_case(rng)
    scores_nd, labels_nd = mx.nd.array(scores), mx.nd.array(labels)
    scores_nd.attach_grad()
    with mx.autograd.record():
        out = mx.nd.Custom(scores_nd, labels_nd, op_type='rpn_fpn_ohem3', num_anchors=2, batch_size=64)
    out[0].backward()
    assert not scores_nd.grad.asnumpy().any()


def test_random_mode_draws_from_its_own_restorable_generator(rng):
    """Mode 0 is reproducible from the seed, leaves numpy's global state alone, and continues
    exactly from a saved rng_state (what --resume restores)."""
    scores, labels = random_case(rng, fg_share=0.3)
    kwargs = dict(num_anchors=2, batch_size=64, fg_fraction=0.25, ohem_mode=0, stride=16)
    np.random.seed(0)
    global_state = np.random.get_state()[1].copy()
    rpn_fpn_ohem3.seed_rng(5)
    first = run_op(scores, labels, **kwargs)[0]
    saved = rpn_fpn_ohem3.rng_state()
    second = run_op(scores, labels, **kwargs)[0]
    assert not np.array_equal(first, second)  # the generator moved on
    rpn_fpn_ohem3.seed_rng(5)
    assert np.array_equal(run_op(scores, labels, **kwargs)[0], first)
    rpn_fpn_ohem3.set_rng_state(saved)
    assert np.array_equal(run_op(scores, labels, **kwargs)[0], second)
    assert np.array_equal(np.random.get_state()[1], global_state)
    assert list(saved['generators']) == ['face_stride16@cpu(0)']
