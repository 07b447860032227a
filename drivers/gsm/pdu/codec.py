"""Encoding and decoding whole PDUs: SMS-SUBMIT, SMS-DELIVER, SMS-STATUS-REPORT."""

from __future__ import annotations

import hashlib
import zlib
from datetime import datetime

from base.errors import ProtocolError
from drivers.gsm.pdu.fields import (
    Reader,
    decode_relative_vp,
    decode_scts,
    encode_address,
    encode_relative_vp,
    encode_scts,
    encode_smsc,
    fail,
    hex_to_bytes,
    read_address,
    read_smsc,
    validate_number,
)
from drivers.gsm.pdu.userdata import (
    check_reference,
    concat_udh,
    dcs_for,
    dcs_info,
    encode_user_data,
    parse_user_data,
    plan,
)
from drivers.gsm.pdu.values import (
    MTI_DELIVER,
    MTI_STATUS_REPORT,
    MTI_SUBMIT,
    TP_MMS,
    TP_SRI,
    TP_SRR,
    TP_UDHI,
    VPF_SHIFT,
    Deliver,
    StatusReport,
    Submit,
    SubmitPart,
)

# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def sms_parts_needed(text: str, *, force_ucs2: bool = False, reference: int = 0) -> tuple[int, str]:
    """(number of parts, "gsm7" | "ucs2") that :func:`encode_submit` would produce.

    ``reference`` matters only past one part: 256 and above means the 16-bit IE,
    which leaves one septet (one UCS-2 unit) less per part.
    """
    check_reference(reference)
    encoding, chunks = plan(text, force_ucs2, reference)
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
    validate_number(to, "destination")
    check_reference(reference)
    vp = None if validity_minutes is None else encode_relative_vp(validity_minutes)
    encoding, chunks = plan(text, force_ucs2, reference)
    smsc_field = encode_smsc(smsc)
    destination = encode_address(to, allow_alphanumeric=False, what="destination")
    parts: list[SubmitPart] = []
    for index, chunk in enumerate(chunks, start=1):
        udh = concat_udh(reference, len(chunks), index) if len(chunks) > 1 else b""
        udl, ud = encode_user_data(chunk, encoding, udh)
        first = MTI_SUBMIT
        if vp is not None:
            first |= 0b10 << VPF_SHIFT
        if request_status_report:
            first |= TP_SRR
        if udh:
            first |= TP_UDHI
        tpdu = bytes([first, 0x00]) + destination + bytes([0x00, dcs_for(encoding)])
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
    originator = encode_address(sender, allow_alphanumeric=True, what="sender")
    smsc_field = encode_smsc(smsc)
    scts = encode_scts(timestamp)
    if reference is None:
        reference = zlib.crc32(f"{sender}\x00{text}".encode("utf-8", "surrogatepass")) & 0xFF
    check_reference(reference)
    encoding, chunks = plan(text, force_ucs2, reference)
    out: list[str] = []
    for index, chunk in enumerate(chunks, start=1):
        udh = concat_udh(reference, len(chunks), index) if len(chunks) > 1 else b""
        udl, ud = encode_user_data(chunk, encoding, udh)
        first = MTI_DELIVER | TP_MMS | (TP_UDHI if udh else 0)
        tpdu = bytes([first]) + originator + bytes([0x00, dcs_for(encoding)]) + scts
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
    tpdu = bytes([MTI_STATUS_REPORT | TP_MMS, message_reference])
    tpdu += encode_address(recipient, allow_alphanumeric=True, what="recipient")
    tpdu += encode_scts(scts) + encode_scts(discharge) + bytes([status])
    return (encode_smsc(smsc) + tpdu).hex().upper()


def decode_pdu(hex: str) -> Deliver | StatusReport:
    """Decode a PDU as a modem prints it (SMSC field first).

    Raises :class:`ProtocolError` for anything that is not a readable SMS-DELIVER or
    SMS-STATUS-REPORT (an SMS-SUBMIT included: see :func:`decode_submit`).
    """
    data, raw = hex_to_bytes(hex)
    try:
        r = Reader(data)
        smsc = read_smsc(r)
        first = r.byte("first octet")
        mti = first & 0x03
        if mti == MTI_DELIVER:
            return _decode_deliver(r, first, smsc, raw)
        if mti == MTI_STATUS_REPORT:
            return _decode_status_report(r, smsc, raw)
        if mti == MTI_SUBMIT:
            fail("PDU is an SMS-SUBMIT, not an incoming message")
        fail("PDU has the reserved message type 3")
    except (ValueError, IndexError, OverflowError) as exc:  # belt and braces
        raise ProtocolError(f"undecodable PDU: {exc}") from exc


def _decode_deliver(r: Reader, first: int, smsc: str | None, raw: str) -> Deliver:
    sender = read_address(r, "originating address")
    pid = r.byte("TP-PID")
    dcs = r.byte("TP-DCS")
    timestamp, timestamp_valid = decode_scts(r.read(7, "TP-SCTS"))
    udl = r.byte("TP-UDL")
    encoding, message_class = dcs_info(dcs)
    text, concat, truncated = parse_user_data(
        r.rest(), udl, bool(first & TP_UDHI), encoding, lenient=True
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
        status_report_indication=bool(first & TP_SRI),
        pid=pid,
        dcs=dcs,
        truncated=truncated,
        raw_hex=raw,
    )


def _decode_status_report(r: Reader, smsc: str | None, raw: str) -> StatusReport:
    reference = r.byte("TP-MR")
    recipient = read_address(r, "recipient address")
    scts, _ = decode_scts(r.read(7, "TP-SCTS"))
    discharge, _ = decode_scts(r.read(7, "TP-DT"))
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
    data, raw = hex_to_bytes(hex)
    try:
        r = Reader(data)
        smsc: str | None = None
        if tpdu_length is None or len(data) != tpdu_length:
            smsc = read_smsc(r)
            if tpdu_length is not None and len(data) - r.pos != tpdu_length:
                fail(f"AT+CMGS length {tpdu_length} does not match the PDU's TPDU length")
        first = r.byte("first octet")
        if first & 0x03 != MTI_SUBMIT:
            fail("PDU is not an SMS-SUBMIT")
        reference = r.byte("TP-MR")
        destination = read_address(r, "destination address")
        r.byte("TP-PID")
        dcs = r.byte("TP-DCS")
        vpf = (first >> VPF_SHIFT) & 0x03
        validity: int | None = None
        if vpf == 0b10:
            validity = decode_relative_vp(r.byte("TP-VP"))
        elif vpf != 0b00:  # enhanced or absolute: seven octets we do not interpret
            r.read(7, "TP-VP")
        udl = r.byte("TP-UDL")
        encoding, message_class = dcs_info(dcs)
        text, concat, _ = parse_user_data(
            r.rest(), udl, bool(first & TP_UDHI), encoding, lenient=False
        )
    except (ValueError, IndexError, OverflowError) as exc:  # belt and braces
        raise ProtocolError(f"undecodable SMS-SUBMIT: {exc}") from exc
    return Submit(
        smsc=smsc,
        destination=destination,
        text=text,
        message_reference=reference,
        status_report_requested=bool(first & TP_SRR),
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
