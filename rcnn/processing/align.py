"""Aligned face crops: warp a face onto the five-point template of ArcFace-style recognition models.

    crop = align(img, landmarks[i])            # (112, 112, 3), eyes, nose and mouth on the template

The template is the one ArcFace (insightface) models are trained on, for a 112x112 crop, in pixels
(x, y), in the detector's landmark order (:data:`rcnn.processing.landmarks.LANDMARK_NAMES`: left
and right are the image's): left eye (38.2946, 51.6963), right eye (73.5318, 51.5014), nose tip
(56.0252, 71.7366), left mouth corner (41.5493, 92.3655), right mouth corner (70.7299, 92.2041).
Other crop sizes scale it as insightface does: a multiple of 112 scales the template by size / 112;
a multiple of 128 scales it by size / 128 and shifts it right by 8 * size / 128 pixels (the 112
template centred in a 128-wide crop). Other sizes are refused.

The warp is the similarity transform (rotation, uniform scale, translation; no reflection) that
maps the five landmarks onto the template with the least squared error (Umeyama, 1991).
"""
import cv2
import numpy as np

ARCFACE_TEMPLATE_112 = np.array([[38.2946, 51.6963],
                                 [73.5318, 51.5014],
                                 [56.0252, 71.7366],
                                 [41.5493, 92.3655],
                                 [70.7299, 92.2041]], dtype=np.float64)


def template(size=112):
    """(5, 2) float64 template points (x, y) in pixels of a ``size`` x ``size`` crop.

    :raises ValueError: unless ``size`` is a positive multiple of 112 or of 128
    """
    size = int(size)
    if size > 0 and size % 112 == 0:
        return ARCFACE_TEMPLATE_112 * (size / 112.0)
    if size > 0 and size % 128 == 0:
        ratio = size / 128.0
        return ARCFACE_TEMPLATE_112 * ratio + [8.0 * ratio, 0.0]
    raise ValueError('aligned crop size must be a multiple of 112 or of 128 (the ArcFace template '
                     'sizes), got %r' % size)


def similarity_transform(src, dst):
    """The 2x3 similarity transform (no reflection) mapping ``src`` onto ``dst`` by least squares.

    :param src: (N, 2) points, N >= 2, not all equal
    :param dst: (N, 2) target points
    :return: (2, 3) float64 matrix M with ``dst ~ M[:, :2] @ p + M[:, 2]`` for each point p of src
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError('expected two (N, 2) point sets with N >= 2, got %s and %s'
                         % (src.shape, dst.shape))
    if not (np.all(np.isfinite(src)) and np.all(np.isfinite(dst))):
        raise ValueError('landmarks must be finite numbers')
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_centred, dst_centred = src - src_mean, dst - dst_mean
    src_variance = np.mean(np.sum(src_centred ** 2, axis=1))
    if src_variance == 0:
        raise ValueError('the landmarks are all the same point: no transform fits them')
    covariance = dst_centred.T @ src_centred / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    signs = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # the best fit would mirror: take the best rotation
        signs[1] = -1.0
    rotation = u @ np.diag(signs) @ vt
    scale = np.sum(singular * signs) / src_variance
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def align(img, landmarks, size=112, border_value=0):
    """One face warped onto the ArcFace template.

    :param img: (H, W, 3) (or (H, W)) image, any dtype cv2.warpAffine takes
    :param landmarks: (5, 2) (x, y) pixels of ``img`` in the detector's order
    :param size: side of the square crop: a multiple of 112 or 128 (see :func:`template`)
    :param border_value: fill where the crop leaves the image
    :return: (size, size, 3) crop of ``img``'s dtype (bilinear)
    """
    landmarks = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if landmarks.shape != (5, 2):
        raise ValueError('expected five (x, y) landmarks, got %d points' % len(landmarks))
    matrix = similarity_transform(landmarks, template(size))
    return cv2.warpAffine(img, matrix, (int(size), int(size)), flags=cv2.INTER_LINEAR,
                          borderValue=border_value)
