"""RetinaFace face detector on MXNet: a released checkpoint or weights in memory.

    detector = RetinaFace('./model/mnet.25', 0, ctx_id=-1, network='net3')
    faces, landmarks = detector.detect(cv2.imread('t1.jpg'), threshold=0.8)
    detector = RetinaFace.from_params(symbol, arg_params, aux_params, ctx_id=-1)   # no files

``faces`` is (N, 5) float32 [x1, y1, x2, y2, score] in pixels of the input image (inclusive "+1"
widths: w = x2 - x1 + 1), ``landmarks`` is (N, 5, 2) float32 (x, y) points in the order of
:data:`rcnn.processing.landmarks.LANDMARK_NAMES`. Detections are sorted by descending score.

One forward is run per scale (and per flip); its outputs (score, box and landmark maps of strides
32, 16, 8 for the released models) are decoded only where the face score passes the threshold,
then all scales are merged by NMS (or by box voting). The stages are public so that another
runtime can run the network in between: ``preprocess`` -> your forward -> ``postprocess``;
``detect`` chains them with MXNet's ``forward``. Executors are bound once per input shape and
reused. Everything but the forward lives in :mod:`rcnn.detection.base` (no MXNet there).

MXNet's "Subgraph backend MKLDNN is activated" line (printed on every new input shape) is off
unless ``MXNET_SUBGRAPH_VERBOSE`` is set, and its "Loading symbol saved by previous version"
lines are dropped when a checkpoint is loaded.
"""
import contextlib
import logging
import numbers
import os
import sys
import tempfile

import mxnet as mx

from rcnn.processing.nms import gpu_nms_wrapper
from rcnn.utils.checkpoint import load_checkpoint, symbol_path
from rcnn.utils.cli import quiet_mxnet
from rcnn.detection.base import DetectorBase
from rcnn.detection.cache import LruCache
from rcnn.errors import DetectorError

log = logging.getLogger(__name__)

quiet_mxnet()

# Single-image executors kept (input shapes).
CACHE_SIZE = 16
# Batch executors kept (each holds batch times the activations of a single-image one).
_BATCH_CACHE_SIZE = 4
# Input shape at which the output shapes (and from them the strides) of a graph are inferred.
_NOMINAL_SIZE = (640, 640)
# What MXNet's C++ code prints on stderr when it reads a graph saved by an older MXNet.
_UPGRADE_MESSAGES = ('Loading symbol saved by previous version', 'Symbol successfully upgraded')


