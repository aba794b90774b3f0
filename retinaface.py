"""RetinaFace face detector: the module scripts written for the original import.

    from retinaface import RetinaFace
    detector = RetinaFace('./model/mnet.25', 0, ctx_id=-1, network='net3')
    faces, landmarks = detector.detect(cv2.imread('t1.jpg'), threshold=0.8)

The implementation lives in :mod:`rcnn.detection` (:mod:`~rcnn.detection.detector` for MXNet);
this module re-exports their public names, and :func:`rcnn.processing.align.align` (a face warped
onto the ArcFace 5-point template). ``read_image`` is
:func:`rcnn.utils.image_file.read_image_file`, the one image reader.
"""
from rcnn.detection.detector import RetinaFace  # noqa: F401
from rcnn.detection.checks import to_bgr  # noqa: F401
from rcnn.detection.drawing import draw_detections  # noqa: F401
from rcnn.detection.scales import target_scale  # noqa: F401
from rcnn.errors import DetectorError  # noqa: F401
from rcnn.processing.align import align  # noqa: F401
from rcnn.processing.presets import DETECTOR_PRESETS, anchor_config  # noqa: F401
from rcnn.utils.image_file import read_image_file as read_image  # noqa: F401

NETWORKS = DETECTOR_PRESETS  # the detector presets' earlier name
