"""SIP OPTIONS as a liveness probe, sans-IO: the request's bytes, and what a reply says.

:class:`OptionsProbe` is one probe (one transaction): :meth:`OptionsProbe.request` gives
the datagram to send, :meth:`OptionsProbe.answer` reads a datagram that came back and
gives the status code of a *final* response to *this* request (same Call-ID, same
branch in the top Via), or None for anything else (a provisional response, another
transaction's, a datagram that is not a SIP response). :func:`parse_response` is the
parser under it: status line and the two headers a probe needs, compact forms and
folded lines included; anything that is not a SIP response raises
:class:`base.errors.ProtocolError`.

No socket, no clock (the caller owns both: :mod:`drivers.sip.edge.probe`); must not
import the supervisor, the RPC client or the media plane.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from base.errors import ProtocolError
from drivers.sip.uri import uri_host

__all__ = ["OptionsProbe", "Response", "parse_response"]

# Compact header forms (RFC 3261 §7.3.3) of the headers a probe reads.
_COMPACT = {"i": "call-id", "v": "via"}
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?")
_BRANCH = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Response:
    """What a probe reads of a SIP response."""

    status: int
    reason: str
    call_id: str | None  # the first Call-ID header's value
    branch: str | None  # the branch parameter of the top Via


def parse_response(data: bytes) -> Response:
    """The status, Call-ID and top-Via branch of a SIP response (ProtocolError if
    ``data`` is not one)."""
    text = data.decode("utf-8", "replace")
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    lines = re.split(r"\r?\n", head)
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ProtocolError(f"not a SIP response: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    name = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):  # a folded continuation of the previous header
            if name and name in headers:
                headers[name] += " " + line.strip()
            continue
        raw_name, sep, value = line.partition(":")
        if not sep or not raw_name.strip():
            raise ProtocolError(f"not a SIP header line: {line[:80]!r}")
        key = raw_name.strip().lower()
        name = _COMPACT.get(key, key)
        if name in headers:
            name = ""  # only the first one counts: later ones and their folds are skipped
            continue
        headers[name] = value.strip()
    via = headers.get("via")
    branch = None
    if via is not None:
        found = _BRANCH.search(via.split(",", 1)[0])
        branch = found.group(1) if found else None
    call_id = headers.get("call-id")
    return Response(int(match.group(1)), (match.group(2) or "").strip(), call_id, branch)


@dataclass(frozen=True, slots=True)
class OptionsProbe:
    """One OPTIONS transaction from ``local_host:local_port`` to ``host:port``."""

    host: str
    port: int
    local_host: str
    local_port: int
    call_id: str
    branch: str
    tag: str

    @classmethod
    def new(cls, host: str, port: int, local_host: str, local_port: int) -> OptionsProbe:
        """A probe with fresh random Call-ID, branch and From tag."""
        return cls(
            host,
            port,
            local_host,
            local_port,
            call_id=secrets.token_hex(12),
            branch="z9hG4bK" + secrets.token_hex(8),
            tag=secrets.token_hex(4),
        )

    def request(self) -> bytes:
        """The OPTIONS request, ready to send as one datagram."""
        target = f"{uri_host(self.host)}:{self.port}"
        local = uri_host(self.local_host)
        return (
            f"OPTIONS sip:{target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local}:{self.local_port};branch={self.branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:supervisor@{local}>;tag={self.tag}\r\n"
            f"To: <sip:{target}>\r\n"
            f"Call-ID: {self.call_id}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    def answer(self, data: bytes) -> int | None:
        """The status of a final response to this probe in ``data``; None otherwise."""
        try:
            response = parse_response(data)
        except ProtocolError:
            return None
        if response.status < 200:
            return None
        if response.call_id != self.call_id or response.branch != self.branch:
            return None
        return response.status
