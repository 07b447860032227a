"""Client side of the simulator's control socket, and the simulator as a child process.

:class:`SimulatorClient` speaks the newline-delimited JSON ops of
:mod:`drivers.gsm.simulator.control` (async, plus ``*_sync`` twins for plain scripts);
:class:`SimulatorProcess` runs ``python -m drivers.gsm.simulator`` in its own process,
so a test can kill -9 the switch while the modem and its SIM storage live on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from drivers.gsm.simulator.delivery import DEFAULT_DELIVERY, Delivery

__all__ = ["SimulatorClient", "SimulatorError", "SimulatorProcess"]


class SimulatorError(Exception):
    """The simulator refused a control request (``{"ok": false}``) or is unreachable."""


class SimulatorClient:
    """Client of a simulator's control socket (in-process or standalone).

    Every call opens a short connection, so the client survives a simulator restart and
    needs no closing. Async methods for asyncio code; ``request_sync`` (and ``*_sync``
    helpers) for plain scripts and the switch CLI.
    """

    def __init__(self, control_path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self.path = str(control_path)
        self.timeout = timeout

    # --- generic

    async def request(self, op: str, **params: Any) -> dict[str, Any]:
        """Send ``{"op": op, **params}``; the answer, or :class:`SimulatorError`."""
        payload = json.dumps({"op": op, **params}, ensure_ascii=False).encode("utf-8") + b"\n"
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_unix_connection(self.path, limit=1 << 24)
                try:
                    writer.write(payload)
                    await writer.drain()
                    line = await reader.readline()
                finally:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()
        except (OSError, TimeoutError) as exc:
            raise SimulatorError(f"simulator at {self.path} unreachable: {exc!r}") from exc
        return self._answer(op, line)

    def request_sync(self, op: str, **params: Any) -> dict[str, Any]:
        """Blocking :meth:`request` (no event loop needed)."""
        payload = json.dumps({"op": op, **params}, ensure_ascii=False).encode("utf-8") + b"\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                sock.sendall(payload)
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    if chunk.endswith(b"\n"):
                        break
        except OSError as exc:
            raise SimulatorError(f"simulator at {self.path} unreachable: {exc!r}") from exc
        return self._answer(op, b"".join(chunks))

    @staticmethod
    def _answer(op: str, line: bytes) -> dict[str, Any]:
        if not line:
            raise SimulatorError(f"{op}: the simulator closed the connection")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise SimulatorError(f"{op}: unexpected answer {reply!r}")
        if not reply.get("ok"):
            raise SimulatorError(str(reply.get("error", "refused")))
        return reply

    # --- helpers (async)

    async def state(self) -> dict[str, Any]:
        return await self.request("state")

    async def ping(self) -> dict[str, Any]:
        return await self.request("ping")

    async def deliver_sms(
        self, sender: str, text: str, delivery: Delivery = DEFAULT_DELIVERY
    ) -> dict[str, Any]:
        """``{"parts": n, "pdus": [...]}``; see :meth:`SimulatedModem.deliver_sms`."""
        return await self.request("deliver_sms", sender=sender, text=text, **delivery.to_json())

    async def deliver_raw_pdu(self, pdu: str, *, mode: str = "auto") -> dict[str, Any]:
        return await self.request("deliver_raw_pdu", pdu=pdu, mode=mode)

    async def set_unresponsive(self, value: bool = True) -> None:
        await self.request("set_unresponsive", value=value)

    async def fail_next(self, prefix: str, response: str = "ERROR", count: int = 1) -> None:
        await self.request("fail_next", prefix=prefix, response=response, count=count)

    async def garbage(self, data: bytes) -> None:
        await self.request("garbage", hex=data.hex())

    async def unplug(self) -> None:
        await self.request("unplug")

    async def replug(self) -> None:
        await self.request("replug")

    async def set_signal(self, csq: int) -> None:
        await self.request("set_signal", csq=csq)

    async def set_registration(self, stat: int) -> None:
        await self.request("set_registration", stat=stat)

    async def remove_sim(self) -> None:
        await self.request("remove_sim")

    async def insert_sim(self) -> None:
        await self.request("insert_sim")

    async def set_outcome(
        self, destination: str, outcome: Any = "delivered", *, submit_error: int | None = None
    ) -> None:
        await self.request(
            "set_outcome", destination=destination, outcome=outcome, submit_error=submit_error
        )

    async def set_ussd(self, code: str, reply: str | dict[str, Any]) -> None:
        await self.request("set_ussd", code=code, reply=reply)

    async def set_timing(self, **changes: float) -> None:
        await self.request("set_timing", **changes)

    async def incoming_call(self, number: str, *, ring_for: float | None = None) -> int:
        reply = await self.request("incoming_call", number=number, ring_for=ring_for)
        return int(reply["call_id"])

    async def remote_hangup(self, call_id: int | None = None) -> None:
        await self.request("remote_hangup", call_id=call_id)

    async def remote_answer(self, call_id: int | None = None) -> None:
        await self.request("remote_answer", call_id=call_id)

    async def set_call_behaviour(
        self, number: str, behaviour: str, *, delay: float | None = None
    ) -> None:
        await self.request("set_call_behaviour", number=number, behaviour=behaviour, delay=delay)

    async def audio_power(self, hz: float, seconds: float | None = None) -> dict[str, Any]:
        """``{"hz", "power", "rms", "frames_received", "active"}`` of what the modem heard."""
        params: dict[str, Any] = {"hz": hz}
        if seconds is not None:
            params["seconds"] = seconds
        return await self.request("audio_power", **params)

    async def set_audio_tone(self, hz: float, amplitude: int | None = None) -> None:
        params: dict[str, Any] = {"hz": hz}
        if amplitude is not None:
            params["amplitude"] = amplitude
        await self.request("set_audio_tone", **params)

    async def press_keys(self, digits: str) -> None:
        """The remote party of the active call presses ``digits`` (DTMF in band)."""
        await self.request("press_keys", digits=digits)

    async def transcript(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = (await self.request("transcript"))["lines"]
        return lines

    async def shutdown(self) -> None:
        await self.request("shutdown")

    async def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 5.0,
        interval: float = 0.05,
    ) -> dict[str, Any]:
        """Poll ``state`` until ``predicate(state)``; the state, or TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self.state()
            if predicate(state):
                return state
            if time.monotonic() >= deadline:
                raise TimeoutError(f"simulator state did not match within {timeout}s")
            await asyncio.sleep(interval)

    # --- helpers (sync)

    def state_sync(self) -> dict[str, Any]:
        return self.request_sync("state")

    def deliver_sms_sync(
        self, sender: str, text: str, delivery: Delivery = DEFAULT_DELIVERY
    ) -> dict[str, Any]:
        return self.request_sync("deliver_sms", sender=sender, text=text, **delivery.to_json())

    def wait_for_sync(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 5.0,
        interval: float = 0.05,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state_sync()
            if predicate(state):
                return state
            if time.monotonic() >= deadline:
                raise TimeoutError(f"simulator state did not match within {timeout}s")
            time.sleep(interval)


class SimulatorProcess:
    """``python -m drivers.gsm.simulator`` as a child process, for tests.

    >>> sim = SimulatorProcess.spawn(tmp_path, profile="simcom")   # waits until ready
    >>> sim.link, sim.control, sim.client.state_sync()
    >>> sim.kill()                                                 # or sim.terminate()
    """

    def __init__(self, proc: subprocess.Popen[bytes], link: Path, control: Path) -> None:
        self.proc = proc
        self.link = link
        self.control = control
        self.client = SimulatorClient(control)

    @classmethod
    def spawn(
        cls,
        directory: str | os.PathLike[str],
        *,
        name: str = "ttySIM0",
        profile: str = "huawei",
        options: dict[str, Any] | None = None,
        python: str = sys.executable,
        ready_timeout: float = 15.0,
        stderr: int | IO[bytes] | None = None,
        env: dict[str, str] | None = None,
    ) -> SimulatorProcess:
        """Start a simulator with its link and control socket in ``directory``.

        ``options``: keyword arguments of :class:`SimulatedModem` (JSON-able: timing
        as a dict, ussd as {code: text | {"text", "ucs2", "menu"}}).
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        link, control = folder / name, folder / f"{name}.sock"
        cmd = [
            python,
            "-m",
            "drivers.gsm.simulator",
            "--link",
            str(link),
            "--control",
            str(control),
            "--profile",
            profile,
        ]
        if options:
            cmd += ["--options", json.dumps(options)]
        child_env = dict(os.environ if env is None else env)
        root = str(Path(__file__).resolve().parents[3])
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, child_env.get("PYTHONPATH", "")) if p
        )
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=child_env)
        sim = cls(proc, link, control)
        try:
            sim._wait_ready(ready_timeout)
        except BaseException:
            sim.kill()
            raise
        return sim

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        os.set_blocking(self.proc.stdout.fileno(), False)
        buf = b""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SimulatorError(f"simulator exited with {self.proc.returncode}")
            chunk = self.proc.stdout.read()
            if chunk:
                buf += chunk
                if b"\n" in buf:
                    line = buf.split(b"\n", 1)[0]
                    info = json.loads(line)
                    if info.get("ready"):
                        return
            time.sleep(0.02)
        raise SimulatorError(f"simulator not ready within {timeout}s")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def audio_link(self) -> Path:
        """The voice port's path (``<link>.audio``; it exists with ``{"audio": true}``)."""
        return self.link.with_name(f"{self.link.name}.audio")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float = 5.0) -> int:
        """SIGTERM and wait (the simulator removes its link and socket)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL (the link and socket stay behind, as after a crash)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()
