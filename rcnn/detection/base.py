"""The runtime-independent half of the RetinaFace detector: everything but the forward pass.

Checks of images and options, the network preset and how it must fit the model's outputs,
preprocessing, decoding of the score / box / landmark maps, and the merge of all forwards by NMS
or box voting. :class:`rcnn.detection.detector.RetinaFace` (MXNet) and ``rcnn.detection.detector_onnx.RetinaFaceONNX``
(ONNX Runtime) add the forward; this module never imports MXNet.

``faces`` are (N, 5) float32 [x1, y1, x2, y2, score] in pixels of the input image (inclusive "+1"
widths: w = x2 - x1 + 1); ``landmarks`` are (N, 5, 2) float32 (x, y) points in the order of
:data:`rcnn.processing.landmarks.LANDMARK_NAMES`. Detections are sorted by descending score.
"""
import collections
import logging
import math
import numbers

import cv2
import numpy as np

from rcnn.processing import presets
from rcnn.processing.bbox_transform import bbox_overlaps, clip_boxes, landmark_pred, nonlinear_pred
from rcnn.processing.generate_anchor import anchors_plane, generate_anchors_fpn
from rcnn.processing.landmarks import FLIP_ORDER
from rcnn.processing.nms import cpu_nms_wrapper
from rcnn.processing.pixels import to_network_input
from rcnn.utils.image_file import read_image_file
from rcnn.detection import batching
from rcnn.errors import DetectorError, UserError

log = logging.getLogger(__name__)

_MAX_VOTED = 750
CACHE_SIZE = 16  # input shapes whose executors (and anchor planes) are kept


def target_scale(image_shape, target_size, max_size):
    """The original's resize factor: short side to ``target_size``, unless the long side would
    then pass ``max_size`` (rounded), in which case the long side goes to ``max_size``."""
    short_side, long_side = min(image_shape[:2]), max(image_shape[:2])
    scale = float(target_size) / short_side
    if np.round(scale * long_side) > max_size:
        scale = float(max_size) / long_side
    return scale


def _describe_values(img):
    """' values in [lo, hi]' or ' values with NaN' of a numeric array, for error messages."""
    if img.size == 0 or not (np.issubdtype(img.dtype, np.number) or img.dtype == bool):
        return ''
    if np.issubdtype(img.dtype, np.floating) and np.isnan(img).any():
        return ' values with NaN'
    return ' values in [%g, %g]' % (img.min(), img.max())


def to_bgr(img, name='image'):
    """The (H, W, 3) uint8 BGR image the detector takes, from an image as ``cv2.imread`` gives it.

    Grey (H, W) / (H, W, 1) and BGRA (H, W, 4) uint8 images are converted (alpha is dropped);
    anything else that is not (H, W, 3) uint8 with H, W >= 1 is refused.

    :param name: what to call the image in error messages
    :raises DetectorError: saying what was given (type, dtype and value range, or shape)
    """
    if not isinstance(img, np.ndarray):
        hint = (' (cv2.imread returns None for a file it cannot read; '
                'rcnn.utils.image_file.read_image_file says why)' if img is None else '')
        raise DetectorError('%s: expected a numpy (H, W, 3) uint8 BGR array, got %s%s'
                            % (name, type(img).__name__, hint))
    if img.dtype != np.uint8:
        raise DetectorError('%s: expected uint8 BGR pixels 0..255 as cv2.imread gives them, got %s%s'
                            % (name, img.dtype, _describe_values(img)))
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2 and img.size:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4 and img.size:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise DetectorError('%s: expected a grey (H, W), BGR (H, W, 3) or BGRA (H, W, 4) image with '
                            'H, W >= 1, got shape %s' % (name, img.shape))
    return img


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_threshold(threshold):
    """``threshold`` as a float in [0, 1]; DetectorError otherwise."""
    if not _is_number(threshold) or not 0.0 <= threshold <= 1.0:
        raise DetectorError('threshold must be a face score in [0, 1], got %r' % (threshold,))
    return float(threshold)


def check_scales(scales):
    """``scales`` as a list of finite factors > 0 (at least one); DetectorError otherwise."""
    if isinstance(scales, (str, bytes)) or not isinstance(scales, collections.abc.Iterable):
        raise DetectorError('scales must be a list of resize factors such as [1.0], got %r' % (scales,))
    scales = list(scales)
    bad = [scale for scale in scales if not _is_number(scale) or scale <= 0]
    if not scales or bad:
        raise DetectorError('scales must be finite resize factors > 0 (at least one), got %r'
                            % (scales,))
    return scales


