"""One supervised child process: spawn, log its stderr, wait until ready, restart, stop.

The process plumbing every child of the SIP driver shares (Kamailio, the media workers;
rtpengine can reuse it). It knows nothing of what the child is: the owner describes its
program (:class:`Program`). Must not import the planes (``drivers.sip.edge``,
``drivers.sip.media``): they import it.

Theory of operation
-------------------
:class:`ChildProcess` runs one program, one process at a time:

- **spawn**: ``program.launch()`` prepares (files, orphans) and says what to run
  (:class:`Launch`). The child gets its own process group (``start_new_session``) and
  ``PR_SET_PDEATHSIG`` = SIGKILL, so it dies with the switch even when the switch is
  killed with ``kill -9``. stdin and stdout are closed, stderr is a pipe.
- **stderr**: every line is kept in a short ``tail`` (for error messages) and turned
  into a structlog call by ``program.log_line`` (which sees every line, so it can count
  them); at most ``lines_per_second`` are logged a second, the excess is counted and
  reported (``<name>_log_suppressed``): a flood is cut, never lost silently.
- **ready**: ``start()`` waits until ``program.ready(proc)`` returns, the child exits or
  ``start_timeout`` passes. A child that did not get ready is killed with its process
  group; ``program.start_failed`` turns the :class:`StartFailed` (exit status, last
  lines) into the error ``start()`` raises.
- **restart**: once started, a monitor waits for the child to exit (by polling its
  return code: ``Process.wait()`` also waits for pipes that grandchildren may hold).
  ``program.exited`` runs (the owner logs and clears its own state), the process group
  is killed (no grandchild keeps a port), and the program is started again after a
  :class:`base.backoff.Backoff` delay; each attempt counts in ``restarts``, a failed one
  is logged (``<name>_restart_failed``) and tried again after the next delay.
- **stop**: ``stop(grace)`` waits ``grace`` seconds for an exit the owner asked for (a
  shutdown command), then sends SIGTERM, waits ``term_timeout``, then SIGKILLs the whole
  process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from base.backoff import Backoff
from base.errors import ChannelUnavailable, SwitchError

__all__ = [
    "ChildProcess",
    "Launch",
    "LineBudget",
    "LogLine",
    "Program",
    "StartFailed",
    "json_log_line",
]

EXIT_POLL = 0.05  # s between two looks at a child's return code (not from spawn())
STREAM_LIMIT = 2**16  # asyncio's default buffer limit of a stream
DRAIN_TIMEOUT = 2.0  # s to read a dead child's last stderr lines


@dataclass(frozen=True, slots=True)
class Launch:
    """What to run this time."""

    argv: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class LogLine:
    """One stderr line as a structlog call: ``log.<level>(event, **fields)``."""

    level: str
    event: str
    fields: Mapping[str, Any]


class StartFailed(ChannelUnavailable):
    """The child did not get ready: ``status`` is its exit status (None: it was still
    running when ``start_timeout`` passed, or ``ready`` failed), ``lines`` its last
    stderr lines."""

    def __init__(self, name: str, status: int | None, lines: Sequence[str]) -> None:
        self.status = status
        self.lines = list(lines)
        why = "did not get ready" if status is None else f"exited with {status}"
        super().__init__(f"{name} {why}")


class Program(Protocol):
    """The owner's side: what the child is and what its states mean."""

    async def launch(self) -> Launch:
        """Prepare a spawn (files, sockets, leftovers); what to run."""
        ...

    async def ready(self, proc: asyncio.subprocess.Process) -> None:
        """Called as soon as the process exists; returns once it serves."""
        ...

    def up(self, proc: asyncio.subprocess.Process) -> None:
        """The process got ready (at start and after every restart)."""
        ...

    def log_line(self, line: str, stopping: bool) -> LogLine:
        """How to log one stderr line (``stopping``: the owner is stopping it)."""
        ...

    async def start_failed(self, failure: StartFailed) -> Exception:
        """The error a start that failed raises (may look into ``failure.lines``)."""
        ...

    def exited(self, status: int, uptime: float) -> None:
        """The process exited on its own after ``uptime`` seconds; a restart follows."""
        ...


