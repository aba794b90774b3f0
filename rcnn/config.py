"""The active configuration: the user's ``config.py`` in the project root when it exists,
otherwise ``sample_config.py`` (the original's ``cp sample_config.py config.py`` workflow).

``from rcnn.config import config, default, generate_config`` works as in the original.
"""
import importlib.util
import logging
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
log = logging.getLogger(__name__)


def _load():
    user = os.path.join(ROOT, 'config.py')
    path = user if os.path.exists(user) else os.path.join(ROOT, 'sample_config.py')
    spec = importlib.util.spec_from_file_location('retinaface_config', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if path == user:
        log.info('using the configuration in %s', user)
    return module


_module = _load()
config = _module.config
network = _module.network
dataset = _module.dataset
default = _module.default
generate_config = _module.generate_config
