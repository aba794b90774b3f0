"""Build hook of pyproject.toml: the packages and the Cython tools as extensions of ``rcnn.cython``.

The rest of the package is described in pyproject.toml. The extension list and the nvcc step are
those of ``rcnn/cython/setup.py`` (loaded here by path: the package cannot be imported before it
is built). ``tools/`` is installed as the package ``retinaface_tools`` (a top-level ``tools``
would clash with other projects); its functions are the installed commands.
"""
import importlib.util
import os

from setuptools import find_packages, setup


def _cython_build():
    path = os.path.join('rcnn', 'cython', 'setup.py')
    spec = importlib.util.spec_from_file_location('rcnn_cython_build', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _cython_build()
setup(packages=find_packages(include=['rcnn', 'rcnn.*', 'symbol', 'symbol.*']) + ['retinaface_tools'],
      package_dir={'retinaface_tools': 'tools'},
      ext_modules=build.extensions('rcnn.cython.', os.path.join('rcnn', 'cython')),
      cmdclass={'build_ext': build.BuildExtWithNvcc})
