"""rtpengine as the switch's child process: start, readiness, restart, stop.

Theory of operation
-------------------
:class:`RtpengineSupervisor` runs Debian's ``rtpengine`` (package ``rtpengine-daemon``;
its own systemd service is never used) through the shared
:class:`drivers.sip.process.ChildProcess`: in the foreground, userspace only
(``--table=-1``: no kernel module), no config file, logging to stderr, its media on
``interface`` with ports ``port_min..port_max`` and its ng control port on
``127.0.0.1:<ng_port>``. Like Kamailio it gets its own process group and SIGKILL when
the switch dies (even by ``kill -9``); its log lines go into structlog (at most 50 a
second, the excess counted).

It is up when its ng port answers a ``ping`` with ``pong``
(:class:`drivers.sip.rtpengine.client.NgClient`). One that exits on its own is
restarted with a backoff (0.5 s doubling to ``max_backoff``, reset after a minute up);
the calls it carried lose their audio (rtpengine keeps sessions in memory) and end when
either side hangs up. A start that fails raises :class:`ChannelUnavailable` with
rtpengine's own error lines.

Kamailio's ``rtpengine`` module is the one that sends offers and answers; this module
only keeps the process running. Must not import the edge or the media plane.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import structlog

from base.backoff import Backoff
from base.errors import ChannelUnavailable
from drivers.sip.process import ChildProcess, Launch, LogLine, StartFailed
from drivers.sip.rtpengine.client import NgClient
from drivers.sip.settings import RtpengineSettings

__all__ = ["NG_HOST", "RtpengineSupervisor", "log_line"]

NG_HOST = "127.0.0.1"
LOG_LINES_PER_SECOND = 50
READY_PING_TIMEOUT = 0.25  # s: one ping while waiting for the ng port to answer
# Seconds without RTP before rtpengine ends a session on its own (a browser tab that
# vanished without a BYE); on hold (silent) a call may stay quiet much longer.
MEDIA_TIMEOUT = 60
SILENT_TIMEOUT = 3600

_LEVELS = {
    "EMERG": "critical",
    "ALERT": "critical",
    "CRIT": "critical",
    "ERR": "error",
    "ERROR": "error",
    "WARNING": "warning",
    "WARN": "warning",
    "NOTICE": "info",
    "INFO": "debug",
    "DEBUG": "debug",
}

# rtpengine logs this as an error for the first packets of a browser's leg, sent by the
# worker before the browser finished its DTLS handshake (rtpengine drops them; expected).
_BEFORE_DTLS = "output wanted, but no crypto suite was negotiated"
_PREFIX = re.compile(r"(?:\[(?P<call>[^\]]*)\]: )?\[(?P<subsystem>[a-z-]+)\] ")


def log_line(line: str) -> LogLine:
    """One line of rtpengine's stderr as a structlog call. rtpengine writes
    ``LEVEL: [subsystem] text``, or ``LEVEL: [call-id]: [subsystem] text`` (also
    ``[call-id/tag]``) for a line about one call."""
    level, sep, rest = line.partition(": ")
    mapped = _LEVELS.get(level.strip()) if sep else None
    if mapped is None:
        return LogLine("info", "rtpengine", {"line": line})
    fields: dict[str, Any] = {}
    match = _PREFIX.match(rest)
    if match is not None:
        if match["call"] is not None:
            fields["call_id"] = match["call"]
        fields["subsystem"] = match["subsystem"]
        rest = rest[match.end() :]
    fields["line"] = rest
    if mapped == "error" and _BEFORE_DTLS in rest:
        mapped = "debug"  # media that came before the browser's DTLS handshake: dropped
    return LogLine(mapped, "rtpengine", fields)


class RtpengineSupervisor:
    """Runs rtpengine for the switch: start, watch, restart, stop."""

    def __init__(
        self,
        settings: RtpengineSettings,
        *,
        log: Any = None,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        max_backoff: float = 30.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        self.log = log if log is not None else structlog.get_logger("sip.rtpengine")
        self.extra_args = extra_args
        self.ng = NgClient(NG_HOST, settings.ng_port, timeout=2.0)
        self._program = _Rtpengine(self)
        self._child = ChildProcess(
            "rtpengine",
            self._program,
            log=self.log,
            backoff=Backoff(maximum=max_backoff),
            start_timeout=start_timeout,
            term_timeout=stop_timeout,
            lines_per_second=LOG_LINES_PER_SECOND,
        )
        self._started = False

    @property
    def running(self) -> bool:
        """rtpengine is up and answered its readiness ping."""
        return self._child.running

    @property
    def pid(self) -> int | None:
        return self._child.pid

    @property
    def restarts(self) -> int:
        return self._child.restarts

    @property
    def error_lines(self) -> int:
        """Error lines rtpengine logged since this supervisor was made."""
        return self._program.error_lines

    @property
    def ng_address(self) -> str:
        return f"{NG_HOST}:{self.settings.ng_port}"

    def command(self) -> list[str]:
        """rtpengine's command line."""
        s = self.settings
        return [
            s.binary,
            "--config-file=none",
            "--foreground",
            "--log-stderr",
            "--no-log-timestamps",
            "--table=-1",
            f"--interface={s.interface}",
            f"--listen-ng={self.ng_address}",
            f"--port-min={s.port_min}",
            f"--port-max={s.port_max}",
            f"--num-threads={s.threads}",
            f"--timeout={MEDIA_TIMEOUT}",
            f"--silent-timeout={SILENT_TIMEOUT}",
            "--delete-delay=0",
            *self.extra_args,
        ]

    async def start(self) -> None:
        """Spawn rtpengine and wait until its ng port answers a ping."""
        if self._started:
            return
        await self._child.start()
        self._started = True
        self.log.info(
            "rtpengine_started",
            pid=self.pid,
            ng=self.ng_address,
            ports=f"{self.settings.port_min}-{self.settings.port_max}",
        )

    async def stop(self) -> None:
        """SIGTERM, wait ``stop_timeout``, then SIGKILL its process group."""
        self._started = False
        await self._child.stop()
        self.ng.close()
        self.log.info("rtpengine_stopped", restarts=self.restarts)

    def kill(self) -> None:
        """SIGKILL rtpengine now (tests; a hung process): the supervisor restarts it."""
        self._child.kill()


