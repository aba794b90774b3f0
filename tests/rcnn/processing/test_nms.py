import numpy as np
import pytest

from rcnn.processing import nms as nms_module
from tests.reference import greedy_nms_loop, random_boxes

WRAPPERS = {'numpy': nms_module.py_nms_wrapper, 'cython': nms_module.cpu_nms_wrapper,
            'gpu-or-fallback': lambda t: nms_module.gpu_nms_wrapper(t, 0)}


def random_dets(rng, n, tie_fraction=0.0):
    scores = rng.random(n).astype(np.float32)
    if tie_fraction:
        scores[rng.random(n) < tie_fraction] = 0.5
    return np.hstack([random_boxes(rng, n, size=120, max_side=50), scores[:, None]]).astype(np.float32)


@pytest.mark.parametrize('name', sorted(WRAPPERS))
def test_keeps_what_greedy_reference_keeps(name, rng):
    for n in [0, 1, 2, 10, 100, 400]:
        for thresh in [0.0, 0.3, 0.4, 0.7, 1.0]:
            dets = random_dets(rng, n, tie_fraction=0.3)
            keep = WRAPPERS[name](thresh)(dets)
            assert [int(i) for i in keep] == greedy_nms_loop(dets, thresh), (name, n, thresh)


@pytest.mark.parametrize('name', sorted(WRAPPERS))
def test_identical_boxes_and_scores(name):
    dets = np.array([[10, 10, 20, 20, 0.9]] * 4, dtype=np.float32)
    assert list(WRAPPERS[name](0.5)(dets)) == [0]
    # all scores equal, boxes disjoint: every box kept, lower index first
    dets = np.array([[i * 30, 0, i * 30 + 20, 20, 0.5] for i in range(5)], dtype=np.float32)
    assert [int(i) for i in WRAPPERS[name](0.3)(dets)] == [0, 1, 2, 3, 4]


def test_cython_is_built():
    """`make` must have built the extension; the numpy fallback is only for unbuilt checkouts."""
    assert nms_module._cpu_nms is not None, 'rcnn/cython/cpu_nms is not built: run make'
