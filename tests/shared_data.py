"""The one way tests reach the real material in ../shared/data.

The folder is ``$RETINAFACE_SHARED_DATA`` when set, else ``../shared/data`` beside the project
root. Where a file is absent the calling test is skipped with the path it looked for, so the
suite runs (with skips) for users who do not have the material.
"""
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_root():
    """The shared data folder (it may not exist)."""
    return os.environ.get('RETINAFACE_SHARED_DATA') or os.path.join(os.path.dirname(ROOT), 'shared', 'data')


def shared_path(*parts):
    """Path of ``parts`` under the shared data folder; skips the test when it does not exist."""
    path = os.path.join(shared_root(), *parts)
    if not os.path.exists(path):
        pytest.skip('shared test material not found: %s (set RETINAFACE_SHARED_DATA to the folder '
                    'that holds models/, images/, annotations/ and reference_outputs/)' % path)
    return path


def mnet25_prefix():
    """Checkpoint prefix of the released mnet.25 model (``<prefix>-symbol.json``, ``-0000.params``)."""
    shared_path('models', 'mnet.25', 'mnet.25-0000.params')
    return shared_path('models', 'mnet.25', 'mnet.25-symbol.json')[:-len('-symbol.json')]


def widerface_val_images():
    """(relative '<event>/<name>.jpg', absolute path) of the real WIDER val images, sorted."""
    root = shared_path('images', 'widerface_val')
    images = []
    for event in sorted(os.listdir(root)):
        folder = os.path.join(root, event)
        if os.path.isdir(folder):
            images += [(event + '/' + name, os.path.join(folder, name))
                       for name in sorted(os.listdir(folder)) if name.endswith('.jpg')]
    return images
