"""Drawing detections on an image, as the original demo (test.py) draws them."""
import cv2
import numpy as np

_LANDMARK_COLOURS = [(0, 255, 0), (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 0, 0)]


def draw_detections(img, faces, landmarks=None, box_colour=(0, 0, 255), thickness=2):
    """Draw boxes and five landmarks on a BGR image, in place (as the original demo does).

    :param img: (H, W, 3) BGR uint8 image
    :param faces: (N, >=4) [x1, y1, x2, y2, ...] pixels
    :param landmarks: (N, 5, 2) points or None; the eye and mouth corner on the image's left are
        green, those on its right blue, the nose red
    :return: ``img``
    """
    for i, face in enumerate(np.asarray(faces)):
        x1, y1, x2, y2 = (int(v) for v in face[:4])
        cv2.rectangle(img, (x1, y1), (x2, y2), box_colour, thickness)
        if landmarks is not None:
            for (x, y), colour in zip(np.asarray(landmarks[i]).astype(int), _LANDMARK_COLOURS):
                cv2.circle(img, (int(x), int(y)), 1, colour, thickness)
    return img

