"""Our test graphs against the released mnet.25 and R50 graphs and the real mnet.25 weights."""
import json

import cv2
import mxnet as mx
import numpy as np
import pytest

import symbol
from rcnn.config import generate_config
from tests.shared_data import mnet25_prefix, shared_path, widerface_val_images
from tests.symbol.graph_compare import graph_differences, variable_names

RELEASED = {'mnet': ('models', 'mnet.25', 'mnet.25-symbol.json'),
            'resnet': ('models', 'retinaface-R50', 'R50-symbol.json')}


def our_test_symbol(network):
    return symbol.get_symbol(network, 'test', generate_config(network, 'retinaface'))


def _variable_multipliers(sym_json):
    """{variable name: (lr_mult, wd_mult)} of the variables that carry them."""
    result = {}
    for node in json.loads(sym_json)['nodes']:
        attrs = node.get('attrs', {})
        if node['op'] == 'null' and '__lr_mult__' in attrs:
            result[node['name']] = (float(attrs['__lr_mult__']), float(attrs.get('__wd_mult__', 1.0)))
    return result


@pytest.mark.parametrize('network', sorted(RELEASED))
def test_graph_equals_released_node_for_node(network):
    released = shared_path(*RELEASED[network])
    ours = our_test_symbol(network).tojson()
    assert graph_differences(ours, released) == []
    assert variable_names(ours) == variable_names(released)
    released_mults = _variable_multipliers(open(released).read())
    our_mults = _variable_multipliers(ours)
    neck_and_heads = {k: v for k, v in released_mults.items() if not k.startswith('mobilenet0_')}
    assert {k: our_mults.get(k) for k in neck_and_heads} == neck_and_heads


def test_comparison_can_fail():
    """An edited copy of the mnet graph (renamed `_fwd` nodes) and the other network both differ."""
    variant = shared_path('models', 'mnet.25', 'symbol_variants', 'charrin_mnet.25-symbol.json')
    ours = our_test_symbol('mnet').tojson()
    assert graph_differences(ours, variant)
    assert graph_differences(ours, shared_path(*RELEASED['resnet']))


def _load_image(path, max_side=480):
    """A real image as (1, 3, H, W) float32 RGB pixels, scaled so its longer side is at most max_side."""
    image = cv2.imread(path)
    scale = min(1.0, max_side / max(image.shape[:2]))
    image = cv2.resize(image, None, fx=scale, fy=scale)
    return image[:, :, ::-1].transpose(2, 0, 1)[np.newaxis].astype(np.float32)


def _forward(sym, arg_params, aux_params, data):
    module = mx.mod.Module(sym, data_names=['data'], label_names=None, context=mx.cpu())
    module.bind(data_shapes=[('data', data.shape)], for_training=False)
    module.set_params(arg_params, aux_params, allow_missing=False, allow_extra=False)
    module.forward(mx.io.DataBatch([mx.nd.array(data)]), is_train=False)
    return [out.asnumpy() for out in module.get_outputs()]


def test_real_mnet_weights_bind_and_match_the_released_graph():
    released_sym, arg_params, aux_params = mx.model.load_checkpoint(mnet25_prefix(), 0)
    ours = our_test_symbol('mnet')
    assert sorted(a for a in ours.list_arguments() if a != 'data') == sorted(arg_params)
    assert sorted(ours.list_auxiliary_states()) == sorted(aux_params)
    assert ours.list_outputs() == released_sym.list_outputs()
    for _, path in widerface_val_images()[:2]:
        data = _load_image(path)
        expected = _forward(released_sym, arg_params, aux_params, data)
        actual = _forward(ours, arg_params, aux_params, data)
        for out_ours, out_released in zip(actual, expected):
            assert out_ours.shape == out_released.shape
            assert np.abs(out_ours - out_released).max() <= 1e-5


def _shapes(sym, data_shape):
    args, outs, aux = sym.infer_shape(data=data_shape)
    return (dict(zip(sym.list_arguments(), args)), dict(zip(sym.list_auxiliary_states(), aux)),
            list(zip(sym.list_outputs(), outs)))


def test_resnet_arguments_and_shapes_equal_the_released_r50():
    released = mx.sym.load(shared_path(*RELEASED['resnet']))
    ours = our_test_symbol('resnet')
    assert _shapes(ours, (1, 3, 640, 640)) == _shapes(released, (1, 3, 640, 640))
    arg_shapes, _, _ = _shapes(released, (1, 3, 640, 640))
    learnable = sum(int(np.prod(shape)) for name, shape in arg_shapes.items() if name != 'data')
    assert round(learnable / 1e6, 4) == 29.4423


def test_random_r50_checkpoint_from_ours_loads_into_the_released_graph(tmp_path, rng):
    ours = our_test_symbol('resnet')
    data_shape = (1, 3, 128, 128)
    arg_shapes, aux_shapes, _ = _shapes(ours, data_shape)
    arg_params = {name: mx.nd.array(rng.normal(0, 0.05, shape)) for name, shape in arg_shapes.items()
                  if name != 'data'}
    aux_params = {name: mx.nd.array(rng.uniform(0.5, 1.5, shape) if name.endswith('var') else
                                    rng.normal(0, 0.1, shape)) for name, shape in aux_shapes.items()}
    prefix = str(tmp_path / 'r50-random')
    mx.model.save_checkpoint(prefix, 0, ours, arg_params, aux_params)
    _, loaded_args, loaded_aux = mx.model.load_checkpoint(prefix, 0)
    released = mx.sym.load(shared_path(*RELEASED['resnet']))
    data = rng.uniform(0, 255, data_shape).astype(np.float32)
    expected = _forward(released, loaded_args, loaded_aux, data)
    actual = _forward(ours, arg_params, aux_params, data)
    assert len(actual) == len(expected) == 9
    for out_ours, out_released in zip(actual, expected):
        np.testing.assert_allclose(out_ours, out_released, rtol=1e-5, atol=1e-5)
