"""RetinaFace.detect against the original detector's published outputs and independent checks."""
import json
import logging
import os
import subprocess
import sys
import textwrap

import cv2
import mxnet as mx
import numpy as np
import pytest

from rcnn.detection.detector import DetectorError
from rcnn.processing.bbox_transform import bbox_overlaps
from rcnn.utils.checkpoint import CheckpointError
from rcnn.utils.image_file import ImageFileError
from retinaface import RetinaFace, anchor_config, draw_detections
from tests.shared_data import ROOT, mnet25_prefix, shared_path, widerface_val_images


@pytest.fixture(scope='module')
def detector(mnet25_detector):
    """The session's released mnet.25 detector (tests/conftest.py)."""
    return mnet25_detector


@pytest.fixture(scope='module')
def t1():
    return cv2.imread(shared_path('images', 'samples', 't1.jpg'))


def read_widerface_txt(path):
    """(N, 5) [x, y, w, h, score] of a WIDER submission file."""
    with open(path) as f:
        lines = f.read().split('\n')
    count = int(lines[1])
    return np.array([[float(v) for v in line.split()] for line in lines[2:2 + count]]).reshape(-1, 5)


def test_matches_the_original_on_widerface_val(detector):
    reference_root = shared_path('reference_outputs', 'charrin_retinaface_cpp', 'mnet.25', 'python_detect')
    images = widerface_val_images()
    assert len(images) == 5
    for relative, path in images:
        expected = read_widerface_txt(os.path.join(reference_root, relative[:-4] + '.txt'))
        faces, landmarks = detector.detect(cv2.imread(path), threshold=0.8, scales=[1.0], do_flip=False)
        assert len(faces) == len(expected) > 0, relative
        ours = np.column_stack((faces[:, 0], faces[:, 1], faces[:, 2] - faces[:, 0] + 1,
                                faces[:, 3] - faces[:, 1] + 1, faces[:, 4]))
        np.testing.assert_allclose(ours, expected, atol=1e-3, rtol=0, err_msg=relative)
        assert landmarks.shape == (len(faces), 5, 2)


def _landmarks_inside(faces, landmarks):
    x, y = landmarks[:, :, 0], landmarks[:, :, 1]
    return ((x >= faces[:, None, 0]) & (x <= faces[:, None, 2]) &
            (y >= faces[:, None, 1]) & (y <= faces[:, None, 3]))


def test_multiscale_flip_finds_each_face_once(detector, t1):
    single, _ = detector.detect(t1, threshold=0.8)
    faces, landmarks = detector.detect(t1, threshold=0.8, scales=[0.5, 1.0, 1.5], do_flip=True)
    assert len(single) == 6  # six people around the table, all found at scale 1
    overlaps = bbox_overlaps(single.astype(np.float64), faces.astype(np.float64))
    assert ((overlaps > 0.5).sum(axis=1) == 1).all()  # each face exactly once
    assert ((overlaps > 0.5).sum(axis=0) == 1).all()  # and nothing else
    assert _landmarks_inside(faces, landmarks).all()
    # the left eye (index 0) and left mouth corner (3) stay left of their partners after flipping
    assert (landmarks[:, 0, 0] < landmarks[:, 1, 0]).all()
    assert (landmarks[:, 3, 0] < landmarks[:, 4, 0]).all()


def test_flipped_image_gives_mirrored_detections(detector, t1):
    width = t1.shape[1]
    faces, landmarks = detector.detect(t1, threshold=0.8)
    mirrored, mirrored_landmarks = detector.detect(np.ascontiguousarray(t1[:, ::-1]), threshold=0.8)
    back = mirrored.copy()
    back[:, 0], back[:, 2] = width - 1 - mirrored[:, 2], width - 1 - mirrored[:, 0]
    overlaps = bbox_overlaps(faces.astype(np.float64), back.astype(np.float64))
    assert len(faces) == len(mirrored) and (overlaps.max(axis=1) > 0.8).all()
    # the flip test maps mirrored detections and landmark order back onto the original image
    flipped_only, flipped_landmarks = detector.detect(t1, threshold=0.8, do_flip=True)
    assert _landmarks_inside(flipped_only, flipped_landmarks).all()
    assert (flipped_landmarks[:, 0, 0] < flipped_landmarks[:, 1, 0]).all()


