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

Modules: :mod:`~drivers.gsm.pdu.values` (the values), :mod:`~drivers.gsm.pdu.fields`
(addresses, timestamps), :mod:`~drivers.gsm.pdu.userdata` (alphabets, headers, parts),
:mod:`~drivers.gsm.pdu.codec` (whole PDUs).
"""

from drivers.gsm.pdu.codec import (
    decode_pdu,
    decode_submit,
    encode_deliver,
    encode_status_report,
    encode_submit,
    pdu_fingerprint,
    sms_parts_needed,
)
from drivers.gsm.pdu.values import (
    UNKNOWN_TIMESTAMP,
    Concat,
    Deliver,
    Encoding,
    Outcome,
    StatusReport,
    Submit,
    SubmitPart,
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
