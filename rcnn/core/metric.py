"""Training metrics of the RetinaFace train graph, per stride.

The train graph outputs, per stride in ``cfg.RPN_FEAT_STRIDE`` and in this order: the
classification probabilities ``(B, 2, A*H*W)``, the anchor labels after OHEM ``(B, A*H*W)``, the
box L1 loss and the box weights ``(B, 4*A, H*W)``, and with ``cfg.FACE_LANDMARK`` the landmark
L1 loss and weights ``(B, 10*A, H*W)``. The metrics read those outputs by index, as the
original's ``train.py`` wires them (:func:`get_train_metrics`, which takes the run's
configuration ``cfg``).
"""
import re

import mxnet as mx
import numpy as np


class RPNAccMetric(mx.metric.EvalMetric):
    """Anchor classification accuracy over the labelled anchors, and over background (``_BG``)
    and face (``_FG``) anchors separately; anchors labelled -1 are not counted.

    :param pred_idx: output index of the probabilities (B, 2, P) or (B, 2, H, W)
    :param label_idx: output index of the labels (B, P)
    """

    def __init__(self, pred_idx, label_idx, name='RPNAcc'):
        self.pred_idx, self.label_idx = pred_idx, label_idx
        self.names = [name, name + '_BG', name + '_FG']
        super().__init__(name)

    def reset(self):
        self.num_inst = [0, 0, 0]
        self.sum_metric = [0.0, 0.0, 0.0]

    def reset_local(self):
        self.reset()

    def get(self):
        return self.names, [s / n if n else float('nan') for s, n in zip(self.sum_metric, self.num_inst)]

    def update(self, labels, preds):
        pred_label = mx.nd.argmax(preds[self.pred_idx], axis=1).asnumpy().astype(np.int32).reshape(-1)
        label = preds[self.label_idx].asnumpy().astype(np.int32).reshape(-1)
        for i, selected in enumerate((label != -1, label == 0, label == 1)):
            self.sum_metric[i] += int(np.sum(pred_label[selected] == label[selected]))
            self.num_inst[i] += int(np.sum(selected))


class RPNLogLossMetric(mx.metric.EvalMetric):
    """Classification cross-entropy per labelled anchor: the mean of ``-log p(label)`` over the
    anchors whose label is not -1 (what the train graph's softmax minimises).

    :param pred_idx: output index of the probabilities (B, 2, P)
    :param label_idx: output index of the labels (B, P)
    """

    def __init__(self, pred_idx, label_idx, name='RPNLogLoss'):
        self.pred_idx, self.label_idx = pred_idx, label_idx
        super().__init__(name)

    def update(self, labels, preds):
        prob = preds[self.pred_idx].asnumpy()
        prob = prob.reshape(prob.shape[0], prob.shape[1], -1)
        label = preds[self.label_idx].asnumpy().astype(np.int64).reshape(prob.shape[0], -1)
        batch, anchor = np.nonzero(label != -1)
        picked = prob[batch, label[batch, anchor], anchor]
        self.sum_metric += float(-np.sum(np.log(picked + 1e-14)))
        self.num_inst += len(picked)


class RPNL1LossMetric(mx.metric.EvalMetric):
    """Smooth-L1 loss per positive anchor: the sum of the loss output over the number of anchors
    with a non-zero weight (weight channels / ``num_anchors`` values per anchor).

    :param loss_idx: output index of the loss (B, K*A, H*W)
    :param weight_idx: output index of its weights (same shape)
    :param num_anchors: A, anchors per cell (cfg.NUM_ANCHORS); a required keyword
    """

    def __init__(self, loss_idx, weight_idx, name='RPNL1Loss', *, num_anchors):
        self.loss_idx, self.weight_idx = loss_idx, weight_idx
        self.num_anchors = num_anchors
        super().__init__(name)

    def update(self, labels, preds):
        loss = preds[self.loss_idx].asnumpy()
        weight = preds[self.weight_idx].asnumpy()
        values_per_anchor = weight.shape[1] // self.num_anchors
        self.sum_metric += float(np.sum(loss))
        self.num_inst += np.sum(weight > 0) / values_per_anchor


