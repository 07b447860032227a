"""Bencode, the encoding of rtpengine's ng control protocol: sans-IO, no state.

Four kinds of value (BEP 3): integers ``i42e``, byte strings ``4:spam``, lists
``l...e`` and dictionaries ``d...e`` whose keys are byte strings in sorted order.

- :func:`encode` takes ``int``, ``bytes``, ``str`` (UTF-8), ``list``/``tuple`` and
  ``dict`` (keys ``str`` or ``bytes``) and gives the canonical bytes (keys sorted);
  ``bool`` and anything else is a :class:`TypeError` (a bug of the caller, not input).
- :func:`decode` takes bytes from outside and gives ``int``, ``bytes``, ``list`` and
  ``dict[bytes, ...]`` back, or raises :class:`base.errors.ProtocolError` saying what is
  wrong and where: truncated input, a bad integer (``i-0e``, leading zeros), a string
  longer than what is left, a non-string key, nesting deeper than ``MAX_DEPTH``,
  trailing bytes. Keys out of order and duplicate keys are accepted (rtpengine does not
  sort its replies); a duplicate's last value wins.

Nothing here knows rtpengine's commands: :mod:`drivers.sip.rtpengine.ng` does.
"""

from __future__ import annotations

from typing import TypeAlias

from base.errors import ProtocolError

__all__ = ["MAX_DEPTH", "Value", "decode", "encode"]

MAX_DEPTH = 32  # nesting rtpengine never comes near; a bound against hostile input

Value: TypeAlias = int | bytes | list["Value"] | dict[bytes, "Value"]


def encode(value: object) -> bytes:
    """The canonical bencoding of ``value``."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: object, out: list[bytes]) -> None:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans: send 'yes'/'no' or 1/0 as the peer wants")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, bytes):
        out.append(b"%d:%s" % (len(value), value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out.append(b"%d:%s" % (len(raw), raw))
    elif isinstance(value, list | tuple):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        items: list[tuple[bytes, object]] = []
        for key, item in value.items():
            if isinstance(key, str):
                key = key.encode("utf-8")
            elif not isinstance(key, bytes):
                raise TypeError(f"bencode dictionary keys are strings, not {type(key).__name__}")
            items.append((key, item))
        items.sort(key=lambda kv: kv[0])
        out.append(b"d")
        for key, item in items:
            out.append(b"%d:%s" % (len(key), key))
            _encode(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode a {type(value).__name__}")


def decode(data: bytes) -> Value:
    """The value ``data`` holds (exactly one, nothing after it)."""
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise ProtocolError(f"bencode: {len(data) - end} trailing byte(s) at offset {end}")
    return value


def _decode(data: bytes, pos: int, depth: int) -> tuple[Value, int]:
    if pos >= len(data):
        raise ProtocolError(f"bencode: input ends at offset {pos}, a value was expected")
    if depth > MAX_DEPTH:
        raise ProtocolError(f"bencode: nested deeper than {MAX_DEPTH} at offset {pos}")
    lead = data[pos : pos + 1]
    if lead == b"i":
        return _integer(data, pos)
    if lead.isdigit():
        return _string(data, pos)
    if lead == b"l":
        items: list[Value] = []
        pos += 1
        while data[pos : pos + 1] != b"e":
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos + 1
    if lead == b"d":
        mapping: dict[bytes, Value] = {}
        pos += 1
        while data[pos : pos + 1] != b"e":
            if not data[pos : pos + 1].isdigit():
                if pos >= len(data):
                    raise ProtocolError(f"bencode: dictionary not closed at offset {pos}")
                raise ProtocolError(f"bencode: dictionary key at offset {pos} is not a string")
            key, pos = _string(data, pos)
            mapping[key], pos = _decode(data, pos, depth + 1)
        return mapping, pos + 1
    raise ProtocolError(f"bencode: unexpected byte {lead!r} at offset {pos}")


def _integer(data: bytes, pos: int) -> tuple[int, int]:
    end = data.find(b"e", pos + 1)
    if end < 0:
        raise ProtocolError(f"bencode: integer at offset {pos} is not closed")
    digits = data[pos + 1 : end]
    body = digits[1:] if digits.startswith(b"-") else digits
    if (
        not body
        or not body.isdigit()
        or (body.startswith(b"0") and len(body) > 1)
        or digits == b"-0"
        or len(body) > 20
    ):
        raise ProtocolError(f"bencode: bad integer {digits[:24]!r} at offset {pos}")
    return int(digits), end + 1


def _string(data: bytes, pos: int) -> tuple[bytes, int]:
    colon = data.find(b":", pos)
    if colon < 0 or colon - pos > 10:
        raise ProtocolError(f"bencode: string length at offset {pos} has no ':'")
    length_text = data[pos:colon]
    if not length_text.isdigit() or (length_text.startswith(b"0") and len(length_text) > 1):
        raise ProtocolError(f"bencode: bad string length {length_text!r} at offset {pos}")
    start = colon + 1
    end = start + int(length_text)
    if end > len(data):
        raise ProtocolError(
            f"bencode: string at offset {pos} wants {int(length_text)} bytes, "
            f"{len(data) - start} left"
        )
    return data[start:end], end
