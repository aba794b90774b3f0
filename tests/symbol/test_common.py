"""symbol.common's building blocks against numpy: the FPN addition, the SSH module's shape and
names, the heads' channel layout, the test head's softmax and OHEM's weight layout."""
import mxnet as mx
import numpy as np
import pytest

from rcnn.io.rpn import BBOX_PRED_LEN, LANDMARK_PRED_LEN
from symbol import common


def run(sym, **inputs):
    """Forward a symbol on numpy inputs (parameters not in ``inputs`` are drawn at random)."""
    shapes = {name: value.shape for name, value in inputs.items()}
    arg_shapes, _, aux_shapes = sym.infer_shape(**shapes)
    rng = np.random.default_rng(0)
    args = {name: mx.nd.array(inputs[name] if name in inputs else rng.normal(size=shape))
            for name, shape in zip(sym.list_arguments(), arg_shapes)}
    aux = {name: mx.nd.array(np.ones(shape) if name.endswith('var') else np.zeros(shape))
           for name, shape in zip(sym.list_auxiliary_states(), aux_shapes)}
    executor = sym.bind(mx.cpu(), args, aux_states=aux)
    return [out.asnumpy() for out in executor.forward(is_train=False)]


@pytest.mark.parametrize('use_crop', [True, False])
def test_upsample_add_is_nearest_upsampling_cropped_to_the_lateral_map(rng, use_crop):
    coarse = rng.normal(size=(1, 2, 3, 3)).astype(np.float32)
    size = 5 if use_crop else 6  # an odd lateral map needs the crop
    lateral = rng.normal(size=(1, 2, size, size)).astype(np.float32)
    sym = common.upsample_add(mx.sym.Variable('coarse'), mx.sym.Variable('lateral'), 'up', use_crop)
    (got,) = run(sym, coarse=coarse, lateral=lateral)
    up = coarse.repeat(2, axis=2).repeat(2, axis=3)[:, :, :size, :size]
    np.testing.assert_allclose(got, lateral + up, rtol=1e-6)


def test_ssh_module_output_channels_and_layer_names():
    sym = common.ssh_detection_module(mx.sym.Variable('data'), 64, 'det')
    _, (out_shape,), _ = sym.infer_shape(data=(1, 8, 10, 12))
    assert out_shape == (1, 64, 10, 12)
    convs = {name[:-len('_weight')]: shape for name, shape in zip(sym.list_arguments(),
                                                                  sym.infer_shape(data=(1, 8, 10, 12))[0])
             if name.endswith('_weight')}
    # 32 channels of 3x3, then 16 + 16 of the 5x5 and 7x7 context branches
    assert {name: shape[0] for name, shape in convs.items()} == {
        'det_conv1': 32, 'det_context_conv1': 16, 'det_context_conv2': 16, 'det_context_conv3_1': 16,
        'det_context_conv3_2': 16}
    with pytest.raises(ValueError, match='SSH module bad: num_filter 30 is not a multiple of 4'):
        common.ssh_detection_module(mx.sym.Variable('data'), 30, 'bad')


def test_fpn_needs_the_three_strides():
    with pytest.raises(ValueError, match=r'the FPN needs backbone features at strides \[8, 16, 32\], got \[16, 32\]'):
        common.fpn_ssh_features({32: mx.sym.Variable('a'), 16: mx.sym.Variable('b')}, common.RF_NAMES, 16, 16)


def test_head_channels_and_learning_rate_multipliers():
    cls, bbox, landmark = common.head_convs(mx.sym.Variable('data'), 16, num_anchors=3)
    shapes = [s.infer_shape(data=(1, 4, 5, 6))[1][0] for s in (cls, bbox, landmark)]
    assert shapes == [(1, 6, 5, 6), (1, BBOX_PRED_LEN * 3, 5, 6), (1, LANDMARK_PRED_LEN * 3, 5, 6)]
    assert (BBOX_PRED_LEN, LANDMARK_PRED_LEN) == (4, 10)
    attrs = bbox.attr_dict()
    assert attrs['face_rpn_bbox_pred_stride16_weight']['__lr_mult__'] == '1.0'
    bias = attrs['face_rpn_bbox_pred_stride16_bias']
    assert (bias['__lr_mult__'], bias['__wd_mult__']) == ('2.0', '0.0')  # the original's head biases
    assert common.head_convs(mx.sym.Variable('data'), 8, 2, landmark=False)[2] is None


def test_inference_head_softmaxes_background_against_face_per_anchor(rng):
    A, H, W = 2, 3, 4
    scores = rng.normal(size=(1, 2 * A, H, W)).astype(np.float32)
    prob, _ = common.inference_head(mx.sym.Variable('cls'), mx.sym.Variable('bbox'), None, 8, A)[:2]
    (got,) = run(prob, cls=scores)
    want = np.empty_like(scores)
    for a in range(A):  # channel a: background of anchor a, channel A + a: its face score
        bg, face = np.exp(scores[0, a]), np.exp(scores[0, A + a])
        want[0, a], want[0, A + a] = bg / (bg + face), face / (bg + face)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_ohem_anchor_weight_to_channels_follows_the_target_layout(rng):
    B, H, W, A, K = 2, 3, 2, 2, 4
    weight = rng.integers(0, 2, size=(B, H * W * A, 1)).astype(np.float32)  # order (h, w, a)
    (got,) = run(common._anchor_weight_to_channels(mx.sym.Variable('w'), A, K), w=weight)
    want = np.zeros((B, K * A, H * W), np.float32)
    for b in range(B):
        for cell in range(H * W):
            for a in range(A):
                for k in range(K):
                    want[b, a * K + k, cell] = weight[b, cell * A + a, 0]
    np.testing.assert_array_equal(got, want)
