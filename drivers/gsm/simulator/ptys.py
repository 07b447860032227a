"""A pseudo-terminal named by a symlink: how the simulated modem's ports appear.

:func:`open_linked_pty` makes a pty pair in raw mode (no echo, no line editing, no
CR/LF translation), keeps both ends, and points ``link`` at the slave atomically (the
path never dangles half-made; a stale link from a crash is replaced).
:func:`close_linked_pty` closes both ends and removes the link if it still names this
pty (another process may have taken the path meanwhile).
"""

from __future__ import annotations

import contextlib
import os
import tty
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LinkedPty", "close_linked_pty", "open_linked_pty"]


@dataclass(frozen=True, slots=True)
class LinkedPty:
    link: Path
    master: int  # non-blocking; the simulator reads and writes here
    slave: int  # held open so the master never reads EIO while no driver has the port
    device: str  # /dev/pts/N, where the link points


def open_linked_pty(link: Path) -> LinkedPty:
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    device = os.ttyname(slave)
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(device, tmp)
    os.replace(tmp, link)
    return LinkedPty(link, master, slave, device)


def close_linked_pty(pty: LinkedPty) -> None:
    with contextlib.suppress(OSError):
        if os.readlink(pty.link) == pty.device:
            pty.link.unlink()
    for fd in (pty.master, pty.slave):
        with contextlib.suppress(OSError):
            os.close(fd)
