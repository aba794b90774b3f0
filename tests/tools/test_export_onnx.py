"""tools/export_onnx.py and rcnn/tools/onnx_export.py: the exported models against MXNet's own graph."""
import importlib.util
import json
import os

import cv2
import mxnet as mx
import numpy as np
import pytest

_OPTIONAL = '%s is an optional extra (pip install -r requirements-onnx.txt)'
onnx = pytest.importorskip('onnx', reason=_OPTIONAL % 'onnx')
pytest.importorskip('onnxruntime', reason=_OPTIONAL % 'onnxruntime')

from rcnn.tools.onnx_export import (IR_VERSION, OPSET, export_onnx,  # noqa: E402
                                    max_differences, mxnet_outputs, onnxruntime_outputs,
                                    rewrite_for_onnx)
from retinaface import RetinaFace  # noqa: E402
from tests.shared_data import ROOT, mnet25_prefix, shared_path, widerface_val_images  # noqa: E402

_spec = importlib.util.spec_from_file_location('export_onnx', os.path.join(ROOT, 'tools', 'export_onnx.py'))
export_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_script)
_spec = importlib.util.spec_from_file_location('model_stats', os.path.join(ROOT, 'tools', 'model_stats.py'))
model_stats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_stats)

TOLERANCE = 1e-4


@pytest.fixture(scope='module')
def mnet25():
    """(RetinaFace on the released mnet.25, its symbol, arg params, aux params)."""
    detector = RetinaFace(mnet25_prefix(), 0, ctx_id=-1, network='net3')
    return detector, detector.symbol, detector.arg_params, detector.aux_params


@pytest.fixture(scope='module')
def mnet25_dynamic(mnet25, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('onnx') / 'mnet.25-dynamic.onnx')
    export_onnx(*mnet25[1:], path, dynamic=True)
    return path


@pytest.fixture(scope='module')
def r50_random(tmp_path_factory):
    """(symbol, args, aux, dynamic ONNX path) of the released R50 graph with random weights (the
    released weights are not available; tests/symbol checks that our R50 graph equals this one)."""
    symbol = mx.sym.load(shared_path('models', 'retinaface-R50', 'R50-symbol.json'))
    args, aux = model_stats.init_params(symbol, (1, 3, 128, 128), seed=7)
    # fresh BatchNorm statistics are the identity; give them spread so that folding them is tested
    rng = np.random.default_rng(7)
    for name, value in aux.items():
        shape = value.shape
        aux[name] = mx.nd.array(rng.uniform(0.5, 1.5, shape) if name.endswith('_var')
                                else rng.normal(0, 0.1, shape))
    path = str(tmp_path_factory.mktemp('onnx') / 'r50-random.onnx')
    export_onnx(symbol, args, aux, path, input_shape=(1, 3, 128, 128), dynamic=True)
    return symbol, args, aux, path


def real_image_tensors(detector, limit=None):
    """(name, network input) of the real WIDER val images at their own size."""
    return [(name, detector.preprocess(cv2.imread(path))[0])
            for name, path in widerface_val_images()[:limit]]


def test_rewrite_replaces_softmax_activation_and_keeps_the_numbers(mnet25, rng):
    _, symbol, args, aux = mnet25
    rewritten, changes = rewrite_for_onnx(symbol)
    ops = [node['op'] for node in json.loads(rewritten.tojson())['nodes']]
    assert 'SoftmaxActivation' not in ops and ops.count('softmax') == 3
    assert sorted(changes) == sorted('face_rpn_cls_prob_stride%d: SoftmaxActivation -> softmax' % s
                                     for s in (32, 16, 8))
    assert rewritten.list_outputs() == symbol.list_outputs()
    assert 'SoftmaxActivation' in symbol.tojson()  # the original graph is left alone
    tensor = rng.uniform(0, 255, (1, 3, 96, 160)).astype(np.float32)
    for before, after in zip(mxnet_outputs(symbol, args, aux, tensor),
                             mxnet_outputs(rewritten, args, aux, tensor)):
        np.testing.assert_allclose(after, before, rtol=0, atol=1e-6)


def test_rewrite_names_what_cannot_be_exported():
    data = mx.sym.Variable('data')
    unknown = mx.sym.sort(data, axis=1, name='my_sort')
    with pytest.raises(NotImplementedError, match=r'my_sort \(sort\)'):
        rewrite_for_onnx(unknown)
    instance = mx.sym.SoftmaxActivation(data, mode='instance', name='inst')
    with pytest.raises(NotImplementedError, match='inst'):
        rewrite_for_onnx(instance)
    crop = mx.sym.Crop(data, data, center_crop=True, num_args=2, name='centre')
    with pytest.raises(NotImplementedError, match='centre'):
        rewrite_for_onnx(crop)


