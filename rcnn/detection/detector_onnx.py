"""RetinaFace face detector on an exported ONNX model, run by ONNX Runtime: MXNet is never imported.

    python tools/export_onnx.py --prefix model/mnet.25 --dynamic --output model/mnet.25.onnx
    detector = RetinaFaceONNX('model/mnet.25.onnx', network='net3')
    faces, landmarks = detector.detect(cv2.imread('t1.jpg'), threshold=0.8)

Checks, pre-processing, decoding, NMS / voting, flips and scales are those of the MXNet detector
(:class:`rcnn.detection.base.DetectorBase`, which both share; this class only replaces the
forward), so results equal the MXNet detector's on the same model. A model exported for a fixed
input size accepts only images that preprocess to that size; export with ``--dynamic`` to feed
any size.
"""
import logging
import os

import numpy as np

from rcnn.detection.base import DetectorBase
from rcnn.errors import DetectorError, ModelFileError

log = logging.getLogger(__name__)

# Input height and width of the probe forward that finds the output shapes of a dynamic model.
_PROBE_SIZE = 256


def _open_session(onnx_path, providers, threads, spinning):
    """An ``onnxruntime.InferenceSession`` of the file; ModelFileError naming it when it is missing,
    empty or not a model ONNX Runtime can load."""
    import onnxruntime
    if not os.path.isfile(onnx_path):
        raise ModelFileError('ONNX model not found: %s (write one with tools/export_onnx.py)' % onnx_path)
    if os.path.getsize(onnx_path) == 0:
        raise ModelFileError('ONNX model %s is empty (an interrupted export or download?)' % onnx_path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry('session.intra_op.allow_spinning', '1' if spinning else '0')
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(
            onnx_path, sess_options=options, providers=providers or ['CPUExecutionProvider'])
    except Exception as err:  # onnxruntime raises its own classes, one per kind of bad file
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelFileError('cannot load ONNX model %s (truncated or not an ONNX model?): %s'
                             % (onnx_path, reason[:200])) from None


class RetinaFaceONNX(DetectorBase):
    """Face detector on a RetinaFace model exported by ``tools/export_onnx.py``.

    :param onnx_path: the ``.onnx`` file
    :param network: detector preset naming the anchors and pixel normalisation (a key of
        ``rcnn.processing.presets.DETECTOR_PRESETS``); it must fit the model's outputs
    :param nms, nocrop, decay4, vote: as :class:`rcnn.detection.detector.RetinaFace`
    :param providers: ONNX Runtime execution providers, default ``['CPUExecutionProvider']``
    :param threads: intra-op threads of ONNX Runtime (0: its default, one per core)
    :param spinning: let ONNX Runtime's idle worker threads spin (its default). Off, they sleep:
        on a machine shared with other work (a pipeline's decoders, other Ray workers) spinning
        threads take cores the others need and the forward gets slower, not faster (README)
    :raises ModelFileError: for a missing or unloadable file
    :raises DetectorError: for a bad option or a preset that does not fit the model
    """

    def __init__(self, onnx_path, network='net3', nms=0.4, nocrop=False, decay4=0.5, vote=False,
                 providers=None, threads=0, spinning=True):
        self._setup_decoding(network, nms, nocrop, decay4, vote)
        self.session = _open_session(onnx_path, providers, threads, spinning)
        model_input = self.session.get_inputs()[0]
        self._input_name = model_input.name
        # (N, 3, H, W); N, H, W are names where the model takes any size (tools/export_onnx.py
        # --dynamic opens H and W; rcnn.export.onnx_batch.with_dynamic_batch opens N)
        self.input_shape = tuple(model_input.shape)
        probe = tuple(dim if isinstance(dim, int) else _PROBE_SIZE for dim in self.input_shape[2:])
        outputs = self.forward(np.zeros((1, 3) + probe, dtype=np.float32))
        self._find_heads([out.shape for out in outputs], probe, onnx_path)

    def forward(self, tensor):
        """The model's outputs (list of numpy arrays, in the graph's order) for one input tensor.

        :param tensor: (1, 3, H, W) float32, as :meth:`preprocess` makes it
        """
        fixed = self.input_shape[2:]
        if all(isinstance(dim, int) for dim in fixed) and tuple(tensor.shape[2:]) != fixed:
            raise DetectorError('this ONNX model was exported for %dx%d input (width x height), got '
                                '%dx%d: resize the image, or export with --dynamic'
                                % (fixed[1], fixed[0], tensor.shape[3], tensor.shape[2]))
        return self.session.run(None, {self._input_name: np.ascontiguousarray(tensor)})

    def forward_batch(self, tensor):
        """The outputs (list of (N, C, h, w) arrays) of N stacked inputs: one run where the model's
        batch dimension is open, else one run per input."""
        if isinstance(self.input_shape[0], int):
            return super().forward_batch(tensor)
        return self.forward(tensor)
