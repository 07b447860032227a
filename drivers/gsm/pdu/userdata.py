"""The data coding scheme (TS 23.038 §4), user data headers (concatenation) and
user data; how a text is planned into parts.
"""

from __future__ import annotations

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
from drivers.gsm.pdu.fields import fail
from drivers.gsm.pdu.values import (
    DCS_8BIT,
    DCS_GSM7,
    DCS_UCS2,
    IEI_CONCAT_8,
    IEI_CONCAT_16,
    MAX_PARTS,
    SINGLE_OCTETS,
    SINGLE_SEPTETS,
    Concat,
    Encoding,
)

# ---------------------------------------------------------------------------
# Data coding scheme (TS 23.038 §4) and user data
# ---------------------------------------------------------------------------


def dcs_info(dcs: int) -> tuple[Encoding, int | None]:
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
            fail("UDH truncated inside an information element header")
        iei, length = header[i], header[i + 1]
        body = header[i + 2 : i + 2 + length]
        if len(body) < length:
            fail(f"UDH information element {iei:#04x} overruns the header")
        i += 2 + length
        if concat is not None:
            continue
        if iei == IEI_CONCAT_8 and length == 3:
            ref, total, seq = body[0], body[1], body[2]
        elif iei == IEI_CONCAT_16 and length == 4:
            ref, total, seq = body[0] << 8 | body[1], body[2], body[3]
        else:
            continue
        # §9.2.3.24.1: a zero total, or a sequence beyond it, voids the whole IE.
        if total >= 1 and 1 <= seq <= total:
            concat = Concat(reference=ref, total=total, sequence=seq)
    return concat


def parse_user_data(
    ud: bytes, udl: int, udhi: bool, encoding: Encoding, *, lenient: bool
) -> tuple[str, Concat | None, bool]:
    """(text, concat IE, truncated). ``lenient`` decodes what is there when the user
    data is shorter than TP-UDL says (and reports it) instead of failing."""
    header_len = 0
    concat: Concat | None = None
    if udhi:
        if not ud:
            fail("UDHI set but the user data is empty")
        header_len = 1 + ud[0]
        if header_len > len(ud):
            fail("user data header longer than the user data")
        concat = _parse_udh(ud[1:header_len])
    truncated = False
    if encoding == "gsm7":
        header_septets = (header_len * 8 + 6) // 7
        count = udl - header_septets
        if count < 0:
            fail("UDL shorter than the user data header")
        fill = header_septets * 7 - header_len * 8
        present = max(0, ((len(ud) - header_len) * 8 - fill) // 7)
        if count > present and lenient:
            count, truncated = present, True
        septets = unpack_septets(ud[header_len:], count, fill)
        return decode_gsm7_septets(septets), concat, truncated
    if udl < header_len:
        fail("UDL shorter than the user data header")
    if udl > len(ud):
        if not lenient:
            fail(f"user data truncated: UDL {udl}, {len(ud)} octets present")
        truncated = True
        udl = len(ud)
        if encoding == "ucs2":
            udl -= (udl - header_len) % 2
    body = ud[header_len:udl]
    if encoding == "ucs2":
        return decode_ucs2(body), concat, truncated
    return body.decode("latin-1"), concat, truncated


def concat_udh(reference: int, total: int, sequence: int) -> bytes:
    if reference < 256:
        return bytes([5, IEI_CONCAT_8, 3, reference, total, sequence])
    return bytes([6, IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total, sequence])


def encode_user_data(text: str, encoding: Encoding, udh: bytes) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD) with ``udh`` (UDHL included) in front."""
    if encoding == "gsm7":
        header_septets = (len(udh) * 8 + 6) // 7
        fill = header_septets * 7 - len(udh) * 8
        septets = gsm7_septets(text)
        return header_septets + len(septets), udh + pack_septets(septets, fill)
    body = encode_ucs2(text)
    return len(udh) + len(body), udh + body


def plan(text: str, force_ucs2: bool, reference: int) -> tuple[Encoding, list[str]]:
    """The alphabet and the text of each part, cut on character boundaries."""
    encoding: Encoding = "gsm7" if not force_ucs2 and can_encode_gsm7(text) else "ucs2"
    if encoding == "ucs2":
        encode_ucs2(text)  # refuse lone surrogates before any splitting
    cost = char_septets if encoding == "gsm7" else ucs2_units
    single = SINGLE_SEPTETS if encoding == "gsm7" else SINGLE_OCTETS // 2
    if sum(cost(ch) for ch in text) <= single:
        return encoding, [text]
    udh_len = len(concat_udh(reference, 1, 1))
    if encoding == "gsm7":
        room = SINGLE_SEPTETS - (udh_len * 8 + 6) // 7
    else:
        room = (SINGLE_OCTETS - udh_len) // 2
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


def dcs_for(encoding: Encoding) -> int:
    return {"gsm7": DCS_GSM7, "8bit": DCS_8BIT, "ucs2": DCS_UCS2}[encoding]


def check_reference(reference: int) -> None:
    if not 0 <= reference <= 0xFFFF:
        raise ValueError(f"concatenation reference must be 0..65535, got {reference}")
