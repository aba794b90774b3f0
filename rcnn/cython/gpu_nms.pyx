# cython: language_level=3, boundscheck=False, wraparound=False
"""Greedy NMS on a CUDA device (built only where nvcc and a GPU are found)."""
import numpy as np


cdef extern from "gpu_nms.hpp":
    int _nms(int* keep_out, int* num_out, const float* boxes_host, int num_boxes, int box_dim,
             float nms_overlap_thresh, int device_id) nogil


def gpu_nms(dets, float thresh, int device_id=0):
    """Same result as ``cpu_nms(dets, thresh)``, computed on GPU ``device_id``.

    :param dets: (N, >=5) array of [x1, y1, x2, y2, score], pixels, inclusive "+1" widths
    :return: list of kept row indices into ``dets``, by descending score (ties: lower index first)
    """
    dets = np.asarray(dets)
    if dets.shape[0] == 0:
        return []
    order = np.argsort(-dets[:, 4], kind='stable')
    sorted_dets = np.ascontiguousarray(dets[order, :5], dtype=np.float32)
    cdef float[:, ::1] boxes = sorted_dets
    keep_arr = np.zeros(sorted_dets.shape[0], dtype=np.int32)
    cdef int[::1] keep = keep_arr
    cdef int num_out = 0, status
    with nogil:
        status = _nms(&keep[0], &num_out, &boxes[0, 0], boxes.shape[0], boxes.shape[1], thresh,
                      device_id)
    if status != 0:
        raise RuntimeError('gpu_nms: CUDA error %d on device %d' % (status, device_id))
    return list(order[keep_arr[:num_out]])
