"""detect_batch: per-image results equal detect() one by one on the real images (released mnet.25,
mixed sizes, two scales with flip), one forward per group of same-shape inputs, bounded memory,
letterbox mapping, the ONNX detector (batch dimension open or not), and option checks."""
import cv2
import numpy as np
import pytest

from rcnn.detection.passes import letterbox_scale
from rcnn.errors import DetectorError
from tests.shared_data import shared_path, widerface_val_images

TOLERANCE_PX = 1e-4


@pytest.fixture(scope='module')
def detector(mnet25_detector):
    """The session's released mnet.25 detector (tests/conftest.py)."""
    return mnet25_detector


@pytest.fixture(scope='module')
def photos():
    """The real photos of mixed sizes, plus three of them resized to one shape (so that batches of
    several inputs really happen), and one grey image."""
    paths = [path for _, path in widerface_val_images()]
    paths += [shared_path('images', 'samples', name) for name in ('t1.jpg', 't2.jpg')]
    images = [cv2.imread(path) for path in paths]
    images += [cv2.resize(img, (480, 360), interpolation=cv2.INTER_AREA) for img in images[:3]]
    images.append(cv2.cvtColor(images[-1], cv2.COLOR_BGR2GRAY))
    return images


def assert_same(expected, got, name):
    (faces, points), (batch_faces, batch_points) = expected, got
    assert batch_faces.shape == faces.shape, name
    np.testing.assert_allclose(batch_faces[:, :4], faces[:, :4], rtol=0, atol=TOLERANCE_PX, err_msg=name)
    np.testing.assert_allclose(batch_faces[:, 4], faces[:, 4], rtol=0, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(batch_points, points, rtol=0, atol=TOLERANCE_PX, err_msg=name)


class ForwardSpy:
    """Records the batch shape of every forward_batch call of a detector (instance attribute)."""

    def __init__(self, detector):
        self.shapes = []
        self._forward_batch = detector.forward_batch
        detector.forward_batch = self

    def __call__(self, tensor):
        self.shapes.append(tensor.shape)
        return self._forward_batch(tensor)


@pytest.mark.slow
def test_equals_detect_one_by_one_with_scales_and_flip(detector, photos):
    scales = [1.0, 0.5]
    expected = [detector.detect(img, 0.5, scales, do_flip=True) for img in photos]
    spy = ForwardSpy(detector)
    try:
        got = detector.detect_batch(photos, 0.5, scales, do_flip=True, batch_size=3)
    finally:
        del detector.forward_batch
    assert len(got) == len(photos)
    for index, (want, have) in enumerate(zip(expected, got)):
        assert_same(want, have, 'image %d' % index)
    assert sum(len(faces) for faces, _ in expected) > 300
    # 2 scales x 2 flips per image; the three (and the grey fourth) 480x360 images share shapes
    assert sum(shape[0] for shape in spy.shapes) == 4 * len(photos)
    assert {shape[0] for shape in spy.shapes} == {1, 3}


def test_per_image_scales_paths_and_a_generator(detector, photos, tmp_path):
    paths = []
    for index, img in enumerate(photos[:3]):
        paths.append(str(tmp_path / ('%d.png' % index)))
        cv2.imwrite(paths[-1], img)

    def scales_of(shape):
        return [640.0 / max(shape[:2])]

    got = detector.detect_batch((path for path in paths), 0.6, scales_of, batch_size=2)
    for img, have in zip(photos[:3], got):
        assert_same(detector.detect(img, 0.6, scales_of(img.shape)), have, 'scaled')


def test_memory_stays_bounded_by_the_batch_size(detector, photos):
    spy = ForwardSpy(detector)
    try:
        detector.detect_batch(photos, 0.9, [0.25], batch_size=2)
    finally:
        del detector.forward_batch
    assert {shape[0] for shape in spy.shapes} == {1, 2}
    assert sum(shape[0] for shape in spy.shapes) == len(photos)


def test_letterbox_maps_detections_back_to_the_original_pixels(detector, photos):
    img = photos[0]
    height, width = img.shape[:2]
    canvas = (height // 2, width // 2)  # same aspect: resized to exactly the canvas, no padding
    (faces, points), = detector.detect_batch([img], 0.5, letterbox=canvas)
    assert_same(detector.detect(img, 0.5, [letterbox_scale(img.shape, canvas)]), (faces, points), 'fit')


def test_letterbox_gives_one_input_shape_for_mixed_sizes(detector, photos):
    spy = ForwardSpy(detector)
    try:
        results = detector.detect_batch(photos, 0.5, batch_size=4, letterbox=(480, 640))
    finally:
        del detector.forward_batch
    assert {shape[1:] for shape in spy.shapes} == {(3, 480, 640)}
    # two full batches of 4, then the last 3 input by input (only batch 1 and 4 are ever bound)
    assert [shape[0] for shape in spy.shapes] == [4, 4, 1, 1, 1]
    for img, (faces, _) in zip(photos, results):  # boxes in the original image's pixels
        assert np.all(faces[:, 2] <= img.shape[1]) and np.all(faces[:, 3] <= img.shape[0])


@pytest.mark.parametrize('options, message', [
    ({'batch_size': 0}, 'batch_size must be an int >= 1, got 0'),
    ({'batch_size': 2.5}, 'batch_size must be an int >= 1, got 2.5'),
    ({'letterbox': (480, 0)}, 'letterbox must be (height, width) in pixels, two ints > 0, got (480, 0)'),
    ({'letterbox': 640}, 'letterbox must be (height, width) in pixels, two ints > 0, got 640'),
    ({'scales': [float('nan')]}, 'scales must be finite resize factors > 0'),
    ({'threshold': 2.0}, 'threshold must be a face score in [0, 1], got 2.0'),
])
def test_bad_options_raise_detector_error(detector, photos, options, message):
    arguments = dict(threshold=0.5, scales=[1.0], batch_size=4)
    arguments.update(options)
    with pytest.raises(DetectorError) as error:
        detector.detect_batch(photos[:1], **arguments)
    assert str(error.value).startswith(message)


def test_onnx_detector_batches_when_the_batch_dimension_is_open(detector, photos, tmp_path):
    pytest.importorskip('onnxruntime', reason='optional extra: pip install -r requirements-onnx.txt')
    from rcnn.export.onnx_batch import with_dynamic_batch
    from rcnn.export.onnx_export import export_onnx
    from retinaface_onnx import RetinaFaceONNX
    single = str(tmp_path / 'mnet.25.onnx')
    export_onnx(detector.symbol, detector.arg_params, detector.aux_params, single, dynamic=True)
    batched = str(tmp_path / 'mnet.25-batch.onnx')
    with_dynamic_batch(single, batched)
    images = photos[-4:]  # one shape: a forward of 4 per flip
    expected = [detector.detect(img, 0.5, [0.5], do_flip=True) for img in images]
    for path, calls in ((batched, 2), (single, 8)):
        onnx_detector = RetinaFaceONNX(path, spinning=False, threads=1)
        runs = []
        run = onnx_detector.session.run
        onnx_detector.session = type('Session', (), {'run': lambda self, *a: runs.append(1) or run(*a)})()
        got = onnx_detector.detect_batch(images, 0.5, [0.5], do_flip=True, batch_size=4)
        assert len(runs) == calls, path
        for want, have in zip(expected, got):
            (faces, points), (onnx_faces, onnx_points) = want, have
            np.testing.assert_allclose(onnx_faces[:, :4], faces[:, :4], atol=1e-3)
            np.testing.assert_allclose(onnx_points, points, atol=1e-3)
