"""Control socket of the simulated modem: newline-delimited JSON over a Unix socket.

One request per line, one answer per line, in order; a connection may carry many.
Request ``{"op": "<name>", ...params}``; answer ``{"ok": true, ...}`` or
``{"ok": false, "error": "<what is wrong>"}``. The ops are :data:`OPS` (documented in the
package docstring); :class:`ControlServer` serves them for one modem. The server knows
the modem only through :class:`ControlledModem`, the knobs and views the ops use
(:class:`drivers.gsm.simulator.port.SimulatedModem` has them), so this module does not
import the pty shell. The client side is :mod:`drivers.gsm.simulator.client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog

from drivers.gsm.simulator.calls import CallBehaviour
from drivers.gsm.simulator.delivery import Delivery, RouteMode
from drivers.gsm.simulator.ussd import UssdReply

__all__ = ["OPS", "ControlServer", "ControlledModem"]

log = structlog.get_logger("gsm.simulator")

MAX_REQUEST = 1 << 20


class ControlledModem(Protocol):
    """What the control ops need of a simulated modem."""

    link_path: Path

    @property
    def device(self) -> str | None: ...

    def state(self) -> dict[str, Any]: ...

    def transcript(self) -> list[dict[str, Any]]: ...

    def deliver_sms_now(
        self, sender: str, text: str, delivery: Delivery = ...
    ) -> tuple[int, list[str]]: ...

    async def deliver_raw_pdu(self, pdu: str, *, mode: RouteMode = ...) -> str: ...

    def set_unresponsive(self, value: bool = ...) -> None: ...

    def fail_next(self, prefix: str, response: str = ..., count: int = ...) -> None: ...

    def clear_failures(self) -> int: ...

    def garbage(self, data: bytes | str) -> None: ...

    def unplug(self) -> None: ...

    def replug(self) -> None: ...

    def set_signal(self, csq: int) -> None: ...

    def set_registration(self, stat: int) -> None: ...

    def remove_sim(self) -> None: ...

    def insert_sim(self) -> None: ...

    def set_timing(self, **changes: float) -> None: ...

    def set_outcome(
        self,
        destination: str,
        outcome: str | int | Sequence[str | int] = ...,
        *,
        submit_error: int | None = ...,
    ) -> None: ...

    def set_ussd(self, code: str, reply: UssdReply | str | dict[str, Any]) -> None: ...

    def set_call_behaviour(
        self, number: str, behaviour: CallBehaviour, *, delay: float | None = ...
    ) -> None: ...

    def incoming_call(self, number: str, *, ring_for: float | None = ...) -> int: ...

    def remote_hangup(self, call_id: int | None = ...) -> None: ...

    def remote_answer(self, call_id: int | None = ...) -> None: ...

    def set_audio_tone(self, tone_hz: float, amplitude: int | None = ...) -> None: ...

    def press_keys(self, digits: str) -> None: ...

    def audio_power(self, hz: float, seconds: float | None = ...) -> dict[str, Any]: ...


def _str(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string")
    return value


async def _op_state(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    return m.state()


async def _op_deliver_sms(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    parts, pdus = m.deliver_sms_now(_str(p, "sender"), _str(p, "text"), Delivery.from_json(p))
    return {"parts": parts, "pdus": pdus}


async def _op_deliver_raw_pdu(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    return {"kind": await m.deliver_raw_pdu(_str(p, "pdu"), mode=p.get("mode", "auto"))}


async def _op_set_unresponsive(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.set_unresponsive(bool(p.get("value", True)))
    return {}


async def _op_fail_next(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.fail_next(_str(p, "prefix"), p.get("response", "ERROR"), int(p.get("count", 1)))
    return {}


async def _op_clear_failures(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    return {"cleared": m.clear_failures()}


async def _op_garbage(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    if "hex" in p:
        m.garbage(bytes.fromhex(_str(p, "hex")))
    else:
        m.garbage(_str(p, "text").encode("utf-8"))
    return {}


async def _op_unplug(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.unplug()
    return {}


async def _op_replug(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.replug()
    return {"device": m.device}


async def _op_set_signal(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.set_signal(int(p["csq"]))
    return {}


async def _op_set_registration(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.set_registration(int(p["stat"]))
    return {}


async def _op_remove_sim(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.remove_sim()
    return {}


async def _op_insert_sim(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.insert_sim()
    return {}


async def _op_set_outcome(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.set_outcome(
        _str(p, "destination"),
        p.get("outcome", "delivered"),
        submit_error=p.get("submit_error"),
    )
    return {}


async def _op_set_ussd(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    reply = p.get("reply", p.get("text"))
    if reply is None:
        raise ValueError("'reply' (a text or {'text', 'ucs2', 'menu'}) is required")
    m.set_ussd(_str(p, "code"), reply)
    return {}


async def _op_set_timing(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    changes = {k: v for k, v in p.items() if k != "op"}
    m.set_timing(**changes)
    return {}


async def _op_incoming_call(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    ring_for = p.get("ring_for")
    return {"call_id": m.incoming_call(_str(p, "number"), ring_for=ring_for)}


async def _op_remote_hangup(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.remote_hangup(p.get("call_id"))
    return {}


async def _op_remote_answer(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.remote_answer(p.get("call_id"))
    return {}


async def _op_set_call_behaviour(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    m.set_call_behaviour(_str(p, "number"), p["behaviour"], delay=p.get("delay"))
    return {}


def _number(params: dict[str, Any], key: str, *, required: bool = True) -> float | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key!r} must be a number")
    return float(value)


async def _op_audio_power(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    hz = _number(p, "hz")
    assert hz is not None
    return m.audio_power(hz, _number(p, "seconds", required=False))


async def _op_set_audio_tone(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    hz = _number(p, "hz")
    assert hz is not None
    amplitude = p.get("amplitude")
    if amplitude is not None and (isinstance(amplitude, bool) or not isinstance(amplitude, int)):
        raise ValueError("'amplitude' must be an integer")
    m.set_audio_tone(hz, amplitude)
    return {}


async def _op_press_keys(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    digits = _str(p, "digits")
    if not digits or any(d not in "0123456789*#ABCD" for d in digits):
        raise ValueError("'digits' must be DTMF keys (0-9, *, #, A-D)")
    m.press_keys(digits)
    return {}


async def _op_transcript(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    return {"lines": m.transcript()}


async def _op_ping(m: ControlledModem, p: dict[str, Any]) -> dict[str, Any]:
    return {"pid": os.getpid(), "link": str(m.link_path), "device": m.device}


Handler = Callable[[ControlledModem, dict[str, Any]], Awaitable[dict[str, Any]]]

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
    "press_keys": _op_press_keys,
    "ping": _op_ping,
}
"""Every control op; "shutdown" is handled by the server itself."""


class ControlServer:
    """Serves :data:`OPS` for one simulated modem (a :class:`ControlledModem`)."""

    def __init__(self, modem: ControlledModem, path: str | os.PathLike[str]) -> None:
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
