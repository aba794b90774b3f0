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


def _png_chunk(kind, data):
    import struct
    import zlib
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)


def write_png_header_only(path, width, height):
    """A ~100-byte PNG whose header claims ``width`` x ``height`` grey pixels (one empty IDAT)."""
    import struct
    import zlib
    header = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    data = (b'\x89PNG\r\n\x1a\n' + _png_chunk(b'IHDR', header)
            + _png_chunk(b'IDAT', zlib.compress(b'\x00' * 16)) + _png_chunk(b'IEND', b''))
    with open(path, 'wb') as f:
        f.write(data)
    return path


def write_black_png(path, side):
    """A real, complete ``side`` x ``side`` black grey PNG, compressed row by row (24000 px: about
    0.6 MB on disk, 576 megapixels, 1.7 GB once decoded to BGR)."""
    import struct
    import zlib
    compressor = zlib.compressobj(9)
    row = b'\x00' * (side + 1)  # filter byte + pixels
    body = b''.join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack('>IIBBBBB', side, side, 8, 0, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + _png_chunk(b'IHDR', header) + _png_chunk(b'IDAT', body)
                + _png_chunk(b'IEND', b''))
    return path


def peak_memory_command(relative_path, *argv, timeout=300):
    """(exit status, stdout, stderr, peak MB) of ``python <script> argv...`` run in one process:
    its peak resident memory (VmHWM from /proc: ru_maxrss would carry the parent's peak over a fork
    and exec) less the mapped files' pages resident at exit (RssFile: the shared libraries, 200 to
    300 MB for MXNet depending on how the kernel cached them, the same for every run)."""
    code = ('import atexit, runpy, sys\n'
            'def peak():\n'
            '    with open("/proc/self/status") as f:\n'
            '        kb = {l.split(":")[0]: int(l.split()[1]) for l in f if l.startswith(("VmHWM:", "RssFile:"))}\n'
            '    sys.stderr.write("peak-rss-mb %.1f\\n" % ((kb["VmHWM"] - kb["RssFile"]) / 1024.0))\n'
            'atexit.register(peak)\n'
            'sys.argv = sys.argv[1:]\n'
            'runpy.run_path(sys.argv[0], run_name="__main__")\n')
    done = subprocess.run([sys.executable, '-c', code, os.path.join(ROOT, relative_path)]
                          + [str(a) for a in argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)
    lines = done.stderr.splitlines()
    peak = float([line for line in lines if line.startswith('peak-rss-mb')][-1].split()[1])
    err = '\n'.join(line for line in lines if not line.startswith('peak-rss-mb'))
    return done.returncode, done.stdout, err, peak
