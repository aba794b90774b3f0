"""Generated faces, for demos and tests: a data set in the RetinaFace annotation format, and
images whose landmarks carry colour marks.

Each image of :func:`write_split` shows a few drawn faces (a skin-coloured ellipse with dark eyes,
a nose and a mouth whose corners are the landmarks) on a smooth random background; it writes
``<data_path>/<split>/images/synthetic/NNNNN.jpg`` and ``<data_path>/<split>/label.txt`` in the
train format (``x y w h`` + five ``x y 0.0`` landmarks + a blur score), which
:class:`rcnn.dataset.retinaface` reads like the real annotations.

:func:`write_marked_image` writes one image of grey square faces with a square of a distinct
colour on each landmark (:data:`LANDMARK_COLOURS_BGR`) and returns its roidb entry directly:
the tests follow the marks through crops and flips to check that the landmarks move with the
pixels.
"""
import os

import cv2
import numpy as np

from rcnn.utils import safe_write
from rcnn.utils.image_file import write_image_file

# Landmark positions relative to the face box (left eye, right eye, nose, left / right mouth corner).
LANDMARK_LAYOUT = np.array([(0.32, 0.38), (0.68, 0.38), (0.5, 0.56), (0.36, 0.74), (0.64, 0.74)])
# Colour of each landmark's mark in write_marked_image, in landmark order.
LANDMARK_COLOURS_BGR = np.array([(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255)], np.uint8)
MARK_RADIUS = 3  # a landmark's mark is a square of 2 * MARK_RADIUS + 1 pixels
MARKED_FACE_GREY = 200  # grey level of the faces of write_marked_image
MARKED_BACKGROUND_GREY = 60  # and of their background
SKIN_TONES_BGR = np.array([(180, 200, 240), (140, 170, 220), (100, 140, 190), (70, 100, 150), (50, 70, 110)])


def _background(rng, height, width):
    """Smooth random colour field: coarse noise upsampled to the image size."""
    coarse = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _place_faces(rng, height, width, max_faces, min_side, max_side):
    """Non-overlapping square face boxes (x, y, side) inside the image."""
    boxes = []
    for _ in range(max_faces * 10):
        if len(boxes) == max_faces:
            break
        side = int(np.exp(rng.uniform(np.log(min_side), np.log(min(max_side, height, width)))))
        x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        if all(x + side <= bx or bx + bs <= x or y + side <= by or by + bs <= y for bx, by, bs in boxes):
            boxes.append((x, y, side))
    return boxes


def draw_face(im, x, y, side, rng):
    """Draw one face in the box (x, y, side); return its (5, 2) landmarks in pixels."""
    jitter = rng.uniform(-0.03, 0.03, LANDMARK_LAYOUT.shape)
    points = np.array([x, y]) + (LANDMARK_LAYOUT + jitter) * side
    centre = (int(round(x + side / 2)), int(round(y + side / 2)))
    axes = (int(round(side * 0.45)), int(round(side * 0.5)))
    skin = tuple(int(c) for c in SKIN_TONES_BGR[rng.integers(len(SKIN_TONES_BGR))])
    cv2.ellipse(im, centre, axes, 0, 0, 360, skin, -1, cv2.LINE_AA)
    dark = (30, 30, 40)
    eye_radius = max(1, int(round(side * 0.06)))
    for px, py in points[:2]:
        cv2.circle(im, (int(round(px)), int(round(py))), eye_radius, dark, -1, cv2.LINE_AA)
    nose = max(1, int(round(side * 0.04)))
    cv2.circle(im, (int(round(points[2, 0])), int(round(points[2, 1]))), nose, (60, 80, 120), -1, cv2.LINE_AA)
    mouth = [(int(round(px)), int(round(py))) for px, py in points[3:]]
    cv2.line(im, mouth[0], mouth[1], (40, 40, 140), max(1, int(round(side * 0.04))), cv2.LINE_AA)
    return points


def make_image(rng, height=480, width=640, max_faces=4, min_side=24, max_side=220):
    """(BGR image, list of (x, y, side), list of (5, 2) landmarks) of one generated image."""
    im = _background(rng, height, width)
    boxes = _place_faces(rng, height, width, max_faces, min_side, max_side)
    landmarks = [draw_face(im, x, y, side, rng) for x, y, side in boxes]
    return im, boxes, landmarks


def write_split(data_path, split, num_images, seed=0, **image_kwargs):
    """Write a generated split in the RetinaFace layout.

    :param data_path: data set folder (``--dataset-path``)
    :param split: split name (``train``, ``val``, ...)
    :param num_images: images to generate
    :param seed: random seed (the same seed writes the same files)
    :param image_kwargs: passed to :func:`make_image` (height, width, max_faces, min_side, max_side)
    :return: path of the label file written
    """
    rng = np.random.default_rng(seed)
    image_dir = os.path.join(data_path, split, 'images', 'synthetic')
    os.makedirs(image_dir, exist_ok=True)
    lines = []
    for i in range(num_images):
        im, boxes, landmarks = make_image(rng, **image_kwargs)
        name = 'synthetic/%05d.jpg' % i
        write_image_file(os.path.join(data_path, split, 'images', name), im, (cv2.IMWRITE_JPEG_QUALITY, 95))
        lines.append('# %s' % name)
        for (x, y, side), points in zip(boxes, landmarks):
            marks = ' '.join('%.3f %.3f 0.0' % (px, py) for px, py in points)
            lines.append('%d %d %d %d %s %.2f' % (x, y, side, side, marks, rng.uniform(0.2, 0.9)))
    label_file = os.path.join(data_path, split, 'label.txt')
    safe_write.write_bytes(label_file, '\n'.join(lines) + '\n')
    return label_file


def write_marked_image(path, width=480, height=400,
                       faces=((40, 50, 90), (300, 60, 70), (150, 220, 120), (380, 300, 64))):
    """Write an image of grey square faces with colour-marked landmarks; return its roidb entry.

    :param path: file to write (PNG keeps the colours exact)
    :param faces: (x, y, side) of each face in pixels; the default has four faces of distinct sizes
    :return: dict as :mod:`rcnn.dataset.retinaface` builds it: 'image', 'height', 'width',
        'flipped' (False), 'boxes' (N, 4) float32 [x1, y1, x1 + side, y1 + side], 'landmarks'
        (N, 5, 3) float32 (x, y, 1) at :data:`LANDMARK_LAYOUT` of each face (rounded to pixels),
        'gt_classes' (N,) int32 ones, 'blur' (N,) float32 zeros
    """
    im = np.full((height, width, 3), MARKED_BACKGROUND_GREY, np.uint8)
    boxes, landmarks = [], []
    r = MARK_RADIUS
    for x, y, side in faces:
        im[y:y + side, x:x + side] = MARKED_FACE_GREY
        points = np.round(np.array([x, y]) + LANDMARK_LAYOUT * side)
        for (px, py), colour in zip(points.astype(int), LANDMARK_COLOURS_BGR):
            im[py - r:py + r + 1, px - r:px + r + 1] = colour
        boxes.append([x, y, x + side, y + side])
        landmarks.append(np.concatenate([points, np.ones((5, 1))], 1))
    write_image_file(str(path), im)
    n = len(faces)
    return {'image': str(path), 'height': height, 'width': width, 'flipped': False,
            'boxes': np.array(boxes, np.float32).reshape(-1, 4),
            'landmarks': np.array(landmarks, np.float32).reshape(-1, 5, 3),
            'gt_classes': np.ones(n, np.int32), 'blur': np.zeros(n, np.float32)}
