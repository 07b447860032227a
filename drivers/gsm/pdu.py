"""SMS PDU codec (3GPP TS 23.040 TPDUs, TS 23.038 alphabets), sans-IO.

Everything that knows the byte layout of SMS-SUBMIT, SMS-DELIVER and
SMS-STATUS-REPORT lives in this file. It does not know about ports, modems or AT
commands: hex strings in, frozen values out, and back.

Rules:

- Input hex is what a modem prints in PDU mode (``+CMGR``, ``+CMGL``, ``+CMT``, ``+CDS``):
  the SMSC address field first (``00`` when absent), then the TPDU. Whitespace is
  ignored, case does not matter.
- Decoders raise :class:`~base.errors.ProtocolError` and nothing else, whatever the
  input. Encoders raise ``ValueError`` for arguments they cannot represent: the codec
  never emits a PDU it would not accept back.
- Text is GSM-7 (default alphabet plus the extension table) when the whole message fits
  it, else UCS-2 (UTF-16-BE, surrogate pairs for characters above U+FFFF).
- A long text is split into concatenated parts (UDH IE 0x00 with an 8-bit reference
  when ``reference < 256``, IE 0x08 with a 16-bit reference otherwise). Parts are cut on
  character boundaries, so an ESC+code pair or a surrogate pair is never split. The IE
  size sets the room left: 153 septets / 67 UCS-2 units per part with the 8-bit IE,
  152 / 66 with the 16-bit IE.
- 8-bit data (DCS alphabet 01, and compressed text, which this codec cannot
  decompress) is decoded as Latin-1: one character per octet, so
  ``text.encode("latin-1")`` gives the original octets back.
- A service-centre timestamp that is not a valid date (bad BCD nibbles, month 13...)
  does not lose the message: ``timestamp`` becomes :data:`UNKNOWN_TIMESTAMP` and
  ``timestamp_valid`` is False. A bad time-zone octet alone gives UTC.
- An SMS-DELIVER whose user data is shorter than its TP-UDL (seen from real networks)
  is decoded as far as it goes, with ``truncated=True``; :func:`decode_submit` is strict.
- Two-digit years: 90..99 are 1990s, 00..89 are 2000s.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal, NoReturn

from base.errors import ProtocolError
from drivers.gsm.gsm7 import (
    can_encode_gsm7,
    char_septets,
    decode_gsm7_septets,
    decode_ucs2,
    encode_ucs2,
    gsm7_septets,
    pack_septets,
    ucs2_units,
    unpack_septets,
)

__all__ = [
    "UNKNOWN_TIMESTAMP",
    "Concat",
    "Deliver",
    "Encoding",
    "Outcome",
    "StatusReport",
    "Submit",
    "SubmitPart",
    "decode_pdu",
    "decode_submit",
    "encode_deliver",
    "encode_status_report",
    "encode_submit",
    "pdu_fingerprint",
    "sms_parts_needed",
]

Encoding = Literal["gsm7", "8bit", "ucs2"]
Outcome = Literal["delivered", "pending", "failed"]

UNKNOWN_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)
"""Stands for a service-centre timestamp that could not be read."""

MAX_PARTS = 255

# TP-MTI (TS 23.040 §9.2.3.1), as seen by the MS.
_MTI_DELIVER = 0b00
_MTI_SUBMIT = 0b01
_MTI_STATUS_REPORT = 0b10

# First-octet flags.
_TP_MMS = 0x04  # SMS-DELIVER / STATUS-REPORT: 1 = no more messages waiting
_TP_SRR = 0x20  # SMS-SUBMIT: status report requested
_TP_SRI = 0x20  # SMS-DELIVER: status report indication
_TP_UDHI = 0x40
_VPF_SHIFT = 3

# Type of address (TS 23.040 §9.1.2.5): 1 TON(3) NPI(4).
_TOA_INTERNATIONAL = 0x91
_TOA_UNKNOWN = 0x81
_TOA_ALPHANUMERIC = 0xD0
_TON_INTERNATIONAL = 0b001
_TON_ALPHANUMERIC = 0b101

# UDH information elements (TS 23.040 §9.2.3.24).
_IEI_CONCAT_8 = 0x00
_IEI_CONCAT_16 = 0x08

_DCS_GSM7 = 0x00
_DCS_8BIT = 0x04
_DCS_UCS2 = 0x08

_SINGLE_SEPTETS = 160
_SINGLE_OCTETS = 140
_MAX_ALNUM_SEPTETS = 11

_NUMBER_RE = re.compile(r"\+?[0-9]{1,20}")
_HEX_RE = re.compile(r"[0-9A-Fa-f]*")
# Semi-octet digit values (TS 23.040 §9.1.2.3 / TS 24.008 table 10.5.118).
_BCD_DIGITS = "0123456789*#abc"


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenation IE: part ``sequence`` (1-based) of ``total``, under ``reference``."""

    reference: int
    total: int
    sequence: int


