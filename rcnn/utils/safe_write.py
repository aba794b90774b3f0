"""The one way the project writes a file: never through an existing link, never under a
predictable temporary name, never half-written.

Every file is written to a fresh temporary file in the target's own folder (created with
``O_EXCL``, a random name, so nothing planted there can be followed), flushed to disk, then renamed
over the target. A rename replaces a link at the target instead of writing through it, and a
reader sees either the old file or the whole new one.

    write_bytes(path, data)                      # bytes or str
    with open_atomic(path, 'w') as f: ...       # a file object; renamed on success only
    write_with(path, lambda tmp: cv2.imwrite(tmp, img))   # for writers that take a path

Paths made from names that come from data (an image's relative path, an event name) go through
:func:`inside`, which refuses ``..``, absolute names and links on the way.
"""
import contextlib
import os
import secrets

from rcnn.errors import UserError

TEMP_MARK = '.tmp-'  # in every temporary name: '.<name>.tmp-<pid>-<random><ext>'


def temp_name(path, keep_extension=False):
    """A fresh temporary path beside ``path``: ``<folder>/.<name>.tmp-<pid>-<8 hex>``, with the
    target's extension appended when ``keep_extension`` (for writers that choose the format by it)."""
    folder, name = os.path.split(os.path.abspath(path))
    extension = os.path.splitext(name)[1] if keep_extension else ''
    return os.path.join(folder, '.%s%s%d-%s%s' % (name, TEMP_MARK, os.getpid(), secrets.token_hex(4), extension))


def fsync_folder(folder):
    """Flush a folder's entries (renames, new files) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_exclusive(path):
    """A new empty file at ``path``, opened for writing (binary); fails if anything is there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0)
    return os.fdopen(os.open(path, flags, 0o666), 'wb')


def _create_fresh(path, keep_extension=False, attempts=8):
    """(temporary path, open binary file) of a new file beside ``path``; a name already taken
    (by chance, or by something planted there) is never opened: another name is drawn.

    :raises FileExistsError: when ``attempts`` names in a row are taken
    """
    for _ in range(attempts - 1):
        tmp = temp_name(path, keep_extension)
        try:
            return tmp, _create_exclusive(tmp)
        except FileExistsError:
            continue
    tmp = temp_name(path, keep_extension)
    return tmp, _create_exclusive(tmp)


def _replace(tmp, path):
    """fsync ``tmp`` and rename it over ``path`` (a link at ``path`` is replaced, not followed)."""
    with open(tmp, 'rb') as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_folder(os.path.dirname(os.path.abspath(path)))


def _refuse_folder(path):
    if os.path.isdir(path) and not os.path.islink(path):
        raise UserError('cannot write %s: it is a folder; name a file' % path)


def write_with(path, write, keep_extension=True):
    """Call ``write(tmp)`` on a fresh temporary file beside ``path``, then rename it over ``path``.

    :param write: a function that writes the whole file at the path it is given (it may return
        False to say it failed, as ``cv2.imwrite`` does)
    :param keep_extension: give the temporary file the target's extension
    :returns: ``path``
    :raises OSError: as the writer raised it, or when ``write`` returned False; the temporary file
        is removed and ``path`` is untouched
    """
    _refuse_folder(path)
    tmp, created = _create_fresh(path, keep_extension)
    created.close()
    try:
        if write(tmp) is False:
            raise OSError('could not write %s' % path)
        _replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)
    return path


@contextlib.contextmanager
def open_atomic(path, mode='w', encoding='utf-8'):
    """A file object for the new contents of ``path`` (``mode`` 'w' or 'wb'); renamed over
    ``path`` when the block ends without an exception, removed otherwise."""
    if mode not in ('w', 'wb'):
        raise ValueError("open_atomic writes whole files: mode 'w' or 'wb', not %r" % mode)
    _refuse_folder(path)
    tmp, created = _create_fresh(path)
    try:
        with created as raw:
            if mode == 'w':
                with open(raw.fileno(), 'w', encoding=encoding, closefd=False) as text:
                    yield text
            else:
                yield raw
        _replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def write_bytes(path, data, encoding='utf-8'):
    """Write ``data`` (bytes, or str encoded with ``encoding``) as the whole of ``path``."""
    if isinstance(data, str):
        data = data.encode(encoding)
    with open_atomic(path, 'wb') as f:
        f.write(data)
    return path


def make_folder(path, what='output folder'):
    """Create ``path`` (and its parents) unless it exists; refuses a file or a link there.

    :raises UserError: naming ``path`` when it is a file, a link, or cannot be created
    """
    if os.path.islink(path):
        raise UserError('%s %s is a symbolic link; name a real folder' % (what, path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError('%s %s is an existing file; name a folder' % (what, path))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise UserError('cannot create %s %s: %s' % (what, path, err.strerror or err)) from None
    return path


def inside(root, relative, what='output'):
    """``root/relative`` after checking that it stays inside ``root`` and that no folder between
    them is a link; the folders are created (not the file).

    :param relative: a name from the data ('event/image.txt'); '/' or os.sep separated
    :raises UserError: for an absolute name, a '..' part, or a link on the way, naming both
    """
    parts = [p for p in relative.replace('\\', '/').split('/') if p not in ('', '.')]
    if os.path.isabs(relative) or not parts or '..' in parts:
        raise UserError('%s name %r would leave %s; names must be relative and without ".."'
                        % (what, relative, root))
    folder = root
    for part in parts[:-1]:
        folder = os.path.join(folder, part)
        if os.path.islink(folder):
            raise UserError('%s folder %s is a symbolic link; remove it or choose another output'
                            % (what, folder))
        if not os.path.isdir(folder):
            os.mkdir(folder)
    return os.path.join(folder, parts[-1])
