"""The lr schedule against the original's rule, simulated update by update.

The original (insightface 2019 RetinaFace/train.py) keeps ``opt.lr`` and, in the batch callback
after batch ``mbatch`` (counted from 1), multiplies it by the factor of the step whose iteration
equals ``mbatch``: update ``u`` uses the lr left by the callbacks of batches 1..u-1. Its step
iterations are ``int(epoch * len(roidb) / input_batch_size)``.
"""
import argparse

import mxnet as mx
import numpy as np
import pytest

from rcnn.core.run import build_optimizer
from rcnn.core.schedule import EpochStepScheduler, parse_lr_step

WARMUP = '1,2,3,4,5,55,68,80'


def original_lrs(base_lr, lr_step, num_images, batch_size, num_updates):
    """lr of updates 1..num_updates as the original's callback sets it (index 0 unused)."""
    epochs = [int(e) for e in lr_step.split(',')]
    iters = [int(e * num_images / batch_size) for e in epochs]
    if len(iters) == 5:
        steps = list(zip(iters, [0.5, 0.5, 0.4, 0.1, 0.1]))
    elif len(iters) == 8:
        steps = [(i, 1.5849) for i in iters[:5]] + [(i, 0.1) for i in iters[5:]]
    else:
        steps = [(i, 0.1) for i in iters]
    lr, used = base_lr, [None]
    for mbatch in range(1, num_updates + 1):
        used.append(lr)
        for at, factor in steps:
            if mbatch == at:
                lr *= factor
                break
    return used


CASES = [  # (lr_step, images, batch size)
    (WARMUP, 8, 8),        # one batch per epoch: the example
    (WARMUP, 30, 8),       # 3.75 batches per epoch: steps at int(e * 3.75)
    ('3,5,7,9,11', 24, 8),
    ('55,68,80', 16, 8),
    ('2', 10, 4),
]


@pytest.mark.parametrize('lr_step,images,batch', CASES)
def test_every_update_matches_the_original(lr_step, images, batch):
    epochs = parse_lr_step(lr_step)
    scheduler = EpochStepScheduler(epochs, images / batch, 0.001)
    num_updates = scheduler.step_iters[-1]
    expected = original_lrs(0.001, lr_step, images, batch, num_updates)
    for update in range(1, num_updates + 1):
        assert scheduler(update) == pytest.approx(expected[update], rel=1e-12), update


def test_warmup_first_updates_by_hand():
    """One batch per epoch: updates 1, 2, 3 use 0.001, 0.001 * 1.5849, 0.001 * 1.5849 ** 2."""
    scheduler = EpochStepScheduler(parse_lr_step(WARMUP), 1.0, 0.001)
    assert [scheduler(u) for u in (1, 2, 3)] == pytest.approx([0.001, 0.0015849, 0.00251190801], rel=1e-9)
    assert scheduler(80) == pytest.approx(0.001 * 1.5849 ** 5 * 0.1 ** 2)  # the last update before the end


def optimizer_args(lr_step):
    return argparse.Namespace(lr=0.001, lr_step=lr_step, wd=0.0)


def first_update_lr(optimizer):
    """The lr that MXNet's SGD applies at the next update: zero weight, zero momentum, gradient 1."""
    updater = mx.optimizer.get_updater(optimizer)
    weight, grad = mx.nd.zeros((1,)), mx.nd.ones((1,))
    updater(0, grad, weight)
    return -weight.asscalar() / optimizer.rescale_grad


@pytest.mark.parametrize('lr_step,images,batch', CASES[:3])
def test_resumed_optimizer_uses_the_original_lr(lr_step, images, batch):
    """build_optimizer(begin_step=k), as --resume builds it after k updates: the next update (k + 1)
    uses the original's lr, around every step boundary."""
    scheduler = EpochStepScheduler(parse_lr_step(lr_step), images / batch, 0.001)
    expected = original_lrs(0.001, lr_step, images, batch, scheduler.step_iters[-1])
    for boundary in scheduler.step_iters:
        for done in {boundary - 2, boundary - 1, boundary, boundary + 1} & set(range(len(expected) - 1)):
            optimizer = build_optimizer(optimizer_args(lr_step), num_devices=2, num_workers=1,
                                              iters_per_epoch=images / batch, begin_step=done)
            assert first_update_lr(optimizer) == pytest.approx(expected[done + 1], rel=1e-6), done


def test_build_optimizer_is_the_original_sgd():
    optimizer = build_optimizer(argparse.Namespace(lr=0.01, lr_step='55,68,80', wd=0.0005),
                                      num_devices=4, num_workers=2, iters_per_epoch=10.0, begin_step=0)
    assert isinstance(optimizer, mx.optimizer.SGD)
    assert (optimizer.momentum, optimizer.wd, optimizer.rescale_grad) == (0.9, 0.0005, 1.0 / 8)
    assert optimizer.lr_scheduler.step_iters == [550, 680, 800]


@pytest.mark.parametrize('text', ['', 'a,b', '0,3', '-1', '68,55,80', '3,3'])
def test_bad_lr_step_is_refused(text):
    """Epochs that do not increase are refused (they used to be sorted silently)."""
    with pytest.raises(ValueError, match='--lr-step'):
        parse_lr_step(text)


def test_parse_keeps_increasing_epochs():
    assert parse_lr_step(' 55,68, 80') == [55, 68, 80]
    assert np.all(np.diff(EpochStepScheduler([1, 2], 2.5, 1.0).step_iters) > 0)
