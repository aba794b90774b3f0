"""Where the settings come from, and the configuration object of a run.

The settings file is, in this order: the file named by the environment variable
``RETINAFACE_CONFIG``, the user's ``config.py`` in the project root (the original's
``cp sample_config.py config.py`` workflow), or ``sample_config.py`` (found as the top-level
module ``sample_config``, in a checkout or a ``pip install``). A settings file holds data only:
the EasyDicts ``config``, ``network``, ``dataset`` and ``default`` (see sample_config.py); the
merge of a network and a dataset preset into them is done here. The test suite sets
``RETINAFACE_CONFIG`` to ``sample_config.py`` (tests/conftest.py), so a local ``config.py`` never
changes test results.

A script makes one configuration per run and passes it on as ``cfg``::

    from rcnn.config import generate_config
    cfg = generate_config('mnet', 'retinaface')     # a new EasyDict; see sample_config.py
    sym = symbol.get_symbol('mnet', 'train', cfg)

``from rcnn.config import config, default, generate_config`` works as in the original: the
module-level ``config`` / ``default`` are set in place by every ``generate_config`` call, for
scripts written for the original; nothing in ``rcnn`` or ``symbol`` reads them. A settings file
that brings its own ``generate_config`` (an older copy of sample_config.py, or the original's)
keeps working: its function is used.

The settings file is read on first use (a call, or reading ``config`` / ``default`` /
``network`` / ``dataset`` / ``SETTINGS_PATH``), so that a broken file is one error line of the
command that uses it: :class:`rcnn.errors.UserError` naming the file and line.
"""
import copy
import importlib.util
import logging
import os
import traceback

import numpy as np

from rcnn.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_ENV = 'RETINAFACE_CONFIG'  # environment variable naming the settings file to use
USER_PATH = os.path.join(ROOT, 'config.py')
SETTINGS_NAMES = ('config', 'network', 'dataset', 'default')  # what a settings file defines
LAZY_NAMES = SETTINGS_NAMES + ('SETTINGS_PATH',)  # module attributes read from the settings on first use
log = logging.getLogger(__name__)
_loaded = {}  # 'sample', 'active': the _Settings read so far


def sample_path():
    """Path of sample_config.py: the top-level module ``sample_config`` (a checkout's root on the
    path, or the installed module).

    :raises UserError: when no such module is installed
    """
    spec = importlib.util.find_spec('sample_config')
    if spec is None or not spec.origin:
        raise UserError('sample_config.py not found: run from the project root or install the package (pip install .)')
    return os.path.abspath(spec.origin)


def config_path():
    """The settings file to load: $RETINAFACE_CONFIG, else ./config.py when it exists, else the sample.

    :raises UserError: when $RETINAFACE_CONFIG names no file
    """
    named = os.environ.get(CONFIG_ENV)
    if named:
        if not os.path.isfile(named):
            raise UserError('%s=%s: no such file; name a copy of %s or unset it' % (CONFIG_ENV, named, sample_path()))
        return os.path.abspath(named)
    return USER_PATH if os.path.exists(USER_PATH) else sample_path()


