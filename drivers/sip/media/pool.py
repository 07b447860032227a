"""The media worker pool, the core's side: worker processes, their control sockets,
commands and events (the asyncio shell around :class:`PoolState`).

Theory of operation
-------------------
``WorkerPool(size, ...)`` runs ``size`` worker processes
(``python -m drivers.sip.media.worker``), warm, each through the shared
:class:`drivers.sip.process.ChildProcess` (own process group, dies with the switch,
restarted with backoff). Worker ``i`` is a SIP UA on UDP ``127.0.0.1:<sip_port_base + i>``
with RTP ports from ``rtp_port_base + 50 * i``; it connects back to the pool's Unix
socket ``<socket_dir>/w<i>.sock`` (one listening socket per worker, so a connection's
worker is known before it speaks) and says ``hello``: that is its readiness.

Commands: ``await pool.command(i, "play", call="w0-1", file=..., loop=True)`` sends a
command to worker ``i`` and returns the reply's extra fields (a dict, often empty). A
reply with ``ok: false`` raises :class:`Rejected` (code ``worker_refused``); no reply
within ``command_timeout`` or a worker that is down raises :class:`ChannelUnavailable`.

Events: every event of every worker is put on ``pool.events`` as ``(worker, Event)``
(``hello`` and ``worker_health`` included). The queue is bounded: when the core does not
keep up the pool stops reading the workers' sockets (back-pressure) rather than drop an
event.

Legs and reservations are :class:`PoolState`'s bookkeeping: ``worker_of(leg)`` routes a
leg id to its worker; ``free_worker()`` names an up worker with no legs and no
reservation (round robin, so churn is spread). A call the core starts itself
(click-to-call, a trunk test) takes one with ``await reserve()``: the slot is marked
reserved here and the worker is told ``reserve`` (it answers 486 to inbound INVITEs, so
the edge sends them to another worker) until the first ``dial`` on it, ``release(i)``,
or ``seconds`` pass. A worker that already took an inbound call refuses the reservation
and the next free one is tried.

Several calls per worker (``max_inbound`` > 1): a worker takes inbound calls while it
has fewer than ``max_inbound`` legs and holds at most 4 (the pjsua2 wheel's limit), so
it can park several waiting callers and still dial the agent who takes one of them.
``await pool.run(command, near=i)`` carries out a typed media command
(:mod:`drivers.sip.media.ops`) wherever its legs are: a ``Dial`` goes to worker ``near``
(the worker of the leg it will be bridged with) while it has a leg free, else to the
least loaded worker with one (a worker that refuses it as full is skipped); a
``Bridge`` of two legs on two workers links them (:mod:`drivers.sip.media.link`: a raw
audio port on each side, 20 ms frames over a Unix datagram socket in ``socket_dir``)
and ``Unbridge`` undoes it; every other command goes to its leg's worker. A link
whose leg ends or whose worker dies is closed on the other side too.

Leg ids stay unique for the pool's life: a restarted worker numbers its incoming legs on
from the last one the pool saw (``--first-leg``).

Supervision: a worker whose process exits (or whose socket closes, or that stays silent
for three health intervals: it is then killed) is restarted after a backoff (0.5 s
doubling to ``max_backoff``, reset after a minute of good health); for each leg it had,
the pool emits a synthetic ``ended {call, code: 500, reason: "worker_died"}``.
``restarts[i]`` counts restarts. The workers' own log lines (JSON) go into the core's
log through structlog, ``worker`` bound.

Must not import the worker process's modules (pjsua2 stays out of the core) or the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from base.backoff import Backoff
from base.errors import ChannelUnavailable, ProtocolError, Rejected
from drivers.sip.media import ops
from drivers.sip.media.pool_state import HelloPidMismatch, InviteRateHigh, PoolState
from drivers.sip.media.protocol import Command, Decoder, Event, Reply, encode
from drivers.sip.process import ChildProcess, Launch, LogLine, StartFailed, json_log_line

__all__ = ["WORKER_MODULE", "WorkerPool"]

WORKER_MODULE = "drivers.sip.media.worker"
STDERR_LINES_PER_SECOND = 100  # per worker; the excess is counted (worker_log_suppressed)
STDERR_TAIL = 40  # lines kept for error messages
TERM_TIMEOUT = 2.0  # s between SIGTERM and SIGKILL once the shutdown grace is over
_ROOT = Path(__file__).resolve().parents[3]


class _Worker:
    """Worker ``index``'s I/O: its process and its control connection. Also the
    :class:`drivers.sip.process.Program` its :class:`ChildProcess` runs."""

    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.log = pool.log.bind(worker=index)
        self.writer: asyncio.StreamWriter | None = None
        self.hello: asyncio.Future[Event] | None = None
        self.child = ChildProcess(
            "worker",
            self,
            log=self.log,
            backoff=Backoff(maximum=pool.max_backoff),
            start_timeout=pool.start_timeout,
            term_timeout=TERM_TIMEOUT,
            lines_per_second=STDERR_LINES_PER_SECOND,
            tail_lines=STDERR_TAIL,
        )

    @property
    def proc(self) -> asyncio.subprocess.Process | None:
        return self.child.proc

    async def launch(self) -> Launch:
        pool, i = self.pool, self.index
        pool.state.starting(i)
        self.hello = asyncio.get_running_loop().create_future()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        argv = (
            pool.python,
            "-m",
            WORKER_MODULE,
            "--index",
            str(i),
            "--socket",
            str(pool.socket_path(i)),
            "--sip-port",
            str(pool.sip_port(i)),
            "--rtp-port",
            str(pool.rtp_port(i)),
            "--proxy",
            pool.proxy,
            "--log-level",
            pool.log_level,
            "--answer-timeout",
            str(pool.answer_timeout),
            "--health-interval",
            str(pool.health_interval),
            "--first-leg",
            str(pool.state.first_leg(i)),
            "--max-inbound",
            str(pool.state.max_inbound),
            *pool.worker_args,
        )
        return Launch(argv, env=env)

    async def ready(self, proc: asyncio.subprocess.Process) -> None:
        self.pool.state.spawned(self.index, proc.pid, time.monotonic())
        assert self.hello is not None
        await self.hello

    def up(self, proc: asyncio.subprocess.Process) -> None:
        # (the slot is up since its hello: PoolState.received)
        self.log.info("worker_up", pid=proc.pid, sip_port=self.pool.sip_port(self.index))

    def log_line(self, line: str, stopping: bool) -> LogLine:
        return json_log_line(line, "worker")

    async def start_failed(self, failure: StartFailed) -> Exception:
        self.pool.state.start_failed(self.index)
        why = "no hello" if failure.status is None else f"exited with {failure.status}"
        tail = "\n".join(failure.lines)
        return ChannelUnavailable(f"media worker {self.index} did not start ({why}):\n{tail}")

    def exited(self, status: int, uptime: float) -> None:
        self.pool._worker_died(self, f"exited with {status}")


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
        max_inbound: int = 1,
    ) -> None:
        self.state = PoolState(
            size,
            sip_port_base=sip_port_base,
            rtp_port_base=rtp_port_base,
            health_interval=health_interval,
            max_inbound=max_inbound,
        )
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
        self._slots = [_Worker(self, i) for i in range(size)]
        self._replies: dict[int, tuple[int, asyncio.Future[Reply]]] = {}
        self._servers: list[asyncio.Server] = []
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ addresses

    def socket_path(self, i: int) -> Path:
        return self.socket_dir / f"w{i}.sock"

    def sip_port(self, i: int) -> int:
        return self.state.sip_port(i)

    def rtp_port(self, i: int) -> int:
        return self.state.rtp_port(i)

    @property
    def restarts(self) -> list[int]:
        """Restarts of each worker."""
        return [w.child.restarts for w in self._slots]

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen, spawn every worker and wait for all their hellos."""
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        for worker in self._slots:
            path = self.socket_path(worker.index)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            server = await asyncio.start_unix_server(
                functools.partial(self._on_connect, worker), path=str(path)
            )
            os.chmod(path, 0o600)
            self._servers.append(server)
        results = await asyncio.gather(
            *(w.child.start() for w in self._slots), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await self.stop()
            raise failed[0]
        self._spawn_task(self._watchdog())
        self.log.info("worker_pool_started", size=self.size)

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask every worker to shut down; terminate, then kill, the ones that linger."""
        self._stopping = True
        for worker in self._slots:
            if self.state.slots[worker.index].state == "up" and worker.writer is not None:
                with contextlib.suppress(Exception):
                    worker.writer.write(encode(self.state.shutdown_command()))
        await asyncio.gather(*(w.child.stop(grace=timeout) for w in self._slots))
        self._fail(self.state.stopped(), "worker pool stopped")
        for worker in self._slots:
            if worker.writer is not None:
                worker.writer.close()
                worker.writer = None
        for server in self._servers:
            server.close()
        self._servers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for worker in self._slots:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path(worker.index).unlink()
        self.log.info("worker_pool_stopped")

    def _spawn_task(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _watchdog(self) -> None:
        """Kill a worker that has been silent for three health intervals (a hung loop);
        its supervisor then restarts it like any dead worker."""
        while not self._stopping:
            await asyncio.sleep(min(self.health_interval, 1.0))
            for i, silent_for in self.state.silent(time.monotonic()):
                worker = self._slots[i]
                proc = worker.proc
                if proc is not None and proc.returncode is None:
                    self.log.error(
                        "worker_unresponsive",
                        worker=i,
                        pid=proc.pid,
                        silent_for=round(silent_for, 1),
                    )
                    worker.child.kill()

    def _worker_died(self, worker: _Worker, why: str) -> None:
        slot = self.state.slots[worker.index]
        self.log.error(
            "worker_died",
            worker=worker.index,
            pid=slot.pid,
            why=why,
            legs=sorted(slot.legs),
            stderr_tail=list(worker.child.tail)[-5:],
        )
        pending, ended = self.state.died(worker.index)
        self._fail(pending, f"media worker {worker.index} died")
        if worker.writer is not None:
            worker.writer.close()
            worker.writer = None
        for event in ended:
            self._close_links(str(event.call))
            self._put(worker.index, event)

    def _put(self, index: int, event: Event) -> None:
        try:
            self.events.put_nowait((index, event))
        except asyncio.QueueFull:
            # Rare (the readers apply back-pressure); never lose a synthetic event.
            self._spawn_task(self.events.put((index, event)))

    def _fail(self, command_ids: list[int], why: str) -> None:
        for cid in command_ids:
            entry = self._replies.pop(cid, None)
            if entry is not None and not entry[1].done():
                entry[1].set_exception(ChannelUnavailable(why))

    # ------------------------------------------------------------ the control sockets

    async def _on_connect(
        self, worker: _Worker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if worker.writer is not None:
            self.log.warning("worker_reconnected", worker=worker.index)
            worker.writer.close()
        worker.writer = writer
        decoder = Decoder()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                try:
                    messages = decoder.feed(data)
                except ProtocolError as exc:
                    self.log.warning("worker_protocol_error", worker=worker.index, error=str(exc))
                    messages = decoder.drain(
                        lambda e: self.log.warning(
                            "worker_protocol_error", worker=worker.index, error=str(e)
                        )
                    )
                for msg in messages:
                    await self._on_message(worker, msg)
        except (ConnectionError, OSError) as exc:
            self.log.warning("worker_socket_error", worker=worker.index, error=str(exc))
        finally:
            if worker.writer is writer:
                worker.writer = None
                proc = worker.proc
                if not self._stopping and proc is not None and proc.returncode is None:
                    # A worker without its control socket is of no use: end it, the
                    # supervisor restarts it.
                    self.log.error("worker_socket_closed", worker=worker.index, pid=proc.pid)
                    worker.child.kill()
            writer.close()

    async def _on_message(self, worker: _Worker, msg: Command | Reply | Event) -> None:
        i = worker.index
        for notice in self.state.received(i, msg, time.monotonic()):
            match notice:
                case HelloPidMismatch(pid=pid):
                    self.log.warning("worker_hello_pid_mismatch", worker=i, pid=pid)
                case InviteRateHigh(invites_per_s=rate, limit=limit):
                    self.log.warning(
                        "worker_invite_rate_high", worker=i, invites_per_s=rate, limit=limit
                    )
        if isinstance(msg, Reply):
            entry = self._replies.get(msg.id)
            if entry is not None and entry[0] == i:
                del self._replies[msg.id]
                if not entry[1].done():
                    entry[1].set_result(msg)
            return
        if isinstance(msg, Command):
            self.log.warning("worker_sent_command", worker=i)
            return
        if msg.name == "hello" and worker.hello is not None and not worker.hello.done():
            worker.hello.set_result(msg)
        if msg.name == "ended" and msg.call:
            self._close_links(msg.call)
        await self.events.put((i, msg))

    def _close_links(self, leg: str) -> None:
        """``leg`` is gone with its side of its links: close the other sides."""
        for other_worker, other_leg, link_id in self.state.forget_links(leg):
            self._spawn_task(self._unlink(other_worker, other_leg, link_id))

    async def _unlink(self, worker: int, leg: str, link_id: str) -> None:
        try:
            await self.command(worker, "unlink", call=leg, link=link_id)
        except (Rejected, ChannelUnavailable) as exc:  # the leg ended meanwhile
            self.log.info("unlink_skipped", worker=worker, call=leg, link=link_id, error=str(exc))

    # ------------------------------------------------------------ the core's API

    async def command(self, worker: int, op: str, **args: Any) -> dict[str, Any]:
        """Send ``op`` to ``worker`` and return the reply's extra fields."""
        cmd = self.state.command(worker, op, args)
        writer = self._slots[worker].writer
        if writer is None:
            self.state.command_failed(worker, cmd)
            raise ChannelUnavailable(f"media worker {worker} is {self.state.slots[worker].state}")
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._replies[cmd.id] = (worker, fut)
        try:
            writer.write(encode(cmd))
            reply = await asyncio.wait_for(fut, self.command_timeout)
        except TimeoutError:
            self._replies.pop(cmd.id, None)
            self.state.command_failed(worker, cmd)
            raise ChannelUnavailable(
                f"media worker {worker} did not answer {op} within {self.command_timeout}s"
            ) from None
        except BaseException:
            self._replies.pop(cmd.id, None)
            self.state.command_failed(worker, cmd)
            raise
        if not reply.ok:
            self.state.command_failed(worker, cmd)
            raise Rejected("worker_refused", reply.error or f"{op} failed", 409)
        return dict(reply.data)

    def worker_of(self, leg: str) -> int | None:
        return self.state.worker_of(leg)

    async def run(self, command: ops.MediaCommand, near: int | None = None) -> dict[str, Any]:
        """Carry out ``command`` where its legs are (see the module docstring); the
        reply's extra fields. Raises like :meth:`command`."""
        match command:
            case ops.Dial():
                return await self._dial(command, near)
            case ops.Bridge(a=a, b=b):
                return await self._bridge(a, b)
            case ops.Listen(leg=leg, source=source):
                worker, other = self.state.worker_of(leg), self.state.worker_of(source)
                if worker is None or worker != other:
                    raise Rejected(
                        "worker_refused",
                        f"{leg!r} can listen to {source!r} only on the same media worker",
                        409,
                    )
            case ops.Unbridge(a=a, b=b):
                link = self.state.link_of(a, b)
                if link is None:
                    return await self.command(self._leg_worker(a, near), "unbridge", a=a, b=b)
                self.state.drop_link(link.id)
                out: dict[str, Any] = {}
                for worker, leg in ((link.worker_a, link.a), (link.worker_b, link.b)):
                    try:  # each end on its own: one leg may have ended meanwhile
                        out[leg] = await self.command(worker, "unlink", call=leg, link=link.id)
                    except (Rejected, ChannelUnavailable) as exc:
                        self.log.info("unlink_skipped", worker=worker, call=leg, error=str(exc))
                return out
        op, args = ops.command_args(command)
        return await self.command(self._leg_worker(str(args["call"]), near), op, **args)

    def _leg_worker(self, leg: str, near: int | None) -> int:
        worker = self.state.worker_of(leg)
        if worker is None:
            if near is None:
                raise Rejected("worker_refused", f"no such call {leg!r}", 409)
            return near  # the worker answers for itself (e.g. a leg that just ended)
        return worker

    async def _dial(self, command: ops.Dial, near: int | None) -> dict[str, Any]:
        op, args = ops.command_args(command)
        tried: set[int] = set()
        while True:
            worker = self.state.place(near, time.monotonic(), frozenset(tried))
            if worker is None:
                raise ChannelUnavailable("every media worker is full")
            tried.add(worker)
            try:
                return await self.command(worker, op, **args)
            except Rejected as exc:
                if not exc.message.startswith("full:"):
                    raise
                self.log.info("worker_full", worker=worker, call=command.leg)

    async def _bridge(self, a: str, b: str) -> dict[str, Any]:
        wa, wb = self.state.worker_of(a), self.state.worker_of(b)
        if wa is None or wb is None:
            missing = a if wa is None else b
            raise Rejected("worker_refused", f"no such call {missing!r}", 409)
        if wa == wb:
            return await self.command(wa, "bridge", a=a, b=b)
        if self.state.link_of(a, b) is not None:
            return {}
        link = self.state.add_link(a, wa, b, wb)
        path_a = str(self.socket_dir / f"{link.id}a.sock")
        path_b = str(self.socket_dir / f"{link.id}b.sock")
        try:
            await self.command(wa, "link", call=a, link=link.id, local=path_a, remote=path_b)
        except BaseException:
            self.state.drop_link(link.id)
            raise
        try:
            await self.command(wb, "link", call=b, link=link.id, local=path_b, remote=path_a)
        except BaseException:
            self.state.drop_link(link.id)
            with contextlib.suppress(Rejected, ChannelUnavailable):
                await self.command(wa, "unlink", call=a, link=link.id)
            raise
        self.log.info("legs_linked", link=link.id, a=a, worker_a=wa, b=b, worker_b=wb)
        return {"link": link.id}

    def free_worker(self, skip: frozenset[int] = frozenset()) -> int | None:
        """An up worker with no legs and no reservation (round robin), or None."""
        return self.state.free_worker(time.monotonic(), skip)

    async def reserve(self, seconds: float = 5.0) -> int | None:
        """A free worker, reserved for a call the core is about to dial; None if none.

        Until its first ``dial`` (or ``release``, or ``seconds``) the worker answers 486 to
        inbound INVITEs and ``free_worker()`` skips it. A worker the edge has just handed
        an inbound call (its ``incoming`` event not read yet) refuses; the next is tried.
        """
        tried: set[int] = set()
        while (i := self.free_worker(frozenset(tried))) is not None:
            tried.add(i)
            self.state.reserve(i, time.monotonic() + seconds)
            try:
                await self.command(i, "reserve", seconds=float(seconds))
            except (Rejected, ChannelUnavailable) as exc:
                self.state.unreserve(i)
                self.log.info("worker_reserve_refused", worker=i, error=str(exc))
                continue
            return i
        return None

    async def release(self, worker: int) -> None:
        """Give back a reservation that will not be used (best effort)."""
        self.state.unreserve(worker)
        with contextlib.suppress(Rejected, ChannelUnavailable):
            await self.command(worker, "release")

    def health(self) -> list[dict[str, Any]]:
        return self.state.health(time.monotonic(), self.restarts)
