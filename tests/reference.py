"""Brute-force references: plain Python loops over the formulas, written for clarity, not speed."""
import numpy as np


def iou_loop(a, b):
    """IoU of two [x1, y1, x2, y2] boxes with inclusive "+1" widths."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)


def overlaps_loop(boxes, query):
    return np.array([[iou_loop(b, q) for q in query] for b in boxes], dtype=np.float64).reshape(len(boxes), len(query))


def greedy_nms_loop(dets, thresh):
    """Keep the best remaining box, drop those with IoU > thresh against it; ties: lower index."""
    remaining = sorted(range(len(dets)), key=lambda i: (-float(np.float32(dets[i][4])), i))
    keep = []
    while remaining:
        best = remaining.pop(0)
        keep.append(best)
        box = [float(np.float32(v)) for v in dets[best][:4]]
        remaining = [i for i in remaining
                     if iou_loop(box, [float(np.float32(v)) for v in dets[i][:4]]) <= thresh]
    return keep


def random_boxes(rng, n, size=200.0, max_side=60.0):
    """(n, 4) float boxes inside [0, size], some degenerate (zero or one-pixel sides)."""
    x1 = rng.uniform(0, size, n)
    y1 = rng.uniform(0, size, n)
    w = rng.uniform(0, max_side, n)
    h = rng.uniform(0, max_side, n)
    w[rng.random(n) < 0.1] = 0
    h[rng.random(n) < 0.1] = -1
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1)


def encode_box_loop(anchor, gt):
    """(dx, dy, dw, dh) moving one anchor onto one box, inclusive "+1" widths."""
    aw, ah = anchor[2] - anchor[0] + 1, anchor[3] - anchor[1] + 1
    ax, ay = anchor[0] + 0.5 * (aw - 1), anchor[1] + 0.5 * (ah - 1)
    gw, gh = gt[2] - gt[0] + 1, gt[3] - gt[1] + 1
    gx, gy = gt[0] + 0.5 * (gw - 1), gt[1] + 0.5 * (gh - 1)
    return [(gx - ax) / aw, (gy - ay) / ah, np.log(gw / aw), np.log(gh / ah)]