def test_postprocess_of_raw_outputs_equals_detect(detector, t1):
    tensor, size = detector.preprocess(t1, 0.75, flip=True)
    assert tensor.dtype == np.float32 and tensor.shape == (1, 3) + size
    # the preprocessing is the original's: RGB planes of the (resized, mirrored) BGR pixels
    resized = cv2.resize(t1, None, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_LINEAR)[:, ::-1]
    np.testing.assert_array_equal(tensor[0], resized[:, :, ::-1].transpose(2, 0, 1))
    outputs = detector.forward(tensor)
    faces, landmarks = detector.postprocess(outputs, 0.8, size, im_scale=0.75, flip=True)
    expected, expected_landmarks = detector.detect(t1, 0.8, scales=[0.75], do_flip=False)
    overlaps = bbox_overlaps(faces.astype(np.float64), expected.astype(np.float64))
    assert len(faces) == len(expected) == 6 and (overlaps.max(axis=1) > 0.8).all()


def test_grey_and_bgra_images_are_converted(detector, t1):
    grey = cv2.cvtColor(t1, cv2.COLOR_BGR2GRAY)
    expected, _ = detector.detect(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), 0.8)
    for image in (grey, grey[:, :, None]):
        faces, _ = detector.detect(image, 0.8)
        np.testing.assert_array_equal(faces, expected)
    bgra = cv2.cvtColor(t1, cv2.COLOR_BGR2BGRA)
    bgra[:, :, 3] = 17
    np.testing.assert_array_equal(detector.detect(bgra, 0.8)[0], detector.detect(t1, 0.8)[0])


def test_unreadable_image_files_are_named(detector, tmp_path):
    bogus = tmp_path / 'not_an_image.jpg'
    bogus.write_bytes(b'this is text')
    with pytest.raises(ImageFileError, match='^cannot read image .*not_an_image.jpg: not an image OpenCV can decode$'):
        detector.detect(str(bogus))
    with pytest.raises(ImageFileError, match='^cannot read image .*missing.jpg: no such file$'):
        detector.detect(str(tmp_path / 'missing.jpg'))


GREY_PHOTO = np.full((32, 48, 3), 128, np.uint8)


@pytest.mark.parametrize('image, message', [
    (None, 'image: expected a numpy (H, W, 3) uint8 BGR array, got NoneType (cv2.imread returns None for '
           'a file it cannot read; rcnn.utils.image_file.read_image_file says why)'),
    ([[1, 2, 3]], 'image: expected a numpy (H, W, 3) uint8 BGR array, got list'),
    (GREY_PHOTO / 255.0, 'image: expected uint8 BGR pixels 0..255 as cv2.imread gives them, got float64 '
                         'values in [0.501961, 0.501961]'),
    (GREY_PHOTO.astype(np.float32), 'image: expected uint8 BGR pixels 0..255 as cv2.imread gives them, '
                                    'got float32 values in [128, 128]'),
    (np.full((4, 4, 3), np.nan, np.float32), 'image: expected uint8 BGR pixels 0..255 as cv2.imread '
                                             'gives them, got float32 values with NaN'),
    (GREY_PHOTO > 0, 'image: expected uint8 BGR pixels 0..255 as cv2.imread gives them, got bool values '
                     'in [1, 1]'),
    (GREY_PHOTO.astype(np.int8), 'image: expected uint8 BGR pixels 0..255 as cv2.imread gives them, got '
                                 'int8 values in [-128, -128]'),
    (GREY_PHOTO.astype(np.uint16) * 256, 'image: expected uint8 BGR pixels 0..255 as cv2.imread gives '
                                         'them, got uint16 values in [32768, 32768]'),
    (np.zeros((10, 10, 2), np.uint8), 'image: expected a grey (H, W), BGR (H, W, 3) or BGRA (H, W, 4) '
                                      'image with H, W >= 1, got shape (10, 10, 2)'),
    (np.zeros((0, 10, 3), np.uint8), 'image: expected a grey (H, W), BGR (H, W, 3) or BGRA (H, W, 4) '
                                     'image with H, W >= 1, got shape (0, 10, 3)'),
    (np.zeros((2, 10, 10, 3), np.uint8), 'image: expected a grey (H, W), BGR (H, W, 3) or BGRA (H, W, 4) '
                                         'image with H, W >= 1, got shape (2, 10, 10, 3)'),
    ([], 'image: got an empty list of images'),
])
def test_detect_refuses_images_it_cannot_take_saying_what_it_got(detector, image, message):
    with pytest.raises(DetectorError) as error:
        detector.detect(image)
    assert str(error.value) == message


