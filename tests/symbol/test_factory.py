"""get_symbol's options: ResNet depths, deformable convolution, clear errors."""
import copy

import mxnet as mx
import pytest

import symbol
from rcnn.config import config, generate_config


def resnet_cfg(**overrides):
    generate_config('resnet', 'retinaface')
    cfg = copy.deepcopy(config)
    cfg.update(overrides)
    return cfg


def test_resnet152_has_the_model_zoo_units_and_feature_strides():
    sym = symbol.get_symbol('resnet', 'test', resnet_cfg(RESNET_DEPTH=152))
    args = set(sym.list_arguments())
    for stage, units in enumerate([3, 8, 36, 3], start=1):
        assert 'stage%d_unit%d_conv3_weight' % (stage, units) in args
        assert 'stage%d_unit%d_conv3_weight' % (stage, units + 1) not in args
    assert {'bn_data_gamma', 'conv0_weight', 'bn1_gamma', 'stage4_unit1_sc_weight'} <= args
    _, out_shapes, _ = sym.infer_shape(data=(1, 3, 640, 640))
    assert [s[2:] for s in out_shapes] == [(20, 20)] * 3 + [(40, 40)] * 3 + [(80, 80)] * 3


def test_deformable_convolution_after_each_ssh_module():
    sym = symbol.get_symbol('resnet', 'test', resnet_cfg(USE_DCN=1))
    internals = set(sym.get_internals().list_outputs())
    for level in (1, 2, 3):
        assert 'ssh_m%d_det_concat_dcn_conv_output' % level in internals
    _, out_shapes, _ = sym.infer_shape(data=(1, 3, 128, 128))
    assert out_shapes[0] == (1, 4, 4, 4)


@pytest.mark.parametrize('network, mode, overrides, message', [
    ('vgg', 'test', {}, 'unknown network'),
    ('resnet', 'predict', {}, "mode must be 'test' or 'train'"),
    ('resnet', 'test', {'RESNET_DEPTH': 42}, 'unsupported ResNet depth'),
    ('resnet', 'test', {'USE_DCN': 2}, 'USE_DCN=2 is not supported'),
    ('resnet', 'train', {'CASCADE': 1}, 'not supported by the released graphs'),
])
def test_clear_errors(network, mode, overrides, message):
    with pytest.raises(ValueError, match=message):
        symbol.get_symbol(network, mode, resnet_cfg(**overrides))


def test_global_config_is_prepared_for_the_network():
    generate_config('resnet', 'retinaface')
    sym = symbol.get_symbol('mnet', 'test')
    assert config.network == 'mnet' and 'mobilenet0_conv0_weight' in sym.list_arguments()
    assert isinstance(sym, mx.sym.Symbol)
