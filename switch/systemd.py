"""systemd's notify protocol, natively: READY, WATCHDOG and STOPPING over $NOTIFY_SOCKET.

Under ``Type=notify`` systemd passes ``NOTIFY_SOCKET`` (a Unix datagram socket; a name
starting with ``@`` is in the abstract namespace) and, with ``WatchdogSec=``,
``WATCHDOG_USEC`` (and ``WATCHDOG_PID``). The switch sends ``READY=1`` once everything
started and HTTP listens, ``WATCHDOG=1`` every half watchdog period from a task of the
event loop itself (so a loop that is stuck stops the pings, and systemd restarts the
switch), and ``STOPPING=1`` when it begins to stop.

The variables are removed from the environment once read, so the processes the switch
starts (Kamailio, media workers) do not talk to systemd in its name. Without
``NOTIFY_SOCKET`` (a terminal, a test) every call does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import MutableMapping

import structlog

log = structlog.get_logger("systemd")


class Notifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        address = env.pop("NOTIFY_SOCKET", None) or None
        usec_text = env.pop("WATCHDOG_USEC", None)
        pid_text = env.pop("WATCHDOG_PID", None)
        usec: int | None = None
        if usec_text is not None and usec_text.isdigit() and int(usec_text) > 0:
            usec = int(usec_text)
        if pid_text is not None and pid_text.isdigit() and int(pid_text) != os.getpid():
            usec = None  # the watchdog is meant for another process
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half the watchdog period (None: no watchdog)."""
        if self.address is None or self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 2_000_000

    def send(self, *fields: str) -> bool:
        """Send ``fields`` (``"READY=1"``...) as one datagram; False when not sent."""
        if self.address is None:
            return False
        target = self.address
        if target.startswith("@"):
            target = "\0" + target[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(fields).encode(), target)
        except OSError as exc:
            log.warning("systemd_notify_failed", error=str(exc), fields=list(fields))
            return False
        return True

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    def start_watchdog(self) -> None:
        interval = self.watchdog_interval
        if interval is not None and self._task is None:
            self._task = asyncio.create_task(self._pings(interval), name="systemd:watchdog")

    async def stop_watchdog(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _pings(self, interval: float) -> None:
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(interval)
