"""An exclusive lock on a results folder or a training prefix, held by the running process.

The lock is ``flock`` on a lock file: the kernel releases it when the process ends, however it
ends (kill -9 included), so a stale lock never blocks the next run. The file holds the holder's
pid, which the second run names in its one-line error.

    with exclusive_lock(os.path.join(out_dir, '.lock'), 'results folder ' + out_dir):
        ...
"""
import contextlib
import fcntl
import os

from rcnn.errors import UserError


class LockedError(UserError):
    """Another running process holds the lock; the message names what is locked and its pid."""


def _holder(fd):
    try:
        return os.pread(fd, 32, 0).decode('ascii', 'replace').strip() or 'unknown'
    except OSError:
        return 'unknown'


def acquire(path, what):
    """Take the lock at ``path`` (created when missing, never through a link).

    :param what: what the lock guards, for the message ('results folder out/')
    :returns: the open file descriptor; close it (or call :func:`release`) to let go
    :raises LockedError: when another process holds it
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, 'O_NOFOLLOW', 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as err:
        raise UserError('cannot lock %s (%s): %s' % (what, path, err.strerror or err)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise LockedError('%s is in use by another run (pid %s); wait for it to finish or choose another'
                          % (what, holder)) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, b'%d\n' % os.getpid(), 0)
    return fd


def release(fd):
    """Let go of a lock taken by :func:`acquire` (the lock file stays, empty of meaning)."""
    os.close(fd)


@contextlib.contextmanager
def exclusive_lock(path, what):
    """Hold the lock at ``path`` for the block (see :func:`acquire`)."""
    fd = acquire(path, what)
    try:
        yield
    finally:
        release(fd)
