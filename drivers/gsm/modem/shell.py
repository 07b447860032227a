"""The serial shell: the one part of the driver that touches the port's file descriptor.

It opens the port with pyserial (``timeout=0``; the fd is watched with
``loop.add_reader``, no thread), feeds what it reads to the sans-IO
:class:`~drivers.gsm.engine.AtEngine`, writes what the engine has to say (with
``add_writer`` when the port is slow), and wakes the engine at its deadlines. Commands
are awaited with :meth:`SerialShell.at`; URCs go to the ``on_urc`` callback.

Trouble: two command timeouts in a row (the modem stopped answering), a read or write
error (the port went away), or a caller's :meth:`troubled` complete the future
:attr:`SerialShell.trouble`, which the driver's run loop awaits; :meth:`new_round` arms
a fresh one for each round of the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import Any

import serial

from base.errors import ChannelUnavailable
from drivers.gsm.engine import AtEngine, Command, Done, Event, Garbage, Timeout, Urc, simple

__all__ = ["PortGone", "SerialShell", "Unresponsive"]


class PortGone(Exception):
    """The port does not exist, or reading/writing it failed."""


class Unresponsive(Exception):
    """The modem stopped answering (or restarted): re-initialise."""


class SerialShell:
    def __init__(
        self,
        modem_id: str,
        port: str,
        baudrate: int,
        *,
        clock: Callable[[], float],
        command_timeout: float,
        on_urc: Callable[[Urc], None],
        on_error: Callable[[str], None],
        log: Any,
    ) -> None:
        self.modem_id = modem_id
        self.port = port
        self.baudrate = baudrate
        self.clock = clock
        self.command_timeout = command_timeout
        self._on_urc = on_urc
        self._on_error = on_error
        self.log = log
        self.engine = AtEngine()
        self._serial: Any = None
        self._fd: int | None = None
        self._outbuf = bytearray()
        self.port_dead: str | None = None  # why the open port stopped working
        self.trouble: asyncio.Future[str] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timeouts = 0

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    # ------------------------------------------------------------ the port

    def open(self) -> None:
        if not os.path.exists(self.port):
            raise PortGone(f"{self.port} does not exist")
        ser = serial.Serial(self.port, self.baudrate, timeout=0)
        self._serial = ser
        self._fd = ser.fileno()
        self.port_dead = None
        self.reset_engine()
        asyncio.get_running_loop().add_reader(self._fd, self._readable)
        self.log.info("modem_port_opened", port=self.port)

    def reset_engine(self) -> None:
        """Forget the dialogue (commands in flight fail); the port stays as it is."""
        for command in self.engine.reset():
            _fail(command, ChannelUnavailable("modem connection reset"))
        self._outbuf.clear()
        self._timeouts = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._fd is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(self._fd)
            with contextlib.suppress(Exception):
                loop.remove_writer(self._fd)
        self.reset_engine()
        if self._serial is not None:
            with contextlib.suppress(Exception):
                self._serial.close()
        self._serial = None
        self._fd = None
        self.port_dead = None

    # ------------------------------------------------------------ trouble

    def new_round(self) -> asyncio.Future[str]:
        """A fresh trouble future for this round of the run loop."""
        if self.trouble is not None and self.trouble.done():
            self.trouble.exception()  # mark it retrieved: the run loop handled it
        self.trouble = asyncio.get_running_loop().create_future()
        return self.trouble

    def troubled(self, why: str) -> None:
        if self.trouble is not None and not self.trouble.done():
            self.trouble.set_result(why)

    def forgive(self) -> None:
        """Timeouts that set-up survived (a command the model ignores) are not trouble."""
        if self.trouble is not None and self.trouble.done() and not self.port_dead:
            self.trouble.exception()
            self.trouble = asyncio.get_running_loop().create_future()
        self._timeouts = 0

    # ------------------------------------------------------------ commands

    async def at(self, command: Command, *, queue_wait: float | None = None) -> Done:
        """Send ``command`` in its turn and await its answer. With ``queue_wait``, a
        command still waiting its turn after that many seconds (the modem is busy or
        silent) is withdrawn unsent: ChannelUnavailable."""
        if self._fd is None:
            raise ChannelUnavailable(f"modem {self.modem_id} is not connected")
        future: asyncio.Future[Done] = asyncio.get_running_loop().create_future()
        command.tag = future
        self.engine.send(command, self.clock())
        self._flush()
        if queue_wait is None:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), queue_wait)
        except TimeoutError:
            if not self.engine.withdraw(command):
                return await future  # on the wire: its own timeout bounds it
            raise ChannelUnavailable(
                f"modem {self.modem_id} is busy or not answering: the command waited "
                f"{queue_wait:.0f} s for its turn and was not sent"
            ) from None

    async def q(self, line: str, timeout: float | None = None) -> Done:
        """A fixed command line (no outside data in it) with the default timeout."""
        return await self.at(simple(line, timeout or self.command_timeout))

    def write_raw(self, data: bytes) -> None:
        """Bytes outside any command (ESC to leave a ``>`` prompt left open)."""
        self._outbuf += data
        self._flush()

    # ------------------------------------------------------------ I/O

    def _readable(self) -> None:
        if self._fd is None:
            return
        try:
            data = os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._port_lost(str(exc))
            return
        if not data:
            self._port_lost("end of file")
            return
        self._dispatch(self.engine.receive_data(data, self.clock()))

    def _port_lost(self, why: str) -> None:
        self.log.warning("modem_port_error", error=why)
        self.port_dead = why or "port lost"
        loop = asyncio.get_running_loop()
        if self._fd is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(self._fd)
        if self.trouble is not None and not self.trouble.done():
            self.trouble.set_exception(PortGone(why))
        for command in self.engine.reset():
            _fail(command, ChannelUnavailable(f"modem port lost: {why}"))

    def _flush(self) -> None:
        self._outbuf += self.engine.data_to_send()
        if self._outbuf and self._fd is not None:
            try:
                written = os.write(self._fd, bytes(self._outbuf))
            except (BlockingIOError, InterruptedError):
                written = 0
            except OSError as exc:
                self._port_lost(str(exc))
                return
            del self._outbuf[:written]
            if self._outbuf:
                asyncio.get_running_loop().add_writer(self._fd, self._writable)
        self._arm()

    def _writable(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_writer(self._fd)
        self._flush()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.engine.next_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - self.clock())
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        self._dispatch(self.engine.check_timeouts(self.clock()))

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Done):
                self._timeouts = 0
                future = event.command.tag
                if isinstance(future, asyncio.Future) and not future.done():
                    future.set_result(event)
            elif isinstance(event, Timeout):
                self._timeouts += 1
                self._on_error(f"no answer to {event.command.line}")
                _fail(event.command, ChannelUnavailable(f"no answer to {event.command.line}"))
                if self._timeouts >= 2:
                    self.troubled("the modem stopped answering")
            elif isinstance(event, Urc):
                try:
                    self._on_urc(event)
                except Exception as exc:  # a malformed URC must not stop the driver
                    self.log.warning("modem_bad_urc", urc=event.text[:200], error=repr(exc))
            elif isinstance(event, Garbage):
                self.log.info("modem_garbage", line=event.line[:120])
        self._flush()


def _fail(command: Command, exc: Exception) -> None:
    future = command.tag
    if isinstance(future, asyncio.Future) and not future.done():
        future.set_exception(exc)
