"""Non-maximum suppression: numpy, Cython (CPU) and CUDA (GPU) versions with one interface.

Every version keeps the highest-scoring box, drops the boxes that overlap it by IoU > thresh
(inclusive "+1" widths), and repeats; ties in score keep the lower row index first. Each wrapper
returns a function ``nms(dets) -> list of kept row indices`` for (N, >=5) [x1, y1, x2, y2, score].
"""
import numpy as np

from rcnn.processing import _compiled

_cpu_nms = _compiled.load('cpu_nms', 'cpu_nms')


def nms(dets, thresh):
    """Greedy NMS in numpy.

    :param dets: (N, >=5) [x1, y1, x2, y2, score]
    :param thresh: IoU above which a lower-scoring box is suppressed
    :return: list of kept row indices, by descending score
    """
    dets = np.asarray(dets, dtype=np.float32)
    x1, y1, x2, y2, scores = (dets[:, i] for i in range(5))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind='stable')
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= thresh]
    return keep


def py_nms_wrapper(thresh):
    """NMS function in numpy."""
    return lambda dets: nms(dets, thresh)


def cpu_nms_wrapper(thresh):
    """NMS function in Cython; the numpy version where the extension is not built."""
    if _cpu_nms is None:
        return py_nms_wrapper(thresh)
    return lambda dets: _cpu_nms(dets, thresh)


def gpu_nms_wrapper(thresh, device_id):
    """NMS function on CUDA device ``device_id``; the CPU one (with a warning) where not built."""
    gpu_nms = _compiled.load('gpu_nms', 'gpu_nms', fallback='NMS on the CPU',
                             how='`make` builds it where nvcc and a GPU are found '
                                 '(or set CUDA_ARCH=sm_XY).')
    if gpu_nms is None:
        return cpu_nms_wrapper(thresh)
    return lambda dets: gpu_nms(dets, thresh, device_id)