@contextlib.contextmanager
def without_graph_upgrade_messages():
    """Drop MXNet's graph-upgrade lines from the process's stderr (file descriptor 2) while the
    block runs; whatever else is written there is passed on when it ends."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode('utf-8', 'replace').splitlines(True)
                    if not any(message in line for message in _UPGRADE_MESSAGES)]
            if kept:
                sys.stderr.write(''.join(kept))


def load_detector_checkpoint(prefix, epoch):
    """(symbol, arg_params, aux_params) of a checkpoint, through
    :func:`rcnn.utils.checkpoint.load_checkpoint` (one-line CheckpointError naming a missing,
    truncated or corrupt file; sha256 checked where the meta JSON records it), without MXNet's
    graph-upgrade messages."""
    with without_graph_upgrade_messages():
        return load_checkpoint(prefix, epoch)


def _absent_weights(symbol, arg_params, aux_params):
    """Names of the weights ``symbol`` needs that the dicts lack."""
    absent = [name for name in symbol.list_arguments() if name != 'data' and name not in arg_params]
    return absent + [name for name in symbol.list_auxiliary_states() if name not in aux_params]


class RetinaFace(DetectorBase):
    """Face detector on a RetinaFace checkpoint.

    :param prefix: checkpoint prefix: ``<prefix>-symbol.json`` and ``<prefix>-<epoch:04d>.params``
    :param epoch: checkpoint epoch
    :param ctx_id: GPU id, or -1 for the CPU. On an MXNet without GPUs a GPU id falls back to the
        CPU with one warning (so the original's default ``ctx_id=0`` works on the CPU wheel).
    :param network: detector preset naming the anchors and pixel normalisation (a key of
        ``rcnn.processing.presets.DETECTOR_PRESETS``); it must fit the checkpoint's outputs
    :param nms: IoU threshold of NMS / box voting, in (0, 1]; the original's modes: 0 keeps every
        box, < 0 also keeps every box and adds a sixth column with the stride that found it
    :param nocrop: zero-pad the input to a multiple of 32 instead of feeding it as it is
    :param decay4: multiplier of stride-4 scores (applied before the threshold)
    :param vote: merge overlapping boxes by score-weighted voting instead of NMS
    :raises DetectorError: for a bad option or a preset that does not fit the checkpoint
    :raises rcnn.utils.checkpoint.CheckpointError: for a missing, truncated or corrupt file
    """

    def __init__(self, prefix, epoch, ctx_id=0, network='net3', nms=0.4, nocrop=False, decay4=0.5,
                 vote=False):
        self._setup_decoding(network, nms, nocrop, decay4, vote)
        ctx_id = _usable_ctx_id(ctx_id)
        symbol, arg_params, aux_params = load_detector_checkpoint(prefix, epoch)
        self._setup_model(symbol, arg_params, aux_params, ctx_id, symbol_path(prefix))

    @classmethod
    def from_params(cls, symbol, arg_params, aux_params, ctx_id=-1, network='net3', nms=0.4,
                    nocrop=False, decay4=0.5, vote=False):
        """A detector on a graph and weights in memory (e.g. the weights being trained).

        :param symbol: the clean test graph (``mx.sym.Symbol``, input ``data``)
        :param arg_params, aux_params: {name: NDArray} weights (copied to the detector's device)
        :param ctx_id: GPU id, or -1 (the default here) for the CPU
        :param network, nms, nocrop, decay4, vote: as the constructor's
        """
        detector = cls.__new__(cls)
        detector._setup_decoding(network, nms, nocrop, decay4, vote)
        ctx_id = _usable_ctx_id(ctx_id)
        if not isinstance(symbol, mx.sym.Symbol):
            raise DetectorError('symbol: expected an mx.sym.Symbol, got %s' % type(symbol).__name__)
        absent = _absent_weights(symbol, arg_params, aux_params)
        if absent:
            raise DetectorError('arg_params / aux_params lack %d weights that the symbol needs, e.g. %s'
                                % (len(absent), absent[:3]))
        detector._setup_model(symbol, arg_params, aux_params, ctx_id, 'the given symbol')
        return detector

    def _setup_model(self, symbol, arg_params, aux_params, ctx_id, model_name):
        """Weights onto the device (``ctx_id`` as :func:`_usable_ctx_id` returns it), heads found
        (and the preset checked against them)."""
        self._ctx_id = ctx_id
        self._context = mx.gpu(self._ctx_id) if self._ctx_id >= 0 else mx.cpu()
        if self._ctx_id >= 0:
            self._nms = gpu_nms_wrapper(self._nms_threshold, self._ctx_id)
        self._symbol = symbol
        _, out_shapes, _ = symbol.infer_shape(data=(1, 3) + _NOMINAL_SIZE)
        self._find_heads(out_shapes, _NOMINAL_SIZE, model_name)
        self._arg_params = {k: v.as_in_context(self._context) for k, v in arg_params.items()}
        self._aux_params = {k: v.as_in_context(self._context) for k, v in aux_params.items()}
        self._executors = LruCache(CACHE_SIZE)
        self._batch_executors = LruCache(_BATCH_CACHE_SIZE)

    # ------------------------------------------------------------------ read-only properties
    @property
    def symbol(self):
        """The network graph (``mx.sym.Symbol``)."""
        return self._symbol

    @property
    def arg_params(self):
        """{name: NDArray} of the graph's weights, on :attr:`context` (a new dict on every call:
        the detector's own cannot be changed through it)."""
        return dict(self._arg_params)

    @property
    def aux_params(self):
        """{name: NDArray} of the graph's auxiliary states, on :attr:`context` (a new dict on
        every call)."""
        return dict(self._aux_params)

    @property
    def context(self):
        """The ``mx.Context`` the network runs on."""
        return self._context

    ctx = context

    @property
    def ctx_id(self):
        """The GPU id the network runs on, -1 for the CPU."""
        return self._ctx_id

    # ------------------------------------------------------------------ forward
    def _bind(self, height, width, batch=1):
        """An inference executor for (batch, 3, height, width) input sharing the loaded weights."""
        args = dict(self._arg_params)
        args['data'] = mx.nd.zeros((batch, 3, height, width), ctx=self._context)
        log.debug('binding an executor for input %dx%d, batch %d', width, height, batch)
        return self._symbol.bind(self._context, args=args, aux_states=self._aux_params,
                                 grad_req='null')

    def executor(self, height, width, batch=1):
        """The bound ``mx.executor.Executor`` for (batch, 3, height, width) input: bound on first
        use, then reused (the 16 most recently used single-image shapes are kept, and the 4 most
        recently used batch shapes: a batch executor holds batch times the activations)."""
        if batch == 1:
            return self._executors.get((height, width), lambda: self._bind(height, width))
        return self._batch_executors.get((batch, height, width),
                                         lambda: self._bind(height, width, batch))

    def forward(self, tensor):
        """The network's outputs (list of numpy arrays, in the graph's order) for one input tensor.

        :param tensor: (1, 3, H, W) float32, as :meth:`preprocess` makes it
        """
        return self.forward_batch(tensor)

    def forward_batch(self, tensor):
        """The network's outputs (list of (N, C, h, w) numpy arrays) for N stacked inputs, in one
        forward of an executor bound for that batch shape.

        :param tensor: (N, 3, H, W) float32
        """
        executor = self.executor(*tensor.shape[2:], batch=len(tensor))
        executor.arg_dict['data'][:] = tensor
        executor.forward(is_train=False)
        return [out.asnumpy() for out in executor.outputs]


def _usable_ctx_id(ctx_id):
    """``ctx_id``, or -1 (CPU, with a warning) when this MXNet has no GPU."""
    if isinstance(ctx_id, bool) or not isinstance(ctx_id, numbers.Integral):
        raise DetectorError('ctx_id must be a GPU id (an int >= 0) or -1 for the CPU, got %r' % (ctx_id,))
    if ctx_id >= 0 and mx.context.num_gpus() == 0:
        log.warning('ctx_id=%d asks for a GPU, but this MXNet build sees none: running on the CPU '
                    '(pass ctx_id=-1 to choose the CPU explicitly)', ctx_id)
        return -1
    return max(int(ctx_id), -1)
