"""GSM 7-bit default alphabet and UCS-2 (3GPP TS 23.038), sans-IO.

Theory of operation:

- Text becomes *septets* (ints 0..127) with :func:`gsm7_septets`; a character of the
  extension table costs two septets (ESC 0x1B, then its code).
- Septets become octets with :func:`pack_septets` (LSB first, TS 23.038 §6.1.2.1.1);
  ``fill_bits`` leading zero bits align the first septet on a septet boundary after a
  User Data Header (TS 23.040 §9.2.3.24).
- The way back is :func:`unpack_septets` then :func:`decode_gsm7_septets`.
- Decoders raise only :class:`~base.errors.ProtocolError`; encoders raise
  ``ValueError`` for text or arguments they cannot represent.

UCS-2 here is really UTF-16-BE, as every handset does: characters outside the BMP
(emoji) travel as surrogate pairs, i.e. two UCS-2 code units.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from base.errors import ProtocolError

__all__ = [
    "ESC",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "can_encode_gsm7",
    "char_septets",
    "decode_gsm7_septets",
    "decode_ucs2",
    "encode_ucs2",
    "gsm7_septets",
    "pack_septets",
    "ucs2_units",
    "unpack_septets",
]

ESC = 0x1B
"""The escape septet that announces a character from the extension table."""

# TS 23.038 §6.2.1: index = septet value. Position 0x1B is the escape, not a character.
GSM7_BASIC: str = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(GSM7_BASIC) == 128

# TS 23.038 §6.2.1.1: the default extension table (septet after ESC -> character).
GSM7_EXTENSION: dict[int, str] = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_BASIC_CODE: dict[str, int] = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != ESC}
_EXTENSION_CODE: dict[str, int] = {ch: code for code, ch in GSM7_EXTENSION.items()}


def can_encode_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the basic or extension table."""
    return all(ch in _BASIC_CODE or ch in _EXTENSION_CODE for ch in text)


def gsm7_septets(text: str) -> list[int]:
    """Septets for ``text``; extension characters become ``[ESC, code]``.

    Raises ``ValueError`` for a character that GSM-7 cannot carry.
    """
    out: list[int] = []
    for ch in text:
        code = _BASIC_CODE.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = _EXTENSION_CODE.get(ch)
        if ext is None:
            raise ValueError(f"character {ch!r} (U+{ord(ch):04X}) is not in the GSM 7-bit alphabet")
        out.extend((ESC, ext))
    return out


def char_septets(ch: str) -> int:
    """How many septets one character costs: 1, 2 (extension table), or 0 if unencodable."""
    if ch in _BASIC_CODE:
        return 1
    if ch in _EXTENSION_CODE:
        return 2
    return 0


def pack_septets(septets: Iterable[int], fill_bits: int = 0) -> bytes:
    """Pack septets LSB-first into octets, after ``fill_bits`` (0..6) zero bits."""
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    acc = 0
    nbits = fill_bits
    for s in septets:
        if not 0 <= s <= 0x7F:
            raise ValueError(f"septet out of range: {s}")
        acc |= s << nbits
        nbits += 7
    return acc.to_bytes((nbits + 7) // 8, "little")


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Read ``count`` septets from ``data``, skipping ``fill_bits`` leading bits.

    Raises :class:`ProtocolError` if ``data`` holds fewer than ``count`` septets.
    """
    if not 0 <= fill_bits <= 7:
        raise ProtocolError(f"fill bits must be 0..7, got {fill_bits}")
    if count < 0:
        raise ProtocolError(f"negative septet count {count}")
    need = (fill_bits + 7 * count + 7) // 8
    if len(data) < need:
        raise ProtocolError(f"{count} septets need {need} octets, only {len(data)} present")
    acc = int.from_bytes(data[:need], "little") >> fill_bits
    return [(acc >> (7 * i)) & 0x7F for i in range(count)]


def decode_gsm7_septets(septets: Sequence[int]) -> str:
    """Text for a run of septets.

    Per TS 23.038 §6.2.1.1, ESC followed by a code absent from the extension table shows
    the basic-table character for that code; ESC ESC (reserved for a further extension
    table) shows a space; a trailing lone ESC is dropped.
    """
    out: list[str] = []
    escaped = False
    for s in septets:
        if not 0 <= s <= 0x7F:
            raise ProtocolError(f"septet out of range: {s}")
        if escaped:
            escaped = False
            if s == ESC:
                out.append(" ")
            else:
                out.append(GSM7_EXTENSION.get(s) or GSM7_BASIC[s])
        elif s == ESC:
            escaped = True
        else:
            out.append(GSM7_BASIC[s])
    return "".join(out)


def encode_ucs2(text: str) -> bytes:
    """UTF-16-BE; characters above U+FFFF become surrogate pairs.

    Raises ``ValueError`` (``UnicodeEncodeError``) for a lone surrogate in ``text``.
    """
    return text.encode("utf-16-be")


def ucs2_units(ch: str) -> int:
    """UCS-2 code units one character costs: 2 above the BMP (surrogate pair), else 1."""
    return 2 if ord(ch) > 0xFFFF else 1


def decode_ucs2(data: bytes) -> str:
    """Decode UTF-16-BE; an odd trailing byte or a lone surrogate becomes U+FFFD."""
    return bytes(data).decode("utf-16-be", errors="replace")
