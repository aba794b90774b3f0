"""get_symbol's options: ResNet depths, deformable convolution, clear errors."""
import mxnet as mx
import pytest

import symbol
from rcnn.config import generate_config


def resnet_cfg(**overrides):
    cfg = generate_config('resnet', 'retinaface')
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
    ('mnet', 'test', {}, r"cfg was made for the 'resnet' preset, not 'mnet': pass generate_config\('mnet', ...\)"),
])
def test_clear_errors(network, mode, overrides, message):
    with pytest.raises(ValueError, match=message):
        symbol.get_symbol(network, mode, resnet_cfg(**overrides))


@pytest.mark.parametrize('build', [lambda: symbol.get_symbol('mnet', 'test'), symbol.get_mnet_test,
                                   symbol.get_mnet_train, symbol.get_resnet_test, symbol.get_resnet_train])
def test_no_cfg_is_a_clear_error_not_a_global(build):
    with pytest.raises(TypeError, match=r"needs cfg=<the run configuration>.*generate_config\('mnet', 'retinaface'\); "
                                        r"got 'NoneType'"):
        build()


def test_the_original_resnet_call_with_a_symbol_is_a_clear_error():
    """The original's train.py called get_resnet_train(sym) with the pretrained symbol."""
    with pytest.raises(TypeError, match="get_resnet_train needs cfg=.*got 'Symbol'"):
        symbol.get_resnet_train(mx.sym.Variable('data'))


@pytest.mark.parametrize('network, mode, wrapper', [('mnet', 'test', symbol.get_mnet_test),
                                                    ('mnet', 'train', symbol.get_mnet_train),
                                                    ('resnet', 'test', symbol.get_resnet_test),
                                                    ('resnet', 'train', symbol.get_resnet_train)])
def test_original_wrappers_build_the_factory_graphs(network, mode, wrapper):
    """The original's public get_<network>_<mode> names give get_symbol's graph."""
    cfg = generate_config(network, 'retinaface')
    graphs = []
    for build in (lambda: wrapper(cfg=cfg), lambda: symbol.get_symbol(network, mode, cfg)):
        with mx.name.NameManager():  # the same generated names (crop0, _plus0, ...) for both
            graphs.append(build().tojson())
    assert graphs[0] == graphs[1]
