"""TPDU fields: the byte reader, addresses (TS 23.040 §9.1.2.5), service-centre
timestamps and validity periods (§9.2.3.11-12).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import NoReturn

from base.errors import ProtocolError
from drivers.gsm.gsm7 import (
    can_encode_gsm7,
    decode_gsm7_septets,
    gsm7_septets,
    pack_septets,
    unpack_septets,
)
from drivers.gsm.pdu.values import (
    BCD_DIGITS,
    HEX_RE,
    MAX_ALNUM_SEPTETS,
    NUMBER_RE,
    TOA_ALPHANUMERIC,
    TOA_INTERNATIONAL,
    TOA_UNKNOWN,
    TON_ALPHANUMERIC,
    TON_INTERNATIONAL,
    UNKNOWN_TIMESTAMP,
)

# ---------------------------------------------------------------------------
# Byte reader
# ---------------------------------------------------------------------------


def fail(message: str) -> NoReturn:
    raise ProtocolError(message)


class Reader:
    """Cursor over the PDU octets; running short is a ProtocolError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self, what: str) -> int:
        if self.pos >= len(self.data):
            fail(f"PDU truncated: missing {what} at octet {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def read(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            fail(f"PDU truncated: {what} needs {n} octets at octet {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def hex_to_bytes(text: object) -> tuple[bytes, str]:
    if not isinstance(text, str):
        fail(f"PDU must be a hex string, got {type(text).__name__}")
    compact = "".join(text.split())
    if len(compact) % 2 or not HEX_RE.fullmatch(compact):
        fail("PDU is not an even-length hex string")
    return bytes.fromhex(compact), compact.upper()


# ---------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------


def validate_number(number: str, what: str) -> None:
    if not isinstance(number, str) or not NUMBER_RE.fullmatch(number):
        raise ValueError(f"invalid {what} {number!r}: expected optional '+' then 1..20 digits")


def _semi_octets(digits: str) -> bytes:
    padded = digits + "F" if len(digits) % 2 else digits
    return bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))


def _number_parts(number: str) -> tuple[int, bytes]:
    """(TOA, semi-octets) for a validated number."""
    if number.startswith("+"):
        return TOA_INTERNATIONAL, _semi_octets(number[1:])
    return TOA_UNKNOWN, _semi_octets(number)


def encode_address(address: str, *, allow_alphanumeric: bool, what: str) -> bytes:
    """TP-DA / TP-OA / TP-RA: length in useful semi-octets, TOA, value."""
    if isinstance(address, str) and NUMBER_RE.fullmatch(address):
        toa, value = _number_parts(address)
        return bytes([len(address.lstrip("+")), toa]) + value
    if not allow_alphanumeric:
        validate_number(address, what)
    if not address or not can_encode_gsm7(address):
        raise ValueError(f"invalid {what} {address!r}: not a number nor a GSM-7 name")
    septets = gsm7_septets(address)
    if len(septets) > MAX_ALNUM_SEPTETS:
        raise ValueError(f"alphanumeric {what} {address!r} is longer than 11 septets")
    value = pack_septets(septets)
    return bytes([math.ceil(len(septets) * 7 / 4), TOA_ALPHANUMERIC]) + value


def encode_smsc(smsc: str | None) -> bytes:
    if smsc is None:
        return b"\x00"
    validate_number(smsc, "SMSC address")
    toa, value = _number_parts(smsc)
    return bytes([1 + len(value), toa]) + value


def _bcd_digits(data: bytes, count: int) -> str:
    """The first ``count`` semi-octets as digits; 0xF fillers are dropped."""
    nibbles = [n for b in data for n in (b & 0x0F, b >> 4)][:count]
    return "".join(BCD_DIGITS[n] for n in nibbles if n != 0x0F)


