"""USSD string coding (3GPP TS 23.038 §5 CBS data coding, TS 27.007 +CUSD), sans-IO.

What modems put in ``+CUSD: <m>,"<str>",<dcs>`` depends on the model and on AT+CSCS:

- packed GSM-7 as hex (Huawei and most modems in "PDU-like" mode), e.g. ``AA180C3602``;
- plain text (SIMCom/Quectel with AT+CSCS="GSM");
- UCS-2 as hex, for a UCS-2 DCS, and on some modems with AT+CSCS="UCS2" even when the
  DCS says GSM-7;
- unpacked GSM-7 septets as hex (AT+CSCS="HEX"), more rarely.

:func:`decode_ussd` with ``form="auto"`` (the default) guesses, in this order:

1. a payload that is not an even-length string of hex digits is plain text;
2. a DCS meaning UCS-2 -> UCS-2 hex; 8-bit -> the octets as Latin-1;
3. a DCS meaning GSM-7: UCS-2 hex if the payload *looks* like UCS-2 (at least two code
   units, every character printable, at most one non-zero high byte among the non-
   surrogate units: one script plus ASCII); else unpacked GSM-7 (only if every octet is
   below 0x80, which packed text nearly never is) or packed GSM-7, the first that
   reads as text (80 % or more common ASCII characters); else the payload is plain
   text after all (e.g. a bare "1234").

Drivers that know their modem pass ``form="text"``, ``"hex"`` (hex whose meaning follows
the DCS) or ``"ucs2-hex"`` and skip the guessing. Decoding raises only
:class:`~base.errors.ProtocolError`.
"""

from __future__ import annotations

import re
import string
from typing import Literal

from base.errors import ProtocolError
from drivers.gsm.gsm7 import (
    decode_gsm7_septets,
    decode_ucs2,
    gsm7_septets,
    pack_septets,
    unpack_septets,
)

__all__ = ["USSD_DCS_GSM7", "UssdForm", "decode_ussd", "encode_ussd_request"]

UssdForm = Literal["auto", "text", "hex", "ucs2-hex"]
_Alphabet = Literal["gsm7", "8bit", "ucs2"]

USSD_DCS_GSM7 = 0x0F
"""GSM-7, language unspecified: the DCS for requests."""

_MAX_USSD_SEPTETS = 182  # 160 octets of packed GSM-7
_CR = 0x0D
_REQUEST_RE = re.compile(r"[0-9*#+]+")
_HEX_RE = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_COMMON = frozenset(string.ascii_letters + string.digits + " \r\n.,:;!?'\"()*#+-/%&=<>_$")


def _alphabet(dcs: int) -> tuple[_Alphabet, bool]:
    """(alphabet, language-prefixed) for a CBS data coding scheme (TS 23.038 §5)."""
    group = dcs >> 4
    if group == 0x1:
        if dcs == 0x11:
            return "ucs2", True
        return "gsm7", dcs == 0x10
    if 0x4 <= group <= 0x7 or group == 0x9:  # general data coding / with UDH
        if dcs & 0x20:
            return "8bit", False  # compressed: cannot decompress
        alphabet = (dcs >> 2) & 0x03
        if alphabet == 1:
            return "8bit", False
        if alphabet == 2:
            return "ucs2", False
        return "gsm7", False
    if group == 0xF:
        return ("8bit" if dcs & 0x04 else "gsm7"), False
    return "gsm7", False  # 0x0, 0x2, 0x3 languages; reserved groups: default alphabet


def _packed(data: bytes) -> str:
    count = len(data) * 8 // 7
    septets = unpack_septets(data, count)
    # §6.1.2.3.1: 7 spare bits at the end are filled with CR; some networks leave zeros.
    if count % 8 == 0 and septets and septets[-1] in (_CR, 0):
        septets = septets[:-1]
    return decode_gsm7_septets(septets)


def _unpacked(data: bytes) -> str:
    return decode_gsm7_septets([b & 0x7F for b in data])


def _ucs2_with_language(data: bytes) -> str:
    # Two GSM-7 characters of ISO 639 language packed in the first two octets.
    return decode_ucs2(data[2:])


def _looks_ucs2(data: bytes) -> bool:
    if len(data) < 4 or len(data) % 2:
        return False
    try:
        text = data.decode("utf-16-be")
    except UnicodeDecodeError:
        return False
    if not all(ch.isprintable() or ch in "\r\n" for ch in text):
        return False
    highs = {
        data[i] for i in range(0, len(data), 2) if data[i] != 0 and not 0xD8 <= data[i] <= 0xDF
    }
    return len(highs) <= 1


def _reads_as_text(text: str) -> bool:
    return bool(text) and sum(ch in _COMMON for ch in text) >= 0.8 * len(text)


def _strip_language(text: str) -> str:
    """Drop the 'xx<CR>' language prefix of DCS 0x10."""
    return text[3:] if len(text) >= 3 and text[2] == "\r" else text


def decode_ussd(payload: str, dcs: int, *, form: UssdForm = "auto") -> str:
    """The text of a ``+CUSD`` string (see the module docstring for ``form``)."""
    if not isinstance(payload, str) or not isinstance(dcs, int):
        raise ProtocolError("USSD payload must be a str and its DCS an int")
    if not 0 <= dcs <= 0xFF:
        raise ProtocolError(f"USSD DCS out of range: {dcs}")
    alphabet, language = _alphabet(dcs)
    is_hex = _HEX_RE.fullmatch(payload) is not None
    if form == "text" or (form == "auto" and not is_hex):
        return _strip_language(payload) if language and alphabet == "gsm7" else payload
    if not is_hex:
        raise ProtocolError(f"USSD payload is not hex: {payload[:40]!r}")
    data = bytes.fromhex(payload)
    if form == "ucs2-hex":
        return decode_ucs2(data)
    if alphabet == "ucs2":
        return _ucs2_with_language(data) if language else decode_ucs2(data)
    if alphabet == "8bit":
        return data.decode("latin-1")
    if form == "hex":
        text = _packed(data)
        return _strip_language(text) if language else text
    # form == "auto", GSM-7 DCS, hex payload: guess.
    if _looks_ucs2(data):
        return decode_ucs2(data)
    candidates = [_packed(data)]
    if all(b < 0x80 for b in data):  # packed text nearly always sets some top bits
        candidates.insert(0, _unpacked(data))
    for text in candidates:
        if _reads_as_text(text):
            return _strip_language(text) if language else text
    return payload


def encode_ussd_request(code: str, *, hex_mode: bool = True) -> tuple[str, int]:
    """(payload, dcs) for ``AT+CUSD=1,"<payload>",<dcs>``.

    ``hex_mode`` gives packed GSM-7 as hex (with a CR in the last octet's 7 spare bits,
    TS 23.038 §6.1.2.3.1), else the code as plain text. Only ``0-9 * # +`` are
    accepted: anything else raises ``ValueError``, so no quote or CR reaches a modem.
    """
    if not isinstance(code, str) or not _REQUEST_RE.fullmatch(code):
        raise ValueError(f"invalid USSD code {code!r}: only digits, '*', '#' and '+'")
    if len(code) > _MAX_USSD_SEPTETS:
        raise ValueError(f"USSD code longer than {_MAX_USSD_SEPTETS} characters")
    if not hex_mode:
        return code, USSD_DCS_GSM7
    septets = gsm7_septets(code)
    if len(septets) % 8 == 7:
        septets.append(_CR)
    return pack_septets(septets).hex().upper(), USSD_DCS_GSM7