@pytest.mark.parametrize('options, message', [
    (dict(threshold=float('nan')), 'threshold must be a face score in [0, 1], got nan'),
    (dict(threshold=-0.1), 'threshold must be a face score in [0, 1], got -0.1'),
    (dict(threshold=1.5), 'threshold must be a face score in [0, 1], got 1.5'),
    (dict(threshold='0.5'), "threshold must be a face score in [0, 1], got '0.5'"),
    (dict(scales=[0]), 'scales must be finite resize factors > 0 (at least one), got [0]'),
    (dict(scales=[1.0, -1.0]), 'scales must be finite resize factors > 0 (at least one), got [1.0, -1.0]'),
    (dict(scales=[float('inf')]), 'scales must be finite resize factors > 0 (at least one), got [inf]'),
    (dict(scales=[]), 'scales must be finite resize factors > 0 (at least one), got []'),
    (dict(scales=1.0), 'scales must be a list of resize factors such as [1.0], got 1.0'),
    (dict(scales=[0.001]), 'scale 0.001 turns the 48x32 (width x height) image into no pixels'),
])
def test_detect_refuses_bad_options(detector, options, message):
    with pytest.raises(DetectorError) as error:
        detector.detect(GREY_PHOTO, **options)
    assert str(error.value) == message


@pytest.mark.parametrize('options, message', [
    (dict(nms=float('nan')), 'nms must be an IoU in (0, 1] (0: keep every box, < 0: keep every box and '
                             'add the stride column), got nan'),
    (dict(nms=2), 'nms must be an IoU in (0, 1] (0: keep every box, < 0: keep every box and add the '
                  'stride column), got 2'),
    (dict(network='net7'), "unknown network preset 'net7': choose one of net3, net3a, net4, net4a, net5, "
                           "net5a, net6, ssh, vgg, x3, x3a, x5"),
    (dict(decay4=float('nan')), 'decay4 must be a finite factor >= 0, got nan'),
    (dict(ctx_id='cpu'), "ctx_id must be a GPU id (an int >= 0) or -1 for the CPU, got 'cpu'"),
])
def test_constructor_refuses_bad_options_before_loading(options, message):
    for make in (lambda: RetinaFace('/nowhere/model', 0, **dict(dict(ctx_id=-1), **options)),
                 lambda: RetinaFace.from_params(None, {}, {}, **options)):
        with pytest.raises(DetectorError) as error:
            make()
        assert str(error.value) == message


@pytest.mark.parametrize('network, expects', [
    ('net3a', 'strides 32, 16, 8 with 4 anchors'),
    ('net4', 'strides 32, 16, 8, 4 with 2 anchors'),
    ('net5', 'strides 64, 32, 16, 8, 4 with 3 anchors'),
    ('x5', 'strides 64, 32, 16, 8, 4 with 3 anchors'),
])
def test_a_preset_that_does_not_fit_the_checkpoint_is_named_with_those_that_do(network, expects):
    with pytest.raises(DetectorError) as error:
        RetinaFace(mnet25_prefix(), 0, ctx_id=-1, network=network)
    assert str(error.value) == (
        'network preset %r does not fit %s-symbol.json: the preset expects %s per position, the model '
        'has outputs at strides 32, 16, 8 with 2 anchors per position; presets that fit: net3, ssh, vgg, '
        'x3' % (network, mnet25_prefix(), expects))


def test_from_params_equals_the_checkpoint_detector(detector, t1):
    symbol, arg_params, aux_params = mx.model.load_checkpoint(mnet25_prefix(), 0)
    in_memory = RetinaFace.from_params(symbol, arg_params, aux_params, network='net3', nms=0.4)
    assert in_memory.ctx_id == -1 and in_memory.context == mx.cpu()
    np.testing.assert_array_equal(in_memory.detect(t1, 0.8, scales=[0.5])[0], detector.detect(t1, 0.8, scales=[0.5])[0])
    assert sorted(in_memory.arg_params) == sorted(arg_params) and sorted(in_memory.aux_params) == sorted(aux_params)
    with pytest.raises(DetectorError, match=r"^arg_params / aux_params lack 1 weights that the symbol needs, "
                                            r"e.g. \['face_rpn_cls_score_stride8_bias'\]$"):
        RetinaFace.from_params(symbol, {k: v for k, v in arg_params.items()
                                        if k != 'face_rpn_cls_score_stride8_bias'}, aux_params)
    with pytest.raises(DetectorError, match='^symbol: expected an mx.sym.Symbol, got str$'):
        RetinaFace.from_params('mnet.25-symbol.json', arg_params, aux_params)


