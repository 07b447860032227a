"""One switch per store: an exclusive lock on the store's directory.

Two ``switch run`` on one store would share its SQLite file, and the second would take
over the first's simulator sockets and tty links. So ``switch run`` takes this lock
before it creates or opens anything else; a second instance finds it held, learns the
holder's pid from the lock file, and stops there, having changed nothing.

The lock is ``flock`` on ``<store dir>/switch.lock``: the kernel drops it when its holder
dies (``kill -9`` included), so a leftover file never blocks a restart, and the file is
left in place (removing it would race with the next instance taking it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from base.errors import ConfigError, SwitchError

LOCK_NAME = "switch.lock"


class StoreLocked(SwitchError):
    """Another process holds the store's lock."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        self.directory = directory
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "a process whose pid is not known yet"
        super().__init__(
            f"the store in {directory} is in use by another switch ({holder}); "
            "stop that one first, or give this one its own store.path"
        )


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` (and missing parents) readable by its owner only (0700)."""
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)


class StoreLock:
    """Held from :meth:`acquire` until :meth:`release` (or the process's end)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path) -> StoreLock:
        """Lock ``directory`` (created 0700 if missing) or raise :class:`StoreLocked`;
        :class:`~base.errors.ConfigError` (``store.path``) when it cannot be used."""
        path = directory / LOCK_NAME
        try:
            make_private_dir(directory)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigError([("store.path", f"cannot use {directory}: {reason}")]) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise StoreLocked(directory, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def holder(directory: Path) -> int | None:
    """The pid of the switch that holds ``directory``'s lock now; None when nobody
    does (or the file cannot be read)."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(fd)
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
