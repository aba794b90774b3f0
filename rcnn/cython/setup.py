"""The Cython tools' build, shared by the package's ``setup.py`` (``pip install .`` and
``pip install -e .``, which ``make`` runs) and by an in-place build of this folder alone::

    python rcnn/cython/setup.py build_ext --inplace

``bbox``, ``cpu_nms`` and ``anchors`` always build. ``gpu_nms`` builds only where ``nvcc`` and the
CUDA toolkit are found, for the architecture of the GPU that ``nvidia-smi`` reports, or for the
one named by the environment variable ``CUDA_ARCH`` (``sm_80``, ``80`` or ``8.0``).
"""
import logging
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

log = logging.getLogger('rcnn.cython.setup')
HERE = os.path.dirname(os.path.abspath(__file__))
COMPILE_ARGS = ['-O3', '-Wno-unused-function', '-Wno-unreachable-code']
NUMPY_MACROS = [('NPY_NO_DEPRECATED_API', 'NPY_1_7_API_VERSION')]
CPU_TOOLS = ('bbox', 'cpu_nms', 'anchors')


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
    """Compiles ``*.cu`` sources with nvcc (the extension's ``nvcc`` and ``cuda_arch`` attributes)
    into objects linked into their extension."""

    def build_extension(self, ext):
        cu_sources = [s for s in ext.sources if s.endswith('.cu')]
        ext.sources = [s for s in ext.sources if not s.endswith('.cu')]
        for source in cu_sources:
            obj = os.path.join(self.build_temp, os.path.basename(source) + '.o')
            os.makedirs(self.build_temp, exist_ok=True)
            cmd = [ext.nvcc, '-c', source, '-o', obj, '-O3', '--compiler-options', '-fPIC',
                   '-arch=' + ext.cuda_arch, '-I' + os.path.dirname(source)]
            log.info(' '.join(cmd))
            subprocess.check_call(cmd)
            ext.extra_objects.append(obj)
        super().build_extension(ext)


def _extension(package, folder, name, sources, **kwargs):
    import numpy as np
    return Extension(package + name, [os.path.join(folder, s) for s in sources],
                     include_dirs=[np.get_include(), folder] + kwargs.pop('include_dirs', []),
                     extra_compile_args=COMPILE_ARGS, define_macros=NUMPY_MACROS, **kwargs)


def extensions(package='', folder='.'):
    """The Cython tools as cythonized extensions.

    :param package: prefix of the module names ('rcnn.cython.' from the project root, '' here)
    :param folder: this folder, as the caller's setup() sees it (relative to its working folder)
    """
    from Cython.Build import cythonize
    found = [_extension(package, folder, name, [name + '.pyx']) for name in CPU_TOOLS]
    cuda = find_cuda()
    arch = gpu_arch() if cuda else None
    if cuda and arch:
        log.info('building gpu_nms for %s with %s', arch, cuda[0])
        gpu = _extension(package, folder, 'gpu_nms', ['gpu_nms.pyx', 'nms_kernel.cu'], language='c++',
                         include_dirs=[os.path.join(cuda[1], 'include')],
                         library_dirs=[os.path.join(cuda[1], 'lib64')], libraries=['cudart'],
                         runtime_library_dirs=[os.path.join(cuda[1], 'lib64')])
        found.append(gpu)
    elif cuda:
        log.info('gpu_nms not built: nvcc found but no GPU (nvidia-smi); set CUDA_ARCH=sm_XY to build')
    else:
        log.info('gpu_nms not built: no CUDA toolkit (nvcc) found; NMS runs on the CPU')
    built = cythonize(found, language_level=3, quiet=True)
    for ext in built:  # cythonize may copy the extensions: mark the CUDA one on its result
        ext.nvcc, ext.cuda_arch = (cuda[0], arch) if ext.name.endswith('gpu_nms') else (None, None)
    return built


if __name__ == '__main__':
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    os.chdir(HERE)
    setup(name='rcnn_cython', ext_modules=extensions(), cmdclass={'build_ext': BuildExtWithNvcc},
          script_args=sys.argv[1:] or ['build_ext', '--inplace'])
