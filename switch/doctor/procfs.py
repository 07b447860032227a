"""What /proc says about other processes: who listens on a port, who has a device
open, which programs run. Only what the calling user may see (root sees all)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_LISTENING = {"tcp": "0A", "udp": "07"}  # TCP LISTEN; UDP "closed" = bound, unconnected


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    name: str  # comm
    cmdline: str

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid}: {' '.join(self.cmdline.split())[:120]})"


def processes(proc: Path) -> list[Process]:
    out = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text(errors="replace").strip()
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        out.append(Process(int(entry.name), name, cmdline))
    return out


def running(proc: Path, name: str) -> list[Process]:
    return [p for p in processes(proc) if p.name == name]


def _socket_inodes(proc: Path, kind: str, port: int) -> set[str]:
    inodes: set[str] = set()
    for table in (kind, kind + "6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTENING[kind] and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def _holders(proc: Path, targets: set[str]) -> list[Process]:
    """Processes with an open file descriptor whose link is one of ``targets``."""
    found = []
    for p in processes(proc):
        try:
            fds = list((proc / str(p.pid) / "fd").iterdir())
        except OSError:
            continue  # not ours to look into
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile
            if link in targets:
                found.append(p)
                break
    return found


def port_owners(proc: Path, kind: str, port: int) -> list[Process]:
    """Processes bound to ``port`` (``kind`` = ``tcp`` or ``udp``)."""
    inodes = _socket_inodes(proc, kind, port)
    if not inodes:
        return []
    return _holders(proc, {f"socket:[{inode}]" for inode in inodes})


def device_users(proc: Path, device: Path) -> list[Process]:
    """Processes that have ``device`` open."""
    return _holders(proc, {str(device)})
