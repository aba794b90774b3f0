"""The Makefile: the Python guard (on a Python newer than 3.11 `make` stops with a message, not pip
errors), the editable install, the test targets and what CI runs."""
import os
import shutil
import stat
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which('make') is None, reason='make is not installed')
@pytest.mark.parametrize('version,accepted', [('3.12.1', False), ('3.7.9', False), ('3.11.7', True)])
def test_python_version_guard(tmp_path, version, accepted):
    fake = tmp_path / 'python'
    major, minor = (int(v) for v in version.split('.')[:2])
    fake.write_text('#!/bin/sh\n'
                    'case "$2" in\n'
                    '  *version_info*) [ %d -eq 1 ] && exit 0 || exit 1;;\n'
                    '  *platform*) echo %s;;\n'
                    'esac\n' % (int((3, 8) <= (major, minor) <= (3, 11)), version))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    proc = subprocess.run(['make', '--no-print-directory', 'check-python', 'PYTHON=%s' % fake],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    if accepted:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:
        assert proc.returncode != 0
        assert 'needs Python 3.8 to 3.11' in proc.stdout and version in proc.stdout
        assert 'make PYTHON=python3.11' in proc.stdout


def make_dry_run(target, tmp_path):
    """The commands ``make <target>`` would run for a fresh venv in ``tmp_path`` (nothing runs)."""
    proc = subprocess.run(['make', '--no-print-directory', '-n', target, 'VENV=%s' % (tmp_path / 'venv'),
                           'PYTHON=python3'], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.skipif(shutil.which('make') is None, reason='make is not installed')
def test_make_installs_the_project_in_editable_mode(tmp_path):
    commands = make_dry_run('all', tmp_path)
    venv_python = str(tmp_path / 'venv' / 'bin' / 'python')
    assert '%s -m pip install -r requirements.txt -r requirements-dev.txt' % venv_python in commands
    assert '%s -m pip install --no-build-isolation --no-deps -e .' % venv_python in commands
    assert 'build_ext' not in commands  # no in-place setup.py call any more
    assert commands.index('requirements.txt') < commands.index('-e .')


@pytest.mark.skipif(shutil.which('make') is None, reason='make is not installed')
@pytest.mark.parametrize('target,selection', [('test', '-m pytest -q tests'),
                                              ('test-fast', '-m pytest -q -m "not slow" tests')])
def test_test_targets(tmp_path, target, selection):
    commands = make_dry_run(target, tmp_path).splitlines()
    pytest_lines = [c for c in commands if '-m pytest' in c]
    assert pytest_lines == ['%s %s' % (tmp_path / 'venv' / 'bin' / 'python', selection)]
    assert any('-e .' in c for c in commands[:commands.index(pytest_lines[0])])


def test_ci_runs_make_test():
    with open(os.path.join(ROOT, '.ci', 'run')) as f:
        commands = [line.strip() for line in f if line.strip() and not line.startswith('#')]
    assert commands[-1] == 'make test'
