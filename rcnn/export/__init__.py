"""ONNX export of a checkpoint's test graph and its batch-dimension variant."""