class _Rtpengine:
    """The supervisor's :class:`drivers.sip.process.Program`."""

    def __init__(self, sup: RtpengineSupervisor) -> None:
        self.sup = sup
        self.error_lines = 0

    async def launch(self) -> Launch:
        return Launch(tuple(self.sup.command()))

    async def ready(self, proc: asyncio.subprocess.Process) -> None:
        while not await self.sup.ng.ping(timeout=READY_PING_TIMEOUT):
            await asyncio.sleep(0.05)

    def up(self, proc: asyncio.subprocess.Process) -> None:
        pass  # the supervisor logs its own start; the child process logs restarts

    def log_line(self, line: str, stopping: bool) -> LogLine:
        entry = log_line(line)
        if stopping:
            return LogLine("debug", entry.event, entry.fields)
        if entry.level in ("error", "critical"):
            self.error_lines += 1
        return entry

    async def start_failed(self, failure: StartFailed) -> Exception:
        lines = [
            line for line in failure.lines if log_line(line).level in ("error", "critical")
        ] or failure.lines[-10:]
        why = "did not answer" if failure.status is None else f"exited with status {failure.status}"
        detail = "\n".join(lines)
        self.sup.log.error("rtpengine_start_failed", why=why, errors=detail[-4000:])
        return ChannelUnavailable(f"rtpengine {why} at start:\n{detail}".rstrip())

    def exited(self, status: int, uptime: float) -> None:
        self.sup.log.error(
            "rtpengine_died",
            status=status,
            uptime=round(uptime, 1),
            last_lines=list(self.sup._child.tail)[-5:],
        )
