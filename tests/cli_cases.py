"""Running a command-line entry point in-process or as a real command, and checking its outcome.

Every expected failure of a command must end in exactly one ``error: ...`` line on stderr, no
traceback, and a known exit status (2 for a bad option, 1 for anything else).
"""
import importlib.util
import os
import subprocess
import sys

import pytest

from rcnn.utils import cli
from tests.shared_data import ROOT



def load_script(relative_path, module_name):
    """A script of the project (e.g. ``test.py``, a name the standard library also uses) as a module."""
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(ROOT, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_in_process(main, argv, capsys):
    """(exit status, stdout, stderr) of ``main(argv)`` run as the script's ``__main__`` runs it."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        cli.run_main(main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return stopped.value.code, out, err


def run_command(relative_path_or_module, *argv, timeout=300):
    """(exit status, stdout, stderr) of the real command line ``python <script> argv...`` (or
    ``python -m <module>`` for a dotted name)."""
    target = (['-m', relative_path_or_module] if not relative_path_or_module.endswith('.py')
              else [os.path.join(ROOT, relative_path_or_module)])
    done = subprocess.run([sys.executable] + target + [str(a) for a in argv], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def assert_one_error(outcome, status, *names):
    """The outcome is a failure with exit ``status`` and exactly one ``error:`` line on stderr,
    which contains every string of ``names``; no traceback. Returns that line."""
    code, _, err = outcome
    errors = [line for line in err.splitlines() if line.startswith('error:')]
    assert 'Traceback' not in err, err
    assert code == status, (code, err)
    assert len(errors) == 1, err
    for name in names:
        assert str(name) in errors[0], (name, errors[0])
    return errors[0]


def assert_success(outcome):
    code, _, err = outcome
    assert code == 0 and 'error:' not in err and 'Traceback' not in err, err
