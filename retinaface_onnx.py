"""RetinaFace face detector on an exported ONNX model, run by ONNX Runtime: no MXNet needed.

    python tools/export_onnx.py --prefix model/mnet.25 --dynamic --output model/mnet.25.onnx
    detector = RetinaFaceONNX('model/mnet.25.onnx', network='net3')
    faces, landmarks = detector.detect(cv2.imread('t1.jpg'), threshold=0.8)

Pre-processing, decoding, NMS / voting, flips and scales are :class:`retinaface.RetinaFace`'s own
(this class only replaces the forward), so results equal the MXNet detector's on the same model.
A model exported for a fixed input size accepts only images that preprocess to that size; export
with ``--dynamic`` to feed any size.
"""
import logging
import os

import numpy as np

from rcnn.processing.nms import cpu_nms_wrapper
from rcnn.core.detector import RetinaFace

log = logging.getLogger(__name__)

# input height and width of the probe forward that finds the output channels of a dynamic model
_PROBE_SIZE = 64


class RetinaFaceONNX(RetinaFace):
    """Face detector on a RetinaFace model exported by ``tools/export_onnx.py``.

    :param onnx_path: the ``.onnx`` file
    :param network: preset naming the anchors and pixel normalisation (see ``retinaface.NETWORKS``)
    :param nms, nocrop, decay4, vote: as :class:`retinaface.RetinaFace`
    :param providers: ONNX Runtime execution providers, default ``['CPUExecutionProvider']``
    :param threads: intra-op threads of ONNX Runtime (0: its default, one per core)
    """

    def __init__(self, onnx_path, network='net3', nms=0.4, nocrop=False, decay4=0.5, vote=False,
                 providers=None, threads=0):
        import onnxruntime
        if not os.path.isfile(onnx_path):
            raise IOError('ONNX model not found: %s (write one with tools/export_onnx.py)'
                          % onnx_path)
        self._setup_decoding(network, nms, nocrop, decay4, vote)
        self.nms = cpu_nms_wrapper(nms)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            onnx_path, sess_options=options, providers=providers or ['CPUExecutionProvider'])
        model_input = self.session.get_inputs()[0]
        self._input_name = model_input.name
        self.input_shape = tuple(model_input.shape)  # (1, 3, H, W); H, W are names when dynamic
        self._heads, self.use_landmarks, self.cascade = self._find_heads(onnx_path)

    def _output_channels(self):
        """Channel count of each output, from one forward at the model's input size (or 64x64)."""
        height, width = (dim if isinstance(dim, int) else _PROBE_SIZE for dim in self.input_shape[2:])
        outputs = self.forward(np.zeros((1, 3, height, width), dtype=np.float32))
        return [out.shape[1] for out in outputs]

    def forward(self, tensor):
        """The model's outputs (list of numpy arrays, in the graph's order) for one input tensor.

        :param tensor: (1, 3, H, W) float32, as :meth:`preprocess` makes it
        """
        fixed = self.input_shape[2:]
        if all(isinstance(dim, int) for dim in fixed) and tuple(tensor.shape[2:]) != fixed:
            raise ValueError('this ONNX model was exported for %dx%d input (width x height), got '
                             '%dx%d: resize the image, or export with --dynamic'
                             % (fixed[1], fixed[0], tensor.shape[3], tensor.shape[2]))
        return self.session.run(None, {self._input_name: np.ascontiguousarray(tensor)})

    def executor(self, height, width):
        """MXNet executors do not exist here: the model runs in ``self.session``."""
        raise NotImplementedError('RetinaFaceONNX runs on ONNX Runtime: use forward() or .session')
