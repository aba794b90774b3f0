"""RetinaFace face detector on an exported ONNX model, run by ONNX Runtime: MXNet is never imported.

    from retinaface_onnx import RetinaFaceONNX
    detector = RetinaFaceONNX('model/mnet.25.onnx', network='net3')
    faces, landmarks = detector.detect(cv2.imread('t1.jpg'), threshold=0.8)

The implementation lives in :mod:`rcnn.detection.detector_onnx`; this module re-exports it.
"""
from rcnn.detection.detector_onnx import RetinaFaceONNX  # noqa: F401
from rcnn.errors import DetectorError, ModelFileError  # noqa: F401
