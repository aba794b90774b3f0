"""tools/export_onnx.py and rcnn/export/onnx_export.py: the exported models against MXNet's own
graph, and the script's bad-input table (one error line each; NaN weights fail)."""
import importlib.util
import json
import os
import shutil

import cv2
import mxnet as mx
import numpy as np
import pytest

_OPTIONAL = '%s is an optional extra (pip install -r requirements-onnx.txt)'
onnx = pytest.importorskip('onnx', reason=_OPTIONAL % 'onnx')
pytest.importorskip('onnxruntime', reason=_OPTIONAL % 'onnxruntime')

from rcnn.export.onnx_export import (IR_VERSION, OPSET, export_onnx,  # noqa: E402
                                    max_differences, mxnet_outputs, non_finite,
                                    onnxruntime_outputs, rewrite_for_onnx)
from retinaface import RetinaFace  # noqa: E402
from tests.cli_cases import (assert_one_error, assert_success, run_command,  # noqa: E402
                             run_in_process)
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


@pytest.mark.slow
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


def test_max_differences_checks_shapes_and_keeps_nan():
    with pytest.raises(ValueError, match='shape'):
        max_differences([np.zeros((1, 2))], [np.zeros((1, 3))])
    assert max_differences([np.zeros(3)], [np.array([0.0, -2.0, 1.0])]) == [2.0]
    assert np.isnan(max_differences([np.zeros(3), np.zeros(2)],
                                    [np.array([0.0, np.nan, 5.0]), np.ones(2)])[0])
    assert non_finite([('a', np.zeros(2)), ('b', np.array([1.0, np.inf])),
                       ('c', mx.nd.array([np.nan]))]) == ['b', 'c']


def test_script_exports_checks_and_compares(tmp_path, capsys):
    output = str(tmp_path / 'cli.onnx')
    image = shared_path('images', 'samples', 't1.jpg')
    outcome = run_in_process(export_script.main, ['--prefix', mnet25_prefix(), '--output', output,
                                                  '--size', '240x320', '--image', image], capsys)
    assert_success(outcome)
    printed = outcome[1]
    assert os.path.isfile(output)
    assert 'onnx.checker passed' in printed and 'SoftmaxActivation -> softmax' in printed
    assert printed.count('max |ONNX Runtime - MXNet|') == 9
    worst = float(printed.split('largest difference ')[1].split()[0])
    assert worst <= TOLERANCE
    outcome = run_in_process(export_script.main, ['--prefix', mnet25_prefix(), '--output', output,
                                                  '--size', '240x320', '--tolerance', '0'], capsys)
    assert_one_error(outcome, 1, 'over --tolerance 0', output)


def test_a_link_at_the_default_output_is_replaced_not_followed(tmp_path, capsys):
    prefix = copy_checkpoint(str(tmp_path / 'm'))
    victim = tmp_path / 'victim.txt'
    victim.write_bytes(b'keep me')
    os.symlink(victim, prefix + '.onnx')  # <prefix>.onnx, the default --output
    outcome = run_in_process(export_script.main, ['--prefix', prefix, '--size', '64x64'], capsys)
    assert_success(outcome)
    assert victim.read_bytes() == b'keep me' and not os.path.islink(prefix + '.onnx')
    assert onnx.load(prefix + '.onnx').ir_version == IR_VERSION
    assert sorted(os.listdir(tmp_path)) == ['m-0000.params', 'm-symbol.json', 'm.onnx', 'victim.txt']


# ------------------------------------------------------------------ bad input

def copy_checkpoint(prefix, change=None):
    """A copy of the released mnet.25 at ``prefix``, its weights passed through ``change``."""
    shutil.copy(mnet25_prefix() + '-symbol.json', prefix + '-symbol.json')
    arrays = mx.nd.load(mnet25_prefix() + '-0000.params')
    if change:
        change(arrays)
    mx.nd.save(prefix + '-0000.params', arrays)
    return prefix


def set_first(value, key='arg:mobilenet0_conv0_weight'):
    def change(arrays):
        weights = arrays[key].asnumpy()
        weights.flat[0] = value
        arrays[key] = mx.nd.array(weights)
    return change


