"""The runtime-independent half of the RetinaFace detector: everything but the forward pass.

:class:`DetectorBase` chains the stages: checks (:mod:`rcnn.detection.checks`), preprocessing, a
subclass's forward, decoding and merging (:mod:`rcnn.detection.decoding`), with the outputs found
by :mod:`rcnn.detection.heads`. :class:`rcnn.detection.detector.RetinaFace` (MXNet) and
:class:`rcnn.detection.detector_onnx.RetinaFaceONNX` (ONNX Runtime) add the forward; this module
never imports MXNet.

``faces`` are (N, 5) float32 [x1, y1, x2, y2, score] in pixels of the input image (inclusive "+1"
widths: w = x2 - x1 + 1); ``landmarks`` are (N, 5, 2) float32 (x, y) points in the order of
:data:`rcnn.processing.landmarks.LANDMARK_NAMES`. Detections are sorted by descending score.
"""
import logging

import cv2
import numpy as np

from rcnn.detection import batching, checks, decoding, heads, orientation
from rcnn.detection.checks import (check_batch_size, check_letterbox, check_nms, check_pyramid,
                                   check_scales, check_threshold)
from rcnn.detection.passes import Pass, drop_small, plan_passes
from rcnn.detection.turns import AUTO, QUARTER_TURNS, check_rotations, turn_image, unturn_candidates
from rcnn.detection.drawing import draw_detections  # noqa: F401  (rcnn.pipeline imports it here)
from rcnn.detection.scales import target_scale  # noqa: F401  (rcnn.pipeline imports it here)
from rcnn.errors import DetectorError
from rcnn.processing import presets
from rcnn.processing.generate_anchor import generate_anchors_fpn
from rcnn.processing.nms import cpu_nms_wrapper
from rcnn.processing.pixels import to_network_input

log = logging.getLogger(__name__)


def _read_only(name, doc):
    return property(lambda self: getattr(self, '_' + name), doc=doc)


