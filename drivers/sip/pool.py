"""The core side of the media workers: spawn, supervise, route commands and events.

Theory of operation
-------------------
``WorkerPool(size, ...)`` runs ``size`` worker processes (``python -m drivers.sip.worker``),
warm. Worker ``i`` is a SIP UA on UDP ``127.0.0.1:<sip_port_base + i>`` with RTP ports
from ``rtp_port_base + 50 * i``; it connects back to the pool's Unix socket
``<socket_dir>/w<i>.sock`` (one listening socket per worker, so a connection's worker is
known before it speaks) and says ``hello``.

Commands: ``await pool.command(i, "play", call="w0-1", file=..., loop=True)`` sends a
command to worker ``i`` and returns the reply's extra fields (a dict, often empty). A
reply with ``ok: false`` raises :class:`Rejected` (code ``worker_refused``); no reply
within ``command_timeout`` or a worker that is down raises :class:`ChannelUnavailable`.

Events: every event of every worker is put on ``pool.events`` as ``(worker, Event)``
(``hello`` and ``worker_health`` included). The queue is bounded: when the core does not
keep up the pool stops reading the workers' sockets (back-pressure) rather than drop an
event.

Legs: the pool learns a worker's legs from ``incoming`` events and ``dial`` commands, and
forgets them on ``ended``. ``worker_of(leg)`` routes a leg id to its worker;
``free_worker()`` names an up worker with no legs and no reservation (round robin, so
churn is spread). A call the core starts itself (click-to-call, a trunk test) takes one
with ``await reserve()``: the slot is marked reserved here (another ``free_worker()``
skips it) and the worker is told ``reserve`` (it answers 486 to inbound INVITEs, so the
edge sends them to another worker) until the first ``dial`` on it, ``release(i)``, or
``seconds`` pass. A worker that already took an inbound call refuses the reservation and
the next free one is tried.

Leg ids stay unique for the pool's life: a restarted worker numbers its incoming legs on
from the last one the pool saw (``--first-leg``).

Supervision: a worker whose process exits (or whose socket closes, or that stays silent
for three health intervals: it is then killed) is restarted after a backoff (0.5 s
doubling to ``max_backoff``, reset after a minute of good health); for each leg it had,
the pool emits a synthetic ``ended {call, code: 500, reason: "worker_died"}``.
``restarts[i]`` counts restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from base.errors import ChannelUnavailable, ProtocolError, Rejected
from drivers.sip.protocol import Command, Decoder, Event, Reply, check_command, encode

RTP_PORTS_PER_WORKER = 50
INVITE_RATE_WARNING = 40.0  # INVITEs/s into one worker; it aborts somewhere past 60
_ROOT = Path(__file__).resolve().parents[2]


@dataclass(eq=False)
class _Slot:
    index: int
    state: str = "stopped"  # stopped | starting | up | down
    proc: asyncio.subprocess.Process | None = None
    writer: asyncio.StreamWriter | None = None
    pending: dict[int, asyncio.Future[Reply]] = field(default_factory=dict)
    legs: set[str] = field(default_factory=set)
    hello: asyncio.Future[Event] | None = None
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    started_at: float = 0.0
    pid: int | None = None
    last_health: dict[str, Any] = field(default_factory=dict)
    failures: int = 0  # consecutive early deaths, for the backoff
    last_leg: int = 0  # highest N of the w<i>-<N> legs seen: a restart numbers on
    last_seen: float = 0.0  # when it last sent anything (health comes periodically)
    reserved_until: float = 0.0  # monotonic: picked for a call the core is about to dial
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class WorkerPool:
    def __init__(
        self,
        size: int,
        *,
        socket_dir: Path,
        proxy: str,
        sip_port_base: int,
        rtp_port_base: int,
        python: str = sys.executable,
        log: Any = None,
        log_level: str = "info",
        answer_timeout: float = 10.0,
        health_interval: float = 5.0,
        start_timeout: float = 20.0,
        command_timeout: float = 5.0,
        max_backoff: float = 30.0,
        event_queue_size: int = 10_000,
        worker_args: Sequence[str] = (),
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.size = size
        self.socket_dir = Path(socket_dir)
        self.proxy = proxy
        self.sip_port_base = sip_port_base
        self.rtp_port_base = rtp_port_base
        self.python = python
        self.log = log if log is not None else structlog.get_logger("sip.pool")
        self.log_level = log_level
        self.answer_timeout = answer_timeout
        self.health_interval = health_interval
        self.start_timeout = start_timeout
        self.command_timeout = command_timeout
        self.max_backoff = max_backoff
        self.worker_args = list(worker_args)
        self.events: asyncio.Queue[tuple[int, Event]] = asyncio.Queue(event_queue_size)
        self.restarts = [0] * size
        self._slots = [_Slot(i) for i in range(size)]
        self._servers: list[asyncio.Server] = []
        self._ids = itertools.count(1)
        self._rr = 0
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ addresses

    def socket_path(self, i: int) -> Path:
        return self.socket_dir / f"w{i}.sock"

    def sip_port(self, i: int) -> int:
        return self.sip_port_base + i

    def rtp_port(self, i: int) -> int:
        return self.rtp_port_base + RTP_PORTS_PER_WORKER * i

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen, spawn every worker and wait for all their hellos."""
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        for slot in self._slots:
            path = self.socket_path(slot.index)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            server = await asyncio.start_unix_server(
                functools.partial(self._on_connect, slot), path=str(path)
            )
            os.chmod(path, 0o600)
            self._servers.append(server)
        results = await asyncio.gather(
            *(self._spawn(slot) for slot in self._slots), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self.stop()
            raise failed[0]
        for slot in self._slots:
            self._spawn_task(self._supervise(slot), slot)
        self._spawn_task(self._watchdog())
        self.log.info("worker_pool_started", size=self.size)

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask every worker to shut down; terminate, then kill, the ones that linger."""
        self._stopping = True
        procs = [s.proc for s in self._slots if s.proc is not None]
        for slot in self._slots:
            if slot.state == "up" and slot.writer is not None:
                with contextlib.suppress(Exception):
                    slot.writer.write(encode(Command(next(self._ids), "shutdown", {})))
        if procs:
            await self._wait_procs(procs, timeout)
            for proc in procs:
                if proc.returncode is None:
                    proc.terminate()
            await self._wait_procs(procs, 2.0)
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
            await self._wait_procs(procs, 2.0)
        for slot in self._slots:
            self._fail_pending(slot, "worker pool stopped")
            slot.state = "stopped"
            if slot.writer is not None:
                slot.writer.close()
                slot.writer = None
        for server in self._servers:
            server.close()
        self._servers.clear()
        tasks = [t for s in self._slots for t in s.tasks] + list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for slot in self._slots:
            late = slot.proc
            if late is not None and late.returncode is None:
                # spawned by a restart that raced with stop(): do not leave it behind
                with contextlib.suppress(ProcessLookupError):
                    late.kill()
                await late.wait()
            with contextlib.suppress(FileNotFoundError):
                self.socket_path(slot.index).unlink()
        self.log.info("worker_pool_stopped")

    @staticmethod
    async def _wait_procs(procs: list[asyncio.subprocess.Process], timeout: float) -> None:
        waiting = [asyncio.ensure_future(p.wait()) for p in procs if p.returncode is None]
        if waiting:
            _, pending = await asyncio.wait(waiting, timeout=timeout)
            for task in pending:
                task.cancel()

    def _spawn_task(self, coro: Any, slot: _Slot | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        owner = slot.tasks if slot is not None else self._tasks
        owner.add(task)
        task.add_done_callback(owner.discard)
        return task

    async def _spawn(self, slot: _Slot) -> None:
        i = slot.index
        slot.state = "starting"
        slot.hello = asyncio.get_running_loop().create_future()
        slot.stderr_tail.clear()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        args = [
            "-m",
            "drivers.sip.worker",
            "--index",
            str(i),
            "--socket",
            str(self.socket_path(i)),
            "--sip-port",
            str(self.sip_port(i)),
            "--rtp-port",
            str(self.rtp_port(i)),
            "--proxy",
            self.proxy,
            "--log-level",
            self.log_level,
            "--answer-timeout",
            str(self.answer_timeout),
            "--health-interval",
            str(self.health_interval),
            "--first-leg",
            str(slot.last_leg + 1),
            *self.worker_args,
        ]
        proc = await asyncio.create_subprocess_exec(
            self.python,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        slot.proc = proc
        slot.pid = proc.pid
        slot.started_at = time.monotonic()
        self._spawn_task(self._read_stderr(slot, proc), slot)
        exited: asyncio.Future[Any] = asyncio.ensure_future(proc.wait())
        hello: asyncio.Future[Any] = slot.hello
        try:
            done, _ = await asyncio.wait(
                {hello, exited},
                timeout=self.start_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            if not exited.done():
                exited.cancel()
        if slot.hello in done:
            slot.state = "up"
            slot.last_seen = time.monotonic()
            self.log.info("worker_up", worker=i, pid=proc.pid, sip_port=self.sip_port(i))
            return
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.sleep(0.05)  # let the stderr reader catch the last lines
        slot.state = "down"
        tail = "\n".join(slot.stderr_tail)
        why = f"exited with {proc.returncode}" if slot.hello not in done else "no hello"
        raise ChannelUnavailable(f"media worker {i} did not start ({why}):\n{tail}")

    async def _read_stderr(self, slot: _Slot, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\n")
            slot.stderr_tail.append(text)
            # The worker logs JSON lines with its index bound: pass them through.
            sys.stderr.write(text + "\n")

    async def _supervise(self, slot: _Slot) -> None:
        while not self._stopping:
            proc = slot.proc
            if proc is None:
                return
            code = await proc.wait()
            if self._stopping:
                return
            lived = time.monotonic() - slot.started_at
            self._worker_died(slot, f"exited with {code}")
            slot.failures = 0 if lived > 60 else slot.failures + 1
            delay = min(self.max_backoff, 0.5 * 2 ** max(0, slot.failures - 1))
            while not self._stopping:
                await asyncio.sleep(delay)
                if self._stopping:
                    return
                self.restarts[slot.index] += 1
                try:
                    await self._spawn(slot)
                    break
                except (ChannelUnavailable, OSError) as exc:
                    self.log.error("worker_restart_failed", worker=slot.index, error=str(exc))
                    slot.failures += 1
                    delay = min(self.max_backoff, 0.5 * 2 ** max(0, slot.failures - 1))

    async def _watchdog(self) -> None:
        """Kill a worker that has been silent for three health intervals (a hung loop);
        the supervisor then restarts it like any dead worker."""
        limit = 3 * self.health_interval + 1.0
        while not self._stopping:
            await asyncio.sleep(min(self.health_interval, 1.0))
            now = time.monotonic()
            for slot in self._slots:
                proc = slot.proc
                if (
                    slot.state == "up"
                    and proc is not None
                    and proc.returncode is None
                    and now - slot.last_seen > limit
                ):
                    self.log.error(
                        "worker_unresponsive",
                        worker=slot.index,
                        pid=proc.pid,
                        silent_for=round(now - slot.last_seen, 1),
                    )
                    slot.last_seen = now  # once
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()

    def _worker_died(self, slot: _Slot, why: str) -> None:
        slot.state = "down"
        slot.reserved_until = 0.0
        self.log.error(
            "worker_died",
            worker=slot.index,
            pid=slot.pid,
            why=why,
            legs=sorted(slot.legs),
            stderr_tail=list(slot.stderr_tail)[-5:],
        )
        self._fail_pending(slot, f"media worker {slot.index} died")
        if slot.writer is not None:
            slot.writer.close()
            slot.writer = None
        legs, slot.legs = sorted(slot.legs), set()
        for leg in legs:
            self._put(
                slot.index,
                Event("ended", {"call": leg, "code": 500, "reason": "worker_died"}),
            )

    def _put(self, index: int, event: Event) -> None:
        try:
            self.events.put_nowait((index, event))
        except asyncio.QueueFull:
            # Rare (the readers apply back-pressure); never lose a synthetic event.
            self._spawn_task(self.events.put((index, event)))

    def _fail_pending(self, slot: _Slot, why: str) -> None:
        pending, slot.pending = slot.pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ChannelUnavailable(why))

    # ------------------------------------------------------------ the control sockets

    async def _on_connect(
        self, slot: _Slot, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if slot.writer is not None:
            self.log.warning("worker_reconnected", worker=slot.index)
            slot.writer.close()
        slot.writer = writer
        decoder = Decoder()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                try:
                    messages = decoder.feed(data)
                except ProtocolError as exc:
                    self.log.warning("worker_protocol_error", worker=slot.index, error=str(exc))
                    messages = decoder.drain(
                        lambda e: self.log.warning(
                            "worker_protocol_error", worker=slot.index, error=str(e)
                        )
                    )
                for msg in messages:
                    await self._on_message(slot, msg)
        except (ConnectionError, OSError) as exc:
            self.log.warning("worker_socket_error", worker=slot.index, error=str(exc))
        finally:
            if slot.writer is writer:
                slot.writer = None
                proc = slot.proc
                if not self._stopping and proc is not None and proc.returncode is None:
                    # A worker without its control socket is of no use: end it, the
                    # supervisor restarts it.
                    self.log.error("worker_socket_closed", worker=slot.index, pid=proc.pid)
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGKILL)
            writer.close()

    async def _on_message(self, slot: _Slot, msg: Any) -> None:
        slot.last_seen = time.monotonic()
        if isinstance(msg, Reply):
            fut = slot.pending.pop(msg.id, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        if not isinstance(msg, Event):
            self.log.warning("worker_sent_command", worker=slot.index)
            return
        if msg.name == "hello":
            pid = msg.args.get("pid")
            if slot.proc is not None and pid != slot.proc.pid:
                self.log.warning("worker_hello_pid_mismatch", worker=slot.index, pid=pid)
            if slot.hello is not None and not slot.hello.done():
                slot.hello.set_result(msg)
        elif msg.name == "worker_health":
            slot.last_health = dict(msg.args)
            rate = msg.args.get("invites_per_s")
            if isinstance(rate, int | float) and rate > INVITE_RATE_WARNING:
                # Each INVITE costs the worker 2 ioqueue keys, held 0.5 s after the call;
                # the wheel's select ioqueue has 64: past ~60 INVITEs/s a worker aborts.
                self.log.warning(
                    "worker_invite_rate_high",
                    worker=slot.index,
                    invites_per_s=rate,
                    limit=INVITE_RATE_WARNING,
                )
        elif msg.name == "incoming" and msg.call:
            slot.legs.add(msg.call)
            _, _, n = msg.call.rpartition("-")
            if n.isdigit():
                slot.last_leg = max(slot.last_leg, int(n))
        elif msg.name == "ended" and msg.call:
            slot.legs.discard(msg.call)
        await self.events.put((slot.index, msg))

    # ------------------------------------------------------------ the core's API

    async def command(self, worker: int, op: str, **args: Any) -> dict[str, Any]:
        """Send ``op`` to ``worker`` and return the reply's extra fields."""
        if not 0 <= worker < self.size:
            raise Rejected("no_such_worker", f"no media worker {worker}")
        cmd = Command(next(self._ids), op, args)
        problem = check_command(cmd)
        if problem is not None:
            raise Rejected("bad_command", problem)
        slot = self._slots[worker]
        if slot.state != "up" or slot.writer is None:
            raise ChannelUnavailable(f"media worker {worker} is {slot.state}")
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        slot.pending[cmd.id] = fut
        if op == "dial":
            slot.legs.add(args["call"])
            slot.reserved_until = 0.0  # the leg keeps the worker taken from now on
        try:
            slot.writer.write(encode(cmd))
            reply = await asyncio.wait_for(fut, self.command_timeout)
        except TimeoutError:
            slot.pending.pop(cmd.id, None)
            if op == "dial":
                slot.legs.discard(args["call"])
            raise ChannelUnavailable(
                f"media worker {worker} did not answer {op} within {self.command_timeout}s"
            ) from None
        except BaseException:
            slot.pending.pop(cmd.id, None)
            if op == "dial":
                slot.legs.discard(args["call"])
            raise
        if not reply.ok:
            if op == "dial":
                slot.legs.discard(args["call"])
            raise Rejected("worker_refused", reply.error or f"{op} failed", 409)
        return dict(reply.data)

    def worker_of(self, leg: str) -> int | None:
        for slot in self._slots:
            if leg in slot.legs:
                return slot.index
        return None

    def free_worker(self, skip: frozenset[int] = frozenset()) -> int | None:
        """An up worker with no legs and no reservation (round robin), or None."""
        now = time.monotonic()
        for k in range(self.size):
            i = (self._rr + k) % self.size
            slot = self._slots[i]
            if (
                i not in skip
                and slot.state == "up"
                and not slot.legs
                and slot.reserved_until <= now
            ):
                self._rr = (i + 1) % self.size
                return i
        return None

    async def reserve(self, seconds: float = 5.0) -> int | None:
        """A free worker, reserved for a call the core is about to dial; None if none.

        Until its first ``dial`` (or ``release``, or ``seconds``) the worker answers 486 to
        inbound INVITEs and ``free_worker()`` skips it. A worker the edge has just handed
        an inbound call (its ``incoming`` event not read yet) refuses; the next is tried.
        """
        tried: set[int] = set()
        while (i := self.free_worker(frozenset(tried))) is not None:
            tried.add(i)
            slot = self._slots[i]
            slot.reserved_until = time.monotonic() + seconds
            try:
                await self.command(i, "reserve", seconds=float(seconds))
            except (Rejected, ChannelUnavailable) as exc:
                slot.reserved_until = 0.0
                self.log.info("worker_reserve_refused", worker=i, error=str(exc))
                continue
            return i
        return None

    async def release(self, worker: int) -> None:
        """Give back a reservation that will not be used (best effort)."""
        slot = self._slots[worker]
        slot.reserved_until = 0.0
        with contextlib.suppress(Rejected, ChannelUnavailable):
            await self.command(worker, "release")

    def health(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {
                "worker": s.index,
                "state": s.state,
                "pid": s.pid,
                "sip_port": self.sip_port(s.index),
                "legs": sorted(s.legs),
                "reserved": s.reserved_until > now,
                "restarts": self.restarts[s.index],
                "uptime": round(now - s.started_at, 1) if s.state == "up" else 0.0,
                "last_health": s.last_health,
            }
            for s in self._slots
        ]