@dataclass(frozen=True, slots=True)
class SubmitPart:
    """One SMS-SUBMIT ready for ``AT+CMGS=<tpdu_length>`` then ``<hex>`` Ctrl-Z."""

    hex: str  # full PDU incl. the SMSC octet(s), as AT+CMGS expects
    tpdu_length: int  # the <length> for AT+CMGS (octets, excluding the SMSC field)
    part: int  # 1-based
    parts: int


@dataclass(frozen=True, slots=True)
class Submit:
    """A decoded SMS-SUBMIT (what a simulated modem receives through AT+CMGS)."""

    smsc: str | None
    destination: str
    text: str
    message_reference: int  # TP-MR
    status_report_requested: bool
    concat: Concat | None
    encoding: Encoding
    validity_minutes: int | None  # relative validity only; None when absent or not relative
    message_class: int | None
    raw_hex: str


@dataclass(frozen=True, slots=True)
class Deliver:
    """A decoded SMS-DELIVER (an incoming message, or one part of it)."""

    smsc: str | None
    sender: str  # "+digits" (international), digits, or the alphanumeric name
    text: str
    timestamp: datetime  # SCTS, timezone-aware; UNKNOWN_TIMESTAMP if unreadable
    timestamp_valid: bool
    concat: Concat | None
    encoding: Encoding
    message_class: int | None  # 0 = flash, None = no class
    status_report_indication: bool
    pid: int
    dcs: int
    truncated: bool  # the user data was shorter than TP-UDL said: text is what arrived
    raw_hex: str

    @property
    def is_flash(self) -> bool:
        return self.message_class == 0


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A decoded SMS-STATUS-REPORT (TS 23.040 §9.2.2.3)."""

    smsc: str | None
    message_reference: int  # TP-MR of the SMS-SUBMIT it reports on
    recipient: str
    scts: datetime  # when the SC received the SUBMIT
    discharge_time: datetime  # when the status was reached
    status: int  # TP-ST
    raw_hex: str

    @property
    def outcome(self) -> Outcome:
        """TS 23.040 §9.2.3.15, by TP-ST range.

        0x00-0x1F transaction completed -> delivered; 0x20-0x3F temporary error, SC still
        trying -> pending; 0x40-0x5F permanent error and 0x60-0x7F temporary error, SC
        gave up -> failed. Values with bit 7 set are reserved: counted as failed.
        """
        if self.status <= 0x1F:
            return "delivered"
        if self.status <= 0x3F:
            return "pending"
        return "failed"


# ---------------------------------------------------------------------------
# Byte reader
# ---------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    raise ProtocolError(message)


class _Reader:
    """Cursor over the PDU octets; running short is a ProtocolError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self, what: str) -> int:
        if self.pos >= len(self.data):
            _fail(f"PDU truncated: missing {what} at octet {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def read(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            _fail(f"PDU truncated: {what} needs {n} octets at octet {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def _hex_to_bytes(text: object) -> tuple[bytes, str]:
    if not isinstance(text, str):
        _fail(f"PDU must be a hex string, got {type(text).__name__}")
    compact = "".join(text.split())
    if len(compact) % 2 or not _HEX_RE.fullmatch(compact):
        _fail("PDU is not an even-length hex string")
    return bytes.fromhex(compact), compact.upper()


# ---------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------


def _validate_number(number: str, what: str) -> None:
    if not isinstance(number, str) or not _NUMBER_RE.fullmatch(number):
        raise ValueError(f"invalid {what} {number!r}: expected optional '+' then 1..20 digits")


def _semi_octets(digits: str) -> bytes:
    padded = digits + "F" if len(digits) % 2 else digits
    return bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))