def test_properties_are_read_only(detector):
    assert detector.network == 'net3' and detector.nms_threshold == 0.4 and detector.strides == [32, 16, 8]
    assert detector.use_landmarks and not detector.cascade and detector.ctx is detector.context
    assert detector.symbol.list_outputs()[0] == 'face_rpn_cls_prob_reshape_stride32_output'
    for name in ('symbol', 'arg_params', 'aux_params', 'context', 'ctx_id', 'network', 'nms_threshold',
                 'nocrop', 'decay4', 'vote', 'use_landmarks', 'strides'):
        with pytest.raises(AttributeError):
            setattr(detector, name, None)
    detector.arg_params.clear()  # a copy: the detector keeps its weights
    assert len(detector.arg_params) > 0


def test_corrupt_checkpoint_files_are_named_in_one_line(tmp_path):
    prefix = str(tmp_path / 'mnet.25')
    with open(mnet25_prefix() + '-symbol.json', 'rb') as f:
        (tmp_path / 'mnet.25-symbol.json').write_bytes(f.read())
    with open(mnet25_prefix() + '-0000.params', 'rb') as f:
        (tmp_path / 'mnet.25-0000.params').write_bytes(f.read()[:100000])
    with pytest.raises(CheckpointError) as error:
        RetinaFace(prefix, 0, ctx_id=-1)
    assert str(error.value) == ('%s-0000.params is not a complete MXNet weights file (truncated or '
                                'corrupt?)' % prefix)
    with open(mnet25_prefix() + '-0000.params', 'rb') as f:
        (tmp_path / 'mnet.25-0000.params').write_bytes(f.read())
    (tmp_path / 'mnet.25-0000.json').write_text(json.dumps({'sha256': {'mnet.25-0000.params': '0' * 64}}))
    with pytest.raises(CheckpointError) as error:
        RetinaFace(prefix, 0, ctx_id=-1)
    assert str(error.value) == ('%s-0000.params does not match the sha256 that %s-0000.json records for it '
                                '(a torn or edited checkpoint)' % (prefix, prefix))
    (tmp_path / 'mnet.25-symbol.json').write_bytes(b'\x89PNG garbage')
    with pytest.raises(CheckpointError, match='^%s-symbol.json is not an MXNet network graph' % prefix):
        RetinaFace(prefix, 0, ctx_id=-1)


def test_detect_center_is_the_originals_main_face(detector, t1):
    faces, landmarks = detector.detect(t1, threshold=0.8)
    height, width = t1.shape[:2]
    best, best_value = None, None
    for i, (x1, y1, x2, y2, _) in enumerate(faces.tolist()):  # the original's rule, face by face
        value = (x2 - x1) * (y2 - y1) - 2.0 * (((x1 + x2) / 2 - width / 2) ** 2 + ((y1 + y2) / 2 - height / 2) ** 2)
        if best_value is None or value > best_value:
            best, best_value = i, value
    face, points = detector.detect_center(t1, threshold=0.8)
    np.testing.assert_array_equal(face, faces[best])
    np.testing.assert_array_equal(points, landmarks[best])
    assert detector.detect_center(np.zeros((64, 64, 3), np.uint8), threshold=0.99) == (None, None)


