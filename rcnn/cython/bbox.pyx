# cython: language_level=3, boundscheck=False, wraparound=False
"""Pairwise IoU of two box sets, with the inclusive "+1" width convention."""
import numpy as np
cimport cython


def bbox_overlaps_cython(boxes, query_boxes):
    """IoU of every box against every query box.

    :param boxes: (N, >=4) array of [x1, y1, x2, y2] in pixels, inclusive (w = x2 - x1 + 1)
    :param query_boxes: (K, >=4) array of [x1, y1, x2, y2]
    :return: (N, K) float64 IoU; 0 where the boxes do not overlap
    """
    cdef double[:, ::1] b = np.ascontiguousarray(np.asarray(boxes)[:, :4], dtype=np.float64)
    cdef double[:, ::1] q = np.ascontiguousarray(np.asarray(query_boxes)[:, :4], dtype=np.float64)
    cdef Py_ssize_t n_boxes = b.shape[0], n_query = q.shape[0], n, k
    overlaps_arr = np.zeros((n_boxes, n_query), dtype=np.float64)
    cdef double[:, ::1] overlaps = overlaps_arr
    cdef double iw, ih, query_area, box_area, union
    with nogil:
        for k in range(n_query):
            query_area = (q[k, 2] - q[k, 0] + 1) * (q[k, 3] - q[k, 1] + 1)
            for n in range(n_boxes):
                iw = min(b[n, 2], q[k, 2]) - max(b[n, 0], q[k, 0]) + 1
                if iw <= 0:
                    continue
                ih = min(b[n, 3], q[k, 3]) - max(b[n, 1], q[k, 1]) + 1
                if ih <= 0:
                    continue
                box_area = (b[n, 2] - b[n, 0] + 1) * (b[n, 3] - b[n, 1] + 1)
                union = box_area + query_area - iw * ih
                overlaps[n, k] = iw * ih / union
    return overlaps_arr
