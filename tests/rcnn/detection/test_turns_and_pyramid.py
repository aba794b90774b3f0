"""detect(..., rotations=, pyramid=): turned photos and close-ups (issue 19), on the released mnet.25.

References are independent of the code under test: turned copies are made with numpy's rot90, the
expected faces are the default detections of the upright photo mapped by hand-written formulas,
close-up faces are where the cut put them.
"""
import cv2
import numpy as np
import pytest

from rcnn.detection import audit, orientation, turns
from rcnn.detection.scales import pyramid_scales
from rcnn.errors import DetectorError
from tests.shared_data import shared_path, widerface_val_images


def lying(img, angle):
    """The upright photo lying turned ``angle`` degrees COUNTER-clockwise (numpy: k quarter
    turns counter-clockwise), so that rotations=(angle,) makes it upright again."""
    return np.ascontiguousarray(np.rot90(img, k=angle // 90))


def to_lying(points, angle, upright_shape):
    """(x, y) points of the upright photo in the photo lying turned ``angle`` counter-clockwise."""
    height, width = upright_shape[:2]
    x, y = points[..., 0], points[..., 1]
    mapped = {0: (x, y), 90: (y, width - 1 - x), 180: (width - 1 - x, height - 1 - y),
              270: (height - 1 - y, x)}[angle]
    return np.stack(mapped, axis=-1)


def boxes_to_lying(faces, angle, upright_shape):
    corners = to_lying(faces[:, :4].reshape(-1, 2, 2).astype(np.float64), angle, upright_shape)
    return np.concatenate((corners.min(axis=1), corners.max(axis=1)), axis=1)


@pytest.fixture(scope='module')
def photos():
    """Two shared photos (large faces; a meeting with faces of 10-30 px), at most 1024 px."""
    t1 = cv2.imread(shared_path('images', 'samples', 't1.jpg'))
    meeting = [path for name, path in widerface_val_images() if name.endswith('Meeting_11_26.jpg')]
    return {'t1': cv2.resize(t1, (800, 554)), 'meeting': cv2.imread(meeting[0])}


@pytest.mark.parametrize('rotations', [(45,), (0, 0), (), (90.0,), (True,), 'AUTO', 'auto,90', None, 90])
def test_bad_rotations_are_one_line_errors(mnet25_detector, rotations):
    img = np.zeros((64, 64, 3), np.uint8)
    for call in (lambda: mnet25_detector.detect(img, rotations=rotations),
                 lambda: mnet25_detector.detect_batch([img], rotations=rotations)):
        with pytest.raises(DetectorError) as error:
            call()
        message = str(error.value)
        assert message.startswith('rotations must be ') and "'auto'" in message and '\n' not in message
        assert repr(rotations) in message


@pytest.mark.parametrize('pyramid', [1, 'yes', None, 0.0])
def test_bad_pyramid_is_a_one_line_error(mnet25_detector, pyramid):
    with pytest.raises(DetectorError, match=r'^pyramid must be True or False, got %s$' % repr(pyramid)):
        mnet25_detector.detect(np.zeros((64, 64, 3), np.uint8), pyramid=pyramid)


def test_unturn_points_is_the_inverse_of_numpy_turns():
    img = np.zeros((5, 7), np.uint8)
    img[1, 5] = 255  # (x, y) = (5, 1)
    for angle in turns.QUARTER_TURNS:
        turned = turns.turn_image(img, angle)
        np.testing.assert_array_equal(turned, np.rot90(img, k=-angle // 90))  # clockwise
        y, x = np.argwhere(turned == 255)[0]
        np.testing.assert_array_equal(turns.unturn_points(np.array([[x, y]], float), angle, img.shape), [[5, 1]])


def test_a_named_turn_gives_the_upright_detections_in_the_input_pixels(mnet25_detector, photos):
    img = photos['t1']
    faces, points = mnet25_detector.detect(img, 0.5)
    for angle in (90, 180, 270):
        got, got_points = mnet25_detector.detect(lying(img, angle), 0.5, rotations=(angle,))
        assert len(got) == len(faces)
        np.testing.assert_allclose(got[:, :4], boxes_to_lying(faces, angle, img.shape), atol=1e-3)
        np.testing.assert_allclose(got[:, 4], faces[:, 4], atol=1e-6)
        np.testing.assert_allclose(got_points, to_lying(points, angle, img.shape), atol=1e-3)


@pytest.mark.parametrize('name', ['t1', 'meeting'])
def test_auto_finds_the_upright_faces_of_turned_photos(mnet25_detector, photos, name):
    """>= 95% of the upright faces at each angle, landmarks within 3 px (median) of the upright
    ones mapped. 't1': the vote of confident faces decides; 'meeting': the turned photo shows
    no confident face, the whole-image probes decide."""
    img = photos[name]
    faces, points = mnet25_detector.detect(img, 0.5)
    assert len(faces) >= 6
    for angle in (0, 90, 180, 270):
        got, got_points = mnet25_detector.detect(lying(img, angle), 0.5, rotations='auto')
        found = audit.match(boxes_to_lying(faces, angle, img.shape), got)
        assert np.mean(found >= 0) >= 0.95, (angle, found)
        errors = np.linalg.norm(got_points[found[found >= 0]] - to_lying(points, angle, img.shape)[found >= 0],
                                axis=2)
        assert np.median(errors) <= 3.0, angle
        default, _ = mnet25_detector.detect(lying(img, angle), 0.5)
        if angle:  # the default call misses most of them: the test can fail
            assert np.mean(audit.match(boxes_to_lying(faces, angle, img.shape), default) >= 0) < 0.8


def test_auto_on_an_upright_photo_runs_one_small_extra_forward(mnet25_detector, photos, monkeypatch):
    shapes = []
    forward = type(mnet25_detector).forward
    monkeypatch.setattr(type(mnet25_detector), 'forward', lambda self, t: shapes.append(t.shape) or forward(self, t))
    faces, points = mnet25_detector.detect(photos['t1'], 0.5, rotations='auto')
    assert shapes == [(1, 3, 554, 800), (1, 3, 4 * orientation.TILE, orientation.VOTE_FACES * orientation.TILE)]
    monkeypatch.undo()
    expected = mnet25_detector.detect(photos['t1'], 0.5)
    np.testing.assert_array_equal(faces, expected[0])
    np.testing.assert_array_equal(points, expected[1])


def test_pyramid_scales():
    assert pyramid_scales((683, 1024, 3), [1.0]) == [0.25]
    assert pyramid_scales((1600, 2400, 3), [1.0]) == [0.25, 0.0625]
    assert pyramid_scales((1600, 2400, 3), [0.5, 2.0]) == [0.125]
    assert pyramid_scales((200, 320, 3), [1.0]) == []


# The six faces of t1.jpg (1280x886), as the default detect() finds them (rounded).
T1_FACES = ([901, 59, 1007, 202], [743, 341, 844, 474], [462, 266, 573, 416], [60, 263, 170, 397],
            [1132, 276, 1228, 400], [273, 152, 368, 267])


def closeups(frame):
    """(image, face box) close-ups of t1's six faces at 55, 75 and 95% of a frame x frame cut."""
    img = cv2.imread(shared_path('images', 'samples', 't1.jpg'))
    return [audit.closeup(img, box, fraction, frame) for box in T1_FACES for fraction in (0.55, 0.75, 0.95)]


def closeup_recall(detector, cases, **options):
    return np.mean([audit.match(box[None], detector.detect(image, 0.5, **options)[0])[0] >= 0
                    for image, box in cases])


def test_closeup_geometry():
    for image, box in closeups(800)[:3]:
        assert image.shape == (800, 800, 3)
        side = max(box[2] - box[0], box[3] - box[1]) + 1
        assert 0.5 < side / 800 < 1.0 and abs((box[0] + box[2]) / 2 - 399.5) < 1


def test_pyramid_finds_closeups_in_800_px_frames(mnet25_detector):
    """(The default finds these too on t1; it misses them in 2400 px frames, the next test.)"""
    assert closeup_recall(mnet25_detector, closeups(800), pyramid=True) >= 0.95


@pytest.mark.slow
def test_pyramid_finds_closeups_in_2400_px_frames(mnet25_detector):
    cases = closeups(2400)
    assert closeup_recall(mnet25_detector, cases, pyramid=True) >= 0.95
    assert closeup_recall(mnet25_detector, cases) < 0.5  # the default misses them: the test can fail


def test_detect_batch_takes_the_new_options(mnet25_detector, photos):
    images = [photos['t1'], lying(photos['t1'], 90), photos['meeting']]
    for options in ({'rotations': (0, 90), 'pyramid': True}, {'rotations': 'auto'}):
        batched = mnet25_detector.detect_batch(images, 0.5, batch_size=2, **options)
        for image, (faces, points) in zip(images, batched):
            expected, expected_points = mnet25_detector.detect(image, 0.5, **options)
            np.testing.assert_allclose(faces, expected, atol=1e-3)
            np.testing.assert_allclose(points, expected_points, atol=1e-3)


def test_pyramid_passes_keep_only_the_faces_too_large_for_the_requested_ones():
    from rcnn.detection.passes import PYRAMID_MIN_SIDE, Pass, drop_small, plan_passes
    passes = plan_passes((683, 1024, 3), [1.0], do_flip=True, turns=(0, 90), pyramid=True)
    assert passes == [Pass(turn, scale, flip, None, side) for turn in (0, 90)
                      for scale, side in ((1.0, 0), (0.25, PYRAMID_MIN_SIDE)) for flip in (False, True)]
    candidates = {'boxes': np.array([[0, 0, 127, 10], [0, 0, 126, 10]], float), 'scores': np.array([0.9, 0.8])}
    kept = drop_small(candidates, Pass(0, 0.25, False, None, 32))  # 128 and 127 px: 32 and 31.75
    np.testing.assert_array_equal(kept['scores'], [0.9])
    assert drop_small(candidates, passes[0]) is candidates


def test_letterboxed_turns_see_the_upright_photo(mnet25_detector, photos):
    """A turned pass of a lying photo is letterboxed as the upright photo is (same fit, canvas)."""
    img = photos['t1']
    (faces, points), = mnet25_detector.detect_batch([img], 0.5, letterbox=(480, 640))
    for angle in (90, 270):
        (got, got_points), = mnet25_detector.detect_batch([lying(img, angle)], 0.5, letterbox=(480, 640),
                                                          rotations=(angle,))
        assert len(got) == len(faces) > 0
        np.testing.assert_allclose(got[:, :4], boxes_to_lying(faces, angle, img.shape), atol=1e-3)
        np.testing.assert_allclose(got_points, to_lying(points, angle, img.shape), atol=1e-3)
