"""Export RetinaFace graphs to ONNX with ``mx.onnx`` (MXNet 1.9), rewriting what does not export.

    symbol, arg_params, aux_params = mx.model.load_checkpoint('model/mnet.25', 0)
    export_onnx(symbol, arg_params, aux_params, 'mnet.25.onnx', input_shape=(1, 3, 640, 640))
    export_onnx(symbol, arg_params, aux_params, 'mnet.25-dyn.onnx', dynamic=True)

MXNet's exporter has no translation for ``SoftmaxActivation``, which every RetinaFace head uses to
turn the (1, 2, A*h, w) score pairs into probabilities. :func:`rewrite_for_onnx` replaces it, in a
copy of the graph, by ``softmax`` over the same axis (channel mode: axis 1; instance mode on a 2-D
input: axis 1), which is the same computation, so outputs do not change. The two-input ``Crop`` of
the FPN (upsampled coarse map cut to the size of the finer lateral map) exports as it is, to an ONNX
``Slice`` whose end is read from the finer map's shape at run time, so it also works for a dynamic
input height and width. Operators the exporter does not know and no rule rewrites are reported all at
once, by name, before anything is written.

The ONNX model has one input, ``data`` (N, 3, H, W) float32 RGB as ``RetinaFace.preprocess`` makes
it, and the checkpoint's outputs in the order of its ``-symbol.json`` (nine for the released models).
"""
import contextlib
import json
import logging
import types

import mxnet as mx
import numpy as np

from rcnn.utils import safe_write

log = logging.getLogger(__name__)

# mx.onnx's translations go up to opset 13; it stamps models with the newest opset the installed onnx
# knows, which newer ONNX Runtimes may refuse ("opset 20 is under development"), so export at 13.
OPSET = 13
# the IR version of ONNX 1.8, which introduced opset 13: older runtimes refuse newer IR versions
IR_VERSION = 7

# The operators of the RetinaFace graphs that mx.onnx (MXNet 1.9.1) translates as they are.
_EXPORTED_AS_IS = frozenset((
    'null', 'Convolution', 'Deconvolution', 'BatchNorm', 'Activation', 'LeakyReLU', 'Pooling',
    'Concat', 'elemwise_add', '_Plus', 'broadcast_add', 'Reshape', 'UpSampling', 'Crop', 'softmax',
    'slice', 'slice_like', 'slice_axis', 'Flatten', 'Dropout', 'clip', '_mul_scalar',
    '_plus_scalar', '_minus_scalar', 'transpose', 'identity', 'BlockGrad', 'sigmoid', 'relu',
    '_copy', 'elemwise_mul', 'broadcast_mul', 'Cast',
))


def _rewrite_softmax_activation(node, input_ndim):
    """``SoftmaxActivation`` -> ``softmax`` over axis 1 (channel mode, or instance mode on 2-D)."""
    mode = node.get('attrs', {}).get('mode', 'instance')
    if mode != 'channel' and input_ndim != 2:
        raise NotImplementedError('node %r: SoftmaxActivation(mode=%s) on a %s-D input has no ONNX '
                                  'rewrite' % (node['name'], mode, input_ndim))
    node['op'] = 'softmax'
    node['attrs'] = {'axis': '1'}


def _rewrite_crop(node, input_ndim):
    """``Crop(center_crop=True)`` does not export; the other forms do (as ONNX ``Slice``)."""
    if node.get('attrs', {}).get('center_crop', 'False') in ('True', 'true', '1'):
        raise NotImplementedError('node %r: Crop(center_crop=True) has no ONNX rewrite; give it an '
                                  'explicit offset' % node['name'])


_REWRITES = {
    'SoftmaxActivation': _rewrite_softmax_activation,
    'Crop': _rewrite_crop,
}


