"""RetinaFace face detector: the module scripts written for the original import.

    from retinaface import RetinaFace
    detector = RetinaFace('./model/mnet.25', 0, ctx_id=-1, network='net3')
    faces, landmarks = detector.detect(cv2.imread('t1.jpg'), threshold=0.8)

The implementation lives in :mod:`rcnn.core.detector`; this module re-exports its public names.
"""
from rcnn.core.detector import (NETWORKS, RetinaFace, anchor_config, draw_detections, read_image,  # noqa: F401
                                target_scale, to_bgr)
