import logging
import os

# Pin the sample configuration before anything imports rcnn.config: a developer's local config.py
# (or a RETINAFACE_CONFIG of their shell) must not change test results; subprocesses inherit it.
os.environ['RETINAFACE_CONFIG'] = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                               'sample_config.py')

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    """A seeded generator, so that a failing random case can be replayed."""
    return np.random.default_rng(20190505)


def pytest_configure(config):
    logging.getLogger('rcnn').setLevel(logging.INFO)


@pytest.fixture(scope='session')
def mnet25_detector():
    """The released mnet.25 on the CPU (preset 'net3', NMS 0.4), built once for the whole run.
    Skips where the shared material is absent. Tests must not change it."""
    from retinaface import RetinaFace
    from tests.shared_data import mnet25_prefix
    return RetinaFace(mnet25_prefix(), 0, ctx_id=-1, network='net3', nms=0.4)
