"""RetinaFace face detector on a released MXNet checkpoint (``<prefix>-symbol.json`` + params).

    detector = RetinaFace('./model/mnet.25', 0, ctx_id=-1, network='net3')
    faces, landmarks = detector.detect(cv2.imread('t1.jpg'), threshold=0.8)

``faces`` is (N, 5) float32 [x1, y1, x2, y2, score] in pixels of the input image (inclusive "+1"
widths: w = x2 - x1 + 1), ``landmarks`` is (N, 5, 2) float32 (x, y) points: right eye, left eye,
nose tip, right mouth corner, left mouth corner (as seen by the camera: the subject's right eye is on
the image's left). Detections are sorted by descending score.

One forward is run per scale (and per flip); its nine outputs (score, box and landmark maps of
strides 32, 16, 8) are decoded only where the face score passes the threshold, then all scales are
merged by NMS (or by box voting). The stages are public so that another runtime (e.g. ONNX) can run
the network in between: ``preprocess`` -> your forward -> ``postprocess``; ``detect`` chains them
with MXNet's ``forward``. Executors are bound once per input shape and reused.
"""
import collections
import logging
import os

import cv2
import numpy as np

try:
    import mxnet as mx
except ImportError:  # RetinaFaceONNX (retinaface_onnx.py) reuses this module without MXNet
    mx = None

from rcnn.processing.bbox_transform import bbox_overlaps, clip_boxes, landmark_pred, nonlinear_pred
from rcnn.processing.generate_anchor import anchors_plane, generate_anchors_fpn
from rcnn.processing.nms import cpu_nms_wrapper, gpu_nms_wrapper

log = logging.getLogger(__name__)

_IMAGENET_BGR_MEANS = (103.939, 116.779, 123.68)
_X_BGR_MEANS = (103.52, 116.28, 123.675)
_X_BGR_STDS = (57.375, 57.12, 58.395)

# network -> (number of FPN levels, anchor aspect ratios h / w, BGR pixel means, BGR pixel stds)
NETWORKS = {
    'net3': (3, (1.0,), None, None),
    'net3a': (3, (1.0, 1.5), None, None),
    'net4': (4, (1.0,), None, None),
    'net4a': (4, (1.0, 1.5), None, None),
    'net5': (5, (1.0,), None, None),
    'net5a': (5, (1.0, 1.5), None, None),
    'net6': (6, (1.0,), None, None),
    'ssh': (3, (1.0,), _IMAGENET_BGR_MEANS, None),
    'vgg': (3, (1.0,), _IMAGENET_BGR_MEANS, None),
    'x3': (3, (1.0,), _X_BGR_MEANS, _X_BGR_STDS),
    'x3a': (3, (1.0, 1.5), _X_BGR_MEANS, _X_BGR_STDS),
    'x5': (5, (1.0,), _X_BGR_MEANS, _X_BGR_STDS),
}

# stride -> anchor scales (multiples of the 16-pixel base anchor), per number of FPN levels
_SCALES_BY_LEVELS = {
    3: {32: (32, 16), 16: (8, 4), 8: (2, 1)},
    4: {32: (32, 16), 16: (8, 4), 8: (2, 1), 4: (2, 1)},
    5: {stride: tuple(2.0 ** ((3 * level + k) / 3.0) for k in range(3))
        for level, stride in enumerate((4, 8, 16, 32, 64))},
    6: {128: (32,), 64: (16,), 32: (8,), 16: (4,), 8: (2,), 4: (1,)},
}

# landmark order after a horizontal flip: the eyes and the mouth corners swap sides
_FLIPPED_LANDMARKS = [1, 0, 2, 4, 3]
_MAX_VOTED = 750
_CACHE_SIZE = 16
_NOMINAL_SHAPE = (1, 3, 640, 640)


def anchor_config(network):
    """``{'<stride>': {'SCALES', 'BASE_SIZE', 'RATIOS', 'ALLOWED_BORDER'}}`` of a network preset."""
    if network not in NETWORKS:
        raise ValueError('unknown network %r; choose one of %s' % (network, ', '.join(NETWORKS)))
    levels, ratios = NETWORKS[network][:2]
    return {str(stride): {'SCALES': scales, 'BASE_SIZE': 16, 'RATIOS': ratios, 'ALLOWED_BORDER': 9999}
            for stride, scales in _SCALES_BY_LEVELS[levels].items()}