def get_train_metrics(cfg, log_loss=False):
    """Composite metric over the train graph's outputs: per stride ``RPNAcc_s<S>``,
    (with ``log_loss``) ``RPNLogLoss_s<S>``, ``RPNL1Loss_s<S>`` and, with landmarks,
    ``RPNLandMarkL1Loss_s<S>`` (the original's names).

    :param cfg: the run's configuration (RPN_FEAT_STRIDE, NUM_ANCHORS, FACE_LANDMARK)
    """
    metrics = mx.metric.CompositeEvalMetric()
    idx = 0
    for stride in cfg.RPN_FEAT_STRIDE:
        metrics.add(RPNAccMetric(idx, idx + 1, name='RPNAcc_s%d' % stride))
        if log_loss:
            metrics.add(RPNLogLossMetric(idx, idx + 1, name='RPNLogLoss_s%d' % stride))
        metrics.add(RPNL1LossMetric(idx + 2, idx + 3, name='RPNL1Loss_s%d' % stride, num_anchors=cfg.NUM_ANCHORS))
        idx += 4
        if cfg.FACE_LANDMARK:
            metrics.add(RPNL1LossMetric(idx, idx + 1, name='RPNLandMarkL1Loss_s%d' % stride,
                                        num_anchors=cfg.NUM_ANCHORS))
            idx += 2
    return metrics


# metric name (without the ``_s<stride>`` suffix) -> short name in progress displays
SHORT_NAMES = {'RPNAcc': 'acc', 'RPNLogLoss': 'cls', 'RPNL1Loss': 'box', 'RPNLandMarkL1Loss': 'lmk'}
LOSS_NAMES = ('RPNLogLoss', 'RPNL1Loss', 'RPNLandMarkL1Loss')
_STRIDE_NAME = re.compile(r'^(?P<kind>\w+?)_s(?P<stride>\d+)$')


def by_kind(metric_values):
    """{'RPNAcc': {32: value, 16: value, 8: value}, ...} from ``{'RPNAcc_s32': value, ...}``;
    names without a stride suffix and the ``_BG`` / ``_FG`` parts are left out."""
    kinds = {}
    for name, value in metric_values.items():
        match = _STRIDE_NAME.match(name)
        if match:
            kinds.setdefault(match.group('kind'), {})[int(match.group('stride'))] = value
    return kinds


def summarize_metrics(metric_values, per_stride=False):
    """A short text of the main metrics: ``'acc 0.951 box 0.312 lmk 0.521'`` (means over the
    strides, NaN strides left out) or, with ``per_stride``, ``'acc 0.97/0.95/0.93 ...'`` from the
    largest stride to the smallest."""
    parts = []
    for kind, values in by_kind(metric_values).items():
        label = SHORT_NAMES.get(kind, kind)
        if per_stride:
            ordered = [_as_float(values[s]) for s in sorted(values, reverse=True)]
            parts.append('%s %s' % (label, '/'.join('%.3f' % v for v in ordered)))
        else:
            parts.append('%s %.3f' % (label, _nanmean(values.values())))
    return ' '.join(parts)


def training_loss(metric_values):
    """One number to rank training states by: the sum over strides of the classification log
    loss and the box and landmark smooth-L1 losses (NaN when none of them is present; strides
    without instances count 0)."""
    values = [v for kind in LOSS_NAMES for v in by_kind(metric_values).get(kind, {}).values()]
    if not values:
        return float('nan')
    return float(sum(v for v in map(_as_float, values) if np.isfinite(v)))


def _as_float(value):
    return float('nan') if value is None else float(value)


def _nanmean(values):
    values = [v for v in map(_as_float, values) if np.isfinite(v)]
    return float(np.mean(values)) if values else float('nan')
