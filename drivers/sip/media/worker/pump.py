"""A media worker's loop: pump pjsua2, serve the control socket, keep time.

Theory of operation
-------------------
Threads: one. pjsua2 runs with ``threadCnt=0`` and ``mainThreadOnly``; SIP and RTP
sockets are polled by ``libHandleEvents``, which :meth:`Pump.run` calls with a short
timeout (``--pump-ms``, 10 ms by default; ``--idle-pump-ms``, 100 ms, while the worker
has no leg: an idle worker wakes ten times a second, and a SIP packet still ends the
wait at once); after each pump it releases what the
callbacks retired, sends ``worker_health`` every ``health_interval``, refuses overdue
incoming legs, and polls the control socket with a zero timeout (:class:`ControlChannel`:
commands in, replies and events out, through the protocol's sans-IO codec). Only the
null sound device's clock thread (which drives the conference bridge) runs beside it.

The loop ends on ``shutdown``, EOF or an error on the control socket, or SIGTERM/SIGINT
(``running`` set false); then every leg is hung up, the last events are flushed (1 s at
most) and the library destroyed.

Must not import asyncio or the pool; pjsua2 only through the agent.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable
from typing import Any

from base.errors import ProtocolError
from drivers.sip.media.protocol import Command, Decoder, Event, Reply, encode
from drivers.sip.media.worker.commands import Commands
from drivers.sip.media.worker.ua import MediaAgent

__all__ = ["MAX_BACKLOG", "ControlChannel", "Pump"]

MAX_BACKLOG = 4 * 1024 * 1024  # bytes of unsent events before they are dropped


class ControlChannel:
    """The worker's end of its control socket (non-blocking, polled)."""

    def __init__(self, sock: socket.socket, log: Any) -> None:
        self.sock = sock
        self.log = log
        self.decoder = Decoder()
        self.outbuf = bytearray()
        self.open = True
        sock.setblocking(False)

    def emit(self, name: str, args: dict[str, Any]) -> None:
        """Queue an event for the core."""
        self.outbuf += encode(Event(name, args))
        if len(self.outbuf) > MAX_BACKLOG:
            # The core stopped reading; keep memory bounded and say what was lost.
            self.log.error("control_backlog_dropped", bytes=len(self.outbuf))
            self.outbuf.clear()

    def send(self, reply: Reply) -> None:
        self.outbuf += encode(reply)

    def poll(self, handle: Callable[[Command], Reply]) -> None:
        """Read what is there and answer each command with ``handle``'s reply; write
        what can go. ``open`` turns false on EOF or a socket error."""
        want_write = [self.sock] if self.outbuf else []
        readable, writable, _ = select.select([self.sock], want_write, [], 0)
        if readable:
            try:
                data: bytes | None = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError as exc:
                self.log.warning("control_socket_error", error=str(exc))
                data = b""
            if data == b"":
                self.log.info("control_socket_closed")
                self.open = False
                return
            if data:
                for cmd in self._decode(data):
                    self.send(handle(cmd))
        if self.outbuf and (writable or not want_write):
            self.flush()

    def _decode(self, data: bytes) -> list[Command]:
        try:
            messages = self.decoder.feed(data)
        except ProtocolError as exc:
            self.log.warning("protocol_error", error=str(exc))
            messages = self.decoder.drain(
                lambda e: self.log.warning("protocol_error", error=str(e))
            )
        commands = []
        for msg in messages:
            if isinstance(msg, Command):
                commands.append(msg)
            else:
                self.log.warning("unexpected_message", message=repr(msg)[:200])
        return commands

    def flush(self) -> None:
        try:
            sent = self.sock.send(self.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.log.warning("control_socket_error", error=str(exc))
            self.open = False
            return
        del self.outbuf[:sent]

    def flush_blocking(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.outbuf and time.monotonic() < deadline:
            _, writable, _ = select.select([], [self.sock], [], 0.05)
            if writable:
                self.flush()


class Pump:
    """Runs one worker until it is told to stop."""

    def __init__(
        self, agent: MediaAgent, channel: ControlChannel, *, health_interval: float = 5.0
    ) -> None:
        self.agent = agent
        self.channel = channel
        self.health_interval = health_interval
        self.commands = Commands(agent, on_shutdown=self.stop)
        self.running = True

    def stop(self) -> None:
        self.running = False

    def run(self) -> int:
        """The loop; then the shutdown. The process's exit code."""
        agent, channel = self.agent, self.channel
        last_health = time.monotonic()
        last_invites = 0
        while self.running:
            agent.pump()
            agent.after_pump()
            now = time.monotonic()
            if now - last_health >= self.health_interval:
                legs = agent.legs
                rate = (legs.invites - last_invites) / (now - last_health)
                last_health, last_invites = now, legs.invites
                agent.emit(
                    "worker_health",
                    {
                        "worker": agent.index,
                        "calls": len(legs),
                        "uptime": now - agent.started,
                        "invites_per_s": round(rate, 2),
                        "busy_refused": legs.busy_refused,
                    },
                )
            agent.timers(now)
            channel.poll(self.commands.handle)
            if not channel.open:
                self.running = False
        agent.shutdown()
        channel.flush_blocking(1.0)
        agent.destroy()
        agent.log.info("worker_stopped")
        return 0
