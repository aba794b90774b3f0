"""Build the Cython tools in place: ``python setup.py build_ext --inplace`` (``make`` does this).

``bbox``, ``cpu_nms`` and ``anchors`` always build. ``gpu_nms`` builds only where ``nvcc`` and the
CUDA toolkit are found, for the architecture of the GPU that ``nvidia-smi`` reports, or for the
one named by the environment variable ``CUDA_ARCH`` (``sm_80``, ``80`` or ``8.0``).
"""
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

log = logging.getLogger('rcnn.cython.setup')
HERE = os.path.dirname(os.path.abspath(__file__))
COMPILE_ARGS = ['-O3', '-Wno-unused-function', '-Wno-unreachable-code']
NUMPY_MACROS = [('NPY_NO_DEPRECATED_API', 'NPY_1_7_API_VERSION')]


def find_cuda():
    """Return (nvcc path, CUDA home) or None when no toolkit is installed."""
    env_home = os.environ.get('CUDA_HOME') or os.environ.get('CUDA_PATH')
    nvcc = shutil.which('nvcc')
    if nvcc is None and env_home and os.path.exists(os.path.join(env_home, 'bin', 'nvcc')):
        nvcc = os.path.join(env_home, 'bin', 'nvcc')
    if nvcc is None:
        return None
    homes = [env_home, os.path.dirname(os.path.dirname(os.path.realpath(nvcc))), '/usr/local/cuda']
    for home in filter(None, homes):
        if os.path.exists(os.path.join(home, 'include', 'cuda_runtime.h')):
            return nvcc, home
    return None


def gpu_arch():
    """Compute capability to build for, as 'sm_XY', or None when there is no GPU to ask."""
    arch = os.environ.get('CUDA_ARCH', '').strip()
    if not arch:
        try:
            out = subprocess.run(['nvidia-smi', '--query-gpu=compute_cap', '--format=csv,noheader'],
                                 capture_output=True, text=True, timeout=30, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        arch = out.split()[0] if out.split() else ''
    digits = arch.replace('sm_', '').replace('.', '')
    return 'sm_' + digits if digits.isdigit() else None


class BuildExtWithNvcc(build_ext):
    """Compiles ``*.cu`` sources with nvcc into objects linked into their extension."""

    def build_extension(self, ext):
        cu_sources = [s for s in ext.sources if s.endswith('.cu')]
        ext.sources = [s for s in ext.sources if not s.endswith('.cu')]
        for source in cu_sources:
            obj = os.path.join(self.build_temp, os.path.basename(source) + '.o')
            os.makedirs(self.build_temp, exist_ok=True)
            cmd = [CUDA[0], '-c', source, '-o', obj, '-O3', '--compiler-options', '-fPIC',
                   '-arch=' + ARCH, '-I' + HERE]
            log.info(' '.join(cmd))
            subprocess.check_call(cmd)
            ext.extra_objects.append(obj)
        super().build_extension(ext)


def extension(name, sources, **kwargs):
    return Extension(name, sources, include_dirs=[np.get_include(), HERE] + kwargs.pop('include_dirs', []),
                     extra_compile_args=COMPILE_ARGS, define_macros=NUMPY_MACROS, **kwargs)


logging.basicConfig(level=logging.INFO, format='%(message)s')
extensions = [extension(name, [name + '.pyx']) for name in ('bbox', 'cpu_nms', 'anchors')]
CUDA = find_cuda()
ARCH = gpu_arch() if CUDA else None
if CUDA and ARCH:
    log.info('building gpu_nms for %s with %s', ARCH, CUDA[0])
    extensions.append(extension('gpu_nms', ['gpu_nms.pyx', 'nms_kernel.cu'], language='c++',
                                include_dirs=[os.path.join(CUDA[1], 'include')],
                                library_dirs=[os.path.join(CUDA[1], 'lib64')],
                                libraries=['cudart'],
                                runtime_library_dirs=[os.path.join(CUDA[1], 'lib64')]))
elif CUDA:
    log.info('gpu_nms not built: nvcc found but no GPU (nvidia-smi); set CUDA_ARCH=sm_XY to build')
else:
    log.info('gpu_nms not built: no CUDA toolkit (nvcc) found; NMS runs on the CPU')

os.chdir(HERE)
setup(name='rcnn_cython', ext_modules=cythonize(extensions, language_level=3, quiet=True),
      cmdclass={'build_ext': BuildExtWithNvcc}, script_args=sys.argv[1:] or ['build_ext', '--inplace'])
