"""Import a compiled helper from ``rcnn.cython``, or say once how to build it."""
import importlib
import logging

log = logging.getLogger(__name__)
_warned = set()


def load(module, attribute, fallback='the slower numpy version',
         how='Run `make` in the project root to build it.'):
    """Return ``rcnn.cython.<module>.<attribute>``, or None (with one warning) when not built."""
    try:
        return getattr(importlib.import_module('rcnn.cython.' + module), attribute)
    except ImportError as err:
        if module not in _warned:
            _warned.add(module)
            log.warning('rcnn/cython/%s is not built (%s): using %s. %s', module, err, fallback, how)
        return None
