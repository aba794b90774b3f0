"""rcnn.utils.lock: one holder at a time across processes; the second names the holder's pid; the
kernel releases the lock of a process killed with SIGKILL."""
import os
import signal
import subprocess
import sys

import pytest

from rcnn.errors import UserError
from rcnn.utils import lock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HOLDER = '''
import sys, time
from rcnn.utils import lock
fd = lock.acquire(sys.argv[1], 'results folder out/')
print('held', flush=True)
time.sleep(120)
'''


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock at tmp_path/.lock (killed with SIGKILL at the end)."""
    path = str(tmp_path / '.lock')
    proc = subprocess.Popen([sys.executable, '-c', HOLDER, path], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert proc.stdout.readline().strip() == 'held'
        yield path, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        proc.stdout.close()


def test_the_second_run_is_refused_naming_the_holder(holder):
    path, proc = holder
    with pytest.raises(lock.LockedError) as refused:
        lock.acquire(path, 'results folder out/')
    assert str(refused.value) == ('results folder out/ is in use by another run (pid %d); wait for it to '
                                  'finish or choose another' % proc.pid)
    assert isinstance(refused.value, UserError)


def test_the_lock_is_free_once_the_holder_is_killed(holder):
    path, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    with lock.exclusive_lock(path, 'results folder out/'):
        with open(path) as f:
            assert f.read() == '%d\n' % os.getpid()
    fd = lock.acquire(path, 'again')  # released at the end of the block
    lock.release(fd)


def test_one_process_twice_is_refused_too(tmp_path):
    path = str(tmp_path / '.lock')
    with lock.exclusive_lock(path, 'training prefix model/retina'):
        with pytest.raises(lock.LockedError, match=r'training prefix model/retina is in use .*\(pid %d\)'
                           % os.getpid()):
            lock.acquire(path, 'training prefix model/retina')


def test_a_link_at_the_lock_file_is_refused(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_bytes(b'precious')
    (tmp_path / '.lock').symlink_to(victim)
    with pytest.raises(UserError, match=r'cannot lock results folder out/ \(.*\.lock\)'):
        lock.acquire(str(tmp_path / '.lock'), 'results folder out/')
    assert victim.read_bytes() == b'precious'
