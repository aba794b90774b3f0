"""The train graph: inputs per LABELS.md, output order, loss scales, gradients, clean test graph."""
import mxnet as mx
import numpy as np
import pytest

import symbol
from rcnn.config import generate_config
from tests.shared_data import shared_path
from tests.symbol.graph_compare import graph_differences

SIZE = 128  # input side: 4x4, 8x8 and 16x16 maps at strides 32, 16, 8
BATCH = 2
TARGET = 100.0  # far beyond the smooth-L1 knee (1/9): each weighted element has gradient -scale


def build(network='mnet'):
    cfg = generate_config(network, 'retinaface')
    return symbol.get_symbol(network, 'train', cfg), cfg


def hand_labels(rng, A=2):
    """Labels per LABELS.md with 3 positives per image and stride, 40% ignored, the rest background."""
    arrays = {}
    for stride in (32, 16, 8):
        cells = (SIZE // stride) ** 2
        label = np.where(rng.uniform(size=(BATCH, A * cells)) < 0.4, -1.0, 0.0)
        box_weight = np.zeros((BATCH, 4 * A, cells))
        landmark_weight = np.zeros((BATCH, 10 * A, cells))
        for b in range(BATCH):
            for k in rng.choice(A * cells, size=3, replace=False):
                anchor, cell = divmod(k, cells)
                label[b, k] = 1
                box_weight[b, anchor * 4:(anchor + 1) * 4, cell] = 1
                landmark_weight[b, anchor * 10:(anchor + 1) * 10, cell] = 1
        arrays.update({'face_label_stride%d' % stride: label,
                       'face_bbox_target_stride%d' % stride: np.full(box_weight.shape, TARGET),
                       'face_bbox_weight_stride%d' % stride: box_weight,
                       'face_landmark_target_stride%d' % stride: np.full(landmark_weight.shape, TARGET),
                       'face_landmark_weight_stride%d' % stride: landmark_weight})
    return arrays


@pytest.fixture(scope='module')
def trained_step():
    """One forward/backward of the mnet train graph on a random batch with hand-made labels."""
    rng = np.random.default_rng(7)
    sym, cfg = build('mnet')
    labels = hand_labels(rng)
    label_names = sorted(labels)
    module = mx.mod.Module(sym, data_names=['data'], label_names=label_names, context=mx.cpu())
    module.bind(data_shapes=[('data', (BATCH, 3, SIZE, SIZE))],
                label_shapes=[(name, labels[name].shape) for name in label_names])
    module.init_params(mx.init.Xavier())
    data = rng.uniform(0, 255, (BATCH, 3, SIZE, SIZE))
    batch = mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(labels[name]) for name in label_names])
    module.forward(batch, is_train=True)
    outputs = [out.asnumpy() for out in module.get_outputs()]
    module.backward()
    executor = module._exec_group.execs[0]
    grads = {name: array.asnumpy() for name, array in executor.grad_dict.items() if array is not None}
    return sym, cfg, labels, outputs, grads


