"""The runtime-independent detector (no network): the original's order of exactly tied scores."""
import numpy as np
import pytest

from rcnn.detection.base import DetectorBase, DetectorError
from rcnn.processing.nms import cpu_nms_wrapper

SIZE = 64
# net3's base anchors (the original's generate_anchors for scales 32/16, 8/4, 2/1, ratio 1)
BASE_ANCHORS = {32: [[-248, -248, 263, 263], [-120, -120, 135, 135]],
                16: [[-56, -56, 71, 71], [-24, -24, 39, 39]],
                8: [[-8, -8, 23, 23], [0, 0, 15, 15]]}


class FixedOutputs(DetectorBase):
    """The decoding of :class:`DetectorBase` on given network outputs, one list per forward."""

    def __init__(self, forwards, nms):
        self._setup_decoding('net3', nms, nocrop=False, decay4=0.5, vote=False)
        self._nms = cpu_nms_wrapper(nms)
        self.forwards = iter(forwards)
        self._find_heads([out.shape for out in forwards[0]], (SIZE, SIZE), 'fixed outputs')

    def forward(self, tensor):
        return next(self.forwards)


def tied_forward(rng, first_tag):
    """Outputs of one forward on a 64x64 image whose face scores take only three values (so many
    are exactly equal), with zero box deltas, and the candidates in the original's concatenation
    order: strides 32, 16, 8, then rows (y, x, anchor).

    Each candidate carries a tag in the x delta of its first landmark, so that rows with equal
    boxes and scores can be told apart: ``(box, score, first landmark x)``.
    """
    outputs, candidates = [], []
    tag = first_tag
    for stride, base in BASE_ANCHORS.items():
        side = SIZE // stride
        scores = np.zeros((1, 4, side, side), np.float32)
        scores[0, 2:] = rng.choice(np.float32([0.9, 0.8, 0.6]), (2, side, side))
        landmarks = np.zeros((1, 20, side, side), np.float32)
        for y in range(side):
            for x in range(side):
                for a, (x1, y1, x2, y2) in enumerate(base):
                    tag += 1
                    landmarks[0, 10 * a, y, x] = np.float32(tag / 1000.0)
                    x1, x2, y1, y2 = x1 + x * stride, x2 + x * stride, y1 + y * stride, y2 + y * stride
                    width = x2 - x1 + 1
                    point_x = x1 + 0.5 * (width - 1) + np.float32(tag / 1000.0) * width
                    box = [min(max(v, 0), SIZE - 1) for v in (x1, y1, x2, y2)]
                    candidates.append((box, scores[0, 2 + a, y, x], point_x))
        outputs += [scores, np.zeros((1, 8, side, side), np.float32), landmarks]
    return outputs, candidates


def float32_iou(a, b):
    """IoU of two [x1, y1, x2, y2] boxes with inclusive widths, in float32 as the original's
    cpu_nms computes it (0 when they do not overlap)."""
    a, b = np.float32(a[:4]), np.float32(b[:4])
    one = np.float32(1)
    w = min(a[2], b[2]) - max(a[0], b[0]) + one
    h = min(a[3], b[3]) - max(a[1], b[1]) + one
    if w <= 0 or h <= 0:
        return 0.0
    area = (a[2] - a[0] + one) * (a[3] - a[1] + one) + (b[2] - b[0] + one) * (b[3] - b[1] + one)
    return float(w * h / (area - w * h))


def original_merge(candidates, nms):
    """The original's merge, step by step: ``scores.argsort()[::-1]`` over the concatenation,
    then (nms > 0) its cpu_nms, which sorts by ``argsort()[::-1]`` again and keeps each box whose
    IoU with every kept one is <= nms. Returns (dets, first landmark x) of the kept rows."""
    boxes = np.array([c[0] for c in candidates], np.float64)
    scores = np.array([c[1] for c in candidates], np.float32)
    points = np.array([c[2] for c in candidates])
    order = scores.argsort()[::-1]
    dets = np.hstack((boxes[order], scores[order, None])).astype(np.float32)
    points = points[order]
    if nms > 0:
        remaining = list(dets[:, 4].argsort()[::-1])
        keep = []
        while remaining:
            best = remaining.pop(0)
            keep.append(best)
            remaining = [i for i in remaining if float32_iou(dets[best], dets[i]) <= nms]
        dets, points = dets[keep], points[keep]
    return dets, points