def test_mxnet_native_messages_are_quiet():
    """No "Subgraph backend MKLDNN is activated" per input shape, no "Loading symbol saved by
    previous version" on loading the released mnet.25 (saved by MXNet 1.4.1)."""
    script = textwrap.dedent('''
        import sys
        import numpy as np
        from retinaface import RetinaFace
        detector = RetinaFace(sys.argv[1], 0, ctx_id=-1)
        for size in (64, 96):
            detector.detect(np.zeros((size, size, 3), np.uint8))
        print('detected')
    ''')
    env = {k: v for k, v in os.environ.items() if k != 'MXNET_SUBGRAPH_VERBOSE'}
    result = subprocess.run([sys.executable, '-c', script, mnet25_prefix()], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == 'detected\n', result.stderr[-2000:]
    assert 'Subgraph' not in result.stderr and 'previous version' not in result.stderr, result.stderr


def test_executors_are_bound_once_per_shape(t1, monkeypatch):
    detector = RetinaFace(mnet25_prefix(), 0, ctx_id=-1)
    binds = []
    bind = detector._bind
    monkeypatch.setattr(detector, '_bind', lambda h, w: binds.append((h, w)) or bind(h, w))
    small = t1[:320, :480]
    first, _ = detector.detect(small, 0.5)
    again, _ = detector.detect(small.copy(), 0.5)
    assert binds == [(320, 480)]
    np.testing.assert_array_equal(first, again)
    detector.detect(t1[:256, :256], 0.5)
    detector.detect(small, 0.5)
    assert binds == [(320, 480), (256, 256)]


def test_nms_modes(t1):
    keep_all = RetinaFace(mnet25_prefix(), 0, ctx_id=-1, nms=-1)
    faces, landmarks = keep_all.detect(t1[:400, :640], 0.8)
    assert faces.shape[1] == 6 and set(faces[:, 5]) <= {8.0, 16.0, 32.0}
    assert len(faces) == len(landmarks) and (np.diff(faces[:, 4]) <= 0).all()
    voting = RetinaFace(mnet25_prefix(), 0, ctx_id=-1, vote=True)
    voted, voted_landmarks = voting.detect(t1, 0.8, scales=[1.0], do_flip=True)
    assert voted.shape == (6, 5) and _landmarks_inside(voted, voted_landmarks).all()
    suppressed, _ = RetinaFace(mnet25_prefix(), 0, ctx_id=-1).detect(t1, 0.8, do_flip=True)
    overlaps = bbox_overlaps(voted.astype(np.float64), suppressed.astype(np.float64))
    assert (overlaps.max(axis=1) > 0.8).all()
    np.testing.assert_allclose(np.sort(voted[:, 4]), np.sort(suppressed[:, 4]))  # the best score


def test_nocrop_pads_to_a_multiple_of_32(t1):
    padded = RetinaFace(mnet25_prefix(), 0, ctx_id=-1, nocrop=True)
    tensor, size = padded.preprocess(t1[:300, :401])
    assert tensor.shape == (1, 3, 320, 416) and size == (300, 401)
    assert not tensor[0, :, 300:].any() and not tensor[0, :, :, 401:].any()
    faces, _ = padded.detect(t1, 0.8)
    assert len(faces) == 6 and (faces[:, 2] <= t1.shape[1] - 1).all() and (faces[:, 3] <= t1.shape[0] - 1).all()


def test_gpu_request_falls_back_to_cpu_with_a_warning(caplog):
    if mx.context.num_gpus() > 0:
        pytest.skip('this MXNet has a GPU')
    with caplog.at_level(logging.WARNING, logger='retinaface'):
        detector = RetinaFace(mnet25_prefix(), 0, ctx_id=0)
    assert detector.ctx_id == -1 and 'running on the CPU' in caplog.text


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match='^network graph not found: .*R50-symbol.json .*model/README.md'):
        RetinaFace(str(tmp_path / 'R50'), 0, ctx_id=-1)


def test_anchor_presets():
    assert sorted(anchor_config('net3'), key=int) == ['8', '16', '32']
    assert anchor_config('net3a')['16']['RATIOS'] == (1.0, 1.5)
    net5 = anchor_config('x5')
    assert sorted(net5, key=int) == ['4', '8', '16', '32', '64']
    np.testing.assert_allclose(net5['4']['SCALES'], [1, 2 ** (1 / 3), 2 ** (2 / 3)])
    np.testing.assert_allclose(net5['64']['SCALES'], [16, 16 * 2 ** (1 / 3), 16 * 2 ** (2 / 3)])
    assert anchor_config('net6')['128']['SCALES'] == (32,)
    with pytest.raises(ValueError, match="unknown detector preset 'net7': choose one of net3, net3a"):
        anchor_config('net7')


def test_draw_detections_marks_boxes_and_points():
    img = np.zeros((50, 60, 3), dtype=np.uint8)
    draw_detections(img, np.array([[10, 10, 40, 40, 0.9]]), np.array([[[20, 20]] * 5], dtype=np.float32))
    assert img[10, 25].tolist() == [0, 0, 255] and img[20, 20].any() and not img[45, 55].any()


