"""Inference: input checks, preprocessing, decoding and merging, drawing, batching, and the
detectors on MXNet (:mod:`rcnn.detection.detector`) and ONNX Runtime
(:mod:`rcnn.detection.detector_onnx`). Loads no training code."""