@pytest.mark.parametrize('nms', [0.0, 0.4])
@pytest.mark.parametrize('forwards', [1, 2])
def test_exact_ties_come_out_in_the_original_order(rng, nms, forwards):
    runs = [tied_forward(rng, 1000 * i) for i in range(forwards)]
    detector = FixedOutputs([outputs for outputs, _ in runs], nms)
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    faces, landmarks = detector.detect(image, threshold=0.5, scales=[1.0] * forwards)
    expected, expected_points = original_merge([c for _, candidates in runs for c in candidates], nms)
    assert len(expected) > 16 and len(set(expected[:, 4])) == 3  # many exact ties, past insertion sort
    np.testing.assert_array_equal(faces, expected)
    np.testing.assert_allclose(landmarks[:, 0, 0], expected_points, rtol=0, atol=1e-4)


def fit(network, output_shapes):
    """A detector of the given preset, checked against outputs of the given shapes (64x64 input)."""
    detector = FixedOutputs.__new__(FixedOutputs)
    detector._setup_decoding(network, 0.4, nocrop=False, decay4=0.5, vote=False)
    detector._find_heads(output_shapes, (SIZE, SIZE), 'fixed outputs')
    return detector


@pytest.mark.parametrize('network, expects', [
    ('net4', 'strides 32, 16, 8, 4 with 2 anchors'),
    ('net3a', 'strides 32, 16, 8 with 4 anchors'),
    ('net5', 'strides 64, 32, 16, 8, 4 with 3 anchors'),
    ('net6', 'strides 128, 64, 32, 16, 8, 4 with 1 anchors'),
])
def test_a_preset_that_does_not_fit_the_outputs_is_named_with_those_that_do(rng, network, expects):
    shapes = [out.shape for out in tied_forward(rng, 0)[0]]
    assert fit('net3', shapes).strides == [32, 16, 8]
    with pytest.raises(DetectorError) as error:
        fit(network, shapes)
    assert str(error.value) == (
        "network preset %r does not fit fixed outputs: the preset expects %s per position, the model "
        "has outputs at strides 32, 16, 8 with 2 anchors per position; presets that fit: net3, ssh, "
        "vgg, x3" % (network, expects))


def test_outputs_of_no_preset_say_so():
    shapes = [(1, 6, 2, 2), (1, 12, 2, 2), (1, 6, 4, 4), (1, 12, 4, 4), (1, 6, 8, 8), (1, 12, 8, 8)]
    with pytest.raises(DetectorError, match='the model has outputs at strides 32, 16, 8 with 3 anchors '
                                            r'per position; no preset fits \(is it a RetinaFace model\?\)$'):
        fit('net3', shapes)


def test_too_few_outputs_per_stride_are_named():
    with pytest.raises(DetectorError) as error:
        fit('net3', [(1, 4, 2, 2), (1, 4, 4, 4), (1, 4, 8, 8)])
    assert str(error.value) == ('fixed outputs has 3 outputs at strides 32, 16, 8: too few for a '
                                'RetinaFace model (scores and boxes per stride)')


def test_outputs_not_grouped_by_stride_are_named():
    with pytest.raises(DetectorError) as error:
        fit('net3', [(1, 4, 2, 2), (1, 4, 4, 4), (1, 8, 2, 2), (1, 8, 4, 4), (1, 4, 8, 8), (1, 8, 8, 8)])
    assert str(error.value) == ("fixed outputs: the outputs (at strides 32, 16, 8) are not grouped by "
                                "stride, as a RetinaFace model's are")
