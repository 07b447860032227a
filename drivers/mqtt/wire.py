"""The MQTT contract of a box, without I/O: topic names, commands in, replies out.

Everything lives under ``edge/<box_id>/``:

- ``status``: ``online`` (retained) once connected; ``offline`` as the last will and on a
  clean stop, so the fleet sees a box go away however it went;
- ``telemetry`` and ``events``: JSON objects the switch hands over;
- ``cmd/<name>``: a command, ``{"id": "...", "args": {...}}``; its answer goes to
  ``reply/<id>``: ``{"id", "ok": true, "result": {...}}`` or
  ``{"id", "ok": false, "error": {"code", "message"}}``.

A command without a usable ``id`` cannot be answered (there is no reply topic for it);
it is refused here and reported as an operational event instead. A command id seen
again (a QoS 1 re-delivery, an operator's retry) is not run twice: :class:`RecentCommands`
remembers the answers of the last ones.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
MAX_PAYLOAD = 64 * 1024

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Topics:
    box_id: str

    @property
    def root(self) -> str:
        return f"edge/{self.box_id}"

    @property
    def status(self) -> str:
        return f"{self.root}/status"

    @property
    def telemetry(self) -> str:
        return f"{self.root}/telemetry"

    @property
    def events(self) -> str:
        return f"{self.root}/events"

    @property
    def commands(self) -> str:
        """The subscription filter for every command of this box."""
        return f"{self.root}/cmd/+"

    def reply(self, command_id: str) -> str:
        return f"{self.root}/reply/{command_id}"

    def command_name(self, topic: str) -> str | None:
        prefix = f"{self.root}/cmd/"
        if not topic.startswith(prefix):
            return None
        return topic[len(prefix) :]


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BadCommand:
    """A message on a command topic that cannot run; ``id`` is None when it has none
    usable (then nobody can be answered)."""

    id: str | None
    name: str
    code: str
    message: str


def valid_box_id(box_id: str) -> bool:
    """A box id is one topic level: no ``/``, ``+``, ``#``."""
    return bool(_ID.fullmatch(box_id))


def parse_command(
    topics: Topics, topic: str, payload: bytes, *, retained: bool = False
) -> Command | BadCommand:
    name = topics.command_name(topic) or ""
    if len(payload) > MAX_PAYLOAD:
        return BadCommand(None, name, "too_large", f"command payload over {MAX_PAYLOAD} bytes")
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return BadCommand(None, name, "malformed", "the payload is not JSON")
    if not isinstance(body, dict):
        return BadCommand(None, name, "malformed", 'the payload must be {"id", "args"}')
    command_id = body.get("id")
    if not isinstance(command_id, str) or not _ID.fullmatch(command_id):
        return BadCommand(None, name, "malformed", "id must be 1 to 64 letters, digits or _ . : -")
    if retained:
        return BadCommand(
            command_id,
            name,
            "retained",
            "a retained command is not run (it would rerun on every reconnect)",
        )
    if not _NAME.fullmatch(name):
        return BadCommand(command_id, name, "unknown_command", f"no command {name!r}")
    unknown = sorted(set(body) - {"id", "args"})
    if unknown:
        return BadCommand(command_id, name, "malformed", f"unknown keys: {', '.join(unknown)}")
    args = body.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return BadCommand(command_id, name, "malformed", "args must be an object")
    return Command(command_id, name, args)


def reply_ok(command_id: str, result: dict[str, Any]) -> bytes:
    return encode({"id": command_id, "ok": True, "result": result})


def reply_error(command_id: str, code: str, message: str) -> bytes:
    return encode({"id": command_id, "ok": False, "error": {"code": code, "message": message}})


def encode(value: dict[str, Any]) -> bytes:
    return _dumps(value).encode("utf-8")


class RecentCommands:
    """The answers of the last ``limit`` commands, by id: a command seen again is
    answered with its first answer, or ignored while it still runs."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._answers: OrderedDict[str, bytes | None] = OrderedDict()

    def begin(self, command_id: str) -> tuple[bool, bytes | None]:
        """``(True, None)``: new, run it. ``(False, answer)``: seen before; ``answer`` is
        None while the first delivery still runs."""
        if command_id in self._answers:
            self._answers.move_to_end(command_id)
            return False, self._answers[command_id]
        self._answers[command_id] = None
        while len(self._answers) > self.limit:
            self._answers.popitem(last=False)
        return True, None

    def finish(self, command_id: str, answer: bytes) -> None:
        if command_id in self._answers:
            self._answers[command_id] = answer

    def forget(self, command_id: str) -> None:
        """A command that never ran (refused before it started) may be sent again."""
        self._answers.pop(command_id, None)
