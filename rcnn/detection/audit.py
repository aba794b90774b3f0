"""Recall audit: which faces a detector finds, by face size (pixels and fraction of the frame) and
by rotation, for several detector settings side by side (``tools/audit_recall.py``).

Ground truth is either labelled (a WIDER-format ``label.txt``: :func:`labelled_cases`) or the
model's own upright detections at the default settings on any photos (:func:`generated_cases`),
from which close-ups, small copies and turned copies are made with their faces' boxes (and
landmarks) mapped. A face is found when a detection overlaps it by IoU >= 0.5 (one detection per
face, greedily by IoU). Boxes are [x1, y1, x2, y2] pixels, inclusive widths.
"""
import collections

import cv2
import numpy as np

from rcnn.detection.turns import QUARTER_TURNS, turn_image, unturn_points
from rcnn.processing.bbox_transform import bbox_overlaps
from rcnn.utils.safe_write import write_with

# One audit image: what it is ('photo', 'close-up', 'small', 'turned'), the image (H, W, 3) uint8
# BGR, its faces (N, 4) float64, their landmarks (N, 5, 2) or None, and the turn (degrees
# clockwise) that was applied to the upright photo.
Case = collections.namedtuple('Case', 'kind name image boxes landmarks rotation')
KINDS = ('photo', 'close-up', 'small', 'turned')

# The detector settings an audit can compare, by name: keywords of detect().
SETTINGS = {'default': {}, 'pyramid': {'pyramid': True}, 'auto': {'rotations': 'auto'},
            'pyramid+auto': {'pyramid': True, 'rotations': 'auto'}}

CLOSEUP_FRACTIONS = (0.55, 0.75, 0.95)  # face side / frame side
CLOSEUP_FRAMES = (800, 2400)  # frame sides in pixels
CLOSEUP_FACES = 4  # largest reference faces per photo made into close-ups
CLOSEUP_MIN_SIDE = 40  # smallest reference face (pixels) made into a close-up
SMALL_FACTORS = (0.5, 0.25)
REFERENCE_SCORE = 0.8  # reference faces: the default detections at least this confident
MATCH_IOU = 0.5
PIXEL_BINS = (0, 16, 32, 64, 128, 256, 512, 1024, np.inf)
FRACTION_BINS = (0, 0.1, 0.3, 0.5, np.inf)


def labelled_cases(images):
    """Cases of labelled photos.

    :param images: iterable of (name, image, (N, 4) boxes)
    """
    for name, image, boxes in images:
        yield Case('photo', name, image, np.asarray(boxes, dtype=np.float64).reshape(-1, 4), None, 0)


def closeup(image, box, fraction, frame):
    """A square ``frame`` x ``frame`` cut centred on a face whose side is ``fraction`` of it (black
    outside the photo), and the face's box in it."""
    side = max(box[2] - box[0] + 1, box[3] - box[1] + 1) / fraction
    factor = frame / side
    left, top = (box[0] + box[2]) / 2 - side / 2, (box[1] + box[3]) / 2 - side / 2
    warp = np.array([[factor, 0, -left * factor], [0, factor, -top * factor]])
    cut = cv2.warpAffine(image, warp, (frame, frame), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cut, (np.asarray(box[:4], dtype=np.float64) - [left, top, left, top]) * factor


def turned_case(name, image, boxes, landmarks, angle):
    """The photo turned ``angle`` degrees clockwise, with its faces mapped."""
    turned = turn_image(image, angle)
    back = (360 - angle) % 360  # turning the turned photo by this gives the upright one
    corners = unturn_points(boxes.reshape(-1, 2, 2), back, turned.shape)
    mapped = np.concatenate((corners.min(axis=1), corners.max(axis=1)), axis=1)
    points = None if landmarks is None else unturn_points(landmarks, back, turned.shape)
    return Case('turned', '%s turned %d' % (name, angle), turned, mapped, points, angle)


def generated_cases(detector, name, image, threshold=0.5):
    """The photo and its close-ups, small copies and turned copies, with the model's own confident
    upright detections (default settings, score >= REFERENCE_SCORE) as their faces."""
    faces, landmarks = detector.detect(image, threshold)
    keep = faces[:, 4] >= max(REFERENCE_SCORE, threshold)
    boxes = faces[keep, :4].astype(np.float64)
    points = None if landmarks is None else landmarks[keep].astype(np.float64)
    yield Case('photo', name, image, boxes, points, 0)
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) + 1
    for index in [i for i in np.argsort(-sides) if sides[i] >= CLOSEUP_MIN_SIDE][:CLOSEUP_FACES]:
        for frame in CLOSEUP_FRAMES:
            for fraction in CLOSEUP_FRACTIONS:
                cut, box = closeup(image, boxes[index], fraction, frame)
                yield Case('close-up', '%s face %d at %g of %d px' % (name, index, fraction, frame),
                           cut, box[None], None, 0)
    for factor in SMALL_FACTORS:
        small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        yield Case('small', '%s x%g' % (name, factor), small, boxes * factor, None, 0)
    for angle in QUARTER_TURNS[1:]:
        yield turned_case(name, image, boxes, points, angle)