def test_inputs_and_output_order(trained_step):
    sym, cfg, labels, outputs, _ = trained_step
    inputs = [a for a in sym.list_arguments() if a == 'data' or a.startswith('face_') and 'rpn' not in a]
    assert sorted(inputs) == sorted(['data'] + list(labels))
    names = []
    for stride in (32, 16, 8):
        names += ['face_rpn_%s_stride%d_output' % (kind, stride) for kind in
                  ('cls_prob', 'label', 'bbox_loss', 'bbox_weight', 'landmark_loss', 'landmark_weight')]
    assert sym.list_outputs() == names
    for i, stride in enumerate((32, 16, 8)):
        cells = (SIZE // stride) ** 2
        shapes = [o.shape for o in outputs[6 * i:6 * i + 6]]
        assert shapes == [(BATCH, 2, 2 * cells), (BATCH, 2 * cells), (BATCH, 8, cells), (BATCH, 8, cells),
                          (BATCH, 20, cells), (BATCH, 20, cells)]
        label_in, label_out = labels['face_label_stride%d' % stride], outputs[6 * i + 1]
        np.testing.assert_array_equal(label_out == 1, label_in == 1)  # 3 positives: all kept
        if (label_in == 0).sum(axis=1).max() <= 256 - 3:
            np.testing.assert_array_equal(label_out, label_in)
        else:  # OHEM keeps the 253 hardest negatives, the other negatives are ignored
            assert ((label_out == 0).sum(axis=1) == 256 - 3).all()
            assert (label_in[label_out != label_in] == 0).all() and (label_out[label_out != label_in] == -1).all()
        np.testing.assert_array_equal(outputs[6 * i + 3], labels['face_bbox_weight_stride%d' % stride])
        np.testing.assert_array_equal(outputs[6 * i + 5], labels['face_landmark_weight_stride%d' % stride])
        np.testing.assert_allclose(outputs[6 * i].sum(axis=1), 1, rtol=1e-5)


def test_loss_gradient_scales(trained_step):
    """Bias gradients of the box / landmark convs: -scale per weighted element (targets far above)."""
    _, cfg, labels, _, grads = trained_step
    box_scale = 1.0 / cfg.TRAIN.RPN_BATCH_SIZE
    landmark_scale = 0.4 * cfg.LANDMARK_LR_MULT / cfg.TRAIN.RPN_BATCH_SIZE
    for stride in (32, 16, 8):
        for kind, scale in (('bbox', box_scale), ('landmark', landmark_scale)):
            weight = labels['face_%s_weight_stride%d' % (kind, stride)]
            kind_name = 'bbox_pred' if kind == 'bbox' else 'landmark_pred'
            expected = -scale * weight.sum(axis=(0, 2))
            np.testing.assert_allclose(grads['face_rpn_%s_stride%d_bias' % (kind_name, stride)], expected,
                                       rtol=1e-4, atol=1e-7)


def test_gradients_reach_heads_and_backbone(trained_step):
    _, _, _, _, grads = trained_step
    for name in ('face_rpn_cls_score_stride8_weight', 'face_rpn_cls_score_stride32_weight',
                 'rf_c1_det_conv1_weight', 'rf_c3_lateral_weight', 'mobilenet0_conv0_weight'):
        assert np.abs(grads[name]).sum() > 0, name
    assert not any(name.startswith('face_label') for name in grads if np.abs(grads[name]).sum() > 0)


@pytest.mark.parametrize('network', ['mnet', 'resnet'])
def test_clean_test_graph_from_train_graph(network):
    train_sym, cfg = build(network)
    test_sym = symbol.train_to_test_symbol(train_sym, cfg.RPN_FEAT_STRIDE, cfg.NUM_ANCHORS)
    assert 'Custom' not in test_sym.tojson()
    released = {'mnet': ('models', 'mnet.25', 'mnet.25-symbol.json'),
                'resnet': ('models', 'retinaface-R50', 'R50-symbol.json')}[network]
    assert graph_differences(test_sym.tojson(), shared_path(*released)) == []


def test_test_checkpoint_keeps_only_test_parameters(trained_step):
    train_sym, cfg, _, _, _ = trained_step
    label_shapes = {name: array.shape for name, array in hand_labels(np.random.default_rng(0)).items()}
    arg_shapes, _, aux_shapes = train_sym.infer_shape(data=(BATCH, 3, SIZE, SIZE), **label_shapes)
    args = {name: mx.nd.zeros(s) for name, s in zip(train_sym.list_arguments(), arg_shapes) if name != 'data'}
    aux = {name: mx.nd.zeros(s) for name, s in zip(train_sym.list_auxiliary_states(), aux_shapes)}
    test_sym, test_args, test_aux = symbol.train_to_test_checkpoint(train_sym, args, aux, cfg.RPN_FEAT_STRIDE,
                                                                    cfg.NUM_ANCHORS)
    assert sorted(test_args) == sorted(a for a in test_sym.list_arguments() if a != 'data')
    assert sorted(test_aux) == sorted(test_sym.list_auxiliary_states())
    assert not any('label' in name or 'target' in name for name in test_args)