def test_exported_model_is_valid_opset13_with_weights_as_constants(mnet25_dynamic):
    model = onnx.load(mnet25_dynamic)
    onnx.checker.check_model(model)
    assert [imp.version for imp in model.opset_import if imp.domain in ('', 'ai.onnx')] == [OPSET]
    assert model.ir_version == IR_VERSION == 7  # loadable by runtimes older than the onnx package
    assert [value.name for value in model.graph.input] == ['data']
    height, width = model.graph.input[0].type.tensor_type.shape.dim[2:]
    assert height.dim_value == 0 and width.dim_value == 0  # dynamic
    assert len(model.graph.output) == 9
    used = {name for node in model.graph.node for name in node.input}
    assert all(init.name in used for init in model.graph.initializer)


def test_mnet25_nine_outputs_match_mxnet_on_real_images(mnet25, mnet25_dynamic):
    detector, symbol, args, aux = mnet25
    tensors = real_image_tensors(detector)
    assert len(tensors) == 5
    sizes = set()
    for name, tensor in tensors:
        expected = mxnet_outputs(symbol, args, aux, tensor)
        got = onnxruntime_outputs(mnet25_dynamic, tensor)
        assert len(got) == 9
        assert max(max_differences(expected, got)) <= TOLERANCE, name
        sizes.add(tensor.shape[2:])
    assert len(sizes) >= 2  # the dynamic model ran at several input sizes


def test_mnet25_fixed_size_export_matches_at_its_size_and_refuses_others(mnet25, tmp_path):
    detector, symbol, args, aux = mnet25
    path = str(tmp_path / 'mnet.25-480x640.onnx')
    export_onnx(symbol, args, aux, path, input_shape=(1, 3, 480, 640))
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 3, 480, 640]
    img = cv2.resize(cv2.imread(widerface_val_images()[0][1]), (640, 480))
    tensor = detector.preprocess(img)[0]
    assert max(max_differences(mxnet_outputs(symbol, args, aux, tensor),
                               onnxruntime_outputs(path, tensor))) <= TOLERANCE
    with pytest.raises(Exception, match='(?i)dimension|shape'):
        onnxruntime_outputs(path, np.zeros((1, 3, 320, 320), dtype=np.float32))


def test_dynamic_model_works_at_two_sizes_not_multiples_of_32(mnet25, mnet25_dynamic, rng):
    _, symbol, args, aux = mnet25
    for size in ((1, 3, 200, 328), (1, 3, 333, 517)):
        tensor = rng.uniform(0, 255, size).astype(np.float32)
        expected = mxnet_outputs(symbol, args, aux, tensor)
        got = onnxruntime_outputs(mnet25_dynamic, tensor)
        assert [g.shape for g in got] == [e.shape for e in expected]
        assert max(max_differences(expected, got)) <= TOLERANCE


def test_random_weight_r50_exports_and_matches_at_two_sizes(r50_random):
    symbol, args, aux, path = r50_random
    image = cv2.imread(widerface_val_images()[0][1])
    for height, width in ((128, 128), (160, 224)):
        tensor = cv2.resize(image, (width, height)).transpose(2, 0, 1)[None, ::-1].astype(np.float32)
        expected = mxnet_outputs(symbol, args, aux, tensor)
        got = onnxruntime_outputs(path, tensor)
        assert len(got) == 9
        assert max(max_differences(expected, got)) <= TOLERANCE
        assert max(float(np.abs(e).max()) for e in expected) > 1e-2  # not a trivially zero graph


def test_max_differences_checks_shapes():
    with pytest.raises(ValueError, match='shape'):
        max_differences([np.zeros((1, 2))], [np.zeros((1, 3))])
    assert max_differences([np.zeros(3)], [np.array([0.0, -2.0, 1.0])]) == [2.0]


def test_script_exports_checks_and_compares(tmp_path, capsys):
    output = str(tmp_path / 'cli.onnx')
    image = shared_path('images', 'samples', 't1.jpg')
    status = export_script.main(['--prefix', mnet25_prefix(), '--output', output, '--size', '240x320',
                                 '--image', image])
    printed = capsys.readouterr().out
    assert status == 0 and os.path.isfile(output)
    assert 'onnx.checker passed' in printed and 'SoftmaxActivation -> softmax' in printed
    assert printed.count('max |ONNX Runtime - MXNet|') == 9
    worst = float(printed.split('largest difference ')[1].split()[0])
    assert worst <= TOLERANCE
    assert export_script.main(['--prefix', mnet25_prefix(), '--output', output, '--size', '240x320',
                               '--tolerance', '0']) == 1
