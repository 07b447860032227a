"""The core <-> media worker control protocol: a sans-IO codec.

Theory of operation
-------------------
The core (``drivers.sip.media.pool``) and each media worker
(``drivers.sip.media.worker``) exchange small JSON objects over a Unix stream socket, one
object per line (newline-delimited JSON, UTF-8, no raw newlines inside an object:
``json.dumps`` escapes them). Every object carries ``"v": 1`` and ``"kind"``:

``cmd``    core -> worker. ``id`` (int, chosen by the core, unique per connection) and
           ``op``; the op's arguments sit beside them in the same object::

               {"v":1,"kind":"cmd","id":7,"op":"play","call":"w0-1","file":"/s/hi.wav","loop":true}

``reply``  worker -> core, exactly one per command: the command's ``id``, ``ok`` and,
           when not ok, ``error`` (a sentence). Extra result fields may sit beside them.

``event``  worker -> core, unsolicited: ``name`` and the event's fields::

               {"v":1,"kind":"event","name":"dtmf","call":"w0-1","digit":"5","method":"rfc4733"}

This module owns no socket and no clock: ``encode(msg)`` gives bytes to write,
``Decoder.feed(data)`` takes bytes read and gives messages. Malformed input (bad JSON,
wrong version, unknown kind, missing envelope fields, a line over ``max_line`` bytes)
raises :class:`base.errors.ProtocolError`; the decoder drops the offending line and
stays usable, so the connection owner logs and carries on (see ``Decoder.feed``).

The envelope is checked by the decoder; the arguments of an op or an event are checked
by :func:`check_command` / :func:`check_event` against the tables below, so a worker can
answer a bad command with ``ok: false`` and its id instead of dropping it.

Leg ids (``call``): the worker names incoming legs ``w<worker>-<n>``; for ``dial`` the
core chooses the id.

Shared by both ends, so it imports neither (nor asyncio, nor pjsua2): the worker process
loads it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from base.errors import ProtocolError

VERSION: Final = 1
MAX_LINE: Final = 64 * 1024  # bytes, newline excluded

# Keys of the envelope; an op's or event's arguments may not use them.
RESERVED: Final = frozenset({"v", "kind", "id", "op", "name", "ok", "error"})

DTMF_DIGITS: Final = frozenset("0123456789*#ABCD")

# Argument tables: name -> (type, required). ``dict`` means an object of str -> str.
_Spec: TypeAlias = dict[str, tuple[type, bool]]

COMMANDS: Final[dict[str, _Spec]] = {
    "answer": {"call": (str, True)},
    "ring": {"call": (str, True)},
    "reject": {"call": (str, True), "code": (int, True)},
    "dial": {
        "call": (str, True),
        "uri": (str, True),
        "from_user": (str, False),
        "headers": (dict, False),
    },
    "bridge": {"a": (str, True), "b": (str, True)},
    "unbridge": {"a": (str, True), "b": (str, True)},
    "play": {"call": (str, True), "file": (str, True), "loop": (bool, False)},
    "stop_play": {"call": (str, True)},
    "record_start": {"call": (str, True), "path": (str, True)},
    "record_stop": {"call": (str, True)},
    "send_dtmf": {"call": (str, True), "digits": (str, True)},
    "hangup": {"call": (str, True), "code": (int, False)},
    "transfer": {"call": (str, True), "uri": (str, True)},
    "stats": {"call": (str, True)},
    "pcm_bridge": {"call": (str, True), "path": (str, True)},
    "pcm_unbridge": {"call": (str, True)},
    "pcm_leg": {"call": (str, True), "path": (str, True)},
    "link": {
        "call": (str, True),
        "link": (str, True),
        "local": (str, True),
        "remote": (str, True),
    },
    "unlink": {"call": (str, True), "link": (str, True)},
    "reserve": {"seconds": (float, False)},
    "release": {},
    "shutdown": {},
}

EVENTS: Final[dict[str, _Spec]] = {
    "hello": {"worker": (int, True), "pid": (int, True), "version": (str, True)},
    "worker_health": {"worker": (int, True), "calls": (int, True), "uptime": (float, True)},
    "incoming": {
        "call": (str, True),
        "from": (str, True),
        "to": (str, True),
        "ruri": (str, True),
        "call_id": (str, True),
        "headers": (dict, True),
    },
    "ringing": {"call": (str, True), "code": (int, False)},
    "early_media": {"call": (str, True)},
    "answered": {"call": (str, True)},
    "dtmf": {"call": (str, True), "digit": (str, True), "method": (str, True)},
    "ended": {"call": (str, True), "code": (int, True), "reason": (str, True)},
    "play_done": {"call": (str, True)},
    "record_done": {"call": (str, True), "path": (str, True), "duration": (float, True)},
    "transfer_status": {"call": (str, True), "code": (int, True), "final": (bool, False)},
}

DTMF_METHODS: Final = frozenset({"rfc4733", "info", "audio"})


@dataclass(frozen=True, slots=True)
class Command:
    """core -> worker. ``args`` are the op's arguments (JSON values)."""

    id: int
    op: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """worker -> core, one per command. ``data``: extra result fields (JSON values)."""

    id: int
    ok: bool
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """worker -> core, unsolicited."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def call(self) -> str | None:
        value = self.args.get("call")
        return value if isinstance(value, str) else None


Message: TypeAlias = Command | Reply | Event


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_args(what: str, spec: _Spec, args: dict[str, Any]) -> str | None:
    for key, (typ, required) in spec.items():
        if key not in args:
            if required:
                return f"{what}: missing {key!r}"
            continue
        value = args[key]
        if typ is int:
            ok = _is_int(value)
        elif typ is float:
            ok = (_is_int(value) or isinstance(value, float)) and not isinstance(value, bool)
        elif typ is dict:
            ok = isinstance(value, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            )
        else:
            ok = isinstance(value, typ)
        if not ok:
            expected = "an object of strings" if typ is dict else typ.__name__
            return f"{what}: {key!r} must be {expected}"
    return None


def check_command(cmd: Command) -> str | None:
    """Why ``cmd`` is not a valid command, or None. Extra arguments are allowed."""
    spec = COMMANDS.get(cmd.op)
    if spec is None:
        return f"unknown op {cmd.op!r}"
    problem = _check_args(cmd.op, spec, cmd.args)
    if problem:
        return problem
    if cmd.op == "send_dtmf" and (
        not cmd.args["digits"] or not set(cmd.args["digits"]) <= DTMF_DIGITS
    ):
        return "send_dtmf: digits must be a non-empty string of 0-9 * # A-D"
    if cmd.op in ("pcm_bridge", "pcm_leg") and not cmd.args["path"].startswith("/"):
        return f"{cmd.op}: path must be an absolute path to the modem's PCM port"
    if cmd.op == "link" and not (
        cmd.args["local"].startswith("/") and cmd.args["remote"].startswith("/")
    ):
        return "link: local and remote must be absolute socket paths"
    if cmd.op in ("reject", "hangup") and "code" in cmd.args and not 400 <= cmd.args["code"] < 700:
        return f"{cmd.op}: code must be a SIP final failure code (400-699)"
    return None


def check_event(event: Event) -> str | None:
    """Why ``event`` is not a valid event, or None. Extra fields are allowed."""
    spec = EVENTS.get(event.name)
    if spec is None:
        return f"unknown event {event.name!r}"
    problem = _check_args(event.name, spec, event.args)
    if problem:
        return problem
    if event.name == "dtmf" and event.args["method"] not in DTMF_METHODS:
        return "dtmf: method must be 'rfc4733', 'info' or 'audio' (tones in a PCM stream)"
    return None


def _merge(envelope: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    clash = RESERVED.intersection(extra)
    if clash:
        raise ValueError(f"argument names clash with the envelope: {sorted(clash)}")
    return {**envelope, **extra}


def encode(msg: Message, *, max_line: int = MAX_LINE) -> bytes:
    """One line of JSON (newline included). ValueError if it cannot be sent as is."""
    if isinstance(msg, Command):
        obj = _merge({"v": VERSION, "kind": "cmd", "id": msg.id, "op": msg.op}, msg.args)
    elif isinstance(msg, Reply):
        obj = {"v": VERSION, "kind": "reply", "id": msg.id, "ok": msg.ok}
        if msg.error is not None:
            obj["error"] = msg.error
        obj = _merge(obj, msg.data)
    else:
        obj = _merge({"v": VERSION, "kind": "event", "name": msg.name}, msg.args)
    try:
        line = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"message is not JSON-serialisable: {exc}") from exc
    if len(line) > max_line:
        raise ValueError(f"message of {len(line)} bytes exceeds the {max_line}-byte line limit")
    return line + b"\n"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_line(line: bytes) -> Message:
    """One line (without its newline) -> a message, or ProtocolError."""
    try:
        obj = json.loads(line.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"malformed JSON line: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(f"a message must be a JSON object, got {type(obj).__name__}")
    version = obj.pop("v", None)
    if not _is_int(version) or version != VERSION:
        raise ProtocolError(f"unsupported protocol version {version!r} (expected {VERSION})")
    kind = obj.pop("kind", None)
    if kind == "cmd":
        cid, op = obj.pop("id", None), obj.pop("op", None)
        if not _is_int(cid):
            raise ProtocolError("command without an integer 'id'")
        if not isinstance(op, str) or not op:
            raise ProtocolError(f"command {cid} without an 'op'")
        _no_reserved(obj)
        return Command(cid, op, obj)
    if kind == "reply":
        rid, ok, error = obj.pop("id", None), obj.pop("ok", None), obj.pop("error", None)
        if not _is_int(rid):
            raise ProtocolError("reply without an integer 'id'")
        if not isinstance(ok, bool):
            raise ProtocolError(f"reply {rid} without a boolean 'ok'")
        if error is not None and not isinstance(error, str):
            raise ProtocolError(f"reply {rid}: 'error' must be a string")
        _no_reserved(obj)
        return Reply(rid, ok, error, obj)
    if kind == "event":
        name = obj.pop("name", None)
        if not isinstance(name, str) or not name:
            raise ProtocolError("event without a 'name'")
        _no_reserved(obj)
        return Event(name, obj)
    raise ProtocolError(f"unknown message kind {kind!r}")


def _no_reserved(rest: dict[str, Any]) -> None:
    clash = RESERVED.intersection(rest)
    if clash:
        raise ProtocolError(f"envelope keys out of place: {sorted(clash)}")


class Decoder:
    """Bytes in, messages out. One per connection direction.

    ``feed(data)`` buffers ``data`` and returns every complete message. A bad line raises
    ProtocolError once; the line is dropped, messages decoded before it are kept and
    returned by the next call, so the owner's loop is::

        try:
            messages = decoder.feed(chunk)
        except ProtocolError as exc:
            log(exc)
            messages = decoder.drain()   # whatever else is decodable, bad lines logged too
    """

    def __init__(self, *, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._ready: list[Message] = []
        self._discarding = False  # inside an over-long line: skip to its newline

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > self.max_line:
                    dropped = len(self._buf)
                    self._buf.clear()
                    if not self._discarding:
                        self._discarding = True
                        raise ProtocolError(
                            f"line longer than {self.max_line} bytes "
                            f"({dropped} so far without a newline): dropped"
                        )
                break
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            if self._discarding:
                self._discarding = False
                continue
            if len(line) > self.max_line:
                raise ProtocolError(f"line of {len(line)} bytes exceeds {self.max_line}: dropped")
            if not line.strip():
                continue
            self._ready.append(decode_line(line))
        out, self._ready = self._ready, []
        return out

    def drain(self, on_error: Callable[[ProtocolError], None] | None = None) -> list[Message]:
        """Decode what is buffered, skipping bad lines (each passed to ``on_error``)."""
        out: list[Message] = []
        while True:
            try:
                out.extend(self.feed(b""))
                return out
            except ProtocolError as exc:
                if on_error is not None:
                    on_error(exc)

    @property
    def buffered(self) -> int:
        return len(self._buf)
