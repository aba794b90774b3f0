"""rcnn.utils.cli_guards: never write over an input, and how a long list is named in one line."""
import argparse
import os

import pytest

from rcnn.utils import cli_guards
from rcnn.utils.cli import UserError


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    paths = []
    for index in range(3):
        path = folder / ('%d.jpg' % index)
        path.write_bytes(b'x')
        paths.append(str(path))
    return paths


def test_outputs_apart_from_the_inputs_pass(inputs, tmp_path):
    cli_guards.refuse_overwriting_inputs(inputs, [str(tmp_path / 'out' / '0.jpg'), inputs[0] + '.jpg'],
                                         '--output')


@pytest.mark.parametrize('alias', ['same path', 'relative path', 'symbolic link', 'hard link'])
def test_an_output_that_is_an_input_under_any_name_is_refused(inputs, tmp_path, alias, monkeypatch):
    monkeypatch.chdir(tmp_path)
    output = {'same path': inputs[1], 'relative path': os.path.join('in', '1.jpg'),
              'symbolic link': str(tmp_path / 'link.jpg'), 'hard link': str(tmp_path / 'hard.jpg')}[alias]
    if alias == 'symbolic link':
        os.symlink(inputs[1], output)
    if alias == 'hard link':
        os.link(inputs[1], output)
    with pytest.raises(UserError) as error:
        cli_guards.refuse_overwriting_inputs(inputs, [str(tmp_path / 'other.jpg'), output], '--output')
    assert str(error.value) == ('--output %s would overwrite the input %s: choose another --output'
                                % (output, inputs[1]))


def test_each_path_is_resolved_once(tmp_path, monkeypatch):
    """A folder of N images has 2N result paths: comparing every pair resolved each path N times
    (2000 images took 2 minutes before any detection)."""
    inputs = [str(tmp_path / ('%d.jpg' % i)) for i in range(200)]
    outputs = [str(tmp_path / 'out' / ('%d.jpg%s' % (i, ext)))
               for i in range(200) for ext in ('.jpg', '.json')]
    calls = []
    realpath = os.path.realpath
    monkeypatch.setattr(os.path, 'realpath', lambda path: calls.append(path) or realpath(path))
    cli_guards.refuse_overwriting_inputs(inputs, outputs, '--output')
    assert len(calls) == len(inputs) + len(outputs)


def test_first_few_and_the_skipped_images_error():
    assert cli_guards.first_few(['a', 'b']) == 'a, b'
    assert cli_guards.first_few(['a', 'b', 'c', 'd']) == 'a, b, c, ...'
    assert str(cli_guards.skipped_images_error(['x.jpg', 'y.png'], 5)) == (
        '2 of 5 images could not be processed and have no output (see the "skipped" lines above): '
        'x.jpg, y.png')


@pytest.mark.parametrize('text, expected', [
    ('auto', 'auto'), ('AUTO ', 'auto'), ('0', (0,)), ('270,90', (90, 270)), ('0,90,180,270,90', (0, 90, 180, 270)),
])
def test_rotations_parse_to_auto_or_a_sorted_tuple(text, expected):
    assert cli_guards.rotations(text) == expected


@pytest.mark.parametrize('text', ['45', '', '0,', 'ninety', '-90', '360', 'auto,90'])
def test_bad_rotations_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="must be 'auto' or a comma-separated list"):
        cli_guards.rotations(text)


def test_rotations_option_is_one_error_line(capsys):
    from rcnn.utils import cli
    parser = cli.ArgumentParser(prog='tool')
    cli_guards.add_orientation_options(parser)
    assert vars(parser.parse_args([])) == {'pyramid': False, 'rotations': (0,)}
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(['--rotations', '45'])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == ("error: argument --rotations: must be 'auto' or a comma-separated "
                                       "list of 0, 90, 180, 270 (degrees), got '45' (see tool --help)\n")
