"""A generated face-like data set with exact boxes and landmarks, in the RetinaFace layout.

Each image holds a few "faces": a skin-coloured ellipse with two dark eyes, a nose and a mouth
whose corners are the five landmarks (left eye, right eye, nose, left and right mouth corner, as
seen in the image). The boxes are the ellipses' bounding boxes. It needs no download, so the
training tests and ``make demo`` can train and evaluate end to end on a CPU in minutes.

Written as ``<root>/<split>/images/synthetic/<split>_<k>.jpg`` plus ``<root>/<split>/label.txt``
in the format of the RetinaFace annotation release: ``# <relative path>``, then per face
``x y w h`` (pixels; w = x2 - x1) followed, on the train split, by five ``lx ly 0.0`` triples
(flag 0.0: visible) and a score.
"""
import os

import cv2
import numpy as np

# Landmarks relative to the face box: (x, y) as fractions of (width, height).
LANDMARK_LAYOUT = np.array([[0.32, 0.40], [0.68, 0.40], [0.50, 0.58], [0.36, 0.76], [0.64, 0.76]])


def _background(rng, height, width):
    """Smooth coloured noise, (height, width, 3) uint8 BGR."""
    small = rng.integers(0, 256, (max(height // 32, 2), max(width // 32, 2), 3)).astype(np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(image.astype(np.int16) + rng.integers(-12, 13, image.shape), 0, 255).astype(np.uint8)


def _place_boxes(rng, height, width, count, min_size, max_size):
    """Up to ``count`` non-overlapping (x1, y1, w, h) face boxes inside the image."""
    boxes = []
    for _ in range(count * 20):
        if len(boxes) == count:
            break
        w = int(rng.integers(min_size, max_size + 1))
        h = int(round(w * rng.uniform(1.1, 1.3)))
        if w >= width or h >= height:
            continue
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        if all(x + w + 4 < bx or bx + bw + 4 < x or y + h + 4 < by or by + bh + 4 < y
               for bx, by, bw, bh in boxes):
            boxes.append((x, y, w, h))
    return boxes


def _draw_face(image, rng, box):
    """Draw one face into ``image``; return its (5, 2) landmarks in pixels."""
    x, y, w, h = box
    skin = tuple(int(c) for c in rng.integers((60, 110, 150), (130, 180, 240)))
    centre = (int(round(x + (w - 1) / 2)), int(round(y + (h - 1) / 2)))
    cv2.ellipse(image, centre, (int((w - 1) / 2), int((h - 1) / 2)), 0, 0, 360, skin, -1, cv2.LINE_AA)
    points = np.array([x, y]) + LANDMARK_LAYOUT * np.array([w, h])
    eye_radius = max(int(w * 0.07), 1)
    dark = (30, 30, 40)
    for px, py in points[:2]:
        cv2.circle(image, (int(round(px)), int(round(py))), eye_radius, dark, -1, cv2.LINE_AA)
    nose = points[2]
    nose_tri = np.array([[nose[0], nose[1] - 0.12 * h], [nose[0] - 0.06 * w, nose[1]], [nose[0] + 0.06 * w, nose[1]]])
    cv2.fillConvexPoly(image, np.round(nose_tri).astype(np.int32), (50, 70, 120), cv2.LINE_AA)
    mouth = np.round(np.array([points[3], [points[2][0], points[3][1] + 0.06 * h], points[4]])).astype(np.int32)
    cv2.polylines(image, [mouth], False, (40, 40, 150), max(int(w * 0.04), 1), cv2.LINE_AA)
    return points


def make_image(rng, height=480, width=640, max_faces=4, min_size=40, max_size=160):
    """One synthetic image.

    :return: (image (H, W, 3) uint8 BGR, boxes (N, 4) [x, y, w, h] pixels, landmarks (N, 5, 2))
    """
    image = _background(rng, height, width)
    boxes = _place_boxes(rng, height, width, int(rng.integers(1, max_faces + 1)), min_size, max_size)
    landmarks = [_draw_face(image, rng, box) for box in boxes]
    return image, np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(landmarks).reshape(-1, 5, 2)


def write_split(root, split, num_images, seed=0, with_landmarks=True, **image_kwargs):
    """Write ``num_images`` images and their label.txt under ``<root>/<split>``.

    :return: path of the label.txt written
    """
    rng = np.random.default_rng(seed)
    image_dir = os.path.join(root, split, 'images', 'synthetic')
    os.makedirs(image_dir, exist_ok=True)
    lines = []
    for k in range(num_images):
        image, boxes, landmarks = make_image(rng, **image_kwargs)
        relative = 'synthetic/%s_%04d.jpg' % (split, k)
        cv2.imwrite(os.path.join(root, split, 'images', relative), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        lines.append('# ' + relative)
        for box, points in zip(boxes, landmarks):
            fields = ['%g' % v for v in box]
            if with_landmarks:
                fields += ['%.3f %.3f 0.0' % (px, py) for px, py in points] + ['1.0']
            lines.append(' '.join(fields))
    label_path = os.path.join(root, split, 'label.txt')
    with open(label_path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return label_path
