import pytest

from rcnn.config import config, generate_config


@pytest.fixture
def mnet_config():
    """``config`` with the mnet preset; the resnet preset (the default network) is restored after."""
    generate_config('mnet', 'retinaface')
    yield config
    generate_config('resnet', 'retinaface')