def _format_address(toa: int, value: bytes, digits: int) -> str:
    ton = (toa >> 4) & 0x07
    if ton == TON_ALPHANUMERIC:
        septets = unpack_septets(value, len(value) * 8 // 7)[: digits * 4 // 7]
        return decode_gsm7_septets(septets)
    number = _bcd_digits(value, digits)
    if ton == TON_INTERNATIONAL and number:
        return "+" + number
    return number


def read_address(r: Reader, what: str) -> str:
    digits = r.byte(f"{what} length")
    toa = r.byte(f"{what} type")
    value = r.read((digits + 1) // 2, what)
    return _format_address(toa, value, digits)


def read_smsc(r: Reader) -> str | None:
    length = r.byte("SMSC length")
    if length == 0:
        return None
    toa = r.byte("SMSC type")
    value = r.read(length - 1, "SMSC address")
    return _format_address(toa, value, 2 * len(value))


# ---------------------------------------------------------------------------
# Timestamps (TS 23.040 §9.2.3.11) and validity (§9.2.3.12)
# ---------------------------------------------------------------------------


def _swapped_bcd(value: int) -> int:
    return (value % 10) << 4 | (value // 10)


def encode_scts(ts: datetime) -> bytes:
    """Seven semi-octet pairs; the zone is in quarter hours with a sign bit."""
    offset = ts.utcoffset()
    if offset is None:
        ts, offset = ts.replace(tzinfo=UTC), timedelta(0)
    quarters, rest = divmod(abs(offset), timedelta(minutes=15))
    if rest or quarters > 79:  # not representable: keep the instant, state it in UTC
        ts, quarters, offset = ts.astimezone(UTC), 0, timedelta(0)
    if not 1990 <= ts.year <= 2089:
        raise ValueError(f"timestamp year {ts.year} outside 1990..2089")
    fields = [ts.year % 100, ts.month, ts.day, ts.hour, ts.minute, ts.second]
    tz = _swapped_bcd(int(quarters))
    if offset < timedelta(0):
        tz |= 0x08
    return bytes([*map(_swapped_bcd, fields), tz])


def _bcd_pair(b: int) -> int | None:
    lo, hi = b & 0x0F, b >> 4
    if lo > 9 or hi > 9:
        return None
    return lo * 10 + hi


def decode_scts(data: bytes) -> tuple[datetime, bool]:
    """Best effort: (timestamp, fully valid)."""
    fields = [_bcd_pair(b) for b in data[:6]]
    tz_octet = data[6]
    units, tens = tz_octet >> 4, tz_octet & 0x07
    valid = units <= 9
    quarters = tens * 10 + units if valid else 0
    offset = timedelta(minutes=15 * quarters)
    if tz_octet & 0x08:
        offset = -offset
    year, month, day, hour, minute, second = fields
    if year is None or month is None or day is None:
        return UNKNOWN_TIMESTAMP, False
    if hour is None or minute is None or second is None:
        return UNKNOWN_TIMESTAMP, False
    try:
        ts = datetime(
            1900 + year if year >= 90 else 2000 + year,
            month,
            day,
            hour,
            minute,
            second,
            tzinfo=timezone(offset),
        )
    except ValueError:
        return UNKNOWN_TIMESTAMP, False
    return ts, valid


def encode_relative_vp(minutes: int) -> int:
    if minutes < 0:
        raise ValueError(f"validity_minutes must be >= 0, got {minutes}")
    if minutes <= 720:
        return max(0, math.ceil(minutes / 5) - 1)
    if minutes <= 1440:
        return 143 + math.ceil((minutes - 720) / 30)
    days = math.ceil(minutes / 1440)
    if days <= 30:
        return 166 + days
    return min(192 + math.ceil(minutes / 10080), 255)


def decode_relative_vp(vp: int) -> int:
    if vp <= 143:
        return (vp + 1) * 5
    if vp <= 167:
        return 720 + (vp - 143) * 30
    if vp <= 196:
        return (vp - 166) * 1440
    return (vp - 192) * 10080
