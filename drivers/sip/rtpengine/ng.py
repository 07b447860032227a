"""rtpengine's ng control protocol, sans-IO: requests out, replies in.

One UDP datagram per message: ``<cookie> <bencoded dictionary>``. A request's dictionary
has ``command`` (``ping``, ``offer``, ``answer``, ``delete``, ``query``, ``list``,
``statistics``...) and its arguments; the reply carries the request's cookie and a
dictionary with ``result`` (``pong``, ``ok``, ``error``, ``load limit``) and, on an
error, ``error-reason``. rtpengine remembers its replies by cookie for a while, so a
request re-sent with the same cookie is answered again, never executed twice: that is
how a client retries over UDP.

:class:`NgCodec` holds no socket: :meth:`NgCodec.request` gives a cookie and the bytes
to send; :meth:`NgCodec.receive` turns a datagram into ``(cookie, NgReply)`` for a
request still pending, ``None`` for a stray or duplicate reply, and raises
:class:`base.errors.ProtocolError` for a datagram that is not an ng reply. Values are
handed back as text (bytes decoded as UTF-8; keys always ``str``), which is what every
field of a reply is.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from base.errors import ProtocolError
from drivers.sip.rtpengine.bencode import decode, encode

__all__ = ["NgCodec", "NgReply", "parse_reply", "request_bytes", "to_text"]

MAX_COOKIE = 64


@dataclass(frozen=True, slots=True)
class NgReply:
    """One reply: ``result`` and the whole dictionary as text."""

    result: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result in ("ok", "pong")

    @property
    def error(self) -> str | None:
        """Why rtpengine refused (``error-reason``, or the result itself), None if ok."""
        if self.ok:
            return None
        reason = self.data.get("error-reason")
        return str(reason) if reason else self.result


def to_text(value: Any) -> Any:
    """A decoded bencode value with every byte string as ``str`` (UTF-8, replaced)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [to_text(v) for v in value]
    if isinstance(value, dict):
        return {to_text(k): to_text(v) for k, v in value.items()}
    return value


def request_bytes(cookie: str, command: str, params: Mapping[str, Any] | None = None) -> bytes:
    """The datagram for one request."""
    if not cookie or " " in cookie or len(cookie) > MAX_COOKIE:
        raise ValueError(f"bad ng cookie {cookie!r}")
    body = {**(params or {}), "command": command}
    return cookie.encode("ascii") + b" " + encode(body)


def parse_reply(datagram: bytes) -> tuple[str, NgReply]:
    """``(cookie, reply)`` of a reply datagram; ProtocolError if it is not one."""
    cookie, space, payload = datagram.partition(b" ")
    if not space or not cookie or len(cookie) > MAX_COOKIE:
        raise ProtocolError(f"ng: not '<cookie> <bencode>': {datagram[:40]!r}")
    try:
        text_cookie = cookie.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"ng: cookie is not ASCII: {cookie[:40]!r}") from None
    value = decode(payload)
    if not isinstance(value, dict):
        raise ProtocolError(f"ng: reply {text_cookie} is not a dictionary")
    data = to_text(value)
    result = data.get("result")
    if not isinstance(result, str) or not result:
        raise ProtocolError(f"ng: reply {text_cookie} has no result")
    return text_cookie, NgReply(result, data)


@dataclass(slots=True)
class NgCodec:
    """Cookies for requests, and which replies answer a request still pending."""

    prefix: str = field(default_factory=lambda: secrets.token_hex(4))
    pending: dict[str, str] = field(default_factory=dict)  # cookie -> command
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def request(self, command: str, params: Mapping[str, Any] | None = None) -> tuple[str, bytes]:
        """A new request: its cookie (to match the reply, and to re-send) and its bytes."""
        cookie = f"{self.prefix}_{next(self._numbers)}"
        data = request_bytes(cookie, command, params)
        self.pending[cookie] = command
        return cookie, data

    def receive(self, datagram: bytes) -> tuple[str, NgReply] | None:
        """The pending request ``datagram`` answers, and the reply; None if it answers
        nothing pending (late, duplicate, or another client's)."""
        cookie, reply = parse_reply(datagram)
        if self.pending.pop(cookie, None) is None:
            return None
        return cookie, reply

    def forget(self, cookie: str) -> None:
        """The caller gave up on a request: a late reply will be ignored."""
        self.pending.pop(cookie, None)