def _number_parts(number: str) -> tuple[int, bytes]:
    """(TOA, semi-octets) for a validated number."""
    if number.startswith("+"):
        return _TOA_INTERNATIONAL, _semi_octets(number[1:])
    return _TOA_UNKNOWN, _semi_octets(number)


def _encode_address(address: str, *, allow_alphanumeric: bool, what: str) -> bytes:
    """TP-DA / TP-OA / TP-RA: length in useful semi-octets, TOA, value."""
    if isinstance(address, str) and _NUMBER_RE.fullmatch(address):
        toa, value = _number_parts(address)
        return bytes([len(address.lstrip("+")), toa]) + value
    if not allow_alphanumeric:
        _validate_number(address, what)
    if not address or not can_encode_gsm7(address):
        raise ValueError(f"invalid {what} {address!r}: not a number nor a GSM-7 name")
    septets = gsm7_septets(address)
    if len(septets) > _MAX_ALNUM_SEPTETS:
        raise ValueError(f"alphanumeric {what} {address!r} is longer than 11 septets")
    value = pack_septets(septets)
    return bytes([math.ceil(len(septets) * 7 / 4), _TOA_ALPHANUMERIC]) + value


def _encode_smsc(smsc: str | None) -> bytes:
    if smsc is None:
        return b"\x00"
    _validate_number(smsc, "SMSC address")
    toa, value = _number_parts(smsc)
    return bytes([1 + len(value), toa]) + value


def _bcd_digits(data: bytes, count: int) -> str:
    """The first ``count`` semi-octets as digits; 0xF fillers are dropped."""
    nibbles = [n for b in data for n in (b & 0x0F, b >> 4)][:count]
    return "".join(_BCD_DIGITS[n] for n in nibbles if n != 0x0F)


