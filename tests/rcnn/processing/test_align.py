"""Face alignment: the warp lands known landmarks on the ArcFace template, straightens a rotated
face, and is the least-squares similarity (checked against a general-purpose optimiser)."""
import cv2
import numpy as np
import pytest
from scipy.optimize import least_squares

from rcnn.processing.align import ARCFACE_TEMPLATE_112, align, similarity_transform, template


def similarity(scale, angle_deg, tx, ty):
    """2x3 matrix of a rotation by angle (counter-clockwise in x-right, y-down pixels), scale, shift."""
    angle = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(angle), -scale * np.sin(angle), tx],
                     [scale * np.sin(angle), scale * np.cos(angle), ty]])


def apply(matrix, points):
    return points @ matrix[:, :2].T + matrix[:, 2]


def gaussian_spots(height, width, points, sigma):
    """(H, W, 3) uint8 image: a bright Gaussian spot centred exactly on each (x, y) point."""
    y, x = np.mgrid[:height, :width].astype(np.float64)
    img = np.zeros((height, width))
    for px, py in points:
        img += np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * sigma ** 2))
    return np.repeat((255 * np.clip(img, 0, 1)).astype(np.uint8)[:, :, None], 3, axis=2)


def spot_centroids(img, near, radius, dark=False):
    """Intensity-weighted centroid (x, y) of the pixels within ``radius`` of each point of ``near``."""
    grey = img[:, :, 0].astype(np.float64)
    weight = (255.0 - grey) if dark else grey
    y, x = np.mgrid[:img.shape[0], :img.shape[1]]
    centroids = []
    for px, py in near:
        window = ((x - px) ** 2 + (y - py) ** 2 <= radius ** 2) * weight
        centroids.append(((window * x).sum() / window.sum(), (window * y).sum() / window.sum()))
    return np.array(centroids)


@pytest.mark.parametrize('size', [112, 224, 128])
def test_known_landmarks_land_on_the_template(size):
    face_scale = 2.3 * 112.0 / size
    placement = similarity(face_scale * size / 112.0, 30.0, 210.0, 120.0)
    points = apply(placement, template(size) / (size / 112.0))
    img = gaussian_spots(420, 520, points, sigma=1.5 * face_scale * size / 112.0)
    crop = align(img, points, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    found = spot_centroids(crop, template(size), radius=7 * size / 112.0)
    assert np.abs(found - template(size)).max() < 0.5


def synthetic_face(height, width, landmarks):
    """A light face disc with dark round eyes, a dark nose dot and a mouth line on grey."""
    img = np.full((height, width, 3), 90, np.uint8)
    eye_distance = np.linalg.norm(landmarks[1] - landmarks[0])
    centre = landmarks.mean(axis=0)
    cv2.circle(img, tuple(int(v) for v in centre), int(1.4 * eye_distance), (220, 220, 220), -1)
    for x, y in landmarks[:2]:
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), int(0.15 * eye_distance * 16),
                   (20, 20, 20), -1, cv2.LINE_AA, shift=4)
    cv2.circle(img, tuple(int(round(v)) for v in landmarks[2]), 3, (60, 60, 60), -1)
    cv2.line(img, tuple(int(round(v)) for v in landmarks[3]), tuple(int(round(v)) for v in landmarks[4]),
             (60, 60, 60), 3)
    return img


def test_a_rotated_face_is_straightened():
    upright_points = ARCFACE_TEMPLATE_112 * 2.5 + [160.0, 120.0]
    upright = synthetic_face(480, 600, upright_points)
    angle = 35.0
    rotation = cv2.getRotationMatrix2D((300.0, 240.0), angle, 1.0)  # counter-clockwise on screen
    rotated = cv2.warpAffine(upright, rotation, (600, 480), flags=cv2.INTER_LINEAR,
                             borderValue=(90, 90, 90))
    rotated_points = apply(rotation, upright_points)
    eye_slope = np.subtract(*rotated_points[[1, 0]])
    assert abs(np.degrees(np.arctan2(eye_slope[1], eye_slope[0])) + angle) < 1  # really tilted

    matrix = similarity_transform(rotated_points, template(112))
    undone = np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0]))
    assert abs(undone - angle) < 0.05  # the warp turns the face back by the same angle

    straight = align(rotated, rotated_points, 112)
    eyes = spot_centroids(straight, ARCFACE_TEMPLATE_112[:2], radius=6, dark=True)
    assert np.abs(eyes - ARCFACE_TEMPLATE_112[:2]).max() < 0.5
    reference = align(upright, upright_points, 112)
    assert np.mean(np.abs(straight.astype(float) - reference.astype(float))) < 4.0


def test_least_squares_fit_matches_an_optimiser(rng):
    src = rng.uniform(0, 300, (5, 2))
    dst = apply(similarity(0.6, -20.0, 30.0, -10.0), src) + rng.normal(0, 3.0, (5, 2))

    def residuals(params):
        scale, angle, tx, ty = params
        return (apply(similarity(scale, np.degrees(angle), tx, ty), src) - dst).ravel()

    fit = least_squares(residuals, x0=[1.0, 0.0, 0.0, 0.0], xtol=1e-14, ftol=1e-14, gtol=1e-14)
    expected = similarity(fit.x[0], np.degrees(fit.x[1]), fit.x[2], fit.x[3])
    np.testing.assert_allclose(similarity_transform(src, dst), expected, atol=1e-6)


def test_mirrored_landmarks_give_a_rotation_not_a_reflection():
    mirrored = ARCFACE_TEMPLATE_112 * [-1.0, 1.0] + [200.0, 0.0]  # left and right swapped
    matrix = similarity_transform(mirrored, ARCFACE_TEMPLATE_112)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_template_sizes_follow_insightface():
    np.testing.assert_allclose(template(224), ARCFACE_TEMPLATE_112 * 2)
    np.testing.assert_allclose(template(128), ARCFACE_TEMPLATE_112 + [8.0, 0.0])
    np.testing.assert_allclose(template(256), ARCFACE_TEMPLATE_112 * 2 + [16.0, 0.0])
    for size in (0, 96, 100):
        with pytest.raises(ValueError, match='multiple of 112 or of 128'):
            template(size)


@pytest.mark.parametrize('landmarks, message', [
    (np.zeros((4, 2)), 'five'),
    (np.full((5, 2), 3.0), 'same point'),
    (np.full((5, 2), np.nan), 'finite'),
])
def test_bad_landmarks_are_refused(landmarks, message):
    with pytest.raises(ValueError, match=message):
        align(np.zeros((50, 50, 3), np.uint8), landmarks)