def _constant_head_checkpoint(folder, biases_by_stride):
    """A tiny checkpoint whose outputs are constant maps: per stride, one 1x1 convolution (zero
    weights, the given bias) on the input average-pooled by the stride, in the given order."""
    data = mx.sym.Variable('data')
    outputs, params = [], {}
    for stride, biases in biases_by_stride.items():
        pooled = mx.sym.Pooling(data, kernel=(stride, stride), stride=(stride, stride), pool_type='avg')
        for i, bias in enumerate(biases):
            name = 'head_s%d_%d' % (stride, i)
            outputs.append(mx.sym.Convolution(pooled, num_filter=len(bias), kernel=(1, 1), name=name))
            params['arg:%s_weight' % name] = mx.nd.zeros((len(bias), 3, 1, 1))
            params['arg:%s_bias' % name] = mx.nd.array(bias)
    prefix = str(folder / 'constant')
    mx.sym.Group(outputs).save(prefix + '-symbol.json')
    mx.nd.save(prefix + '-0000.params', params)
    return prefix


def test_cascade_outputs_replace_scores_and_refine_boxes(tmp_path):
    # per stride (2 anchors): scores, boxes, landmarks, cascade scores, cascade boxes
    heads = [[0, 0, 0.1, 0.1], [0.1, 0, 0, 0] * 2, [0.0] * 20, [0, 0, 0.9, 0.9], [0, 0.2, 0, 0] * 2]
    prefix = _constant_head_checkpoint(tmp_path, {32: heads, 16: heads, 8: heads})
    detector = RetinaFace(prefix, 0, ctx_id=-1, nms=0)
    assert detector.cascade and detector.use_landmarks
    faces, landmarks = detector.detect(np.zeros((64, 64, 3), dtype=np.uint8), threshold=0.5)
    assert len(faces) == (2 * 2 + 4 * 4 + 8 * 8) * 2 and np.allclose(faces[:, 4], 0.9)
    expected = []
    for stride, base in zip((32, 16, 8), detector._anchors_fpn.values()):
        for y in range(64 // stride):
            for x in range(64 // stride):
                for x1, y1, x2, y2 in base:
                    x1, x2, y1, y2 = x1 + x * stride, x2 + x * stride, y1 + y * stride, y2 + y * stride
                    dx, dy = 0.1 * (x2 - x1 + 1), 0.2 * (y2 - y1 + 1)  # stage 1 moves x, stage 2 y
                    expected.append([min(max(v, 0), 63) for v in (x1 + dx, y1 + dy, x2 + dx, y2 + dy)])
    expected = np.array(sorted(map(tuple, expected)))
    np.testing.assert_allclose(np.array(sorted(map(tuple, faces[:, :4].tolist()))), expected, atol=1e-3)


def test_decay4_scales_stride_4_scores_before_the_threshold(tmp_path):
    heads = [[0, 0, 0.9, 0.9], [0.0] * 8, [0.0] * 20]
    prefix = _constant_head_checkpoint(tmp_path, {32: heads, 16: heads, 8: heads, 4: heads})
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    faces, _ = RetinaFace(prefix, 0, ctx_id=-1, network='net4', nms=-1).detect(image, threshold=0.5)
    assert set(faces[:, 5]) == {32.0, 16.0, 8.0} and np.allclose(faces[:, 4], 0.9)
    faces, _ = RetinaFace(prefix, 0, ctx_id=-1, network='net4', nms=-1).detect(image, threshold=0.4)
    assert np.allclose(faces[faces[:, 5] == 4, 4], 0.45) and (faces[:, 5] == 4).sum() == 16 * 16 * 2


@pytest.mark.parametrize('network, bgr_means, bgr_stds', [
    ('ssh', (103.939, 116.779, 123.68), (1.0, 1.0, 1.0)),
    ('x3', (103.52, 116.28, 123.675), (57.375, 57.12, 58.395)),
])
def test_pixel_normalisation_of_presets(tmp_path, rng, network, bgr_means, bgr_stds):
    heads = [[0, 0, 0.9, 0.9], [0.0] * 8, [0.0] * 20]
    prefix = _constant_head_checkpoint(tmp_path, {32: heads, 16: heads, 8: heads})
    img = rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)
    tensor, size = RetinaFace(prefix, 0, ctx_id=-1, network=network, nocrop=True).preprocess(img)
    assert tensor.shape == (1, 3, 64, 96) and size == (40, 70)
    for channel in range(3):  # RGB planes of BGR pixels, padding black before normalisation
        bgr = 2 - channel
        plane = np.zeros((64, 96))
        plane[:40, :70] = img[:, :, bgr]
        np.testing.assert_allclose(tensor[0, channel], (plane - bgr_means[bgr]) / bgr_stds[bgr], rtol=1e-6, atol=1e-4)
