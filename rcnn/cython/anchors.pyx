# cython: language_level=3, boundscheck=False, wraparound=False
"""Anchors tiled over a feature map."""
import numpy as np
cimport cython


def anchors_cython(int height, int width, int stride, base_anchors):
    """Shift the base anchors to every cell of a (height, width) feature map.

    :param height, width: feature-map size in cells
    :param stride: pixels between neighbouring cells
    :param base_anchors: (A, 4) anchors of cell (0, 0), [x1, y1, x2, y2] in pixels
    :return: (height, width, A, 4) float32; cell (h, w) anchor k = base k + (w, h, w, h) * stride
    """
    cdef float[:, ::1] base = np.ascontiguousarray(base_anchors, dtype=np.float32)
    cdef Py_ssize_t num_anchors = base.shape[0], ih, iw, k
    out = np.empty((height, width, num_anchors, 4), dtype=np.float32)
    cdef float[:, :, :, ::1] anchors = out
    cdef float sx, sy
    with nogil:
        for ih in range(height):
            sy = ih * stride
            for iw in range(width):
                sx = iw * stride
                for k in range(num_anchors):
                    anchors[ih, iw, k, 0] = base[k, 0] + sx
                    anchors[ih, iw, k, 1] = base[k, 1] + sy
                    anchors[ih, iw, k, 2] = base[k, 2] + sx
                    anchors[ih, iw, k, 3] = base[k, 3] + sy
    return out
