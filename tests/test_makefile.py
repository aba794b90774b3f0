"""The Makefile's guard: on a Python newer than 3.11 `make` stops with a message, not pip errors."""
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
