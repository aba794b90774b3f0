"""``rpn_fpn_ohem3``: online hard example mining of the anchors of one stride (the original's op).

Per image, with num_fg = int(fg_fraction * batch_size):
- positives (label 1): when there are more than num_fg, mode 1/2 keep the num_fg with the lowest
  face-minus-background score (the hardest), mode 0 keeps num_fg at random; the rest become -1;
- negatives (label 0): num_bg = batch_size - kept positives (mode 2: max(48, kept * (1/fg_fraction - 1)));
  when there are more, mode 1/2 keep the num_bg with the highest face score (the hardest), mode 0 a
  random num_bg; the rest become -1 (all of them when num_bg is 0);
- labels -1 stay -1.

Inputs: ``cls_score`` (B, 2, A*H*W) (channel 0 background, 1 face; anchor order (a, h, w)) and
``labels`` (B, A*H*W). Outputs: ``labels_ohem`` (B, A*H*W); ``anchor_weight`` (B, H*W*A, 1), 1 on
the kept positives, in (h, w, a) order so that tiling it 4 or 10 times and transposing gives the
(B, 4A, H*W) / (B, 10A, H*W) layout of the box and landmark weights; ``valid_count`` (B, 1), the
number of kept positives. No gradient flows through it.

Mode 0 draws from a numpy Generator of its own per operator (stride and device), never from
numpy's global state: :func:`seed_rng` seeds them all, and :func:`rng_state` / :func:`set_rng_state`
save and restore them, so that a resumed training draws what the uninterrupted one would.
"""
import zlib

import mxnet as mx
import numpy as np

_rng_seed = None  # base seed of the operators' generators (None: from the operating system)
_rngs = {}  # operator key ('<prefix>_stride<S>@<device>') -> numpy Generator


def seed_rng(seed):
    """Seed the generator of every OHEM operator from ``seed`` (None: fresh entropy), dropping
    those drawn so far."""
    global _rng_seed
    _rng_seed = seed
    _rngs.clear()


def operator_rng(key):
    """The Generator of the operator named ``key``, created from the base seed and the key."""
    if key not in _rngs:
        seed = None if _rng_seed is None else [int(_rng_seed), zlib.crc32(key.encode())]
        _rngs[key] = np.random.default_rng(seed)
    return _rngs[key]


def rng_state():
    """JSON-serialisable state of every operator's generator (what :func:`set_rng_state` takes)."""
    return {'seed': _rng_seed, 'generators': {key: rng.bit_generator.state for key, rng in _rngs.items()}}


def set_rng_state(state):
    """Restore the generators saved by :func:`rng_state`."""
    seed_rng(state['seed'])
    for key, bit_state in state['generators'].items():
        operator_rng(key).bit_generator.state = bit_state


def ohem_labels(fg_score, labels, batch_size, fg_fraction, mode=1, rng=None):
    """Sampled labels of one image: fg_score (N,) face minus background score, labels (N,) in {1, 0, -1}.

    Returns a new (N,) float32 array (see the module docstring for the rule); mode 0 draws from
    ``rng`` (a numpy Generator; default: a fresh one).
    """
    rng = np.random.default_rng() if rng is None else rng
    labels = np.array(labels, dtype=np.float32)
    num_fg = int(fg_fraction * batch_size)
    fg_inds = np.where(labels > 0)[0]
    if len(fg_inds) > num_fg:
        if mode == 0:
            keep = rng.choice(fg_inds, size=num_fg, replace=False)
        else:
            keep = fg_inds[np.argsort(fg_score[fg_inds], kind='stable')[:num_fg]]
        labels[fg_inds] = -1
        labels[keep] = 1
    kept_fg = int(np.sum(labels > 0))
    num_bg = batch_size - kept_fg
    if mode == 2:
        num_bg = max(48, kept_fg * int(1.0 / fg_fraction - 1))
    bg_inds = np.where(labels == 0)[0]
    if num_bg <= 0:
        labels[bg_inds] = -1
    elif len(bg_inds) > num_bg:
        if mode == 0:
            keep = rng.choice(bg_inds, size=num_bg, replace=False)
        else:
            keep = bg_inds[np.argsort(-fg_score[bg_inds], kind='stable')[:num_bg]]
        labels[bg_inds] = -1
        labels[keep] = 0
    return labels


class RPNFPNOHEM3Operator(mx.operator.CustomOp):
    """See the module docstring."""

    def __init__(self, num_anchors, batch_size, fg_fraction, ohem_mode, rng_key=''):
        super(RPNFPNOHEM3Operator, self).__init__()
        self.rng_key = rng_key
        self.num_anchors = num_anchors
        self.batch_size = batch_size
        self.fg_fraction = fg_fraction
        self.mode = ohem_mode

    def forward(self, is_train, req, in_data, out_data, aux):
        cls_score = in_data[0].asnumpy()
        labels_in = in_data[1].asnumpy()
        batch, num = labels_in.shape
        labels = np.empty_like(labels_in)
        anchor_weight = np.zeros((batch, num, 1), dtype=np.float32)
        valid_count = np.zeros((batch, 1), dtype=np.float32)
        for i in range(batch):
            fg_score = cls_score[i, 1] - cls_score[i, 0]
            labels[i] = ohem_labels(fg_score, labels_in[i], self.batch_size, self.fg_fraction, self.mode,
                                    operator_rng(self.rng_key))
            positive = labels[i].reshape(self.num_anchors, -1).T.reshape(-1) > 0  # (a, h, w) -> (h, w, a)
            anchor_weight[i, positive, 0] = 1.0
            valid_count[i, 0] = np.sum(positive)
        for index, value in enumerate((labels, anchor_weight, valid_count)):
            self.assign(out_data[index], req[index], mx.nd.array(value))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        for index in range(len(in_grad)):
            self.assign(in_grad[index], req[index], 0)


@mx.operator.register('rpn_fpn_ohem3')
class RPNFPNOHEM3Prop(mx.operator.CustomOpProp):
    """Properties of ``rpn_fpn_ohem3``; arguments arrive as strings from the graph.

    stride and prefix only label the op; network and dataset are accepted for graphs built by the
    original code, which read the sampling settings from the configuration instead.
    """

    def __init__(self, stride='0', prefix='face', num_anchors='2', batch_size='256', fg_fraction='0.25',
                 ohem_mode='1', network='', dataset=''):
        super(RPNFPNOHEM3Prop, self).__init__(need_top_grad=False)
        self.stride = int(stride)
        self.prefix = prefix
        self.num_anchors = int(num_anchors)
        self.batch_size = int(batch_size)
        self.fg_fraction = float(fg_fraction)
        self.ohem_mode = int(ohem_mode)

    def list_arguments(self):
        return ['cls_score', 'labels']

    def list_outputs(self):
        return ['labels_ohem', 'anchor_weight', 'valid_count']

    def infer_shape(self, in_shape):
        labels_shape = in_shape[1]
        return in_shape, [labels_shape, [labels_shape[0], labels_shape[1], 1], [labels_shape[0], 1]]

    def create_operator(self, ctx, shapes, dtypes):
        return RPNFPNOHEM3Operator(self.num_anchors, self.batch_size, self.fg_fraction, self.ohem_mode,
                                   rng_key='%s_stride%d@%s' % (self.prefix, self.stride, ctx))

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return []
