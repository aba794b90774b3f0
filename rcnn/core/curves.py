"""The training curves PNG: loss, anchor accuracy and validation AP against the step."""
import math

import numpy as np

from rcnn.core.metric import LOSS_NAMES, SHORT_NAMES, by_kind
from rcnn.utils.safe_write import write_with


def _mean(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else None


def _series(train, kind, stride=None):
    """Per train record: the metric ``kind`` of ``stride`` (the mean over strides when None); NaN where absent."""
    values = []
    for record in train:
        per_stride = by_kind(record['metrics']).get(kind, {})
        value = per_stride.get(stride) if stride else _mean(per_stride.values())
        values.append(np.nan if value is None else value)
    return values


def _plot_loss(ax, train, steps):
    ax.plot(steps, [np.nan if r['loss'] is None else r['loss'] for r in train], color='black',
            label='training loss (sum)')
    for kind in LOSS_NAMES:
        if any(kind in by_kind(r['metrics']) for r in train[:1]):
            ax.plot(steps, _series(train, kind), label='%s (mean over strides)' % SHORT_NAMES[kind])
    ax.set_ylabel('loss per anchor')
    ax.set_title('Training loss: classification cross-entropy, box and landmark smooth-L1')


def _plot_accuracy(ax, train, steps):
    strides = sorted({s for r in train[:1] for s in by_kind(r['metrics']).get('RPNAcc', {})}, reverse=True)
    for stride in strides:
        ax.plot(steps, _series(train, 'RPNAcc', stride), label='stride %d' % stride)
    ax.set_ylabel('accuracy (fraction)')
    ax.set_title('Anchor classification accuracy (labelled anchors)')


def _plot_ap(ax, val):
    if val:
        val_steps = [r['step'] for r in val]
        for setting in val[0]['settings']:
            ax.plot(val_steps, [r['settings'].get(setting) for r in val], marker='o', label='AP %s' % setting)
        best = max(val, key=lambda r: r['ap'])
        ax.scatter([best['step']], [best['ap']], s=120, facecolors='none', edgecolors='red', zorder=3,
                   label='best mean AP %.3f (epoch %d)' % (best['ap'], best['epoch']))
        ax.set_ylim(0, 1.02)
    ax.set_ylabel('AP (0 to 1)')
    ax.set_title('Validation average precision')
    ax.set_xlabel('training step (batches)')


def plot_curves(records, path, title='RetinaFace training'):
    """Write the PNG of the training loss, the anchor accuracy and the validation AP against the step.

    :param records: metrics log records (:class:`rcnn.core.hooks.MetricsLog`): ``kind`` 'train' or 'val'
    :param path: PNG file to write (atomically, through :mod:`rcnn.utils.safe_write`)
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    train = [r for r in records if r['kind'] == 'train']
    fig, (ax_loss, ax_acc, ax_ap) = plt.subplots(3, 1, figsize=(9, 10), sharex=True)
    steps = [r['step'] for r in train]
    _plot_loss(ax_loss, train, steps)
    _plot_accuracy(ax_acc, train, steps)
    _plot_ap(ax_ap, [r for r in records if r['kind'] == 'val'])
    for ax in (ax_loss, ax_acc, ax_ap):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize='small', loc='best')
    fig.suptitle(title)
    fig.tight_layout()
    try:
        write_with(path, lambda tmp: fig.savefig(tmp, dpi=90, format='png'))
    finally:
        plt.close(fig)
