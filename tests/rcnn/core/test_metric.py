import math

import mxnet as mx
import numpy as np
import pytest

from rcnn.core.metric import (RPNAccMetric, RPNL1LossMetric, RPNLogLossMetric, get_train_metrics,
                              summarize_metrics, training_loss)


def test_accuracy_overall_background_and_faces(rng):
    prob = rng.random((2, 2, 7)).astype(np.float32)
    label = rng.integers(-1, 2, (2, 7)).astype(np.float32)
    metric = RPNAccMetric(0, 1, name='acc')
    metric.update([], [mx.nd.array(prob), mx.nd.array(label)])
    metric.update([], [mx.nd.array(prob), mx.nd.array(label)])
    hits = {k: [0, 0] for k in ('all', 'bg', 'fg')}
    for b in range(2):
        for p in range(7):
            lab = int(label[b, p])
            if lab == -1:
                continue
            right = int(prob[b, 1, p] > prob[b, 0, p]) == lab
            for key in ('all', 'bg' if lab == 0 else 'fg'):
                hits[key][0] += right
                hits[key][1] += 1
    names, values = metric.get()
    assert names == ['acc', 'acc_BG', 'acc_FG']
    np.testing.assert_allclose(values, [hits[k][0] / hits[k][1] for k in ('all', 'bg', 'fg')])
    metric.reset_local()
    assert all(np.isnan(metric.get()[1]))


def test_l1_loss_per_positive_anchor():
    loss = np.zeros((1, 8, 4), np.float32)
    weight = np.zeros((1, 8, 4), np.float32)
    loss[0, 0:4, 1] = [0.5, 0.25, 0.25, 1.0]  # anchor 0 of cell 1
    weight[0, 0:4, 1] = 1
    loss[0, 4:8, 3] = [1, 1, 0, 0]  # anchor 1 of cell 3
    weight[0, 4:8, 3] = 1
    metric = RPNL1LossMetric(0, 1, name='l1', num_anchors=2)
    metric.update([], [mx.nd.array(loss), mx.nd.array(weight)])
    assert metric.get() == ('l1', (2.0 + 2.0) / 2)


def test_train_metrics_follow_the_graph_outputs(mnet_config):
    metrics = get_train_metrics(mnet_config)
    names = metrics.get()[0]
    assert names[:5] == ['RPNAcc_s32', 'RPNAcc_s32_BG', 'RPNAcc_s32_FG', 'RPNL1Loss_s32', 'RPNLandMarkL1Loss_s32']
    assert len(names) == 15
    # outputs of one stride: prob, label, bbox loss, bbox weight, landmark loss, landmark weight
    outputs = []
    for _ in mnet_config.RPN_FEAT_STRIDE:
        outputs += [mx.nd.array([[[0.2, 0.9], [0.8, 0.1]]]), mx.nd.array([[1, 0]]),
                    mx.nd.ones((1, 8, 1)), mx.nd.ones((1, 8, 1)), mx.nd.ones((1, 20, 1)) * 3, mx.nd.ones((1, 20, 1))]
    metrics.update([], outputs)
    values = dict(zip(*metrics.get()))
    assert values['RPNAcc_s8'] == 1.0 and values['RPNL1Loss_s16'] == 4.0 and values['RPNLandMarkL1Loss_s32'] == 30.0


def test_log_loss_over_labelled_anchors(rng):
    prob = rng.random((2, 2, 9)).astype(np.float32) + 0.05
    prob /= prob.sum(axis=1, keepdims=True)
    label = rng.integers(-1, 2, (2, 9)).astype(np.float32)
    metric = RPNLogLossMetric(0, 1, name='cls')
    metric.update([], [mx.nd.array(prob), mx.nd.array(label)])
    losses = [-math.log(prob[b, int(label[b, p]), p]) for b in range(2) for p in range(9) if label[b, p] != -1]
    assert metric.get()[0] == 'cls'
    assert metric.get()[1] == pytest.approx(sum(losses) / len(losses), rel=1e-5)


def test_log_loss_metrics_are_optional(mnet_config):
    names = get_train_metrics(mnet_config, log_loss=True).get()[0]
    assert names[:4] == ['RPNAcc_s32', 'RPNAcc_s32_BG', 'RPNAcc_s32_FG', 'RPNLogLoss_s32']
    assert len(names) == 18


def test_summary_and_training_loss():
    values = {'RPNAcc_s32': 0.9, 'RPNAcc_s32_BG': 0.5, 'RPNLogLoss_s32': 0.25, 'RPNL1Loss_s32': float('nan'),
              'RPNAcc_s8': 0.7, 'RPNLogLoss_s8': 0.5, 'RPNL1Loss_s8': 0.125, 'RPNLandMarkL1Loss_s8': 1.0}
    assert summarize_metrics(values) == 'acc 0.800 cls 0.375 box 0.125 lmk 1.000'
    assert summarize_metrics(values, per_stride=True) == 'acc 0.900/0.700 cls 0.250/0.500 box nan/0.125 lmk 1.000'
    assert training_loss(values) == 0.25 + 0.5 + 0.125 + 1.0
    assert math.isnan(training_loss({'RPNAcc_s8': 0.7}))


def test_the_configuration_is_required():
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'cfg'"):
        get_train_metrics()
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'num_anchors'"):
        RPNL1LossMetric(0, 1)
