"""The command lines' shared parser: kebab-case options that also answer to their old spellings."""
import argparse
import subprocess
import sys

import pytest

from rcnn.utils import cli
from tests.shared_data import ROOT


def parser_with(formatter_class=None):
    kwargs = {'prog': 'tool'} if formatter_class is None else {'prog': 'tool', 'formatter_class': formatter_class}
    parser = cli.ArgumentParser(**kwargs)
    parser.add_argument('--dataset-path', default='data', help='where the data is')
    parser.add_argument('--threshold', type=float, default=0.5, aliases=('--thresh',), help='lowest score')
    group = parser.add_argument_group('training')
    group.add_argument('--end-epoch', type=int, default=1, help='last epoch')
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument('--no-flip', action='store_true', help='no mirrored crops')
    return parser


@pytest.mark.parametrize('formatter_class', [None, argparse.ArgumentDefaultsHelpFormatter,
                                             argparse.RawDescriptionHelpFormatter])
def test_old_spellings_parse_and_help_lists_only_kebab_case(formatter_class):
    parser = parser_with(formatter_class)
    old = parser.parse_args(['--dataset_path', 'd', '--thresh', '0.3', '--end_epoch', '4', '--no_flip'])
    new = parser.parse_args(['--dataset-path', 'd', '--threshold', '0.3', '--end-epoch', '4', '--no-flip'])
    assert vars(old) == vars(new) == {'dataset_path': 'd', 'threshold': 0.3, 'end_epoch': 4, 'no_flip': True}
    text = parser.format_help()
    for shown in ('--dataset-path', '--threshold', '--end-epoch', '--no-flip'):
        assert shown in text
    for hidden in ('--dataset_path', '--thresh ', '--end_epoch', '--no_flip'):
        assert hidden not in text
    if formatter_class is argparse.ArgumentDefaultsHelpFormatter:
        assert '(default: 0.5)' in text  # the caller's help style is kept


def test_bad_option_is_one_line_with_status_2():
    code = 'from rcnn.utils import cli; p = cli.ArgumentParser(prog="tool"); p.add_argument("--end-epoch", type=int); p.parse_args(["--end_epoch", "x"])'
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: argument --end-epoch: invalid int value: 'x' (see tool --help)"]
