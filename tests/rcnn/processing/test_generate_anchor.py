import os
import subprocess
import sys

import numpy as np
import pytest

from rcnn.processing import generate_anchor as ga
from sample_config import RAC_SSH
from tests.shared_data import ROOT


def original_anchor(stride_scale):
    """The original formula for ratio 1: base [0, 0, 15, 15], centre 7.5, side 16 * scale."""
    side = 16.0 * stride_scale
    return [7.5 - 0.5 * (side - 1), 7.5 - 0.5 * (side - 1), 7.5 + 0.5 * (side - 1), 7.5 + 0.5 * (side - 1)]


def test_released_retinaface_anchors():
    anchors = ga.generate_anchors_fpn(cfg=RAC_SSH)
    assert [a.shape for a in anchors] == [(2, 4)] * 3
    expected = {32: [[-248, -248, 263, 263], [-120, -120, 135, 135]],
                16: [[-56, -56, 71, 71], [-24, -24, 39, 39]],
                8: [[-8, -8, 23, 23], [0, 0, 15, 15]]}
    for stride, got in zip((32, 16, 8), anchors):
        np.testing.assert_array_equal(got, expected[stride])
        np.testing.assert_array_equal(got, [original_anchor(s) for s in RAC_SSH[str(stride)]['SCALES']])


def test_default_cfg_is_the_sample_settings_anchors_without_reading_the_config():
    """No cfg: net3's anchors, which the sample settings train with; rcnn.config is not imported."""
    for got, want in zip(ga.generate_anchors_fpn(), ga.generate_anchors_fpn(cfg=RAC_SSH)):
        np.testing.assert_array_equal(got, want)
    script = ('import sys; from rcnn.processing.generate_anchor import generate_anchors_fpn; '
              'generate_anchors_fpn(); print(sorted(m for m in sys.modules if m.startswith("rcnn")))')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=60,
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr
    assert 'rcnn.config' not in result.stdout and "'rcnn.processing.presets'" in result.stdout


def test_stride_anchor_plane_is_tiled_once_and_read_only():
    base = ga.generate_anchors_fpn(cfg=RAC_SSH)[2]
    plane = ga.stride_anchor_plane(8, 5, 7, base)
    assert ga.stride_anchor_plane(8, 5, 7, base.copy()) is plane
    assert not plane.flags.writeable and plane.dtype == np.float32
    np.testing.assert_array_equal(plane, ga.anchors_plane(5, 7, 8, base).reshape(-1, 4))
    assert ga.stride_anchor_plane(8, 5, 7, base + 1) is not plane


def test_ratios_round_sides_and_keep_centre():
    anchors = ga.generate_anchors(16, ratios=(0.5, 1.0, 2.0), scales=(1.0,))
    w = anchors[:, 2] - anchors[:, 0] + 1
    h = anchors[:, 3] - anchors[:, 1] + 1
    np.testing.assert_array_equal(w, [23, 16, 11])  # round(sqrt(256 / r))
    np.testing.assert_array_equal(h, [12, 16, 22])  # round(w * r)
    np.testing.assert_allclose((anchors[:, 0] + anchors[:, 2]) / 2, 7.5)


def test_dense_anchor_adds_half_stride_copies():
    plain = ga.generate_anchors(16, (1.0,), (2, 1), stride=8)
    dense = ga.generate_anchors(16, (1.0,), (2, 1), stride=8, dense_anchor=True)
    np.testing.assert_array_equal(dense, np.vstack([plain, plain + 4]))


@pytest.mark.parametrize('height,width,stride', [(1, 1, 8), (3, 5, 16), (20, 20, 32), (0, 4, 8)])
def test_anchors_plane_equals_loop(height, width, stride):
    base = ga.generate_anchors_fpn(cfg=RAC_SSH)[0]
    plane = ga.anchors_plane(height, width, stride, base)
    assert plane.shape == (height, width, 2, 4) and plane.dtype == np.float32
    for h in range(height):
        for w in range(width):
            for k in range(2):
                np.testing.assert_array_equal(plane[h, w, k], base[k] + [w * stride, h * stride] * 2)


def test_anchors_plane_numpy_fallback_equals_cython(monkeypatch):
    base = ga.generate_anchors_fpn(cfg=RAC_SSH)[1]
    compiled = ga.anchors_plane(7, 9, 16, base)
    monkeypatch.setattr(ga, '_anchors_cython', None)
    np.testing.assert_array_equal(ga.anchors_plane(7, 9, 16, base), compiled)
