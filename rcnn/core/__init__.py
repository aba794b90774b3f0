"""The detectors (MXNet, ONNX Runtime, their shared pre/post-processing and batching) and the
training machinery: data loader, metrics, learning-rate schedule, fitting, validation."""
