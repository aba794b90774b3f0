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

from rcnn.errors import UserError  # noqa: F401 (re-exported for the scripts)

LOG_FORMAT = '%(asctime)s %(name)s %(levelname)s %(message)s'

# MXNet's own C++ chatter that would break a progress bar on every new input shape.
_QUIET_MXNET_ENV = {'MXNET_SUBGRAPH_VERBOSE': '0'}


class _HelpWithoutAliases(argparse.HelpFormatter):
    """Help that shows an option by its kebab-case names only (aliases are accepted, not listed)."""

    def _format_action_invocation(self, action):
        hidden = getattr(action, 'hidden_aliases', ())
        if not hidden:
            return super()._format_action_invocation(action)
        shown = argparse.Action(option_strings=[s for s in action.option_strings if s not in hidden],
                                dest=action.dest, nargs=action.nargs, metavar=action.metavar)
        return super()._format_action_invocation(shown)


def _add_with_aliases(container, names, aliases, kwargs):
    """``container.add_argument(*names)`` that also accepts the snake_case spelling of each
    kebab-case long option and the given ``aliases``, both left out of the help."""
    snake = ['--' + n[2:].replace('-', '_') for n in names if n.startswith('--') and '-' in n[2:]]
    hidden = [n for n in snake + list(aliases) if n not in names]
    action = argparse._ActionsContainer.add_argument(container, *names, *hidden, **kwargs)
    action.hidden_aliases = tuple(hidden)
    return action


def _aliasing(group):
    """An argument group whose ``add_argument`` accepts aliases as :class:`ArgumentParser`'s."""
    group.add_argument = lambda *names, aliases=(), **kwargs: _add_with_aliases(group, names, aliases, kwargs)
    group.add_mutually_exclusive_group = lambda **kwargs: _aliasing(
        argparse._ActionsContainer.add_mutually_exclusive_group(group, **kwargs))
    return group


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a bad option reported as one line ``error: <message>`` (exit status 2), and
    options named in kebab-case that also answer to their snake_case spelling (the original's
    ``--dataset_path`` for ``--dataset-path``) and to any ``aliases=`` given; help lists the
    kebab-case names only."""

    def __init__(self, *args, **kwargs):
        formatter = kwargs.get('formatter_class', _HelpWithoutAliases)
        if not issubclass(formatter, _HelpWithoutAliases):  # keep the caller's help style, hide aliases
            formatter = type(formatter.__name__ + 'WithoutAliases', (_HelpWithoutAliases, formatter), {})
        kwargs['formatter_class'] = formatter
        super().__init__(*args, **kwargs)

    def add_argument(self, *names, aliases=(), **kwargs):
        return _add_with_aliases(self, names, aliases, kwargs)

    def add_argument_group(self, *args, **kwargs):
        return _aliasing(super().add_argument_group(*args, **kwargs))

    def add_mutually_exclusive_group(self, **kwargs):
        return _aliasing(super().add_mutually_exclusive_group(**kwargs))

    def error(self, message):
        for action in self._actions:  # argparse names an option by all its strings: keep the shown ones
            hidden = getattr(action, 'hidden_aliases', ())
            if hidden:
                shown = [s for s in action.option_strings if s not in hidden]
                message = message.replace('/'.join(action.option_strings), '/'.join(shown))
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
