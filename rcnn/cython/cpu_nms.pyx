# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Greedy non-maximum suppression on the CPU."""
import numpy as np
cimport cython


def cpu_nms(dets, double thresh):
    """Greedy NMS: keep the highest-scoring box, drop boxes overlapping it by IoU > thresh, repeat.

    :param dets: (N, >=5) array of [x1, y1, x2, y2, score], pixels, inclusive "+1" widths
    :param thresh: IoU above which a lower-scoring box is suppressed (zero-area pairs: IoU 0)
    :return: list of kept row indices into ``dets``, by descending score (ties: lower index first)
    """
    dets = np.asarray(dets)
    if dets.shape[0] == 0:
        return []
    order_arr = np.argsort(-dets[:, 4].astype(np.float32), kind='stable')
    # boxes in score order, one contiguous row of (x1, y1, x2, y2, area) each
    boxes = np.empty((order_arr.shape[0], 5), dtype=np.float32)
    boxes[:, :4] = dets[order_arr, :4]
    boxes[:, 4] = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    cdef float[:, ::1] b = boxes
    cdef long long[::1] order = order_arr.astype(np.int64)
    remaining_arr = np.arange(b.shape[0], dtype=np.int64)
    cdef long long[::1] remaining = remaining_arr
    keep_arr = np.empty(b.shape[0], dtype=np.int64)
    cdef long long[::1] keep = keep_arr
    cdef Py_ssize_t num_remaining = b.shape[0], num_keep = 0, r, survivors, i, j
    cdef float ix1, iy1, ix2, iy2, iarea, w, h, inter, union
    with nogil:
        while num_remaining > 0:
            i = remaining[0]
            keep[num_keep] = order[i]
            num_keep += 1
            ix1 = b[i, 0]
            iy1 = b[i, 1]
            ix2 = b[i, 2]
            iy2 = b[i, 3]
            iarea = b[i, 4]
            survivors = 0
            for r in range(1, num_remaining):
                j = remaining[r]
                w = min(ix2, b[j, 2]) - max(ix1, b[j, 0]) + 1
                h = min(iy2, b[j, 3]) - max(iy1, b[j, 1]) + 1
                if w > 0 and h > 0:
                    inter = w * h
                    union = iarea + b[j, 4] - inter
                    if union > 0 and inter / union > thresh:
                        continue
                remaining[survivors] = j
                survivors += 1
            num_remaining = survivors
    return keep_arr[:num_keep].tolist()