def rewrite_for_onnx(symbol, input_shape=(1, 3, 640, 640)):
    """A copy of ``symbol`` that ``mx.onnx`` can export, computing the same outputs.

    :param symbol: an MXNet inference graph with one data input named ``data``
    :param input_shape: a valid (N, 3, H, W) input shape, used to learn the operators' input ranks
    :return: (the rewritten symbol, list of ``'<node>: <old op> -> <new op>'`` for each change)
    :raises NotImplementedError: naming every operator that neither exports nor has a rewrite
    """
    graph = json.loads(symbol.tojson())
    nodes = graph['nodes']
    ndims = _output_ndims(symbol, input_shape)
    changes, unsupported = [], []
    for node in nodes:
        op = node['op']
        if op in _REWRITES:
            first_input = nodes[node['inputs'][0][0]]['name'] if node['inputs'] else None
            _REWRITES[op](node, ndims.get(first_input))
            if node['op'] != op:
                changes.append('%s: %s -> %s' % (node['name'], op, node['op']))
        elif op not in _EXPORTED_AS_IS:
            unsupported.append('%s (%s)' % (node['name'], op))
    if unsupported:
        raise NotImplementedError('mx.onnx cannot export these operators and no rewrite is known: '
                                  '%s' % ', '.join(unsupported))
    for change in changes:
        log.debug('ONNX rewrite %s', change)
    return mx.sym.load_json(json.dumps(graph)), changes


def _output_ndims(symbol, input_shape):
    """{node name: rank of its (first) output} of every node of ``symbol``."""
    internals = symbol.get_internals()
    _, out_shapes, _ = internals.infer_shape(data=tuple(input_shape))
    ndims = {}
    for name, shape in zip(internals.list_outputs(), out_shapes):
        node = name[:-len('_output')] if name.endswith('_output') else name
        ndims.setdefault(node, len(shape))
    return ndims


def _ensure_onnx_mapping():
    """Give ``onnx`` back the ``onnx.mapping`` tables that mx.onnx reads (removed in onnx 1.16)."""
    import onnx
    if hasattr(onnx, 'mapping'):
        return
    from onnx import helper
    tensor_types = [value for name, value in onnx.TensorProto.DataType.items()
                    if name not in ('UNDEFINED', 'STRING')]
    np_to_tensor, tensor_to_np = {}, {}
    for tensor_type in tensor_types:
        try:
            np_type = np.dtype(helper.tensor_dtype_to_np_dtype(tensor_type))
        except (KeyError, TypeError, ValueError):
            continue
        tensor_to_np[tensor_type] = np_type
        np_to_tensor.setdefault(np_type, tensor_type)
    onnx.mapping = types.SimpleNamespace(NP_TYPE_TO_TENSOR_TYPE=np_to_tensor,
                                         TENSOR_TYPE_TO_NP_TYPE=tensor_to_np)


@contextlib.contextmanager
def _exporter_settings(opset):
    """Make mx.onnx target ``opset`` (it asks ``onnx.defs.onnx_opset_version()``) and store weights
    as raw bytes (it passes them to ``onnx.helper.make_tensor`` as Python lists, which protobuf
    copies one number at a time: 20 s for R50's 29 M weights)."""
    import onnx.defs
    import onnx.helper
    newest, make_tensor = onnx.defs.onnx_opset_version, onnx.helper.make_tensor
    if newest() < opset:
        raise RuntimeError('onnx %s knows opsets up to %d; exporting needs %d (install onnx>=1.8)'
                           % (onnx.__version__, newest(), opset))

    def make_raw_float_tensor(name, data_type, dims, vals, raw=False):
        if data_type == onnx.TensorProto.FLOAT and not raw and isinstance(vals, list):
            vals, raw = np.asarray(vals, dtype='<f4').tobytes(), True
        return make_tensor(name, data_type, dims, vals, raw)

    onnx.defs.onnx_opset_version = lambda: opset
    onnx.helper.make_tensor = make_raw_float_tensor
    try:
        yield
    finally:
        onnx.defs.onnx_opset_version, onnx.helper.make_tensor = newest, make_tensor