@dataclass(slots=True)
class LineBudget:
    """At most ``per_second`` lines logged per second of the clock (sans-IO)."""

    per_second: int
    window: int = -1
    used: int = 0
    suppressed: int = 0

    def admit(self, now: float) -> tuple[bool, int]:
        """Whether a line read at ``now`` may be logged, and how many lines were
        suppressed in the second that just ended (to report; 0 most of the time)."""
        ended = 0
        second = int(now)
        if second != self.window:
            ended, self.suppressed = self.suppressed, 0
            self.window, self.used = second, 0
        self.used += 1
        if self.used > self.per_second:
            self.suppressed += 1
            return False, ended
        return True, ended

    def flush(self) -> int:
        """Suppressed lines not reported yet (the stream ended)."""
        count, self.suppressed = self.suppressed, 0
        return count


_LEVELS = frozenset({"debug", "info", "warning", "error", "critical"})


def json_log_line(line: str, name: str) -> LogLine:
    """A line of a child that logs structlog JSON itself, as the same call in our log;
    any other line (a traceback, an argument error) as ``<name>_stderr``."""
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        return LogLine("warning", f"{name}_stderr", {"line": line})
    fields = {str(k): v for k, v in obj.items() if k not in ("event", "level", "timestamp")}
    level = obj.get("level")
    return LogLine(level if level in _LEVELS else "info", obj["event"], fields)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL it when its parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class _ExitProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's stream protocol, plus an event set the moment the child exits:
    ``Process.wait()`` also waits until its pipes close, which a forked grandchild
    (Kamailio's) may hold open. Waiting on the event wakes nobody until then: an idle
    box does not poll its children."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=STREAM_LIMIT, loop=loop)
        self.exit = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exit.set()


_EXITS: weakref.WeakKeyDictionary[asyncio.subprocess.Process, asyncio.Event] = (
    weakref.WeakKeyDictionary()
)


async def spawn(*argv: str, **kwargs: Any) -> asyncio.subprocess.Process:
    """``asyncio.create_subprocess_exec``, with the exit seen by :func:`exited` at once."""
    loop = asyncio.get_running_loop()
    protocol = _ExitProtocol(loop)
    transport, _ = await loop.subprocess_exec(lambda: protocol, *argv, **kwargs)
    proc = asyncio.subprocess.Process(transport, protocol, loop)
    _EXITS[proc] = protocol.exit
    return proc


async def exited(proc: asyncio.subprocess.Process) -> int:
    """The exit status of ``proc`` once it is dead (without waiting for its pipes)."""
    event = _EXITS.get(proc)
    if event is not None:
        await event.wait()
    while proc.returncode is None:  # a process not started by spawn(): look now and then
        await asyncio.sleep(EXIT_POLL)
    return proc.returncode


class ChildProcess:
    """Keeps one program running: see the module's theory of operation."""

    def __init__(
        self,
        name: str,
        program: Program,
        *,
        log: Any,
        backoff: Backoff | None = None,
        start_timeout: float = 15.0,
        term_timeout: float = 5.0,
        lines_per_second: int = 50,
        tail_lines: int = 60,
    ) -> None:
        self.name = name
        self.program = program
        self.log = log
        self.backoff = backoff if backoff is not None else Backoff()
        self.start_timeout = start_timeout
        self.term_timeout = term_timeout
        self.lines_per_second = lines_per_second
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self.restarts = 0
        self.started_at = 0.0
        self.proc: asyncio.subprocess.Process | None = None
        self._ready = False
        self._stopping = False
        self._monitor: asyncio.Task[None] | None = None
        self._stderr: asyncio.Task[None] | None = None
        self._reaped = False  # the current process's group was killed already

    # ----------------------------------------------------------------- state

    @property
    def running(self) -> bool:
        """Started, got ready, and still alive."""
        return self._ready and self.proc is not None and self.proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Spawn and wait until ready (raises what ``program.start_failed`` says), then
        keep it running until :meth:`stop`."""
        if self._monitor is not None:
            return
        self._stopping = False
        await self._start_once()
        self._monitor = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"{self.name}:supervise"
        )

    async def stop(self, grace: float = 0.0) -> None:
        """Wait ``grace`` s for the child to exit, SIGTERM, wait ``term_timeout``, then
        SIGKILL its process group; no restart follows."""
        self._stopping = True
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        proc = self.proc
        self._ready = False
        if proc is None:
            return
        if grace > 0 and proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(exited(proc), grace)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(exited(proc), self.term_timeout)
            except TimeoutError:
                self.log.warning(f"{self.name}_kill", pid=proc.pid, after=self.term_timeout)
        await self._reap(proc)

    def kill(self) -> None:
        """SIGKILL the child's process group now (a hung child); the monitor restarts it."""
        proc = self.proc
        if proc is not None and proc.returncode is None:
            _killpg(proc)

    # ------------------------------------------------------------- internals

    async def _start_once(self) -> None:
        launch = await self.program.launch()
        self.tail.clear()
        try:
            proc = await spawn(
                *launch.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                cwd=launch.cwd,
                env=dict(launch.env) if launch.env is not None else None,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise ChannelUnavailable(f"cannot run {launch.argv[0]}: {exc}") from None
        self.proc = proc
        self._reaped = False
        self.started_at = time.monotonic()
        assert proc.stderr is not None
        self._stderr = asyncio.get_running_loop().create_task(
            self._read_stderr(proc.stderr), name=f"{self.name}:stderr"
        )
        ready = asyncio.ensure_future(self.program.ready(proc))
        dead = asyncio.ensure_future(exited(proc))
        try:
            done, _ = await asyncio.wait(
                {ready, dead}, timeout=self.start_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (ready, dead):
                if not task.done():
                    task.cancel()
            await asyncio.gather(ready, dead, return_exceptions=True)
        ok = ready in done and not ready.cancelled() and ready.exception() is None
        if ok and proc.returncode is None:
            self._ready = True
            self.program.up(proc)
            return
        if ready in done and not ready.cancelled() and ready.exception() is not None:
            self.log.warning(f"{self.name}_ready_failed", error=str(ready.exception()))
        status = proc.returncode
        await self._reap(proc)
        raise await self.program.start_failed(StartFailed(self.name, status, self.tail))

    async def _reap(self, proc: asyncio.subprocess.Process) -> None:
        """Kill what is left of the process group (once: its id may be reused later);
        read the last stderr lines."""
        self._ready = False
        if not self._reaped:
            _killpg(proc)
            self._reaped = True
        await exited(proc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), DRAIN_TIMEOUT)  # pipes closed
        stderr, self._stderr = self._stderr, None
        if stderr is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(stderr, DRAIN_TIMEOUT)

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            proc = self.proc
            if proc is None:
                return
            status = await exited(proc)
            if self._stopping:
                return
            self._ready = False
            uptime = time.monotonic() - self.started_at
            self.program.exited(status, uptime)
            await self._reap(proc)
            failures = self.backoff.failures_after(failures, uptime)
            while not self._stopping:
                await asyncio.sleep(self.backoff.delay(failures))
                if self._stopping:
                    return
                self.restarts += 1
                try:
                    await self._start_once()
                except (SwitchError, OSError) as exc:
                    self.log.error(
                        f"{self.name}_restart_failed",
                        error=str(exc)[:2000],
                        restarts=self.restarts,
                    )
                    failures += 1
                    continue
                self.log.warning(f"{self.name}_restarted", pid=self.pid, restarts=self.restarts)
                break

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        budget = LineBudget(self.lines_per_second)
        while True:
            try:
                raw = await stream.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                raw = exc.partial
                if not raw:
                    break
            except asyncio.LimitOverrunError as exc:
                raw = await stream.read(exc.consumed)
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            self.tail.append(line)
            entry = self.program.log_line(line, self._stopping)
            admitted, suppressed = budget.admit(time.monotonic())
            if suppressed:
                self.log.warning(f"{self.name}_log_suppressed", lines=suppressed)
            if admitted:
                getattr(self.log, entry.level)(entry.event, **entry.fields)
        if suppressed := budget.flush():
            self.log.warning(f"{self.name}_log_suppressed", lines=suppressed)


def _killpg(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the child's process group (its pid: it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
