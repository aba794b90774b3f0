"""RetinaFaceONNX: detections over ONNX Runtime against RetinaFace's over MXNet on the same weights."""
import os
import subprocess
import sys
import textwrap

import cv2
import mxnet as mx
import numpy as np
import pytest

_OPTIONAL = '%s is an optional extra (pip install -r requirements-onnx.txt)'
pytest.importorskip('onnx', reason=_OPTIONAL % 'onnx')
pytest.importorskip('onnxruntime', reason=_OPTIONAL % 'onnxruntime')

from rcnn.export.onnx_export import export_onnx  # noqa: E402
from retinaface import RetinaFace  # noqa: E402
from retinaface_onnx import DetectorError, ModelFileError, RetinaFaceONNX  # noqa: E402
from tests.shared_data import ROOT, shared_path, widerface_val_images  # noqa: E402


@pytest.fixture(scope='module')
def mxnet_detector(mnet25_detector):
    """The session's released mnet.25 detector (tests/conftest.py)."""
    return mnet25_detector


@pytest.fixture(scope='module')
def onnx_path(mxnet_detector, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('onnx') / 'mnet.25.onnx')
    export_onnx(mxnet_detector.symbol, mxnet_detector.arg_params, mxnet_detector.aux_params, path, dynamic=True)
    return path


@pytest.fixture(scope='module')
def onnx_detector(onnx_path):
    return RetinaFaceONNX(onnx_path, network='net3', nms=0.4)


def assert_same_detections(expected, got, name):
    (faces, points), (onnx_faces, onnx_points) = expected, got
    assert len(onnx_faces) == len(faces), name
    np.testing.assert_allclose(onnx_faces[:, :4], faces[:, :4], rtol=0, atol=1e-3, err_msg=name)
    np.testing.assert_allclose(onnx_faces[:, 4], faces[:, 4], rtol=0, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(onnx_points, points, rtol=0, atol=1e-3, err_msg=name)


def test_turns_and_pyramid_give_the_mxnet_detectors_faces(mxnet_detector, onnx_detector):
    """The new options (issue 19) on a turned photo and on a close-up: the same faces, 1e-3 px."""
    img = cv2.resize(cv2.imread(shared_path('images', 'samples', 't1.jpg')), (640, 443))
    turned = np.ascontiguousarray(np.rot90(img))
    closeup = cv2.resize(img[150:420, 430:620], (900, 1279))
    for image, options in ((turned, {'rotations': 'auto'}), (turned, {'rotations': (0, 90, 270)}),
                           (closeup, {'pyramid': True}), (turned, {'rotations': 'auto', 'pyramid': True})):
        expected = mxnet_detector.detect(image, 0.5, **options)
        assert len(expected[0]) > 0
        assert_same_detections(expected, onnx_detector.detect(image, 0.5, **options), repr(options))


def test_finds_the_heads_of_the_model(onnx_detector, mxnet_detector):
    assert onnx_detector._heads == mxnet_detector._heads
    assert onnx_detector.use_landmarks and not onnx_detector.cascade


def test_detections_equal_the_mxnet_detector_on_real_images(mxnet_detector, onnx_detector):
    images = widerface_val_images()
    assert len(images) == 5
    found = 0
    for name, path in images:
        img = cv2.imread(path)
        expected = mxnet_detector.detect(img, threshold=0.5)
        assert_same_detections(expected, onnx_detector.detect(img, threshold=0.5), name)
        found += len(expected[0])
    assert found > 50


def test_flip_and_scales_equal_the_mxnet_detector(mxnet_detector, onnx_detector):
    img = cv2.imread(shared_path('images', 'samples', 't1.jpg'))
    options = dict(threshold=0.8, scales=[0.5, 0.75], do_flip=True)
    expected = mxnet_detector.detect(img, **options)
    assert len(expected[0]) > 0
    assert_same_detections(expected, onnx_detector.detect(img, **options), 't1.jpg')


def test_fixed_size_model_takes_its_size_and_names_the_fix_for_others(mxnet_detector, tmp_path):
    path = str(tmp_path / 'mnet.25-480x640.onnx')
    export_onnx(mxnet_detector.symbol, mxnet_detector.arg_params, mxnet_detector.aux_params, path, input_shape=(1, 3, 480, 640))
    detector = RetinaFaceONNX(path)
    img = cv2.resize(cv2.imread(widerface_val_images()[1][1]), (640, 480))
    assert_same_detections(mxnet_detector.detect(img, 0.5), detector.detect(img, 0.5), '640x480')
    with pytest.raises(ValueError, match='640x480.*--dynamic'):
        detector.detect(img[:320], 0.5)


def test_missing_or_unloadable_model_files_are_named_in_one_line(onnx_path, tmp_path):
    with pytest.raises(ModelFileError) as error:
        RetinaFaceONNX('nowhere.onnx')
    assert str(error.value) == 'ONNX model not found: nowhere.onnx (write one with tools/export_onnx.py)'
    empty = tmp_path / 'empty.onnx'
    empty.write_bytes(b'')
    with pytest.raises(ModelFileError) as error:
        RetinaFaceONNX(str(empty))
    assert str(error.value) == 'ONNX model %s is empty (an interrupted export or download?)' % empty
    with open(onnx_path, 'rb') as f:
        head = f.read(5000)
    for name, data in (('garbage.onnx', b'not a model at all' * 10), ('truncated.onnx', head)):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ModelFileError) as error:
            RetinaFaceONNX(str(path))
        message = str(error.value)
        assert message.startswith('cannot load ONNX model %s (truncated or not an ONNX model?): ' % path)
        assert '\n' not in message, message