@pytest.fixture
def checkpoints(tmp_path):
    """Prefixes for the table."""
    folder = tmp_path / 'models'
    folder.mkdir()
    names = {name: str(folder / name) for name in ('copy', 'nan', 'inf', 'cut', 'empty', 'garbage')}
    copy_checkpoint(names['copy'])
    copy_checkpoint(names['nan'], set_first(np.nan))
    copy_checkpoint(names['inf'], set_first(-np.inf, 'aux:mobilenet0_batchnorm0_running_var'))
    params = open(mnet25_prefix() + '-0000.params', 'rb').read()
    for name, data in (('cut', params[:len(params) // 3]), ('empty', b''), ('garbage', params)):
        shutil.copy(mnet25_prefix() + '-symbol.json', names[name] + '-symbol.json')
        with open(names[name] + '-0000.params', 'wb') as f:
            f.write(data)
    with open(names['garbage'] + '-symbol.json', 'wb') as f:
        f.write(b'{"nodes": [truncated')
    (tmp_path / 'broken.jpg').write_bytes(b'not a jpeg')
    return dict(names, tmp=str(tmp_path))


# (argv, exit status, strings the one error line must name)
BAD_INPUTS = [
    (['--prefix', '{copy}', '--tolerance', 'nan'], 2, ['--tolerance', 'finite']),
    (['--prefix', '{copy}', '--tolerance', '-1'], 2, ['--tolerance']),
    (['--prefix', '{copy}', '--size', '0x640'], 2, ['--size']),
    (['--prefix', '{copy}', '--size', 'big'], 2, ['--size', 'big']),
    (['--prefix', '{copy}', '--network', 'net9'], 2, ['--network']),
    (['--prefix', '{copy}', '--epoch', '-1'], 2, ['--epoch']),
    (['--output', 'x.onnx'], 2, ['--prefix']),
    (['--prefix', '{copy}', '--image', '{tmp}/none.jpg'], 1, ['{tmp}/none.jpg']),
    (['--prefix', '{copy}', '--image', '{tmp}/broken.jpg'], 1, ['{tmp}/broken.jpg', 'cannot read image']),
    (['--prefix', '{copy}', '--output', '{copy}-0000.params'], 1, ['would overwrite', '{copy}-0000.params']),
    (['--prefix', '{copy}', '--output', '{copy}-symbol.json'], 1, ['would overwrite']),
    (['--prefix', '{nan}'], 1, ['{nan}-0000.params', 'NaN', 'mobilenet0_conv0_weight']),
    (['--prefix', '{inf}'], 1, ['{inf}-0000.params', 'mobilenet0_batchnorm0_running_var']),
    (['--prefix', '{tmp}/absent'], 1, ['{tmp}/absent-symbol.json']),
    (['--prefix', '{copy}', '--epoch', '7'], 1, ['{copy}-0007.params']),
    (['--prefix', '{cut}'], 1, ['{cut}-0000.params']),
    (['--prefix', '{empty}'], 1, ['{empty}-0000.params', 'empty']),
    (['--prefix', '{garbage}'], 1, ['{garbage}-symbol.json']),
]


@pytest.mark.parametrize('argv, status, names', BAD_INPUTS,
                         ids=[' '.join(argv) for argv, _, _ in BAD_INPUTS])
def test_bad_input_gives_one_error_line(argv, status, names, checkpoints, capsys):
    argv = [a.format(**checkpoints) for a in argv] + ['--output', checkpoints['tmp'] + '/out.onnx'] * (
        '--output' not in argv)
    outcome = run_in_process(export_script.main, argv, capsys)
    assert_one_error(outcome, status, *[n.format(**checkpoints) for n in names])
    assert not os.path.exists(checkpoints['tmp'] + '/out.onnx')
    assert open(checkpoints['copy'] + '-0000.params', 'rb').read() == open(
        mnet25_prefix() + '-0000.params', 'rb').read()


def test_nan_weights_fail_on_the_real_command_line(checkpoints):
    """It used to exit 0 with "largest difference 5.8e-06" (Python's max() skips NaN)."""
    outcome = run_command('tools/export_onnx.py', '--prefix', checkpoints['nan'], '--size', '64x64',
                          '--output', checkpoints['tmp'] + '/nan.onnx')
    assert_one_error(outcome, 1, 'NaN', checkpoints['nan'] + '-0000.params')


def test_non_finite_runtime_output_fails(checkpoints, capsys, monkeypatch):
    def nan_outputs(path, tensor):
        outputs = onnxruntime_outputs(path, tensor)
        outputs[4] = np.full_like(outputs[4], np.nan)
        return outputs
    monkeypatch.setattr(export_script, 'onnxruntime_outputs', nan_outputs)
    outcome = run_in_process(export_script.main, ['--prefix', checkpoints['copy'], '--size', '64x64',
                                                  '--output', checkpoints['tmp'] + '/o.onnx'], capsys)
    assert_one_error(outcome, 1, 'ONNX Runtime outputs', 'face_rpn_bbox_pred_stride16_output')
