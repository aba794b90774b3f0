"""``rotations='auto'``: which quarter turn makes a photo upright, found cheaply.

The measured dead ends (docs/closeups-and-rotations.md): one small pass per orientation loses
the small faces of crowds, and the landmarks of faces found on a turned photo are no signal (the
network draws them upright whatever the face's true orientation). What works is comparing like
with like on the faces the upright pass already found:

1. The upright passes run as requested. Their most confident faces (score >= :data:`CONFIDENT`,
   the :data:`VOTE_FACES` largest) are cut out, each turned 0, 90, 180 and 270 degrees, into one
   mosaic of :data:`TILE`-pixel tiles (one fixed input shape: one executor), run in one forward.
   A turn's evidence is the sum over the faces of its tile's best score; the turn with the most
   evidence wins when it leads every other by :data:`VOTE_MARGIN`. An upright photo with faces
   costs that one small forward (the vote is decisive on every shared photo).
2. Without a confident face, or without a decisive vote, the whole image is probed at each turn,
   at the smallest requested scale (its long side at most :data:`PROBE_LONG_SIDE` pixels): a turn's
   evidence is the sum of its :data:`PROBE_FACES` best scores (>= :data:`VOTE_THRESHOLD`), and the
   turn with most evidence wins (0 on a tie, and when no turn has any). Small faces of crowds
   need this resolution: they vanish in the smaller probes the issue tried.

The winning turn, when it is not 0, then runs as requested (scales, flips, pyramid; its probe is
reused as the pass it equals) and is merged with the upright passes.
"""
import cv2
import numpy as np

from rcnn.detection.turns import QUARTER_TURNS, turn_image

CONFIDENT = 0.8  # face score that counts as a face for the orientation
VOTE_FACES = 4  # faces cut out for the vote (mosaic columns)
TILE = 96  # mosaic tile side in pixels
CROP_CONTEXT = 1.5  # tile side / face side
VOTE_THRESHOLD = 0.5  # lowest face score that counts as evidence
VOTE_MARGIN = 1.0  # evidence (sum of scores: one sure face) by which the winning turn must lead
PROBE_LONG_SIDE = 1024
PROBE_FACES = 5  # best faces of a probe that count as its evidence


def voters(faces):
    """The faces that vote: score >= :data:`CONFIDENT`, the :data:`VOTE_FACES` largest.

    :param faces: (N, >=5) [x1, y1, x2, y2, score] of the upright passes
    :return: (M, >=5) rows of ``faces``
    """
    faces = np.asarray(faces)
    confident = faces[faces[:, 4] >= CONFIDENT]
    sides = np.maximum(confident[:, 2] - confident[:, 0], confident[:, 3] - confident[:, 1])
    return confident[np.argsort(-sides, kind='stable')[:VOTE_FACES]]


def vote_mosaic(img, faces):
    """The mosaic of the voters: row r holds every face turned ``QUARTER_TURNS[r]`` clockwise,
    column c face c (a square of :data:`CROP_CONTEXT` times its side around its centre, black
    outside the image); unused columns are black.

    :param img: (H, W, 3) uint8 BGR image
    :param faces: (M, >=4) boxes, M <= VOTE_FACES
    :return: (4 * TILE, VOTE_FACES * TILE, 3) uint8 image
    """
    mosaic = np.zeros((len(QUARTER_TURNS) * TILE, VOTE_FACES * TILE, 3), dtype=np.uint8)
    for column, face in enumerate(faces):
        side = CROP_CONTEXT * max(face[2] - face[0] + 1, face[3] - face[1] + 1)
        factor = TILE / side
        left = (face[0] + face[2]) / 2 - side / 2
        top = (face[1] + face[3]) / 2 - side / 2
        warp = np.array([[factor, 0, -left * factor], [0, factor, -top * factor]])
        tile = cv2.warpAffine(img, warp, (TILE, TILE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        for row, turn in enumerate(QUARTER_TURNS):
            mosaic[row * TILE:(row + 1) * TILE, column * TILE:(column + 1) * TILE] = turn_image(tile, turn)
    return mosaic


def vote(mosaic_faces, num_voters):
    """The turn the voters choose from the faces found on their mosaic, or None when no turn
    leads the others by :data:`VOTE_MARGIN`.

    :param mosaic_faces: (N, >=5) faces found on :func:`vote_mosaic`'s image
    :param num_voters: columns in use
    :return: a quarter turn (degrees clockwise), or None
    """
    best = np.zeros((len(QUARTER_TURNS), VOTE_FACES))  # best score per tile
    for x1, y1, x2, y2, score in np.asarray(mosaic_faces)[:, :5]:
        row, column = int((y1 + y2) / 2 // TILE), int((x1 + x2) / 2 // TILE)
        if score >= VOTE_THRESHOLD and 0 <= row < len(QUARTER_TURNS) and 0 <= column < num_voters:
            best[row, column] = max(best[row, column], score)
    evidence = best.sum(axis=1)
    winner = int(np.argmax(evidence))
    if evidence[winner] - np.delete(evidence, winner).max() < VOTE_MARGIN:
        return None
    return QUARTER_TURNS[winner]


def probe_scale(image_shape, scales):
    """The resize factor of the whole-image probes: the smallest requested one, reduced so that
    the long side is at most :data:`PROBE_LONG_SIDE` pixels."""
    return min(min(scales), PROBE_LONG_SIDE / float(max(image_shape[:2])))


def probe_evidence(faces):
    """Evidence of one probe: the sum of its :data:`PROBE_FACES` best scores >= VOTE_THRESHOLD.

    :param faces: (N, >=5) merged faces of the probe, by descending score
    """
    scores = np.asarray(faces)[:, 4]
    return float(scores[scores >= VOTE_THRESHOLD][:PROBE_FACES].sum())


def probe_winner(evidence):
    """The turn with most evidence ({turn: evidence}, 0 first), 0 on a tie or when none has any."""
    turn = max(evidence, key=evidence.get)
    return turn if evidence[turn] > evidence.get(0, 0.0) else 0
