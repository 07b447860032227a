"""Control socket of the simulated modem: newline-delimited JSON over a Unix socket.

One request per line, one answer per line, in order; a connection may carry many.
Request ``{"op": "<name>", ...params}``; answer ``{"ok": true, ...}`` or
``{"ok": false, "error": "<what is wrong>"}``. The ops are :data:`OPS` (documented in the
package docstring). :class:`SimulatorClient` speaks it (async, plus ``*_sync`` twins for
plain scripts); :class:`SimulatorProcess` runs ``python -m drivers.gsm.simulator`` in its
own process, so a test can kill -9 the switch while the modem and its SIM storage live on.
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
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any

import structlog

from drivers.gsm.simulator.port import SimulatedModem

__all__ = ["OPS", "ControlServer", "SimulatorClient", "SimulatorError", "SimulatorProcess"]

log = structlog.get_logger("gsm.simulator")

MAX_REQUEST = 1 << 20


class SimulatorError(Exception):
    """The simulator refused a control request (``{"ok": false}``) or is unreachable."""


def _str(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string")
    return value


def _opt_int_list(params: dict[str, Any], key: str) -> list[int] | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{key!r} must be a list of integers")
    return value


async def _op_state(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    return m.state()


async def _op_deliver_sms(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    timestamp = p.get("timestamp")
    if isinstance(timestamp, str):
        from datetime import datetime

        timestamp = datetime.fromisoformat(timestamp)
    elif timestamp is not None and not isinstance(timestamp, int | float):
        raise ValueError("'timestamp' must be an ISO 8601 string or epoch seconds")
    parts, pdus = m.deliver_sms_now(
        _str(p, "sender"),
        _str(p, "text"),
        order=_opt_int_list(p, "order"),
        duplicate=_opt_int_list(p, "duplicate"),
        drop=_opt_int_list(p, "drop"),
        mode=p.get("mode", "auto"),
        ucs2=bool(p.get("ucs2", False)),
        timestamp=timestamp,
        reference=p.get("reference"),
        interval=float(p.get("interval", 0.0)),
    )
    return {"parts": parts, "pdus": pdus}


async def _op_deliver_raw_pdu(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    return {"kind": await m.deliver_raw_pdu(_str(p, "pdu"), mode=p.get("mode", "auto"))}


async def _op_set_unresponsive(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.set_unresponsive(bool(p.get("value", True)))
    return {}


async def _op_fail_next(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.fail_next(_str(p, "prefix"), p.get("response", "ERROR"), int(p.get("count", 1)))
    return {}


async def _op_clear_failures(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    return {"cleared": m.clear_failures()}


async def _op_garbage(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    if "hex" in p:
        m.garbage(bytes.fromhex(_str(p, "hex")))
    else:
        m.garbage(_str(p, "text").encode("utf-8"))
    return {}


async def _op_unplug(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.unplug()
    return {}


async def _op_replug(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.replug()
    return {"device": m.device}


async def _op_set_signal(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.set_signal(int(p["csq"]))
    return {}


async def _op_set_registration(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.set_registration(int(p["stat"]))
    return {}


async def _op_remove_sim(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.remove_sim()
    return {}


async def _op_insert_sim(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.insert_sim()
    return {}


async def _op_set_outcome(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.set_outcome(
        _str(p, "destination"),
        p.get("outcome", "delivered"),
        submit_error=p.get("submit_error"),
    )
    return {}


async def _op_set_ussd(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    reply = p.get("reply", p.get("text"))
    if reply is None:
        raise ValueError("'reply' (a text or {'text', 'ucs2', 'menu'}) is required")
    m.set_ussd(_str(p, "code"), reply)
    return {}


async def _op_set_timing(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    changes = {k: v for k, v in p.items() if k != "op"}
    m.set_timing(**changes)
    return {}


async def _op_incoming_call(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    ring_for = p.get("ring_for")
    return {"call_id": m.incoming_call(_str(p, "number"), ring_for=ring_for)}


async def _op_remote_hangup(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.remote_hangup(p.get("call_id"))
    return {}


async def _op_remote_answer(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.remote_answer(p.get("call_id"))
    return {}


async def _op_set_call_behaviour(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    m.set_call_behaviour(_str(p, "number"), p["behaviour"], delay=p.get("delay"))
    return {}


def _number(params: dict[str, Any], key: str, *, required: bool = True) -> float | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key!r} must be a number")
    return float(value)


async def _op_audio_power(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    hz = _number(p, "hz")
    assert hz is not None
    return m.audio_power(hz, _number(p, "seconds", required=False))


async def _op_set_audio_tone(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    hz = _number(p, "hz")
    assert hz is not None
    amplitude = p.get("amplitude")
    if amplitude is not None and (isinstance(amplitude, bool) or not isinstance(amplitude, int)):
        raise ValueError("'amplitude' must be an integer")
    m.set_audio_tone(hz, amplitude)
    return {}


async def _op_transcript(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    return {"lines": m.transcript()}


async def _op_ping(m: SimulatedModem, p: dict[str, Any]) -> dict[str, Any]:
    return {"pid": os.getpid(), "link": str(m.link_path), "device": m.device}


Handler = Callable[[SimulatedModem, dict[str, Any]], Awaitable[dict[str, Any]]]

OPS: dict[str, Handler] = {
    "state": _op_state,
    "deliver_sms": _op_deliver_sms,
    "deliver_raw_pdu": _op_deliver_raw_pdu,
    "set_unresponsive": _op_set_unresponsive,
    "fail_next": _op_fail_next,
    "clear_failures": _op_clear_failures,
    "garbage": _op_garbage,
    "unplug": _op_unplug,
    "replug": _op_replug,
    "set_signal": _op_set_signal,
    "set_registration": _op_set_registration,
    "remove_sim": _op_remove_sim,
    "insert_sim": _op_insert_sim,
    "set_outcome": _op_set_outcome,
    "set_ussd": _op_set_ussd,
    "set_timing": _op_set_timing,
    "incoming_call": _op_incoming_call,
    "remote_hangup": _op_remote_hangup,
    "remote_answer": _op_remote_answer,
    "set_call_behaviour": _op_set_call_behaviour,
    "transcript": _op_transcript,
    "audio_power": _op_audio_power,
    "set_audio_tone": _op_set_audio_tone,
    "ping": _op_ping,
}
"""Every control op; "shutdown" is handled by the server itself."""


class ControlServer:
    """Serves :data:`OPS` for one :class:`SimulatedModem` on a Unix socket."""

    def __init__(self, modem: SimulatedModem, path: str | os.PathLike[str]) -> None:
        self.modem = modem
        self.path = Path(path)
        self.shutdown_requested = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=MAX_REQUEST
        )
        log.info("sim_control_listening", path=str(self.path))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(b'{"ok": false, "error": "request too long"}\n')
                    break
                if not line:
                    break
                reply = await self.handle(line)
                writer.write(json.dumps(reply, ensure_ascii=False).encode("utf-8") + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def handle(self, line: bytes) -> dict[str, Any]:
        """One request line -> its answer (never raises)."""
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"not JSON: {exc}"}
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return {"ok": False, "error": 'a request is an object with an "op" string'}
        op = request["op"]
        if op == "shutdown":
            self.shutdown_requested.set()
            return {"ok": True}
        handler = OPS.get(op)
        if handler is None:
            return {"ok": False, "error": f"unknown op {op!r}; known: {sorted([*OPS, 'shutdown'])}"}
        try:
            result = await handler(self.modem, request)
        except (ValueError, TypeError, KeyError) as exc:
            log.info("sim_control_refused", op=op, error=str(exc))
            return {"ok": False, "error": f"{op}: {exc}"}
        except Exception as exc:  # a bug here must not take the modem down: say so
            log.error("sim_control_failed", op=op, error=repr(exc), exc_info=exc)
            return {"ok": False, "error": f"{op}: internal error {exc!r}"}
        log.debug("sim_control", op=op)
        return {"ok": True, **result}


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
        self,
        sender: str,
        text: str,
        *,
        order: Sequence[int] | None = None,
        duplicate: Sequence[int] | None = None,
        drop: Sequence[int] | None = None,
        mode: str = "auto",
        ucs2: bool = False,
        timestamp: str | float | None = None,
        reference: int | None = None,
        interval: float = 0.0,
    ) -> dict[str, Any]:
        """``{"parts": n, "pdus": [...]}``; see :meth:`SimulatedModem.deliver_sms`."""
        params: dict[str, Any] = {"sender": sender, "text": text, "mode": mode, "ucs2": ucs2}
        for key, value in (
            ("order", order),
            ("duplicate", duplicate),
            ("drop", drop),
            ("timestamp", timestamp),
            ("reference", reference),
        ):
            if value is not None:
                params[key] = list(value) if isinstance(value, list | tuple) else value
        if interval:
            params["interval"] = interval
        return await self.request("deliver_sms", **params)

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

    def deliver_sms_sync(self, sender: str, text: str, **params: Any) -> dict[str, Any]:
        return self.request_sync("deliver_sms", sender=sender, text=text, **params)

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