def test_a_preset_that_does_not_fit_the_model_is_named(onnx_path):
    with pytest.raises(DetectorError) as error:
        RetinaFaceONNX(onnx_path, network='net3a')
    assert str(error.value) == (
        "network preset 'net3a' does not fit %s: the preset expects strides 32, 16, 8 with 4 anchors per "
        "position, the model has outputs at strides 32, 16, 8 with 2 anchors per position; presets that "
        "fit: net3, ssh, vgg, x3" % onnx_path)


@pytest.mark.slow
def test_random_weight_r50_detections_equal_the_mxnet_detector(tmp_path):
    """The released R50 graph with random weights, saved as a checkpoint, through both detectors.

    Xavier weights alone give face scores of 0.500..0.511 whose neighbours differ by ~1e-7 (4 of
    676 candidates exactly tied), while the two runtimes' outputs differ by up to 6e-8 (float sums
    in another order): near-tied boxes then swap places in the score order, and so in NMS (8 of
    1196 box values 120 px apart). So the score convolutions are scaled up (x10) to spread the
    scores, the outputs are compared, and the detections at a threshold whose candidates are
    separated by more than twice the score outputs' difference (so their order, and NMS, cannot
    depend on the runtime) must be equal, in the same order."""
    symbol = mx.sym.load(shared_path('models', 'retinaface-R50', 'R50-symbol.json'))
    module = mx.mod.Module(symbol, data_names=['data'], label_names=None, context=mx.cpu())
    module.bind(data_shapes=[('data', (1, 3, 256, 256))], for_training=False)
    mx.random.seed(3)
    module.init_params(mx.init.Xavier(magnitude=2.0))
    arg_params, aux_params = module.get_params()
    for name in arg_params:
        if name.startswith('face_rpn_cls_score_stride'):
            arg_params[name] = arg_params[name] * 10
    module.set_params(arg_params, aux_params)
    prefix = str(tmp_path / 'R50-random')
    module.save_checkpoint(prefix, 0)
    mxnet_detector = RetinaFace(prefix, 0, ctx_id=-1, network='net3')
    path = prefix + '.onnx'
    export_onnx(mxnet_detector.symbol, mxnet_detector.arg_params, mxnet_detector.aux_params, path,
                input_shape=(1, 3, 256, 256), dynamic=True)
    onnx_detector = RetinaFaceONNX(path, network='net3')
    img = cv2.resize(cv2.imread(widerface_val_images()[0][1]), (256, 192))
    tensor, _ = mxnet_detector.preprocess(img)
    mxnet_outputs, onnx_outputs = mxnet_detector.forward(tensor), onnx_detector.forward(tensor)
    for mxnet_output, onnx_output in zip(mxnet_outputs, onnx_outputs):
        np.testing.assert_allclose(onnx_output, mxnet_output, rtol=0, atol=1e-6)
    threshold = 0.55
    score_maps = [mxnet_outputs[heads.cls][0, 2:] for heads in mxnet_detector._heads]
    score_difference = max(np.abs(onnx_outputs[heads.cls][0, 2:] - mxnet_outputs[heads.cls][0, 2:]).max()
                           for heads in mxnet_detector._heads)
    scores = np.sort(np.concatenate([m.ravel() for m in score_maps]))
    candidates = scores[scores >= threshold - score_difference]
    assert len(candidates) > 20 and np.diff(candidates).min() > 2 * score_difference
    expected = mxnet_detector.detect(img, threshold=threshold)
    assert len(expected[0]) >= 5  # random weights still give boxes to compare
    assert_same_detections(expected, onnx_detector.detect(img, threshold=threshold), 'R50 random')


@pytest.mark.parametrize('block_mxnet', [True, False], ids=['mxnet blocked', 'mxnet installed'])
def test_never_imports_mxnet(onnx_path, block_mxnet):
    """Importing and running RetinaFaceONNX never imports MXNet: neither where it cannot be imported
    (blocked in a fresh process) nor where it is installed."""
    script = textwrap.dedent('''
        import sys
        if sys.argv[3] == 'block':
            sys.modules['mxnet'] = None  # any "import mxnet" now raises ImportError
        import cv2
        from retinaface_onnx import RetinaFaceONNX
        detector = RetinaFaceONNX(sys.argv[1])
        faces, landmarks = detector.detect(cv2.imread(sys.argv[2]), threshold=0.8)
        assert len(faces) > 0 and landmarks.shape == (len(faces), 5, 2)
        loaded = [name for name in sys.modules if name.split('.')[0] == 'mxnet' and sys.modules[name]]
        print('faces', len(faces), 'mxnet modules', loaded)
    ''')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT] + [p for p in sys.path if p]))
    result = subprocess.run([sys.executable, '-c', script, onnx_path, shared_path('images', 'samples', 't1.jpg'),
                             'block' if block_mxnet else 'allow'],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == 'faces 6 mxnet modules []\n'