def match(boxes, faces):
    """Which ground-truth boxes a detection finds (IoU >= MATCH_IOU, one detection per box, the
    best-overlapping pairs first), and the index of the detection that found each (-1: none)."""
    found = np.full(len(boxes), -1, dtype=np.int64)
    if len(boxes) == 0 or len(faces) == 0:
        return found
    overlaps = bbox_overlaps(np.asarray(boxes, dtype=np.float64), np.asarray(faces[:, :4], dtype=np.float64))
    used = set()
    for flat in np.argsort(-overlaps, axis=None):
        box, face = np.unravel_index(flat, overlaps.shape)
        if overlaps[box, face] < MATCH_IOU:
            break
        if found[box] < 0 and face not in used:
            found[box] = face
            used.add(face)
    return found


def audit(detector, cases, settings, threshold=0.5, scales=(1.0,)):
    """One row per (case face, setting): dict of setting, kind, rotation, face side in pixels,
    fraction of the frame's long side, found (bool), landmark error in pixels (median of the
    five points; NaN when unknown or not found)."""
    rows = []
    for case in cases:
        height, width = case.image.shape[:2]
        sides = np.maximum(case.boxes[:, 2] - case.boxes[:, 0], case.boxes[:, 3] - case.boxes[:, 1]) + 1
        for setting in settings:
            faces, landmarks = detector.detect(case.image, threshold, list(scales), **SETTINGS[setting])
            found = match(case.boxes, faces)
            for i, face in enumerate(found):
                error = np.nan
                if face >= 0 and case.landmarks is not None and landmarks is not None:
                    error = float(np.median(np.linalg.norm(landmarks[face] - case.landmarks[i], axis=1)))
                rows.append({'setting': setting, 'kind': case.kind, 'rotation': case.rotation,
                             'pixels': float(sides[i]), 'fraction': float(sides[i]) / max(height, width),
                             'found': bool(face >= 0), 'landmark_error': error})
    return rows


def _bin(value, bins, unit):
    """(index, label) of the bin holding ``value``."""
    for index, (low, high) in enumerate(zip(bins[:-1], bins[1:])):
        if low <= value < high:
            return index, ('%g-%g%s' % (low, high, unit) if np.isfinite(high) else '>=%g%s' % (low, unit))
    return len(bins), '?'


def groups(row):
    """The table groups a row counts in, as (sort key, name)."""
    size, size_name = _bin(row['pixels'], PIXEL_BINS, ' px')
    fraction, fraction_name = _bin(row['fraction'], FRACTION_BINS, '')
    return [((0, 0), 'all'), ((1, KINDS.index(row['kind'])), 'kind %s' % row['kind']),
            ((2, row['rotation']), 'rotation %d' % row['rotation']),
            ((3, size), 'size %s' % size_name), ((4, fraction), 'fraction %s' % fraction_name)]


def recall_table(rows, settings):
    """{group: {setting: (found, faces, median landmark error in pixels or NaN)}}, groups in
    the order all, kind, rotation, size, fraction (bins ascending)."""
    cells = {}
    for row in rows:
        for key in groups(row):
            cell = cells.setdefault(key, {s: [0, 0, []] for s in settings})[row['setting']]
            cell[0] += row['found']
            cell[1] += 1
            if np.isfinite(row['landmark_error']):
                cell[2].append(row['landmark_error'])
    return collections.OrderedDict(
        (name, {s: (f, n, float(np.median(e)) if e else np.nan) for s, (f, n, e) in cells[(key, name)].items()})
        for key, name in sorted(cells))


def format_table(table, settings):
    """The recall table as text: one line per group, recall (found / faces) per setting, and the
    median landmark error in pixels where known."""
    width = max(len(g) for g in table) + 2
    lines = ['%-*s' % (width, 'group') + ''.join('  %26s' % s for s in settings)]
    for group, cells in table.items():
        texts = []
        for setting in settings:
            found, faces, error = cells[setting]
            text = '%.3f (%d/%d)' % (found / faces if faces else np.nan, found, faces)
            texts.append('  %26s' % (text + (' lm %.1f' % error if np.isfinite(error) else '')))
        lines.append('%-*s' % (width, group) + ''.join(texts))
    return '\n'.join(lines)


def plot_table(table, settings, path):
    """A bar chart of the recall table (one bar per setting and group) written to ``path`` (PNG)
    through :func:`rcnn.utils.safe_write.write_with`."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(table)
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.7), 4.5))
    width = 0.8 / len(settings)
    for i, setting in enumerate(settings):
        recalls = [table[g][setting][0] / max(table[g][setting][1], 1) for g in names]
        ax.bar(np.arange(len(names)) + i * width, recalls, width, label=setting)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels(names, rotation=60, ha='right', fontsize=8)
    ax.set_ylabel('recall (IoU >= %g)' % MATCH_IOU)
    ax.set_ylim(0, 1.05)
    ax.legend(ncol=len(settings), loc='lower center', bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    try:
        write_with(path, lambda tmp: fig.savefig(tmp, format='png', dpi=100))
    finally:
        plt.close(fig)