def export_onnx(symbol, arg_params, aux_params, onnx_path, input_shape=(1, 3, 640, 640),
                dynamic=False):
    """Write ``symbol`` with its weights as an ONNX model and check it with ``onnx.checker``.

    :param symbol: an MXNet inference graph (e.g. a released ``-symbol.json``), input ``data``
    :param arg_params, aux_params: its weights, {name: NDArray}
    :param onnx_path: file to write (made fresh under a temporary name, then renamed over it)
    :param input_shape: (N, 3, H, W) input shape; with ``dynamic`` only a shape to trace with
    :param dynamic: leave the input height and width (and the outputs' map sizes) open
    :return: list of the rewrites made (see :func:`rewrite_for_onnx`)
    """
    import onnx
    _ensure_onnx_mapping()
    rewritten, changes = rewrite_for_onnx(symbol, input_shape)
    params = dict(arg_params)
    params.update(aux_params)
    needed = set(rewritten.list_arguments()) | set(rewritten.list_auxiliary_states())
    params = {name: value for name, value in params.items() if name in needed}
    dynamic_shapes = [(input_shape[0], input_shape[1], None, None)] if dynamic else None

    def write(tmp):
        with _exporter_settings(OPSET):
            mx.onnx.export_model(rewritten, params, in_shapes=[tuple(input_shape)],
                                 in_types=[np.float32], onnx_file_path=tmp, dynamic=dynamic,
                                 dynamic_input_shapes=dynamic_shapes)
        model = _tidy(onnx.load(tmp))
        onnx.checker.check_model(model)
        onnx.save(model, tmp)
    safe_write.write_with(onnx_path, write)  # a fresh file renamed over the target: never through a link
    log.info('wrote %s (%s input %s), %d rewrites', onnx_path, 'dynamic' if dynamic else 'fixed',
             input_shape, len(changes))
    return changes


def _tidy(model):
    """Stamp IR version 7 and drop what mx.onnx leaves that stops ONNX Runtime from optimising:
    weights listed as graph inputs (so they could be overridden, and cannot be constant-folded, e.g.
    BatchNorm into the convolution) and initializers no node reads."""
    model.ir_version = IR_VERSION
    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    weights = {init.name for init in graph.initializer}
    for value in [value for value in graph.input if value.name in weights]:
        graph.input.remove(value)
    return model


def mxnet_outputs(symbol, arg_params, aux_params, tensor):
    """The graph's outputs (list of numpy arrays) for one (N, 3, H, W) float32 input on the CPU."""
    args = dict(arg_params)
    args['data'] = mx.nd.array(tensor)
    executor = symbol.bind(mx.cpu(), args=args, aux_states=aux_params, grad_req='null')
    executor.forward(is_train=False)
    return [out.asnumpy() for out in executor.outputs]


def onnxruntime_outputs(onnx_path, tensor):
    """The ONNX model's outputs (list of numpy arrays) for one input, on ONNX Runtime's CPU."""
    import onnxruntime
    session = onnxruntime.InferenceSession(onnx_path, providers=['CPUExecutionProvider'])
    return session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(tensor)})


def non_finite(named_arrays):
    """Names of the arrays (numpy or NDArray) that hold a NaN or an infinite value.

    :param named_arrays: iterable of (name, array)
    """
    return [name for name, array in named_arrays
            if not np.all(np.isfinite(array.asnumpy() if hasattr(array, 'asnumpy') else array))]


def max_differences(reference, outputs):
    """Largest absolute difference of each output pair (NaN where either holds a NaN: numpy's max
    propagates it); ValueError when the shapes differ."""
    if len(reference) != len(outputs):
        raise ValueError('%d outputs against %d reference outputs' % (len(outputs), len(reference)))
    differences = []
    for index, (expected, got) in enumerate(zip(reference, outputs)):
        if expected.shape != got.shape:
            raise ValueError('output %d: shape %s, expected %s' % (index, got.shape, expected.shape))
        differences.append(float(np.max(np.abs(expected - got))) if expected.size else 0.0)
    return differences
