"""Where the settings come from, and the configuration object of a run.

The settings file is, in this order: the file named by the environment variable
``RETINAFACE_CONFIG``, the user's ``config.py`` in the project root (the original's
``cp sample_config.py config.py`` workflow), or ``sample_config.py``. The test suite sets
``RETINAFACE_CONFIG`` to ``sample_config.py`` (tests/conftest.py), so a local ``config.py`` never
changes test results.

A script makes one configuration per run and passes it on as ``cfg``::

    from rcnn.config import generate_config
    cfg = generate_config('mnet', 'retinaface')     # a new EasyDict; see sample_config.py
    sym = symbol.get_symbol('mnet', 'train', cfg)

``from rcnn.config import config, default, generate_config`` works as in the original: the
module-level ``config`` / ``default`` are set in place by every ``generate_config`` call, for
scripts written for the original; nothing in ``rcnn`` or ``symbol`` reads them.
"""
import copy
import importlib.util
import logging
import os

import numpy as np

from rcnn.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_ENV = 'RETINAFACE_CONFIG'  # environment variable naming the settings file to use
SAMPLE_PATH = os.path.join(ROOT, 'sample_config.py')
USER_PATH = os.path.join(ROOT, 'config.py')
log = logging.getLogger(__name__)


def config_path():
    """The settings file to load: $RETINAFACE_CONFIG, else ./config.py when it exists, else the sample.

    :raises UserError: when $RETINAFACE_CONFIG names no file
    """
    named = os.environ.get(CONFIG_ENV)
    if named:
        if not os.path.isfile(named):
            raise UserError('%s=%s: no such file; name a copy of %s or unset it' % (CONFIG_ENV, named, SAMPLE_PATH))
        return os.path.abspath(named)
    return USER_PATH if os.path.exists(USER_PATH) else SAMPLE_PATH


def load_settings(path):
    """The settings module of ``path`` (a copy of sample_config.py), not entered in sys.modules."""
    spec = importlib.util.spec_from_file_location('retinaface_settings', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lookup(cfg, dotted):
    """cfg['TRAIN']['END2END'] for 'TRAIN.END2END'; KeyError when absent."""
    value = cfg
    for part in dotted.split('.'):
        value = value[part]
    return value


def _same(a, b):
    try:
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    except ValueError:  # ragged lists
        return a == b


def unused_settings(cfg, reference):
    """[(key, value, reference value)] of the keys accepted for compatibility but not used
    (sample_config.UNUSED_KEYS) whose value in ``cfg`` differs from ``reference``'s."""
    changed = []
    for key in _sample.UNUSED_KEYS:
        try:
            value = _lookup(cfg, key)
        except KeyError:
            continue
        expected = _lookup(reference, key)
        if not _same(value, expected):
            changed.append((key, value, expected))
    return changed


def _sample_reference(network_name, dataset_name):
    """sample_config's configuration for the same presets (its bare defaults for presets it lacks)."""
    if network_name in _sample.network and dataset_name in _sample.dataset:
        return _sample.build_config(network_name, dataset_name)[0]
    return _sample.config  # untouched: only the active settings file's generate_config runs


def build_config(network_name, dataset_name):
    """(config, default) of the presets from the active settings file: new objects, no global
    changed, no warning (e.g. for a command line's option defaults).

    :raises ValueError: for an unknown preset name
    """
    if hasattr(_settings, 'build_config'):
        return _settings.build_config(network_name, dataset_name)
    _settings.generate_config(network_name, dataset_name)  # a settings file older than build_config: its globals
    return copy.deepcopy(_settings.config), copy.deepcopy(_settings.default)


def generate_config(network_name, dataset_name):
    """The configuration of one run (a new EasyDict), from the active settings file.

    Also sets the module-level ``config`` / ``default`` in place (the original's behaviour).
    Logs a warning for each key accepted for compatibility but not used whose value differs from
    sample_config.py's: such a setting has no effect here.

    :raises ValueError: for an unknown preset name
    """
    returned = _settings.generate_config(network_name, dataset_name)
    # a settings file older than build_config returns nothing and sets its module-level config
    cfg = returned if returned is not None else copy.deepcopy(_settings.config)
    for key, value, expected in unused_settings(cfg, _sample_reference(network_name, dataset_name)):
        log.warning('%s sets %s = %r (default %r): this key is accepted for compatibility with the original '
                    'and has no effect here', SETTINGS_PATH, key, value, expected)
    return cfg


_sample = load_settings(SAMPLE_PATH)
SETTINGS_PATH = config_path()  # the file the settings come from
_settings = _sample if SETTINGS_PATH == SAMPLE_PATH else load_settings(SETTINGS_PATH)
if _settings is not _sample:
    log.info('using the configuration in %s', SETTINGS_PATH)
config = _settings.config
network = _settings.network
dataset = _settings.dataset
default = _settings.default
