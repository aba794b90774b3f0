"""What every command-line entry point shares: one-line errors, option parsing, logging set-up.

An expected failure (a missing or corrupt file, a bad option, a bad label line) is raised as
:class:`UserError` anywhere in the code; the script's ``main`` is wrapped by :func:`run_main`,
which prints it as ONE line ``error: <message>`` on stderr and exits with status 1. Any other
exception is a bug and keeps its traceback. :class:`ArgumentParser` reports a bad option the same
way (one line, status 2, as argparse's usual status).

    parser = cli.ArgumentParser(description=...)
    ...
    def main(argv=None):
        args = parser.parse_args(argv)
        ...
    if __name__ == '__main__':
        cli.run_main(main)
"""
import argparse
import logging
import math
import os
import sys

LOG_FORMAT = '%(asctime)s %(name)s %(levelname)s %(message)s'

# MXNet's own C++ chatter that would break a progress bar on every new input shape.
_QUIET_MXNET_ENV = {'MXNET_SUBGRAPH_VERBOSE': '0'}


class UserError(Exception):
    """An expected failure the user can fix; the message names the file, line or option at fault
    and what to do. Scripts print it as one ``error: ...`` line (see :func:`run_main`)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a bad option reported as one line ``error: <message>`` (exit status 2)."""

    def error(self, message):
        self.exit(2, 'error: %s (see %s --help)\n' % (message, self.prog))


def run_main(main, argv=None):
    """Run ``main(argv)`` and exit with its return value; a :class:`UserError` becomes one line
    ``error: ...`` on stderr and exit status 1, Ctrl-C exit status 130."""
    try:
        status = main(argv)
    except UserError as err:
        sys.stderr.write('error: %s\n' % err)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write('error: interrupted\n')
        sys.exit(130)
    sys.exit(status or 0)


def quiet_mxnet():
    """MXNet's verbose C++ messages off (it reads the variables at every bind); a value the user
    set is kept."""
    for key, value in _QUIET_MXNET_ENV.items():
        os.environ.setdefault(key, value)


def setup_logging(level=logging.INFO, fmt=LOG_FORMAT):
    """The scripts' logging: one format on stderr, and MXNet's verbose C++ messages off."""
    quiet_mxnet()
    logging.basicConfig(level=level, format=fmt)


def parse_size(text):
    """'HxW' -> (height, width) in pixels, both > 0, for ``type=`` of an argparse option."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError('must look like 480x640 (height x width), got %r' % text)
    if height <= 0 or width <= 0:
        raise argparse.ArgumentTypeError('height and width must be > 0, got %r' % text)
    return height, width


def _number(kind, text, low, high, low_open, high_open):
    """``kind(text)`` checked to be finite and within [low, high] (open ends as asked)."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected a number, got %r' % text)
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError('must be a finite number, got %r' % text)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = '(' if low_open else '['
        right = ')' if high_open else ']'
        raise argparse.ArgumentTypeError('must be in %s%s, %s%s, got %r' % (
            left, '-inf' if low is None else low, 'inf' if high is None else high, right, text))
    return value


def number(low=None, high=None, low_open=False, high_open=False, kind=float):
    """An argparse ``type=`` that accepts a finite ``kind`` within the given bounds.

    ``number(0, 1)`` is [0, 1]; ``number(0, 1, low_open=True)`` is (0, 1]; ``number(1, kind=int)``
    is an int >= 1.
    """
    def parse(text):
        return _number(kind, text, low, high, low_open, high_open)
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse
