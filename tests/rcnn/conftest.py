import pytest

from rcnn.config import generate_config


@pytest.fixture
def mnet_config():
    """A new configuration of the mnet preset, for the test to change and pass on as ``cfg``."""
    return generate_config('mnet', 'retinaface')
