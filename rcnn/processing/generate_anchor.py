"""Anchor generation: the base anchors of each stride and their tiling over a feature map.

Anchors are [x1, y1, x2, y2] in pixels with inclusive widths (w = x2 - x1 + 1). The base anchor of
a stride is the square [0, 0, base_size - 1, base_size - 1] (centre 7.5 for base size 16), enlarged
by each scale and reshaped by each aspect ratio around that centre; the anchor of feature cell
(h, w) is the base anchor shifted by (w * stride, h * stride).

:func:`stride_anchor_plane` is the one tiling cache: training targets (:mod:`rcnn.io.rpn`) and the
detector (:mod:`rcnn.detection.decoding`) both take their anchor planes from it.
"""
import functools

import numpy as np

from rcnn.processing import _compiled, presets

_anchors_cython = _compiled.load('anchors', 'anchors_cython')


def _width_height_centre(anchor):
    """(w, h, x_ctr, y_ctr) of one [x1, y1, x2, y2] anchor, inclusive widths."""
    w = anchor[2] - anchor[0] + 1
    h = anchor[3] - anchor[1] + 1
    return w, h, anchor[0] + 0.5 * (w - 1), anchor[1] + 0.5 * (h - 1)


def _anchors_around(ws, hs, x_ctr, y_ctr):
    """(K, 4) anchors of widths ``ws`` and heights ``hs`` centred on (x_ctr, y_ctr)."""
    ws = np.asarray(ws, dtype=np.float64)[:, None]
    hs = np.asarray(hs, dtype=np.float64)[:, None]
    return np.hstack((x_ctr - 0.5 * (ws - 1), y_ctr - 0.5 * (hs - 1),
                      x_ctr + 0.5 * (ws - 1), y_ctr + 0.5 * (hs - 1)))


def _ratio_enum(anchor, ratios):
    """One anchor per aspect ratio (h / w), keeping the area, sides rounded to whole pixels."""
    w, h, x_ctr, y_ctr = _width_height_centre(anchor)
    ws = np.round(np.sqrt(w * h / np.asarray(ratios, dtype=np.float64)))
    hs = np.round(ws * np.asarray(ratios, dtype=np.float64))
    return _anchors_around(ws, hs, x_ctr, y_ctr)


def _scale_enum(anchor, scales):
    """One anchor per scale, both sides multiplied by the scale."""
    w, h, x_ctr, y_ctr = _width_height_centre(anchor)
    scales = np.asarray(scales, dtype=np.float64)
    return _anchors_around(w * scales, h * scales, x_ctr, y_ctr)


def generate_anchors(base_size=16, ratios=(0.5, 1, 2), scales=2 ** np.arange(3, 6), stride=16,
                     dense_anchor=False):
    """Base anchors of one stride.

    :param base_size: side of the base square anchor, pixels
    :param ratios: aspect ratios h / w
    :param scales: multipliers of the base size
    :param stride: feature stride in pixels (used by ``dense_anchor``)
    :param dense_anchor: also add every anchor shifted by stride / 2 in x and y
    :return: (len(ratios) * len(scales) [* 2], 4) float64 anchors, ratio-major order
    """
    base_anchor = np.array([0, 0, base_size - 1, base_size - 1], dtype=np.float64)
    ratio_anchors = _ratio_enum(base_anchor, ratios)
    anchors = np.vstack([_scale_enum(ratio_anchor, scales) for ratio_anchor in ratio_anchors])
    if dense_anchor:
        assert stride % 2 == 0, 'dense anchors need an even stride, got %d' % stride
        anchors = np.vstack((anchors, anchors + stride // 2))
    return anchors


# The detector preset whose anchors the sample settings (sample_config.py) train with.
DEFAULT_PRESET = 'net3'

# Anchor planes kept by stride_anchor_plane: (stride, feature size, base anchors) combinations.
PLANE_CACHE_SIZE = 64


def generate_anchors_fpn(dense_anchor=False, cfg=None):
    """Base anchors of every stride, strides in descending order (32, 16, 8 for RetinaFace).

    :param dense_anchor: see :func:`generate_anchors`
    :param cfg: ``{'<stride>': {'BASE_SIZE', 'RATIOS', 'SCALES', ...}}``; default the anchors of
        the sample settings' preset (:data:`DEFAULT_PRESET`, ``config.RPN_ANCHOR_CFG`` of the
        sample configuration)
    :return: list of (A, 4) float32 arrays, one per stride
    """
    if cfg is None:
        cfg = presets.anchor_config(DEFAULT_PRESET)
    anchors = []
    for stride in sorted((int(k) for k in cfg), reverse=True):
        v = cfg[str(stride)]
        anchors.append(generate_anchors(v['BASE_SIZE'], v['RATIOS'], v['SCALES'], stride,
                                        dense_anchor).astype(np.float32))
    return anchors


def anchors_plane(feat_h, feat_w, stride, base_anchor):
    """Tile base anchors over a feature map.

    :param feat_h, feat_w: feature-map size in cells
    :param stride: pixels between neighbouring cells
    :param base_anchor: (A, 4) anchors of cell (0, 0)
    :return: (feat_h, feat_w, A, 4) float32 anchors in pixels
    """
    if _anchors_cython is not None:
        return _anchors_cython(int(feat_h), int(feat_w), int(stride), base_anchor)
    shift_x = np.arange(feat_w, dtype=np.float32) * stride
    shift_y = np.arange(feat_h, dtype=np.float32) * stride
    shifts = np.stack(np.broadcast_arrays(shift_x[None, :], shift_y[:, None],
                                          shift_x[None, :], shift_y[:, None]), axis=-1)
    return (shifts[:, :, None, :] + np.asarray(base_anchor, dtype=np.float32)).astype(np.float32)


def stride_anchor_plane(stride, feat_h, feat_w, base_anchor):
    """All anchors of one stride over a feature map, tiled once and cached (the 64 most recently
    used combinations of stride, size and base anchors; thread-safe).

    :param base_anchor: (A, 4) float32 anchors of cell (0, 0)
    :return: read-only (feat_h * feat_w * A, 4) float32 anchors in pixels, rows in (y, x, anchor)
        order (the order of the score map's cells, anchor fastest)
    """
    base_anchor = np.ascontiguousarray(base_anchor, dtype=np.float32)
    return _cached_plane(int(stride), int(feat_h), int(feat_w), base_anchor.tobytes())


@functools.lru_cache(maxsize=PLANE_CACHE_SIZE)
def _cached_plane(stride, feat_h, feat_w, base_bytes):
    base_anchor = np.frombuffer(base_bytes, dtype=np.float32).reshape(-1, 4).copy()
    plane = anchors_plane(feat_h, feat_w, stride, base_anchor).reshape(-1, 4)
    plane.setflags(write=False)
    return plane
