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
