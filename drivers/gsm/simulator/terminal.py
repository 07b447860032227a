"""A bare AT terminal on a tty path, with plain os.read/os.write: for tests and poking.

No switch code: what a test needs to see the simulator's exact bytes. ::

    async with RawTerminal(sim.link_path) as term:
        assert await term.command("AT+CSQ") == "\\r\\n+CSQ: 20,99\\r\\n\\r\\nOK\\r\\n"
        urc = await term.read_until(b"+CMTI:")

A read that hits EIO / end of file (the modem was unplugged) raises :class:`PortClosed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import termios
import tty
from pathlib import Path

__all__ = ["FINAL_RE", "PortClosed", "RawTerminal"]

FINAL_RE = re.compile(
    rb"\r\n(OK|ERROR|\+CME ERROR: [^\r]*|\+CMS ERROR: [^\r]*|NO CARRIER|BUSY|NO ANSWER"
    rb"|NO DIALTONE)\r\n|\r\n> "
)
"""A final result code (or the SMS prompt) as a modem writes it."""


class PortClosed(Exception):
    """The other end went away (EIO or end of file)."""


class RawTerminal:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.fd: int | None = None
        self.buffer = bytearray()
        self.closed_by_peer = False
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> RawTerminal:
        self._loop = asyncio.get_running_loop()
        fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        with contextlib.suppress(termios.error):
            tty.setraw(fd)
        self.fd = fd
        self._loop.add_reader(fd, self._on_readable)
        return self

    async def __aenter__(self) -> RawTerminal:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(self.fd)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = None

    def _on_readable(self) -> None:
        assert self.fd is not None and self._loop is not None
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.closed_by_peer = True
            self._loop.remove_reader(self.fd)
        self.buffer += data
        self._event.set()

    def write(self, data: bytes | str) -> None:
        if self.fd is None:
            raise PortClosed("terminal is closed")
        raw = data.encode("latin-1") if isinstance(data, str) else data
        while raw:
            try:
                n = os.write(self.fd, raw)
            except OSError as exc:
                raise PortClosed(str(exc)) from exc
            raw = raw[n:]

    async def read_until(self, marker: bytes | re.Pattern[bytes], *, timeout: float = 2.0) -> bytes:
        """Everything up to and including ``marker``; consumed from the buffer."""
        pattern = re.compile(re.escape(marker)) if isinstance(marker, bytes) else marker
        async with asyncio.timeout(timeout):
            while True:
                found = pattern.search(self.buffer)
                if found:
                    out = bytes(self.buffer[: found.end()])
                    del self.buffer[: found.end()]
                    return out
                if self.closed_by_peer:
                    raise PortClosed(f"port closed; unread: {bytes(self.buffer)!r}")
                self._event.clear()
                await self._event.wait()

    async def command(self, line: str, *, timeout: float = 2.0) -> str:
        """Write ``line`` + CR; the response up to its final result code (or prompt)."""
        self.write(line + "\r")
        return (await self.read_until(FINAL_RE, timeout=timeout)).decode("latin-1")

    async def drain(self, wait: float = 0.1) -> bytes:
        """Whatever arrives within ``wait`` seconds (and what was already buffered)."""
        await asyncio.sleep(wait)
        out = bytes(self.buffer)
        self.buffer.clear()
        return out