def target_scale(image_shape, target_size, max_size):
    """The original's resize factor: short side to ``target_size``, unless the long side would
    then pass ``max_size`` (rounded), in which case the long side goes to ``max_size``."""
    short_side, long_side = min(image_shape[:2]), max(image_shape[:2])
    scale = float(target_size) / short_side
    if np.round(scale * long_side) > max_size:
        scale = float(max_size) / long_side
    return scale


def read_image(path):
    """BGR uint8 (H, W, 3) image of a file; IOError naming the file when it cannot be decoded."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        why = 'no such file' if not os.path.exists(path) else 'not an image OpenCV can decode'
        raise IOError('cannot read image %s: %s' % (path, why))
    return to_bgr(img, path)


def to_bgr(img, name='image'):
    """(H, W, 3) BGR view or copy of a grey (H, W) / (H, W, 1), BGR or BGRA (H, W, 4) image."""
    if not isinstance(img, np.ndarray):
        raise TypeError('%s: expected a numpy image array, got %s' % (name, type(img).__name__))
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError('%s: expected a grey, BGR or BGRA image, got shape %s' % (name, img.shape))
    return img


_LANDMARK_COLOURS = [(0, 255, 0), (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 0, 0)]


def draw_detections(img, faces, landmarks=None, box_colour=(0, 0, 255), thickness=2):
    """Draw boxes and five landmarks on a BGR image, in place (as the original demo does).

    :param img: (H, W, 3) BGR uint8 image
    :param faces: (N, >=4) [x1, y1, x2, y2, ...] pixels
    :param landmarks: (N, 5, 2) points or None; the subject's right side is green, left side blue,
        nose red
    :return: ``img``
    """
    for i, face in enumerate(np.asarray(faces)):
        x1, y1, x2, y2 = (int(v) for v in face[:4])
        cv2.rectangle(img, (x1, y1), (x2, y2), box_colour, thickness)
        if landmarks is not None:
            for (x, y), colour in zip(np.asarray(landmarks[i]).astype(int), _LANDMARK_COLOURS):
                cv2.circle(img, (int(x), int(y)), 1, colour, thickness)
    return img


class _LruCache(collections.OrderedDict):
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
_StrideHeads = collections.namedtuple('_StrideHeads', 'stride cls bbox landmark cascade_bbox')


class RetinaFace:
    """Face detector on a RetinaFace checkpoint.

    :param prefix: checkpoint prefix: ``<prefix>-symbol.json`` and ``<prefix>-<epoch:04d>.params``
    :param epoch: checkpoint epoch
    :param ctx_id: GPU id, or -1 for the CPU. On an MXNet without GPUs a GPU id falls back to the
        CPU with one warning (so the original's default ``ctx_id=0`` works on the CPU wheel).
    :param network: preset naming the anchors and pixel normalisation (see ``NETWORKS``)
    :param nms: IoU threshold of NMS / box voting; 0 keeps every box, < 0 also keeps every box and
        adds a sixth column with the stride that found it
    :param nocrop: zero-pad the input to a multiple of 32 instead of feeding it as it is
    :param decay4: multiplier of stride-4 scores (applied before the threshold)
    :param vote: merge overlapping boxes by score-weighted voting instead of NMS
    """

    def __init__(self, prefix, epoch, ctx_id=0, network='net3', nms=0.4, nocrop=False, decay4=0.5,
                 vote=False):
        self._setup_decoding(network, nms, nocrop, decay4, vote)
        self.ctx_id = _usable_ctx_id(ctx_id)
        self.ctx = mx.gpu(self.ctx_id) if self.ctx_id >= 0 else mx.cpu()
        self.nms = (gpu_nms_wrapper(nms, self.ctx_id) if self.ctx_id >= 0
                    else cpu_nms_wrapper(nms))

        self._symbol, self._params = _load_checkpoint(prefix, epoch, self.ctx)
        self._heads, self.use_landmarks, self.cascade = self._find_heads('%s-symbol.json' % prefix)
        self._executors = _LruCache(_CACHE_SIZE)

    # ------------------------------------------------------------------ set-up
    def _setup_decoding(self, network, nms, nocrop, decay4, vote):
        """The runtime-independent state: anchors, pixel normalisation, NMS / voting options."""
        self.network = network
        self.nms_threshold = nms
        self.nocrop = nocrop
        self.decay4 = decay4
        self.vote = vote
        self.anchor_cfg = anchor_config(network)
        self._feat_stride_fpn = sorted((int(s) for s in self.anchor_cfg), reverse=True)
        self._anchors_fpn = dict(zip(self._feat_stride_fpn,
                                     generate_anchors_fpn(dense_anchor=False, cfg=self.anchor_cfg)))
        self._num_anchors = {s: len(a) for s, a in self._anchors_fpn.items()}

        means, stds = NETWORKS[network][2:]
        self._normalise = means is not None or stds is not None
        self.pixel_means = np.array(means or (0.0, 0.0, 0.0), dtype=np.float32)
        self.pixel_stds = np.array(stds or (1.0, 1.0, 1.0), dtype=np.float32)
        # per RGB input channel, shaped to broadcast over (3, H, W)
        self._rgb_means = self.pixel_means[::-1].reshape(3, 1, 1).copy()
        self._rgb_stds = self.pixel_stds[::-1].reshape(3, 1, 1).copy()

        self._anchor_planes = _LruCache(_CACHE_SIZE * len(self._feat_stride_fpn))

    def _find_heads(self, model_file):
        """Which output is which, per stride, from the output channel counts.

        Per stride the outputs are: scores (2A channels), boxes (4A), landmarks (10A) when the model
        has them, then in a cascade model up to two refinement outputs: scores (2A, replacing the
        first ones) and boxes (4A, applied to the decoded boxes).

        :param model_file: the file holding the graph, named in errors and logs
        """
        channels = self._output_channels()
        levels = len(self._feat_stride_fpn)
        per_stride = len(channels) // levels
        if per_stride < 2:
            raise ValueError('%s has %d outputs, too few for the %d strides of network '
                             '%r' % (model_file, len(channels), levels, self.network))
        use_landmarks = per_stride >= 3
        cascade = per_stride > 3
        base = 3 if use_landmarks else 2
        heads, index = [], 0
        for stride in self._feat_stride_fpn:
            anchors = self._num_anchors[stride]
            cls, cascade_bbox = index, []
            extra = 0
            for offset in ((base, base + 1) if cascade else ()):
                if index + offset >= len(channels):
                    break
                kind = channels[index + offset] // anchors
                if kind == 2:
                    if extra:
                        break
                    cls = index + offset
                    extra += 1
                elif kind == 4:
                    cascade_bbox.append(index + offset)
                    extra += 1
            heads.append(_StrideHeads(stride, cls, index + 1, index + 2 if use_landmarks else None,
                                      tuple(cascade_bbox)))
            index += base + extra
        log.info('%s: strides %s, %d anchors each, landmarks %s, cascade %s', model_file,
                 self._feat_stride_fpn, self._num_anchors[self._feat_stride_fpn[0]], use_landmarks,
                 cascade)
        return heads, use_landmarks, cascade

    def _output_channels(self):
        """Channel count of each network output, in the graph's order."""
        _, out_shapes, _ = self._symbol.infer_shape(data=_NOMINAL_SHAPE)
        return [shape[1] for shape in out_shapes]

    def _bind(self, height, width):
        """An inference executor for (1, 3, height, width) input sharing the loaded weights."""
        args = dict(self._params[0])
        args['data'] = mx.nd.zeros((1, 3, height, width), ctx=self.ctx)
        log.debug('binding an executor for input %dx%d', width, height)
        return self._symbol.bind(self.ctx, args=args, aux_states=self._params[1], grad_req='null')

    def _anchor_plane(self, stride, feat_h, feat_w):
        """(feat_h * feat_w * A, 4) float32 anchors of one stride, rows in (y, x, anchor) order."""
        return self._anchor_planes.get(
            (stride, feat_h, feat_w),
            lambda: anchors_plane(feat_h, feat_w, stride, self._anchors_fpn[stride]).reshape(-1, 4))

    # ------------------------------------------------------------------ stages
    def preprocess(self, img, im_scale=1.0, flip=False):
        """Network input of one image at one scale.

        :param img: (H, W, 3) BGR image
        :param im_scale: resize factor (bilinear)
        :param flip: mirror horizontally
        :return: ((1, 3, H', W') float32 RGB tensor, normalised as the network preset says and
            zero-padded to a multiple of 32 when ``nocrop``; (h, w) of the resized image)
        """
        im = img if im_scale == 1.0 else cv2.resize(img, None, None, fx=im_scale, fy=im_scale,
                                                   interpolation=cv2.INTER_LINEAR)
        if flip:
            im = im[:, ::-1]
        height, width = im.shape[:2]
        if self.nocrop:
            padded_h, padded_w = -(-height // 32) * 32, -(-width // 32) * 32
        else:
            padded_h, padded_w = height, width
        tensor = np.empty((1, 3, padded_h, padded_w), dtype=np.float32)
        if (padded_h, padded_w) != (height, width):
            # padding is black in pixel space, i.e. (0 - mean) / std once normalised
            tensor[0] = -self._rgb_means / self._rgb_stds
        planes = tensor[0, :, :height, :width]
        planes[...] = im.transpose(2, 0, 1)[::-1]
        if self._normalise:
            planes -= self._rgb_means
            planes /= self._rgb_stds
        return tensor, (height, width)

    def executor(self, height, width):
        """The bound ``mx.executor.Executor`` for (1, 3, height, width) input: bound on first use,
        then reused (the 16 most recently used shapes are kept)."""
        return self._executors.get((height, width), lambda: self._bind(height, width))

    def forward(self, tensor):
        """The network's outputs (list of numpy arrays, in the graph's order) for one input tensor.

        :param tensor: (1, 3, H, W) float32, as :meth:`preprocess` makes it
        """
        executor = self.executor(*tensor.shape[2:])
        executor.arg_dict['data'][:] = tensor
        executor.forward(is_train=False)
        return [out.asnumpy() for out in executor.outputs]

    def postprocess(self, net_outputs, threshold=0.5, image_size=None, im_scale=1.0, flip=False):
        """Detections of one forward, from raw network outputs of any runtime.

        :param net_outputs: the network's output arrays in the order of ``<prefix>-symbol.json``
            (for the released models nine: score (1, 2A, h, w), box (1, 4A, h, w) and landmark
            (1, 10A, h, w) maps of strides 32, 16, 8)
        :param threshold: minimum face score
        :param image_size: (h, w) of the image fed to the network before any padding (the second
            value ``preprocess`` returns); boxes are clipped to it. Default: the finest score map's
            size times its stride, exact when the input sides are multiples of that stride.
        :param im_scale, flip: how ``preprocess`` made the input, to map back to the original image
        :return: (faces, landmarks) as :meth:`detect`
        """
        if image_size is None:
            finest = self._heads[-1]
            image_size = tuple(np.asarray(net_outputs[finest.cls]).shape[2:] * np.int64(finest.stride))
        return self._merge([self._decode(net_outputs, threshold, image_size, im_scale, flip)])

    def detect(self, img, threshold=0.5, scales=[1.0], do_flip=False):
        """Faces in an image.

        :param img: (H, W, 3) BGR image (grey and BGRA are converted), or a path, or a list of
            images of the same size whose detections are merged
        :param threshold: minimum face score
        :param scales: resize factors; each scale runs one forward (two with ``do_flip``)
        :param do_flip: also run each scale on the mirrored image
        :return: (faces (N, 5) float32 [x1, y1, x2, y2, score] pixels of ``img``,
            landmarks (N, 5, 2) float32 or None when the model has none); with ``nms < 0`` faces
            has a sixth column, the stride
        """
        images = img if isinstance(img, list) else [img]
        candidates = []
        for image in images:
            image = read_image(image) if isinstance(image, str) else to_bgr(image)
            for im_scale in scales:
                for flip in ((False, True) if do_flip else (False,)):
                    tensor, image_size = self.preprocess(image, im_scale, flip)
                    outputs = self.forward(tensor)
                    candidates.append(self._decode(outputs, threshold, image_size, im_scale, flip))
        return self._merge(candidates)

    def detect_center(self, img, threshold=0.5, scales=[1.0], do_flip=False):
        """The one face that is largest and closest to the image centre: ((5,) face, (5, 2) points),
        or (None, None) when there is none."""
        faces, landmarks = self.detect(img, threshold, scales, do_flip)
        if len(faces) == 0:
            return None, None
        height, width = (read_image(img) if isinstance(img, str) else img).shape[:2]
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
        if self.cascade:
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
        if self.use_landmarks:
            anchors = np.concatenate([hit['anchors'] for hit in hits])
            points = landmark_pred(anchors, np.concatenate([hit['landmark_deltas'] for hit in hits]))
            if flip:
                points[:, :, 0] = width - 1 - points[:, :, 0]
                points = points[:, _FLIPPED_LANDMARKS]
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
        if heads.stride == 4 and self.decay4 < 1.0:
            scores = scores * self.decay4
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
        if self.use_landmarks:
            deltas = at_hits(heads.landmark)
            hit['landmark_deltas'] = deltas.reshape(len(rows), 5, deltas.shape[1] // 5)
        return hit

    def _merge(self, candidates):
        """Sort the candidates of all forwards by score and suppress or vote overlapping ones."""
        boxes = np.concatenate([c['boxes'] for c in candidates]) if candidates else np.zeros((0, 4))
        columns = 6 if self.nms_threshold < 0 else 5
        if len(boxes) == 0:
            return (np.zeros((0, columns), dtype=np.float32),
                    np.zeros((0, 5, 2), dtype=np.float32) if self.use_landmarks else None)
        scores = np.concatenate([c['scores'] for c in candidates])
        order = np.argsort(-scores, kind='stable')
        dets = np.hstack((boxes[order], scores[order, None])).astype(np.float32)
        landmarks = None
        if self.use_landmarks:
            landmarks = np.concatenate([c['landmarks'] for c in candidates])[order].astype(np.float32)
        if self.nms_threshold > 0:
            if self.vote:
                dets, keep = self._vote(dets)
            else:
                keep = self.nms(dets)
                dets = dets[keep]
            landmarks = landmarks[keep] if landmarks is not None else None
        elif self.nms_threshold < 0:
            strides = np.concatenate([c['strides'] for c in candidates])[order]
            dets = np.hstack((dets, strides[:, None]))
        return dets, landmarks

    def _vote(self, dets):
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
            group = bbox_overlaps(box[:1], box)[0] >= self.nms_threshold
            members = box[group]
            if len(members) > 1:
                weights = members[:, 4:5]
                mean_box = (members[:, :4] * weights).sum(axis=0) / weights.sum()
                voted.append(np.append(mean_box, members[:, 4].max()))
                leaders.append(remaining[0])
            remaining = remaining[~group]
        return np.array(voted, dtype=np.float32).reshape(-1, 5), np.array(leaders, dtype=np.int64)


def _usable_ctx_id(ctx_id):
    """``ctx_id``, or -1 (CPU, with a warning) when this MXNet has no GPU."""
    if ctx_id >= 0 and mx.context.num_gpus() == 0:
        log.warning('ctx_id=%d asks for a GPU, but this MXNet build sees none: running on the CPU '
                    '(pass ctx_id=-1 to choose the CPU explicitly)', ctx_id)
        return -1
    return ctx_id


def _load_checkpoint(prefix, epoch, ctx):
    """(symbol, (arg params, aux params) on ``ctx``) of ``<prefix>-symbol.json`` + params.

    Raises IOError naming the missing file and ValueError naming missing weights.
    """
    files = ['%s-symbol.json' % prefix, '%s-%04d.params' % (prefix, epoch)]
    missing = [path for path in files if not os.path.isfile(path)]
    if missing:
        raise IOError('RetinaFace checkpoint not found: %s (see model/README.md for where to get '
                      'the released models and where to put them)' % ', '.join(missing))
    symbol, arg_params, aux_params = mx.model.load_checkpoint(prefix, epoch)
    absent = [name for name in symbol.list_arguments() if name != 'data' and name not in arg_params]
    absent += [name for name in symbol.list_auxiliary_states() if name not in aux_params]
    if absent:
        raise ValueError('%s lacks %d weights that %s needs, e.g. %s' % (files[1], len(absent),
                                                                         files[0], absent[:3]))
    return symbol, ({k: v.as_in_context(ctx) for k, v in arg_params.items()},
                    {k: v.as_in_context(ctx) for k, v in aux_params.items()})
