"""Open the batch dimension of an exported ONNX model, so that ``RetinaFaceONNX.detect_batch``
runs a whole batch in one ONNX Runtime call.

    with_dynamic_batch('model/mnet.25.onnx', 'model/mnet.25-batch.onnx')

``tools/export_onnx.py`` writes models for batch 1. The RetinaFace graphs keep the batch
dimension apart in every operator (the reshapes around the softmax copy it with 0), so renaming
the first dimension of the input and of every output to ``batch`` is all it takes; ONNX Runtime's
results for a batch then equal its results image by image (checked by the tests).
"""
from rcnn.utils import safe_write

BATCH_DIM = 'batch'


def with_dynamic_batch(onnx_path, output_path):
    """Write a copy of the model whose input and outputs take any batch size.

    :param onnx_path: a model of tools/export_onnx.py (fixed or dynamic height and width)
    :param output_path: where the copy goes (written fresh under a temporary name, then renamed)
    """
    import onnx
    model = onnx.load(onnx_path)
    for value in list(model.graph.input[:1]) + list(model.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField('dim_value')
        dim.dim_param = BATCH_DIM
    onnx.checker.check_model(model)
    safe_write.write_with(output_path, lambda tmp: onnx.save(model, tmp))
