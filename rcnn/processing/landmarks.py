"""The five face landmarks: their order and names, stated once, and their order after a flip.

Every (N, 5, 2) or (N, 5, 3) landmark array in this project (the label.txt annotations, the roidb,
the training targets, the detector's output) lists the points in :data:`LANDMARK_NAMES` order.
"Left" and "right" are the IMAGE's left and right, as the WIDER FACE / RetinaFace annotation
names them: point 0 is the eye nearer the picture's left edge, which on a frontal face is the
subject's right eye.
"""

LANDMARK_NAMES = ('left eye', 'right eye', 'nose tip', 'left mouth corner', 'right mouth corner')

# Index of the point that lands at each position after a horizontal flip: the eyes swap, and so
# do the mouth corners; the nose stays.
FLIP_ORDER = (1, 0, 2, 4, 3)

# Values per anchor of the landmark targets and of the graph's landmark prediction conv: an (x, y)
# per point.
LANDMARK_PRED_LEN = 2 * len(LANDMARK_NAMES)
