"""The widget's WebSocket protocol: what a page may send, checked once, as small values.

JSON text frames, one object each, ``type`` first. Page to switch:

- ``{"type": "send", "id": "<client id>", "text": "..."}`` — a chat message; the id
  (1-40 of ``A-Za-z0-9_-``, unique per page) makes a repeat after a reconnect harmless;
- ``{"type": "typing", "on": true}``;
- ``{"type": "seen", "ids": [...], "status": "delivered" | "read"}`` — the page got
  (or showed) the agents' messages;
- ``{"type": "phone", "number": "..."}`` then ``{"type": "code", "code": "123456"}`` —
  "leave your number", proven by a code sent by SMS;
- ``{"type": "callback"}`` — call me back (on the proven number);
- ``{"type": "sms"}`` — answer me by SMS (on the proven number) when nobody is there;
- ``{"type": "call"}`` — a credential for a call from the page;
- ``{"type": "ping"}``.

Anything else (not JSON, not an object, an unknown type, a field of the wrong shape,
a text too long) is a :class:`~base.errors.Rejected` with a code the page can show;
the socket stays open. Text is kept as written but for control characters (other than
line breaks and tabs), which are dropped, and Windows line ends, which become ``\\n``.
Digits of a phone number or a code may be Khmer, Thai or Persian ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from base.errors import Rejected

MAX_FRAME = 16 * 1024  # bytes of one frame (a message is at most max_message characters)
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
_CODE = re.compile(r"^[0-9]{4,8}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Digits as people type them in the widget's languages (Khmer, Thai, Persian, Arabic)
_DIGITS = str.maketrans("០១២៣៤៥៦៧៨៩๐๑๒๓๔๕๖๗๘๙۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "0123456789" * 4)


@dataclass(frozen=True, slots=True)
class Send:
    client_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Typing:
    on: bool


@dataclass(frozen=True, slots=True)
class Seen:
    ids: tuple[str, ...]
    status: Literal["delivered", "read"]


@dataclass(frozen=True, slots=True)
class LeavePhone:
    number: str


@dataclass(frozen=True, slots=True)
class EnterCode:
    code: str


@dataclass(frozen=True, slots=True)
class AskCallback:
    pass


@dataclass(frozen=True, slots=True)
class AskSms:
    pass


@dataclass(frozen=True, slots=True)
class AskCall:
    pass


@dataclass(frozen=True, slots=True)
class Ping:
    pass


ClientFrame: TypeAlias = (
    Send | Typing | Seen | LeavePhone | EnterCode | AskCallback | AskSms | AskCall | Ping
)
_BARE: dict[str, ClientFrame] = {
    "callback": AskCallback(),
    "sms": AskSms(),
    "call": AskCall(),
    "ping": Ping(),
}


def clean_text(raw: str) -> str:
    """The text as written, without control characters, with ``\\n`` line ends."""
    return _CONTROL.sub("", raw.replace("\r\n", "\n").replace("\r", "\n"))


def _field(data: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Rejected("invalid_frame", f"{data.get('type')}: {key!r} must be {what}", 422)
    return value


def parse_frame(raw: str | bytes, max_message: int) -> ClientFrame:
    """One frame from a page, or Rejected (``invalid_frame``, ``too_long``, ``empty``)."""
    if len(raw) > MAX_FRAME:
        raise Rejected("too_long", f"a frame is at most {MAX_FRAME} bytes", 413)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("invalid_frame", "a frame is one JSON object", 400) from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise Rejected("invalid_frame", 'a frame is a JSON object with a "type"', 400)
    kind: str = data["type"]
    if kind in _BARE:
        return _BARE[kind]
    match kind:
        case "send":
            client_id = _field(data, "id", str, "a client id")
            if not _CLIENT_ID.fullmatch(client_id):
                raise Rejected("invalid_frame", "send: id is 1-40 of A-Z a-z 0-9 _ -", 422)
            text = clean_text(_field(data, "text", str, "text"))
            if not text.strip():
                raise Rejected("empty", "the message is empty", 422)
            if len(text) > max_message:
                raise Rejected("too_long", f"a message is at most {max_message} characters", 413)
            return Send(client_id, text)
        case "typing":
            return Typing(bool(_field(data, "on", bool, "true or false")))
        case "seen":
            ids = _field(data, "ids", list, "a list of message ids")
            if len(ids) > 200 or not all(
                isinstance(i, str) and _MESSAGE_ID.fullmatch(i) for i in ids
            ):
                raise Rejected("invalid_frame", "seen: ids are at most 200 message ids", 422)
            status = data.get("status", "read")
            if status not in ("delivered", "read"):
                raise Rejected("invalid_frame", 'seen: status is "delivered" or "read"', 422)
            return Seen(tuple(ids), status)
        case "phone":
            number = _field(data, "number", str, "a phone number").translate(_DIGITS)
            if not number.strip() or len(number) > 32:
                raise Rejected("invalid_phone", "a phone number is 1-32 characters", 422)
            return LeavePhone(number)
        case "code":
            code = _field(data, "code", str, "the code").strip().translate(_DIGITS)
            if not _CODE.fullmatch(code):
                raise Rejected("invalid_code", "the code is 4 to 8 digits", 422)
            return EnterCode(code)
    raise Rejected("invalid_frame", f"unknown frame type {kind[:40]!r}", 422)


def frame(kind: str, **fields: Any) -> str:
    """A frame for a page: ``{"type": kind, ...fields}`` as JSON text."""
    return json.dumps({"type": kind, **fields}, ensure_ascii=False, separators=(",", ":"))