def _line_in(path, error):
    """The line of ``path`` where ``error`` was raised (its innermost frame in that file), or '?'."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if os.path.abspath(f.filename) == path]
    return frames[-1].lineno if frames else '?'


def load_settings(path):
    """The settings module of ``path`` (a copy of sample_config.py), not entered in sys.modules.

    :raises UserError: naming the file and line of a syntax error or of an error while it runs,
        or the settings (``config``, ``network``, ``dataset``, ``default``) it does not define
    """
    path = os.path.abspath(path)
    spec = importlib.util.spec_from_file_location('retinaface_settings', path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise UserError('%s:%s: syntax error: %s; fix the settings file (a copy of sample_config.py)'
                        % (path, err.lineno, err.msg)) from None
    except Exception as err:  # the file is the user's code: whatever it raises is reported as its error
        raise UserError('%s:%s: %s: %s; fix the settings file (a copy of sample_config.py)'
                        % (path, _line_in(path, err), type(err).__name__, err)) from None
    missing = [name for name in SETTINGS_NAMES if not isinstance(getattr(module, name, None), dict)]
    if missing:
        raise UserError('%s does not define the settings %s: a settings file is a copy of sample_config.py '
                        'with its values changed' % (path, ', '.join(missing)))
    return module


class _Settings:
    """A loaded settings file and a copy of its ``config`` / ``default`` as written (before any
    ``generate_config`` call changes them in place)."""

    def __init__(self, path):
        self.path = path
        self.module = load_settings(path)
        self.pristine_config = copy.deepcopy(self.module.config)
        self.pristine_default = copy.deepcopy(self.module.default)


def _sample():
    if 'sample' not in _loaded:
        _loaded['sample'] = _Settings(sample_path())
    return _loaded['sample']


def _active():
    if 'active' not in _loaded:
        path = config_path()
        _loaded['active'] = _sample() if path == _sample().path else _Settings(path)
        if _loaded['active'] is not _sample():
            log.info('using the configuration in %s', path)
    return _loaded['active']


def __getattr__(name):
    """``config``, ``network``, ``dataset``, ``default`` (the active settings file's objects) and
    ``SETTINGS_PATH``, read on first use."""
    if name not in LAZY_NAMES:
        raise AttributeError('module %r has no attribute %r' % (__name__, name))
    settings = _active()
    value = settings.path if name == 'SETTINGS_PATH' else getattr(settings.module, name)
    globals()[name] = value
    return value


def _reset(target, source):
    """Make an EasyDict equal to a deep copy of ``source``, in place (callers keep references to it)."""
    for key in list(target.keys()):
        target.pop(key)
    for key, value in copy.deepcopy(source).items():
        target[key] = value


def _apply(preset, cfg, defaults):
    """Set each preset key on ``cfg`` when it has it, else on ``defaults``; and on ``cfg.TRAIN`` when that has it."""
    for k, v in preset.items():
        if k in cfg:
            cfg[k] = copy.deepcopy(v)
        elif k in defaults:
            defaults[k] = copy.deepcopy(v)
        if k in cfg.TRAIN:
            cfg.TRAIN[k] = copy.deepcopy(v)


def _derive_anchors(cfg):
    """Set ``NUM_ANCHORS`` of each stride, ``cfg.RPN_FEAT_STRIDE`` (descending) and ``cfg.NUM_ANCHORS``.

    :raises ValueError: when the strides have different anchor counts
    """
    num_anchors = {}
    for stride, anchor_cfg in cfg.RPN_ANCHOR_CFG.items():
        count = len(anchor_cfg['SCALES']) * len(anchor_cfg['RATIOS'])
        anchor_cfg['NUM_ANCHORS'] = count * 2 if cfg.DENSE_ANCHOR else count
        num_anchors[int(stride)] = anchor_cfg['NUM_ANCHORS']
    cfg.RPN_FEAT_STRIDE = sorted(num_anchors, reverse=True)
    if len(set(num_anchors.values())) != 1:
        raise ValueError('every stride needs the same number of anchors, got %s' % num_anchors)
    cfg.NUM_ANCHORS = num_anchors[cfg.RPN_FEAT_STRIDE[0]]


def merge_presets(settings, network_name, dataset_name):
    """(config, default) of a settings file's defaults with ``network[network_name]`` then
    ``dataset[dataset_name]`` applied (a preset key overrides ``config`` when ``config`` has it,
    else ``default``, and also ``config.TRAIN`` when that has it), plus the derived
    ``config.network``, ``config.dataset``, ``config.RPN_FEAT_STRIDE``, ``config.NUM_ANCHORS`` and
    ``config.RPN_ANCHOR_CFG[stride]['NUM_ANCHORS']``. New objects; nothing else changes.

    :raises ValueError: for an unknown preset name, or strides with different anchor counts
    """
    module = settings.module
    if network_name not in module.network:
        raise ValueError('unknown network %r: choose one of %s' % (network_name, sorted(module.network)))
    if dataset_name not in module.dataset:
        raise ValueError('unknown dataset %r: choose one of %s' % (dataset_name, sorted(module.dataset)))
    cfg, defaults = copy.deepcopy(settings.pristine_config), copy.deepcopy(settings.pristine_default)
    _apply(module.network[network_name], cfg, defaults)
    _apply(module.dataset[dataset_name], cfg, defaults)
    cfg.network = network_name
    cfg.dataset = dataset_name
    _derive_anchors(cfg)
    return cfg, defaults


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
    for key in _sample().module.UNUSED_KEYS:
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
    sample = _sample()
    if network_name in sample.module.network and dataset_name in sample.module.dataset:
        return merge_presets(sample, network_name, dataset_name)[0]
    return sample.pristine_config


def build_config(network_name, dataset_name):
    """(config, default) of the presets from the active settings file: new objects, no global
    changed, no warning (e.g. for a command line's option defaults).

    :raises ValueError: for an unknown preset name
    """
    module = _active().module
    if hasattr(module, 'build_config'):  # an older copy of sample_config.py, with the merge in it
        return module.build_config(network_name, dataset_name)
    if hasattr(module, 'generate_config'):  # the original's settings file: its globals
        module.generate_config(network_name, dataset_name)
        return copy.deepcopy(module.config), copy.deepcopy(module.default)
    return merge_presets(_active(), network_name, dataset_name)


def generate_config(network_name, dataset_name):
    """The configuration of one run (a new EasyDict), from the active settings file.

    Also sets the module-level ``config`` / ``default`` in place to copies of it (the original's
    behaviour). Logs a warning for each key accepted for compatibility but not used whose value
    differs from sample_config.py's: such a setting has no effect here.

    :raises ValueError: for an unknown preset name
    """
    settings = _active()
    if hasattr(settings.module, 'generate_config'):
        returned = settings.module.generate_config(network_name, dataset_name)
        # the original's generate_config returns nothing and sets its module-level config
        cfg = returned if returned is not None else copy.deepcopy(settings.module.config)
    else:
        cfg, defaults = merge_presets(settings, network_name, dataset_name)
        _reset(settings.module.config, cfg)
        _reset(settings.module.default, defaults)
    for key, value, expected in unused_settings(cfg, _sample_reference(network_name, dataset_name)):
        log.warning('%s sets %s = %r (default %r): this key is accepted for compatibility with the original '
                    'and has no effect here', settings.path, key, value, expected)
    return cfg