def check_nms(nms):
    """``nms`` as a float <= 1: an IoU in (0, 1], or the original's modes 0 (keep every box) and
    < 0 (keep every box, with a stride column); DetectorError otherwise."""
    if not _is_number(nms) or nms > 1.0:
        raise DetectorError('nms must be an IoU in (0, 1] (0: keep every box, < 0: keep every box '
                            'and add the stride column), got %r' % (nms,))
    return float(nms)


def check_batch_size(batch_size):
    """``batch_size`` as an int >= 1; DetectorError otherwise."""
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise DetectorError('batch_size must be an int >= 1, got %r' % (batch_size,))
    return int(batch_size)


def check_letterbox(letterbox):
    """``letterbox`` as (H, W) ints > 0, or None; DetectorError otherwise."""
    if letterbox is None:
        return None
    try:
        height, width = letterbox
        valid = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
                    for v in (height, width))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise DetectorError('letterbox must be (height, width) in pixels, two ints > 0, got %r'
                            % (letterbox,))
    return int(height), int(width)


_LANDMARK_COLOURS = [(0, 255, 0), (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 0, 0)]


def draw_detections(img, faces, landmarks=None, box_colour=(0, 0, 255), thickness=2):
    """Draw boxes and five landmarks on a BGR image, in place (as the original demo does).

    :param img: (H, W, 3) BGR uint8 image
    :param faces: (N, >=4) [x1, y1, x2, y2, ...] pixels
    :param landmarks: (N, 5, 2) points or None; the eye and mouth corner on the image's left are
        green, those on its right blue, the nose red
    :return: ``img``
    """
    for i, face in enumerate(np.asarray(faces)):
        x1, y1, x2, y2 = (int(v) for v in face[:4])
        cv2.rectangle(img, (x1, y1), (x2, y2), box_colour, thickness)
        if landmarks is not None:
            for (x, y), colour in zip(np.asarray(landmarks[i]).astype(int), _LANDMARK_COLOURS):
                cv2.circle(img, (int(x), int(y)), 1, colour, thickness)
    return img