def _format_address(toa: int, value: bytes, digits: int) -> str:
    ton = (toa >> 4) & 0x07
    if ton == _TON_ALPHANUMERIC:
        septets = unpack_septets(value, len(value) * 8 // 7)[: digits * 4 // 7]
        return decode_gsm7_septets(septets)
    number = _bcd_digits(value, digits)
    if ton == _TON_INTERNATIONAL and number:
        return "+" + number
    return number


def _read_address(r: _Reader, what: str) -> str:
    digits = r.byte(f"{what} length")
    toa = r.byte(f"{what} type")
    value = r.read((digits + 1) // 2, what)
    return _format_address(toa, value, digits)


def _read_smsc(r: _Reader) -> str | None:
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


def _encode_scts(ts: datetime) -> bytes:
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


def _decode_scts(data: bytes) -> tuple[datetime, bool]:
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


def _encode_relative_vp(minutes: int) -> int:
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


def _decode_relative_vp(vp: int) -> int:
    if vp <= 143:
        return (vp + 1) * 5
    if vp <= 167:
        return 720 + (vp - 143) * 30
    if vp <= 196:
        return (vp - 166) * 1440
    return (vp - 192) * 10080


# ---------------------------------------------------------------------------
# Data coding scheme (TS 23.038 §4) and user data
# ---------------------------------------------------------------------------


def _dcs_info(dcs: int) -> tuple[Encoding, int | None]:
    """(alphabet, message class) for a TP-DCS octet."""
    group = dcs >> 4
    if group <= 0x7:  # general data coding, 01xx = marked for automatic deletion
        message_class = dcs & 0x03 if dcs & 0x10 else None
        if dcs & 0x20:  # compressed: we cannot decompress, hand the octets over
            return "8bit", message_class
        alphabet = (dcs >> 2) & 0x03
        if alphabet == 1:
            return "8bit", message_class
        if alphabet == 2:
            return "ucs2", message_class
        return "gsm7", message_class  # 3 is reserved: default alphabet (§4)
    if group == 0xE:  # message waiting indication group, store message, UCS-2
        return "ucs2", None
    if group == 0xF:  # data coding / message class
        return ("8bit" if dcs & 0x04 else "gsm7"), dcs & 0x03
    return "gsm7", None  # 0xC/0xD message waiting (GSM-7), 0x8-0xB reserved


def _parse_udh(header: bytes) -> Concat | None:
    """The concatenation IE, if any; other IEs are skipped."""
    concat: Concat | None = None
    i = 0
    while i < len(header):
        if i + 2 > len(header):
            _fail("UDH truncated inside an information element header")
        iei, length = header[i], header[i + 1]
        body = header[i + 2 : i + 2 + length]
        if len(body) < length:
            _fail(f"UDH information element {iei:#04x} overruns the header")
        i += 2 + length
        if concat is not None:
            continue
        if iei == _IEI_CONCAT_8 and length == 3:
            ref, total, seq = body[0], body[1], body[2]
        elif iei == _IEI_CONCAT_16 and length == 4:
            ref, total, seq = body[0] << 8 | body[1], body[2], body[3]
        else:
            continue
        # §9.2.3.24.1: a zero total, or a sequence beyond it, voids the whole IE.
        if total >= 1 and 1 <= seq <= total:
            concat = Concat(reference=ref, total=total, sequence=seq)
    return concat


def _parse_user_data(
    ud: bytes, udl: int, udhi: bool, encoding: Encoding, *, lenient: bool
) -> tuple[str, Concat | None, bool]:
    """(text, concat IE, truncated). ``lenient`` decodes what is there when the user
    data is shorter than TP-UDL says (and reports it) instead of failing."""
    header_len = 0
    concat: Concat | None = None
    if udhi:
        if not ud:
            _fail("UDHI set but the user data is empty")
        header_len = 1 + ud[0]
        if header_len > len(ud):
            _fail("user data header longer than the user data")
        concat = _parse_udh(ud[1:header_len])
    truncated = False
    if encoding == "gsm7":
        header_septets = (header_len * 8 + 6) // 7
        count = udl - header_septets
        if count < 0:
            _fail("UDL shorter than the user data header")
        fill = header_septets * 7 - header_len * 8
        present = max(0, ((len(ud) - header_len) * 8 - fill) // 7)
        if count > present and lenient:
            count, truncated = present, True
        septets = unpack_septets(ud[header_len:], count, fill)
        return decode_gsm7_septets(septets), concat, truncated
    if udl < header_len:
        _fail("UDL shorter than the user data header")
    if udl > len(ud):
        if not lenient:
            _fail(f"user data truncated: UDL {udl}, {len(ud)} octets present")
        truncated = True
        udl = len(ud)
        if encoding == "ucs2":
            udl -= (udl - header_len) % 2
    body = ud[header_len:udl]
    if encoding == "ucs2":
        return decode_ucs2(body), concat, truncated
    return body.decode("latin-1"), concat, truncated


def _concat_udh(reference: int, total: int, sequence: int) -> bytes:
    if reference < 256:
        return bytes([5, _IEI_CONCAT_8, 3, reference, total, sequence])
    return bytes([6, _IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total, sequence])


def _encode_user_data(text: str, encoding: Encoding, udh: bytes) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD) with ``udh`` (UDHL included) in front."""
    if encoding == "gsm7":
        header_septets = (len(udh) * 8 + 6) // 7
        fill = header_septets * 7 - len(udh) * 8
        septets = gsm7_septets(text)
        return header_septets + len(septets), udh + pack_septets(septets, fill)
    body = encode_ucs2(text)
    return len(udh) + len(body), udh + body


def _plan(text: str, force_ucs2: bool, reference: int) -> tuple[Encoding, list[str]]:
    """The alphabet and the text of each part, cut on character boundaries."""
    encoding: Encoding = "gsm7" if not force_ucs2 and can_encode_gsm7(text) else "ucs2"
    if encoding == "ucs2":
        encode_ucs2(text)  # refuse lone surrogates before any splitting
    cost = char_septets if encoding == "gsm7" else ucs2_units
    single = _SINGLE_SEPTETS if encoding == "gsm7" else _SINGLE_OCTETS // 2
    if sum(cost(ch) for ch in text) <= single:
        return encoding, [text]
    udh_len = len(_concat_udh(reference, 1, 1))
    if encoding == "gsm7":
        room = _SINGLE_SEPTETS - (udh_len * 8 + 6) // 7
    else:
        room = (_SINGLE_OCTETS - udh_len) // 2
    chunks: list[str] = []
    start, used = 0, 0
    for i, ch in enumerate(text):
        c = cost(ch)
        if used + c > room:
            chunks.append(text[start:i])
            start, used = i, 0
        used += c
    chunks.append(text[start:])
    if len(chunks) > MAX_PARTS:
        raise ValueError(f"text needs {len(chunks)} parts, more than {MAX_PARTS}")
    return encoding, chunks


def _dcs_for(encoding: Encoding) -> int:
    return {"gsm7": _DCS_GSM7, "8bit": _DCS_8BIT, "ucs2": _DCS_UCS2}[encoding]


def _check_reference(reference: int) -> None:
    if not 0 <= reference <= 0xFFFF:
        raise ValueError(f"concatenation reference must be 0..65535, got {reference}")


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def sms_parts_needed(text: str, *, force_ucs2: bool = False, reference: int = 0) -> tuple[int, str]:
    """(number of parts, "gsm7" | "ucs2") that :func:`encode_submit` would produce.

    ``reference`` matters only past one part: 256 and above means the 16-bit IE,
    which leaves one septet (one UCS-2 unit) less per part.
    """
    _check_reference(reference)
    encoding, chunks = _plan(text, force_ucs2, reference)
    return len(chunks), encoding


def encode_submit(
    to: str,
    text: str,
    *,
    reference: int,
    request_status_report: bool = True,
    smsc: str | None = None,
    validity_minutes: int | None = 4320,
    force_ucs2: bool = False,
) -> list[SubmitPart]:
    """SMS-SUBMIT PDUs for ``text`` to ``to`` ("+E.164" or national digits).

    ``reference`` is the concatenation reference (used only when several parts are
    needed). TP-MR is left 0: the modem assigns it and returns it in ``+CMGS: <mr>``.
    """
    _validate_number(to, "destination")
    _check_reference(reference)
    vp = None if validity_minutes is None else _encode_relative_vp(validity_minutes)
    encoding, chunks = _plan(text, force_ucs2, reference)
    smsc_field = _encode_smsc(smsc)
    destination = _encode_address(to, allow_alphanumeric=False, what="destination")
    parts: list[SubmitPart] = []
    for index, chunk in enumerate(chunks, start=1):
        udh = _concat_udh(reference, len(chunks), index) if len(chunks) > 1 else b""
        udl, ud = _encode_user_data(chunk, encoding, udh)
        first = _MTI_SUBMIT
        if vp is not None:
            first |= 0b10 << _VPF_SHIFT
        if request_status_report:
            first |= _TP_SRR
        if udh:
            first |= _TP_UDHI
        tpdu = bytes([first, 0x00]) + destination + bytes([0x00, _dcs_for(encoding)])
        if vp is not None:
            tpdu += bytes([vp])
        tpdu += bytes([udl]) + ud
        parts.append(
            SubmitPart(
                hex=(smsc_field + tpdu).hex().upper(),
                tpdu_length=len(tpdu),
                part=index,
                parts=len(chunks),
            )
        )
    return parts


def encode_deliver(
    sender: str,
    text: str,
    *,
    timestamp: datetime,
    smsc: str = "+85512000000",
    reference: int | None = None,
    force_ucs2: bool = False,
) -> list[str]:
    """SMS-DELIVER PDUs (hex with the SMSC field) as a modem shows them.

    ``sender`` is "+E.164", national digits, or an alphanumeric name (GSM-7, at most 11
    septets). Without ``reference`` a multipart message gets an 8-bit reference derived
    from its content (deterministic). A naive ``timestamp`` is taken as UTC.
    """
    originator = _encode_address(sender, allow_alphanumeric=True, what="sender")
    smsc_field = _encode_smsc(smsc)
    scts = _encode_scts(timestamp)
    if reference is None:
        reference = zlib.crc32(f"{sender}\x00{text}".encode("utf-8", "surrogatepass")) & 0xFF
    _check_reference(reference)
    encoding, chunks = _plan(text, force_ucs2, reference)
    out: list[str] = []
    for index, chunk in enumerate(chunks, start=1):
        udh = _concat_udh(reference, len(chunks), index) if len(chunks) > 1 else b""
        udl, ud = _encode_user_data(chunk, encoding, udh)
        first = _MTI_DELIVER | _TP_MMS | (_TP_UDHI if udh else 0)
        tpdu = bytes([first]) + originator + bytes([0x00, _dcs_for(encoding)]) + scts
        tpdu += bytes([udl]) + ud
        out.append((smsc_field + tpdu).hex().upper())
    return out


def encode_status_report(
    message_reference: int,
    recipient: str,
    status: int,
    *,
    scts: datetime,
    discharge: datetime,
    smsc: str = "+85512000000",
) -> str:
    """An SMS-STATUS-REPORT (hex with the SMSC field), as ``+CDS`` shows it."""
    if not 0 <= message_reference <= 0xFF:
        raise ValueError(f"message_reference must be 0..255, got {message_reference}")
    if not 0 <= status <= 0xFF:
        raise ValueError(f"status must be 0..255, got {status}")
    tpdu = bytes([_MTI_STATUS_REPORT | _TP_MMS, message_reference])
    tpdu += _encode_address(recipient, allow_alphanumeric=True, what="recipient")
    tpdu += _encode_scts(scts) + _encode_scts(discharge) + bytes([status])
    return (_encode_smsc(smsc) + tpdu).hex().upper()


def decode_pdu(hex: str) -> Deliver | StatusReport:
    """Decode a PDU as a modem prints it (SMSC field first).

    Raises :class:`ProtocolError` for anything that is not a readable SMS-DELIVER or
    SMS-STATUS-REPORT (an SMS-SUBMIT included: see :func:`decode_submit`).
    """
    data, raw = _hex_to_bytes(hex)
    try:
        r = _Reader(data)
        smsc = _read_smsc(r)
        first = r.byte("first octet")
        mti = first & 0x03
        if mti == _MTI_DELIVER:
            return _decode_deliver(r, first, smsc, raw)
        if mti == _MTI_STATUS_REPORT:
            return _decode_status_report(r, smsc, raw)
        if mti == _MTI_SUBMIT:
            _fail("PDU is an SMS-SUBMIT, not an incoming message")
        _fail("PDU has the reserved message type 3")
    except (ValueError, IndexError, OverflowError) as exc:  # belt and braces
        raise ProtocolError(f"undecodable PDU: {exc}") from exc


def _decode_deliver(r: _Reader, first: int, smsc: str | None, raw: str) -> Deliver:
    sender = _read_address(r, "originating address")
    pid = r.byte("TP-PID")
    dcs = r.byte("TP-DCS")
    timestamp, timestamp_valid = _decode_scts(r.read(7, "TP-SCTS"))
    udl = r.byte("TP-UDL")
    encoding, message_class = _dcs_info(dcs)
    text, concat, truncated = _parse_user_data(
        r.rest(), udl, bool(first & _TP_UDHI), encoding, lenient=True
    )
    return Deliver(
        smsc=smsc,
        sender=sender,
        text=text,
        timestamp=timestamp,
        timestamp_valid=timestamp_valid,
        concat=concat,
        encoding=encoding,
        message_class=message_class,
        status_report_indication=bool(first & _TP_SRI),
        pid=pid,
        dcs=dcs,
        truncated=truncated,
        raw_hex=raw,
    )


def _decode_status_report(r: _Reader, smsc: str | None, raw: str) -> StatusReport:
    reference = r.byte("TP-MR")
    recipient = _read_address(r, "recipient address")
    scts, _ = _decode_scts(r.read(7, "TP-SCTS"))
    discharge, _ = _decode_scts(r.read(7, "TP-DT"))
    status = r.byte("TP-ST")
    # TP-PI and the optional PID/DCS/UD that may follow are not needed: ignored.
    return StatusReport(
        smsc=smsc,
        message_reference=reference,
        recipient=recipient,
        scts=scts,
        discharge_time=discharge,
        status=status,
        raw_hex=raw,
    )


def decode_submit(hex: str, *, tpdu_length: int | None = None) -> Submit:
    """Decode an SMS-SUBMIT as sent with AT+CMGS (SMSC field first).

    With ``tpdu_length`` (the ``AT+CMGS=<length>``), a PDU that is exactly that long is
    taken to have no SMSC field, and any other total length must match SMSC + length.
    """
    data, raw = _hex_to_bytes(hex)
    try:
        r = _Reader(data)
        smsc: str | None = None
        if tpdu_length is None or len(data) != tpdu_length:
            smsc = _read_smsc(r)
            if tpdu_length is not None and len(data) - r.pos != tpdu_length:
                _fail(f"AT+CMGS length {tpdu_length} does not match the PDU's TPDU length")
        first = r.byte("first octet")
        if first & 0x03 != _MTI_SUBMIT:
            _fail("PDU is not an SMS-SUBMIT")
        reference = r.byte("TP-MR")
        destination = _read_address(r, "destination address")
        r.byte("TP-PID")
        dcs = r.byte("TP-DCS")
        vpf = (first >> _VPF_SHIFT) & 0x03
        validity: int | None = None
        if vpf == 0b10:
            validity = _decode_relative_vp(r.byte("TP-VP"))
        elif vpf != 0b00:  # enhanced or absolute: seven octets we do not interpret
            r.read(7, "TP-VP")
        udl = r.byte("TP-UDL")
        encoding, message_class = _dcs_info(dcs)
        text, concat, _ = _parse_user_data(
            r.rest(), udl, bool(first & _TP_UDHI), encoding, lenient=False
        )
    except (ValueError, IndexError, OverflowError) as exc:  # belt and braces
        raise ProtocolError(f"undecodable SMS-SUBMIT: {exc}") from exc
    return Submit(
        smsc=smsc,
        destination=destination,
        text=text,
        message_reference=reference,
        status_report_requested=bool(first & _TP_SRR),
        concat=concat,
        encoding=encoding,
        validity_minutes=validity,
        message_class=message_class,
        raw_hex=raw,
    )


def pdu_fingerprint(hex: str) -> str:
    """A stable idempotency key: sha256 of the PDU hex without whitespace, uppercased."""
    normalised = "".join(hex.split()).upper()
    return hashlib.sha256(normalised.encode("utf-8", "surrogatepass")).hexdigest()
