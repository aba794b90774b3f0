"""tools/model_stats.py: counts against the released R50 graph and the OpenVINO card, saved checkpoints."""
import importlib.util
import os

import mxnet as mx
import numpy as np
import pytest

from tests.shared_data import ROOT, shared_path

_spec = importlib.util.spec_from_file_location('model_stats', os.path.join(ROOT, 'tools', 'model_stats.py'))
model_stats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_stats)


def test_flops_of_one_convolution_by_hand():
    data = mx.sym.Variable('data')
    conv = mx.sym.Convolution(data, num_filter=16, kernel=(3, 3), pad=(1, 1), name='c')
    relu = mx.sym.Activation(conv, act_type='relu', name='r')
    conv_flops, other = model_stats.flops(relu, (1, 8, 10, 10))
    assert conv_flops == 2 * (16 * 10 * 10) * (8 * 3 * 3)
    assert other == 16 * 10 * 10 * 2  # bias add + ReLU


def test_resnet_counts_match_the_released_graph_and_the_openvino_card():
    from rcnn.config import generate_config
    from symbol import get_symbol
    sym = get_symbol('resnet', 'test', generate_config('resnet', 'retinaface'))
    released = mx.sym.load(shared_path('models', 'retinaface-R50', 'R50-symbol.json'))
    arg_shapes, _, _ = released.infer_shape(data=(1, 3, 640, 640))
    released_count = sum(int(np.prod(s)) for n, s in zip(released.list_arguments(), arg_shapes) if n != 'data')
    learnable, folded = model_stats.parameter_counts(sym)
    assert learnable == released_count
    assert round(learnable / 1e6, 4) == 29.4423
    assert round(folded / 1e6, 4) == 29.4276  # the OpenVINO card's count (BatchNorm folded)
    conv_flops, other = model_stats.flops(sym)
    assert abs(conv_flops / 1e9 - 100.85) / 100.85 < 0.01
    assert abs((conv_flops + other) / 1e9 - 100.85) / 100.85 < 0.01


def test_cli_saves_a_loadable_checkpoint(tmp_path, capsys):
    prefix = str(tmp_path / 'mnet-fresh')
    model_stats.main(['--network', 'mnet', '--size', '320x256', '--save', prefix])
    printed = capsys.readouterr().out
    assert 'input 1x3x320x256' in printed and 'GFLOPs' in printed and 'M learnable' in printed
    sym, arg_params, aux_params = mx.model.load_checkpoint(prefix, 0)
    assert sorted(arg_params) == sorted(a for a in sym.list_arguments() if a != 'data')
    assert sorted(aux_params) == sorted(sym.list_auxiliary_states())
    assert np.all(aux_params['mobilenet0_batchnorm0_running_var'].asnumpy() == 1)
    assert np.all(arg_params['face_rpn_cls_score_stride8_bias'].asnumpy() == 0)
    assert arg_params['mobilenet0_conv0_weight'].asnumpy().std() > 0
    module = mx.mod.Module(sym, label_names=None)
    module.bind(data_shapes=[('data', (1, 3, 320, 256))], for_training=False)
    module.set_params(arg_params, aux_params, allow_missing=False, allow_extra=False)
    module.forward(mx.io.DataBatch([mx.nd.ones((1, 3, 320, 256))]), is_train=False)
    assert module.get_outputs()[0].shape == (1, 4, 10, 8)


def test_bad_size_is_rejected():
    with pytest.raises(SystemExit):
        model_stats.main(['--network', 'mnet', '--size', '640'])
