"""Synthetic training images: grey square faces with a coloured mark on each landmark."""
import cv2
import numpy as np

from rcnn.dataset.imdb import flip_boxes, flip_landmarks

# BGR colour of each landmark: left eye, right eye, nose, left mouth corner, right mouth corner
POINT_COLOURS = np.array([(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255)], np.uint8)
# landmark positions relative to the face box
POINT_LAYOUT = np.array([(0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75)])
FACE_GREY = 200


def synthetic_image(path, width=480, height=400, faces=((40, 50, 90), (300, 60, 70), (150, 220, 120), (380, 300, 64))):
    """Grey faces (x, y, side) with a coloured 7x7 square on each landmark; returns the roidb entry."""
    im = np.full((height, width, 3), 60, np.uint8)
    boxes, landmarks = [], []
    for x, y, side in faces:
        im[y:y + side, x:x + side] = FACE_GREY
        points = np.round(np.array([x, y]) + POINT_LAYOUT * side)
        for (px, py), colour in zip(points.astype(int), POINT_COLOURS):
            im[py - 3:py + 4, px - 3:px + 4] = colour
        boxes.append([x, y, x + side, y + side])
        landmarks.append(np.concatenate([points, np.ones((5, 1))], 1))
    cv2.imwrite(str(path), im)
    n = len(faces)
    return {'image': str(path), 'height': height, 'width': width, 'flipped': False,
            'boxes': np.array(boxes, np.float32), 'landmarks': np.array(landmarks, np.float32),
            'gt_classes': np.ones(n, np.int32), 'blur': np.zeros(n, np.float32)}


def flipped_entry(roi):
    entry = dict(roi, flipped=True)
    entry['boxes'] = flip_boxes(roi['boxes'], roi['width'])
    entry['landmarks'] = flip_landmarks(roi['landmarks'], roi['width'])
    return entry
