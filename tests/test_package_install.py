"""`pip install .` of a clean copy of the repository (git archive HEAD) into a fresh venv, used from
another folder: the modules come from the venv, the Cython tools are compiled and work, the
tools are installed as commands.

The fresh venv sees the test run's own site-packages through a .pth file (MXNet, numpy, OpenCV
are not installed again: --no-deps); the build itself runs in pip's isolated build environment
with the build requirements of pyproject.toml.
"""
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USE = r'''
import os, sys
import numpy as np
from retinaface import RetinaFace
import rcnn, symbol, sample_config, retinaface_onnx
from rcnn.cython.cpu_nms import cpu_nms
from rcnn.cython.bbox import bbox_overlaps_cython
from rcnn.cython import anchors
dets = np.array([[0, 0, 10, 10, 0.9], [1, 1, 10, 10, 0.8], [20, 20, 30, 30, 0.7]], np.float32)
assert list(cpu_nms(dets, 0.5)) == [0, 2]
boxes = dets[:, :4].astype(np.float64)
assert np.allclose(bbox_overlaps_cython(boxes, boxes).diagonal(), 1)
for module in (rcnn, symbol, sample_config, anchors, sys.modules['rcnn.cython.cpu_nms'], sys.modules[RetinaFace.__module__]):
    print(os.path.realpath(module.__file__))
'''


def _run(argv, **kwargs):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, **kwargs)
    assert done.returncode == 0, '%s\n%s\n%s' % (' '.join(argv), done.stdout[-3000:], done.stderr[-3000:])
    return done.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which('git') is None or not os.path.exists(os.path.join(ROOT, '.git')),
                    reason='needs git and a git checkout')
def test_pip_install_of_a_clean_copy(tmp_path):
    source, venv, elsewhere = tmp_path / 'source', tmp_path / 'venv', tmp_path / 'elsewhere'
    source.mkdir()
    elsewhere.mkdir()
    archive = subprocess.run(['git', '-C', ROOT, 'archive', 'HEAD'], capture_output=True, check=True).stdout
    subprocess.run(['tar', '-x', '-C', str(source)], input=archive, check=True)
    assert not any(name.endswith('.so') for _, _, files in os.walk(source) for name in files)

    _run([sys.executable, '-m', 'venv', str(venv)])
    python = str(venv / 'bin' / 'python')
    site = _run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).strip()
    ours = {sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']}
    with open(os.path.join(site, 'test_run_packages.pth'), 'w') as f:
        f.write('\n'.join(sorted(ours)) + '\n')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    _run([python, '-m', 'pip', 'install', '--no-deps', '--quiet', str(source)], cwd=str(elsewhere), env=env)

    shutil.rmtree(source)  # nothing may come from the copy any more
    printed = _run([python, '-c', USE], cwd=str(elsewhere), env=env).split()
    assert len(printed) == 6 and all(p.startswith(os.path.realpath(site)) for p in printed), printed
    assert printed[4].endswith('.so')
    usage = _run([str(venv / 'bin' / 'retinaface-widerface-eval'), '--help'], cwd=str(elsewhere), env=env)
    assert usage.startswith('usage: widerface_eval.py') and '--only-predicted' in usage
