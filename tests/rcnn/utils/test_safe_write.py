"""rcnn.utils.safe_write: a link at the target is replaced, never followed; temporary names are
unpredictable, made with O_EXCL and removed on failure; inside() keeps names inside their root."""
import os
import re

import pytest

from rcnn.errors import UserError
from rcnn.utils import safe_write


@pytest.fixture
def victim(tmp_path):
    """A file outside the output folder that a planted link points to."""
    path = tmp_path / 'victim.txt'
    path.write_bytes(b'precious\n')
    return path


def leftovers(folder):
    return sorted(n for n in os.listdir(folder) if safe_write.TEMP_MARK in n)


@pytest.mark.parametrize('write', [
    lambda path: safe_write.write_bytes(path, 'new contents'),
    lambda path: safe_write.write_bytes(path, b'new contents'),
    lambda path: safe_write.write_with(path, lambda tmp: open(tmp, 'w').write('new contents')),
], ids=['str', 'bytes', 'write_with'])
def test_a_planted_link_is_replaced_not_followed(tmp_path, victim, write):
    out = tmp_path / 'out'
    out.mkdir()
    target = out / 'result.txt'
    target.symlink_to(victim)
    write(str(target))
    assert victim.read_bytes() == b'precious\n'
    assert not target.is_symlink() and target.read_bytes() == b'new contents'
    assert leftovers(out) == []


def test_open_atomic_text_and_binary(tmp_path):
    target = tmp_path / 'a.txt'
    with safe_write.open_atomic(str(target), 'w') as f:
        f.write('héllo\n')
        assert not target.exists()  # nothing at the target until the block ends
    assert target.read_bytes() == 'héllo\n'.encode('utf-8')
    with safe_write.open_atomic(str(target), 'wb') as f:
        f.write(b'\x00\x01')
    assert target.read_bytes() == b'\x00\x01'
    with pytest.raises(ValueError, match='whole files'):
        with safe_write.open_atomic(str(target), 'a'):
            pass


def test_temp_names_are_unpredictable_and_beside_the_target(tmp_path):
    target = str(tmp_path / 'detections.jsonl')
    names = {safe_write.temp_name(target) for _ in range(200)}
    assert len(names) == 200
    pattern = r'\.detections\.jsonl\.tmp-%d-[0-9a-f]{8}$' % os.getpid()
    assert all(os.path.dirname(n) == str(tmp_path) and re.search(pattern, n) for n in names)
    assert safe_write.temp_name(str(tmp_path / 'pr.png'), keep_extension=True).endswith('.png')


def test_a_link_planted_at_the_temporary_name_is_never_followed(tmp_path, victim, monkeypatch):
    """Even a guessed temporary name is not written through (it is created with O_EXCL): the
    writer draws another name, and after as many taken names as it tries, it fails untouched."""
    draws = iter(['guessed0'] + ['%08x' % n for n in range(1, 100)])
    monkeypatch.setattr(safe_write.secrets, 'token_hex', lambda n: next(draws))
    target = tmp_path / 'result.txt'
    planted = str(tmp_path / ('.result.txt.tmp-%d-guessed0' % os.getpid()))
    os.symlink(victim, planted)
    os.symlink(victim, planted + '.txt')  # the name write_with draws (it keeps the extension)
    safe_write.write_bytes(str(target), b'new')
    assert next(draws) == '00000002'  # the planted name was drawn first, then another
    assert victim.read_bytes() == b'precious\n' and target.read_bytes() == b'new'
    assert os.path.islink(planted)  # what was there is left alone, not removed as our own

    monkeypatch.setattr(safe_write.secrets, 'token_hex', lambda n: 'guessed0')
    with pytest.raises(FileExistsError):
        safe_write.write_bytes(str(target), b'newer')
    with pytest.raises(FileExistsError):
        safe_write.write_with(str(target), lambda tmp: open(tmp, 'w').write('newer'))
    assert victim.read_bytes() == b'precious\n' and target.read_bytes() == b'new'
    assert os.path.islink(planted) and os.path.islink(planted + '.txt')


def test_failed_writes_leave_the_target_and_no_temporary_file(tmp_path):
    target = tmp_path / 'result.txt'
    target.write_bytes(b'old')
    with pytest.raises(RuntimeError):
        with safe_write.open_atomic(str(target), 'w') as f:
            f.write('half')
            raise RuntimeError('writer died')
    with pytest.raises(OSError, match='could not write'):
        safe_write.write_with(str(target), lambda tmp: False)
    with pytest.raises(ZeroDivisionError):
        safe_write.write_with(str(target), lambda tmp: 1 / 0)
    assert target.read_bytes() == b'old'
    assert leftovers(tmp_path) == []


def test_a_folder_is_not_a_file_to_write(tmp_path):
    (tmp_path / 'sub').mkdir()
    with pytest.raises(UserError, match='it is a folder'):
        safe_write.write_bytes(str(tmp_path / 'sub'), b'x')
    assert os.listdir(tmp_path / 'sub') == [] and leftovers(tmp_path) == []


def test_make_folder(tmp_path, victim):
    made = safe_write.make_folder(str(tmp_path / 'a' / 'b'))
    assert os.path.isdir(made)
    (tmp_path / 'link').symlink_to(tmp_path / 'a')
    with pytest.raises(UserError, match='symbolic link'):
        safe_write.make_folder(str(tmp_path / 'link'))
    with pytest.raises(UserError, match='existing file'):
        safe_write.make_folder(str(victim))


def test_inside_creates_the_folders_of_a_relative_name(tmp_path):
    path = safe_write.inside(str(tmp_path), 'event/sub/image.txt')
    assert path == os.path.join(str(tmp_path), 'event', 'sub', 'image.txt')
    assert os.path.isdir(tmp_path / 'event' / 'sub') and not os.path.exists(path)
    assert safe_write.inside(str(tmp_path), './a\\b.txt') == os.path.join(str(tmp_path), 'a', 'b.txt')


@pytest.mark.parametrize('name', ['../escape.txt', 'event/../../escape.txt', '/etc/passwd', '', '.', 'a/..'])
def test_inside_refuses_names_that_leave_the_root(tmp_path, name):
    root = tmp_path / 'root'
    root.mkdir()
    with pytest.raises(UserError, match='would leave'):
        safe_write.inside(str(root), name)
    assert os.listdir(root) == [] and sorted(os.listdir(tmp_path)) == ['root']


def test_inside_refuses_a_link_on_the_way(tmp_path):
    root, elsewhere = tmp_path / 'root', tmp_path / 'elsewhere'
    root.mkdir()
    elsewhere.mkdir()
    (root / 'event').symlink_to(elsewhere)
    with pytest.raises(UserError, match='symbolic link'):
        safe_write.inside(str(root), 'event/sub/image.txt')
    assert os.listdir(elsewhere) == []