class LruCache(collections.OrderedDict):
    """Keeps the ``size`` most recently used entries; ``get(key, make)`` builds missing ones."""

    def __init__(self, size):
        super().__init__()
        self.size = size

    def get(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        if len(self) > self.size:
            self.popitem(last=False)
        return value


# The network outputs of one stride: indices into the list of outputs.
StrideHeads = collections.namedtuple('StrideHeads', 'stride cls bbox landmark cascade_bbox')


def output_strides(output_shapes, input_size):
    """Stride of each output: input height / output height, rounded to a power of two.

    :param output_shapes: (1, C, h, w) shapes of the outputs for one input
    :param input_size: (H, W) of that input
    """
    return [2 ** int(round(math.log2(input_size[0] / max(shape[2], 1)))) for shape in output_shapes]


def _outputs_by_stride(output_shapes, input_size, model_name):
    """{stride: [output indices]}, strides in the model's order; DetectorError when the outputs of
    one stride are not consecutive or fewer than two (scores and boxes)."""
    groups = collections.OrderedDict()
    for index, stride in enumerate(output_strides(output_shapes, input_size)):
        groups.setdefault(stride, []).append(index)
    strides = ', '.join(map(str, groups))
    if [i for indices in groups.values() for i in indices] != list(range(len(output_shapes))):
        raise DetectorError('%s: the outputs (at strides %s) are not grouped by stride, as a RetinaFace '
                            "model's are" % (model_name, strides))
    if min(len(indices) for indices in groups.values()) < 2:
        raise DetectorError('%s has %d outputs at strides %s: too few for a RetinaFace model (scores '
                            'and boxes per stride)' % (model_name, len(output_shapes), strides))
    return groups


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
        if not _is_number(decay4) or decay4 < 0:
            raise DetectorError('decay4 must be a finite factor >= 0, got %r' % (decay4,))
        self._network = network
        self._nms_threshold = check_nms(nms)
        self._nms = cpu_nms_wrapper(self._nms_threshold)
        self._nocrop = bool(nocrop)
        self._decay4 = float(decay4)
        self._vote = bool(vote)
        self._preset = presets.detector_preset(network)
        self._anchor_cfg = presets.anchor_config(network)
        self._strides = presets.strides(network)
        self._anchors_fpn = dict(zip(self._strides,
                                     generate_anchors_fpn(dense_anchor=False, cfg=self._anchor_cfg)))
        self._num_anchors = {s: len(a) for s, a in self._anchors_fpn.items()}
        self._anchor_planes = LruCache(CACHE_SIZE * len(self._strides))

    def _find_heads(self, output_shapes, input_size, model_name):
        """Check that the preset fits the model, and find which output is which, per stride.

        Outputs are grouped by stride (from their sizes). Per stride they are: scores (2A
        channels), boxes (4A), landmarks when every stride has a third output, then in a cascade
        model up to two refinement outputs: scores (2A, replacing the first ones) and boxes (4A,
        applied to the decoded boxes).

        :param output_shapes: (1, C, h, w) shape of each output for an input of ``input_size``
        :param model_name: the model file (or a description), named in errors and logs
        :raises DetectorError: when the preset's strides or anchors per position differ from the
            model's, naming both and the presets that fit
        """
        groups = _outputs_by_stride(output_shapes, input_size, model_name)
        self._check_preset_fits(groups, output_shapes, model_name)
        use_landmarks = min(len(indices) for indices in groups.values()) >= 3
        base = 3 if use_landmarks else 2
        cascade = max(len(indices) for indices in groups.values()) > base
        heads = []
        for stride, indices in groups.items():
            cls, cascade_bbox = indices[0], []
            for index in indices[base:base + 2]:
                kind = output_shapes[index][1] // self._num_anchors[stride]
                if kind == 2:
                    if cascade_bbox or cls != indices[0]:
                        break
                    cls = index
                elif kind == 4:
                    cascade_bbox.append(index)
            heads.append(StrideHeads(stride, cls, indices[1], indices[2] if use_landmarks else None,
                                     tuple(cascade_bbox)))
        log.info('%s: strides %s, %d anchors each, landmarks %s, cascade %s', model_name,
                 self._strides, self._num_anchors[self._strides[0]], use_landmarks, cascade)
        self._heads, self._use_landmarks, self._cascade = heads, use_landmarks, cascade

    def _check_preset_fits(self, groups, output_shapes, model_name):
        """DetectorError unless the model's strides and anchors per position (half the channels of
        each stride's first output) are the preset's; it names both and the presets that fit."""
        model_strides = list(groups)
        model_anchors = sorted({output_shapes[indices[0]][1] // 2 for indices in groups.values()})
        preset_anchors = self._num_anchors[self._strides[0]]
        if model_strides == self._strides and model_anchors == [preset_anchors]:
            return
        fitting = (presets.presets_with_layout(model_strides, model_anchors[0])
                   if len(model_anchors) == 1 else [])
        raise DetectorError(
            'network preset %r does not fit %s: the preset expects strides %s with %d anchors per '
            'position, the model has outputs at strides %s with %s anchors per position; %s' % (
                self._network, model_name, ', '.join(map(str, self._strides)), preset_anchors,
                ', '.join(map(str, model_strides)), '/'.join(map(str, model_anchors)),
                'presets that fit: ' + ', '.join(fitting) if fitting
                else 'no preset fits (is it a RetinaFace model?)'))

    def _anchor_plane(self, stride, feat_h, feat_w):
        """(feat_h * feat_w * A, 4) float32 anchors of one stride, rows in (y, x, anchor) order."""
        return self._anchor_planes.get(
            (stride, feat_h, feat_w),
            lambda: anchors_plane(feat_h, feat_w, stride, self._anchors_fpn[stride]).reshape(-1, 4))

    # ------------------------------------------------------------------ stages
    def forward(self, tensor):
        """The network's outputs (list of numpy arrays, in the model's order) for one input tensor
        (1, 3, H, W) float32 as :meth:`preprocess` makes it."""
        raise NotImplementedError

    def preprocess(self, img, im_scale=1.0, flip=False, pad_to=None):
        """Network input of one image at one scale.

        :param img: (H, W, 3) uint8 BGR image (see :func:`to_bgr`)
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
        return self._merge([self._decode(net_outputs, threshold, image_size, im_scale, flip)])

    def detect(self, img, threshold=0.5, scales=[1.0], do_flip=False):
        """Faces in an image.

        :param img: (H, W, 3) uint8 BGR image as ``cv2.imread`` gives it (grey and BGRA are
            converted; see :func:`to_bgr`), or an image file's path, or a list of such images whose
            detections are merged
        :param threshold: minimum face score, in [0, 1]
        :param scales: resize factors (finite, > 0); each scale runs one forward (two with
            ``do_flip``)
        :param do_flip: also run each scale on the mirrored image
        :return: (faces (N, 5) float32 [x1, y1, x2, y2, score] pixels of ``img``,
            landmarks (N, 5, 2) float32 or None when the model has none); with ``nms < 0`` faces
            has a sixth column, the stride
        :raises DetectorError: for an image or option the detector cannot take, saying what it got
        """
        threshold = check_threshold(threshold)
        scales = check_scales(scales)
        images = img if isinstance(img, list) else [img]
        if not images:
            raise DetectorError('image: got an empty list of images')
        candidates = []
        for image in images:
            image = self.checked_image(image)
            for im_scale in scales:
                for flip in ((False, True) if do_flip else (False,)):
                    tensor, image_size = self.preprocess(image, im_scale, flip)
                    outputs = self.forward(tensor)
                    candidates.append(self._decode(outputs, threshold, image_size, im_scale, flip))
        return self._merge(candidates)

    def detect_batch(self, images, threshold=0.5, scales=[1.0], do_flip=False,
                     batch_size=batching.DEFAULT_BATCH_SIZE, letterbox=None):
        """Faces in each of many images, with one forward per group of same-shape network inputs.

        Without ``letterbox`` the result of each image equals ``detect(image, threshold, scales,
        do_flip)`` (to float rounding: the batched convolutions may sum in another order).

        :param images: a sequence (or iterable) of images as :meth:`detect` takes one (arrays or
            paths; each is read and preprocessed only when its turn comes)
        :param threshold: minimum face score, in [0, 1]
        :param scales: resize factors for every image, or a function of an image's shape
            (H, W, 3) returning that image's factors (e.g. :func:`target_scale` per image)
        :param do_flip: also run each scale on the mirrored image
        :param batch_size: most inputs per forward; at most twice as many preprocessed inputs are
            held at a time (memory grows with it)
        :param letterbox: None, or (H, W): resize each image to fit H x W and pad it at the bottom
            and right, so that every image is one input shape (times each scale); detections are
            in the original image's pixels, but differ slightly from unpadded detect() near the
            padded border (see :mod:`rcnn.detection.batching`)
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
                                     check_batch_size(batch_size), check_letterbox(letterbox))

    @staticmethod
    def checked_image(img):
        """The checked (H, W, 3) uint8 BGR image of an array or an image file's path."""
        if isinstance(img, str):
            return read_image_file(img)
        return to_bgr(img)

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
    def _decode(self, outputs, threshold, image_size, im_scale, flip):
        """Boxes of one forward whose score passes the threshold, in original-image pixels.

        Only the anchors above the threshold are gathered (per stride) and decoded (all at once).

        :return: dict of 'boxes' (N, 4) float64, 'scores' (N,) float32, 'landmarks' (N, 5, 2)
            float64 (when the model has landmarks), 'strides' (N,) float32
        """
        hits = [self._hits(outputs, heads, threshold) for heads in self._heads]
        found = {key: np.concatenate([hit[key] for hit in hits])
                 for key in ('anchors', 'box_deltas', 'scores', 'strides')}
        boxes = nonlinear_pred(found.pop('anchors'), found.pop('box_deltas'))
        if self._cascade:
            start = 0
            for hit in hits:
                stop = start + len(hit['scores'])
                for deltas in hit['cascade_deltas']:
                    boxes[start:stop] = nonlinear_pred(boxes[start:stop], deltas)
                start = stop
        height, width = image_size
        clip_boxes(boxes, (height, width))
        if flip:
            boxes[:, [0, 2]] = width - 1 - boxes[:, [2, 0]]
        found['boxes'] = boxes / im_scale
        if self._use_landmarks:
            anchors = np.concatenate([hit['anchors'] for hit in hits])
            points = landmark_pred(anchors, np.concatenate([hit['landmark_deltas'] for hit in hits]))
            if flip:
                points[:, :, 0] = width - 1 - points[:, :, 0]
                points = points[:, FLIP_ORDER]
            found['landmarks'] = points / im_scale
        return found

    def _hits(self, outputs, heads, threshold):
        """Scores, anchors and deltas of one stride's anchors whose score passes the threshold.

        Rows are in the original's (y, x, anchor) order. Returns a dict of 'scores' (N,),
        'strides' (N,), 'anchors' (N, 4) float64, 'box_deltas' (N, 4), 'cascade_deltas' (list of
        (N, 4)), 'landmark_deltas' (N, 5, 2) when the model has landmarks.
        """
        anchors_per_cell = self._num_anchors[heads.stride]
        scores = np.asarray(outputs[heads.cls])[0, anchors_per_cell:]  # (A, h, w) face scores
        if heads.stride == 4 and self._decay4 < 1.0:
            scores = scores * self._decay4
        feat_h, feat_w = scores.shape[1:]
        anchor, y, x = np.nonzero(scores >= threshold)
        rows = (y * feat_w + x) * anchors_per_cell + anchor
        order = np.argsort(rows)
        anchor, y, x, rows = anchor[order], y[order], x[order], rows[order]

        def at_hits(index):
            """(N, C) values of output ``index`` at the hits, C channels per anchor."""
            out = np.asarray(outputs[index])[0]
            return out.reshape(anchors_per_cell, -1, feat_h, feat_w)[anchor, :, y, x]

        hit = {'scores': scores[anchor, y, x],
               'strides': np.full(len(rows), heads.stride, dtype=np.float32),
               'anchors': self._anchor_plane(heads.stride, feat_h, feat_w)[rows].astype(np.float64),
               'box_deltas': at_hits(heads.bbox)[:, :4],
               'cascade_deltas': [at_hits(index)[:, :4] for index in heads.cascade_bbox]}
        if self._use_landmarks:
            deltas = at_hits(heads.landmark)
            hit['landmark_deltas'] = deltas.reshape(len(rows), 5, deltas.shape[1] // 5)
        return hit

    def _merge(self, candidates):
        """Sort the candidates of all forwards by score and suppress or vote overlapping ones.

        The candidates are concatenated in the order of the forwards (images, then scales, then
        flip) and, within one forward, strides (descending) and rows. As in the original, they are
        sorted by ``scores.argsort()[::-1]`` (numpy's default sort, reversed: equal scores do not
        keep their concatenation order), and its NMS sorts the result the same way again before
        its greedy pass, so the rows of exactly equal scores come out in the original's order.
        """
        boxes = np.concatenate([c['boxes'] for c in candidates]) if candidates else np.zeros((0, 4))
        columns = 6 if self._nms_threshold < 0 else 5
        if len(boxes) == 0:
            return (np.zeros((0, columns), dtype=np.float32),
                    np.zeros((0, 5, 2), dtype=np.float32) if self._use_landmarks else None)
        scores = np.concatenate([c['scores'] for c in candidates])
        order = scores.argsort()[::-1]
        dets = np.hstack((boxes[order], scores[order, None])).astype(np.float32)
        landmarks = None
        if self._use_landmarks:
            landmarks = np.concatenate([c['landmarks'] for c in candidates])[order].astype(np.float32)
        if self._nms_threshold > 0:
            if self._vote:
                dets, keep = self._vote_boxes(dets)
            else:
                nms_order = dets[:, 4].argsort()[::-1]
                keep = nms_order[self._nms(dets[nms_order])]
                dets = dets[keep]
            landmarks = landmarks[keep] if landmarks is not None else None
        elif self._nms_threshold < 0:
            strides = np.concatenate([c['strides'] for c in candidates])[order]
            dets = np.hstack((dets, strides[:, None]))
        return dets, landmarks

    def _vote_boxes(self, dets):
        """Box voting: each group of boxes overlapping the best remaining one by IoU >= nms is
        replaced by its score-weighted mean box with the group's best score.

        Groups of a single box are dropped (voting needs support from several boxes, as in the
        original; its loop kept a lone box only when it happened to be the last one, which is not
        reproduced). At most 750 boxes are returned.

        :param dets: (N, 5) float32 [x1, y1, x2, y2, score] by descending score
        :return: ((M, 5) float32 voted boxes, indices of the rows whose landmarks they carry: the
            best box of each group)
        """
        voted, leaders = [], []
        remaining = np.arange(len(dets))
        while len(remaining) and len(voted) < _MAX_VOTED:
            box = dets[remaining].astype(np.float64)
            group = bbox_overlaps(box[:1], box)[0] >= self._nms_threshold
            members = box[group]
            if len(members) > 1:
                weights = members[:, 4:5]
                mean_box = (members[:, :4] * weights).sum(axis=0) / weights.sum()
                voted.append(np.append(mean_box, members[:, 4].max()))
                leaders.append(remaining[0])
            remaining = remaining[~group]
        return np.array(voted, dtype=np.float32).reshape(-1, 5), np.array(leaders, dtype=np.int64)