class DetectorBase:
    """Preprocessing, decoding and merging of RetinaFace detections around a ``forward``.

    A subclass calls :meth:`_setup_decoding` with the options (which sets the CPU NMS; a GPU
    runtime may replace ``_nms``), then :meth:`_find_heads` with the model's output shapes, and
    implements ``forward(tensor) -> list of output arrays``.
    """

    network = _read_only('network', 'the network preset (a key of DETECTOR_PRESETS)')
    nms_threshold = _read_only('nms_threshold', 'IoU of NMS / box voting (0 or < 0: keep every box)')
    nms = _read_only('nms', 'the NMS function: (N, 5) dets -> kept row indices')
    nocrop = _read_only('nocrop', 'whether inputs are zero-padded to a multiple of 32')
    decay4 = _read_only('decay4', 'multiplier of stride-4 scores')
    vote = _read_only('vote', 'whether box voting replaces NMS')
    anchor_cfg = _read_only('anchor_cfg', "the preset's {'<stride>': anchor settings}")
    strides = _read_only('strides', 'strides of the FPN levels, descending')
    use_landmarks = _read_only('use_landmarks', 'whether the model predicts landmarks')
    cascade = _read_only('cascade', 'whether the model has cascade refinement heads')

    @property
    def pixel_means(self):
        """(3,) float32 B, G, R means of the preset."""
        return np.array(self._preset.pixel_means, dtype=np.float32)

    @property
    def pixel_stds(self):
        """(3,) float32 B, G, R stds of the preset."""
        return np.array(self._preset.pixel_stds, dtype=np.float32)

    # ------------------------------------------------------------------ set-up
    def _setup_decoding(self, network, nms, nocrop, decay4, vote):
        """Check the options and set the runtime-independent state: anchors, pixel normalisation,
        NMS / voting options. Raises DetectorError naming a bad option."""
        if network not in presets.DETECTOR_PRESETS:
            raise DetectorError('unknown network preset %r: choose one of %s'
                                % (network, ', '.join(presets.DETECTOR_PRESETS)))
        self._decay4 = checks.check_decay4(decay4)
        self._network = network
        self._nms_threshold = check_nms(nms)
        self._nms = cpu_nms_wrapper(self._nms_threshold)
        self._nocrop = bool(nocrop)
        self._vote = bool(vote)
        self._preset = presets.detector_preset(network)
        self._anchor_cfg = presets.anchor_config(network)
        self._strides = presets.strides(network)
        self._anchors_fpn = dict(zip(self._strides,
                                     generate_anchors_fpn(dense_anchor=False, cfg=self._anchor_cfg)))

    def _find_heads(self, output_shapes, input_size, model_name):
        """Check that the preset fits the model and find which output is which, per stride
        (:func:`rcnn.detection.heads.find_heads`).

        :param output_shapes: (1, C, h, w) shape of each output for an input of ``input_size``
        :param model_name: the model file (or a description), named in errors and logs
        """
        num_anchors = {stride: len(anchors) for stride, anchors in self._anchors_fpn.items()}
        self._heads = heads.find_heads(output_shapes, input_size, model_name, self._network,
                                       num_anchors)
        self._use_landmarks = self._heads[0].landmark is not None
        self._cascade = any(stride_heads.cascade_bbox for stride_heads in self._heads)

    # ------------------------------------------------------------------ stages
    def forward(self, tensor):
        """The network's outputs (list of numpy arrays, in the model's order) for one input tensor
        (1, 3, H, W) float32 as :meth:`preprocess` makes it."""
        raise NotImplementedError

    def preprocess(self, img, im_scale=1.0, flip=False, pad_to=None):
        """Network input of one image at one scale.

        :param img: (H, W, 3) uint8 BGR image (see :func:`rcnn.detection.checks.to_bgr`)
        :param im_scale: resize factor (bilinear)
        :param flip: mirror horizontally
        :param pad_to: None, or (H', W'): pad with black at the bottom and right to at least this
            size (letterbox; see :meth:`detect_batch`)
        :return: ((1, 3, H', W') float32 RGB tensor, normalised as the network preset says and
            zero-padded to a multiple of 32 when ``nocrop`` (and to ``pad_to``); (h, w) of the
            resized image)
        """
        height, width = img.shape[:2]
        if int(round(height * im_scale)) < 1 or int(round(width * im_scale)) < 1:
            raise DetectorError('scale %g turns the %dx%d (width x height) image into no pixels'
                                % (im_scale, width, height))
        im = img if im_scale == 1.0 else cv2.resize(img, None, None, fx=im_scale, fy=im_scale,
                                                   interpolation=cv2.INTER_LINEAR)
        if flip:
            im = im[:, ::-1]
        height, width = im.shape[:2]
        padded_shape = (-(-height // 32) * 32, -(-width // 32) * 32) if self._nocrop else (height, width)
        if pad_to is not None:
            padded_shape = (max(padded_shape[0], pad_to[0]), max(padded_shape[1], pad_to[1]))
        tensor = to_network_input(im, self._preset.pixel_means, self._preset.pixel_stds,
                                  padded_shape=padded_shape)
        return tensor, (height, width)

    def forward_batch(self, tensor):
        """The network's outputs for a batch: list of (N, C, h, w) arrays in the model's order.

        :param tensor: (N, 3, H, W) float32, N inputs of :meth:`preprocess` stacked
        This default runs one :meth:`forward` per input; a runtime that can run a batch at once
        overrides it.
        """
        per_input = [self.forward(tensor[i:i + 1]) for i in range(len(tensor))]
        return [np.concatenate(outputs) for outputs in zip(*per_input)]

    def postprocess(self, net_outputs, threshold=0.5, image_size=None, im_scale=1.0, flip=False):
        """Detections of one forward, from raw network outputs of any runtime.

        :param net_outputs: the network's output arrays in the model's order (for the released
            models nine: score (1, 2A, h, w), box (1, 4A, h, w) and landmark (1, 10A, h, w) maps of
            strides 32, 16, 8)
        :param threshold: minimum face score, in [0, 1]
        :param image_size: (h, w) of the image fed to the network before any padding (the second
            value ``preprocess`` returns); boxes are clipped to it. Default: the finest score map's
            size times its stride, exact when the input sides are multiples of that stride.
        :param im_scale, flip: how ``preprocess`` made the input, to map back to the original image
        :return: (faces, landmarks) as :meth:`detect`
        """
        threshold = check_threshold(threshold)
        if image_size is None:
            finest = self._heads[-1]
            image_size = tuple(np.asarray(net_outputs[finest.cls]).shape[2:] * np.int64(finest.stride))
        return self.merge_candidates([self.decode_forward(net_outputs, threshold, image_size, im_scale, flip)])

    def detect(self, img, threshold=0.5, scales=[1.0], do_flip=False, rotations=(0,), pyramid=False):
        """Faces in an image.

        :param img: (H, W, 3) uint8 BGR image as ``cv2.imread`` gives it (grey and BGRA are
            converted; see :func:`rcnn.detection.checks.to_bgr`), or an image file's path, or a
            list of such images whose detections are merged
        :param threshold: minimum face score, in [0, 1]
        :param scales: resize factors (finite, > 0); each scale runs one forward (two with
            ``do_flip``)
        :param do_flip: also run each scale on the mirrored image
        :param rotations: quarter turns to run, degrees CLOCKWISE applied to the input (a tuple
            from 0, 90, 180, 270; 90 finds the faces of a photo lying turned 90 degrees
            counter-clockwise, see :mod:`rcnn.detection.turns`), or ``'auto'``: the upright passes,
            then the one turn that makes the photo upright when it is not
            (:mod:`rcnn.detection.orientation`). Each turn runs every scale and flip
        :param pyramid: add the passes that find faces from the smallest the requested scales see
            up to the whole image (close-ups; :func:`rcnn.detection.scales.pyramid_scales`)
        :return: (faces (N, 5) float32 [x1, y1, x2, y2, score] pixels of ``img``,
            landmarks (N, 5, 2) float32 or None when the model has none); with ``nms < 0`` faces
            has a sixth column, the stride. Whatever the turn, boxes and landmarks are in the
            input's pixels, each landmark the same point of the face as on the upright photo.
            All passes are merged by one NMS (or voting).
        :raises DetectorError: for an image or option the detector cannot take, saying what it got
        """
        threshold = check_threshold(threshold)
        scales = check_scales(scales)
        rotations = check_rotations(rotations)
        pyramid = check_pyramid(pyramid)
        images = img if isinstance(img, list) else [img]
        if not images:
            raise DetectorError('image: got an empty list of images')
        candidates = []
        for image in images:
            image = self.checked_image(image)
            turns = (0,) if rotations == AUTO else rotations
            found = [self.run_pass(image, threshold, step) for step in
                     plan_passes(image.shape, scales, do_flip, turns, pyramid, nocrop=self._nocrop)]
            if rotations == AUTO:
                found += self.auto_turn_candidates(image, threshold, scales, do_flip, pyramid, found)
            candidates += found
        return self.merge_candidates(candidates)

    def detect_batch(self, images, threshold=0.5, scales=[1.0], do_flip=False,
                     batch_size=batching.DEFAULT_BATCH_SIZE, letterbox=None, rotations=(0,),
                     pyramid=False):
        """Faces in each of many images, with one forward per group of same-shape network inputs.

        Without ``letterbox`` the result of each image equals ``detect(image, threshold, scales,
        do_flip, rotations=rotations, pyramid=pyramid)`` (to float rounding: the batched
        convolutions may sum in another order).

        :param images: a sequence (or iterable) of images as :meth:`detect` takes one (arrays or
            paths; each is read and preprocessed only when its turn comes)
        :param threshold: minimum face score, in [0, 1]
        :param scales: resize factors for every image, or a function of an image's shape
            (H, W, 3) returning that image's factors (e.g.
            :func:`rcnn.detection.scales.target_scale` per image)
        :param do_flip: also run each scale on the mirrored image
        :param batch_size: most inputs per forward; at most twice as many preprocessed inputs are
            held at a time (memory grows with it)
        :param letterbox: None, or (H, W): resize each image to fit H x W and pad it at the bottom
            and right, so that every image is one input shape (times each scale); detections are
            in the original image's pixels, but differ slightly from unpadded detect() near the
            padded border (see :mod:`rcnn.detection.batching`)
        :param rotations, pyramid: as :meth:`detect` (with ``'auto'``, an image's turned passes
            run unbatched once its upright ones are done)
        :return: list of (faces, landmarks) per image, as :meth:`detect` returns them
        :raises DetectorError: for an image or option the detector cannot take
        """
        threshold = check_threshold(threshold)
        if callable(scales):
            def scales_of(image_shape):
                return check_scales(scales(image_shape))
        else:
            fixed_scales = check_scales(scales)

            def scales_of(image_shape):
                return fixed_scales
        return batching.detect_batch(self, images, threshold, scales_of, do_flip,
                                     check_batch_size(batch_size), check_letterbox(letterbox),
                                     check_rotations(rotations), check_pyramid(pyramid))

    def run_pass(self, image, threshold, step):
        """Candidates of one pass (:class:`rcnn.detection.passes.Pass`) over a checked image, in
        the image's pixels whatever the pass's turn."""
        turned = turn_image(image, step.turn)
        tensor, image_size = self.preprocess(turned, step.im_scale, step.flip, pad_to=step.pad_to)
        found = self.decode_forward(self.forward(tensor), threshold, image_size, step.im_scale,
                                    step.flip)
        return unturn_candidates(drop_small(found, step), step.turn, image.shape)

    def find_turn(self, image, threshold, scales, upright_candidates):
        """The quarter turn (degrees clockwise) that makes ``image`` upright, 0 when it is (or
        when no turn shows faces): the vote of the confident upright faces, else whole-image
        probes (see :mod:`rcnn.detection.orientation`).

        :param upright_candidates: the candidates of the image's upright passes
        :return: (turn, {Pass: candidates} of the probes run)
        """
        faces, _ = self.merge_candidates(upright_candidates)
        chosen = orientation.voters(faces)
        if len(chosen):
            mosaic = orientation.vote_mosaic(image, chosen)
            mosaic_faces, _ = self.merge_candidates(
                [self.run_pass(mosaic, orientation.VOTE_THRESHOLD, Pass(0, 1.0, False, None))])
            turn = orientation.vote(mosaic_faces, len(chosen))
            if turn is not None:
                log.debug('orientation: %d faces vote for a turn of %d degrees', len(chosen), turn)
                return turn, {}
        scale = orientation.probe_scale(image.shape, scales)
        probes, evidence = {}, {}
        for turn in QUARTER_TURNS:
            if turn == 0 and scale == min(scales):
                probe_faces = faces  # the upright passes include this one
            else:
                step = Pass(turn, scale, False, None)
                probes[step] = self.run_pass(image, threshold, step)
                probe_faces = self.merge_candidates([probes[step]])[0]
            evidence[turn] = orientation.probe_evidence(probe_faces)
        log.debug('orientation: evidence of the probes by turn %s', evidence)
        return orientation.probe_winner(evidence), probes

    def auto_turn_candidates(self, image, threshold, scales, do_flip, pyramid, upright_candidates,
                             letterbox=None):
        """The rest of ``rotations='auto'`` for one image: the candidates of the turn that makes it
        upright (every scale, flip and pyramid pass), or [] when it is upright already.

        :param upright_candidates: the candidates of its upright passes
        """
        turn, probes = self.find_turn(image, threshold, scales, upright_candidates)
        if turn == 0:
            return []
        return [probes[step] if step in probes else self.run_pass(image, threshold, step) for step in
                plan_passes(image.shape, scales, do_flip, (turn,), pyramid, letterbox, self._nocrop)]

    checked_image = staticmethod(checks.checked_image)

    def detect_center(self, img, threshold=0.5, scales=[1.0], do_flip=False):
        """The original's "main face": the one whose box area minus twice its centre's squared
        distance from the image centre is largest.

        :return: ((5,) face [x1, y1, x2, y2, score], (5, 2) landmarks or None), or (None, None)
            when no face passes the threshold
        """
        img = self.checked_image(img)
        faces, landmarks = self.detect(img, threshold, scales, do_flip)
        if len(faces) == 0:
            return None, None
        height, width = img.shape[:2]
        areas = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
        offsets = np.stack(((faces[:, 0] + faces[:, 2]) / 2 - width / 2,
                            (faces[:, 1] + faces[:, 3]) / 2 - height / 2))
        best = int(np.argmax(areas - 2.0 * np.sum(offsets ** 2, axis=0)))
        return faces[best], (landmarks[best] if landmarks is not None else None)

    # ------------------------------------------------------------------ decoding
    def decode_forward(self, outputs, threshold, image_size, im_scale=1.0, flip=False):
        """Candidates of one forward (:func:`rcnn.detection.decoding.decode`) with this detector's
        heads, anchors and ``decay4``; ``threshold`` is taken as checked."""
        return decoding.decode(outputs, self._heads, self._anchors_fpn, threshold, image_size,
                               im_scale, flip, self._decay4)

    def merge_candidates(self, candidates):
        """The detections of an image from the candidates of all its forwards, by this detector's
        NMS or box voting (:func:`rcnn.detection.decoding.merge`)."""
        return decoding.merge(candidates, self._nms_threshold, self._nms, self._vote,
                              self._use_landmarks)
