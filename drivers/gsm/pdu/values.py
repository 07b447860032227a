"""The PDU codec's values and constants: decoded messages, parts, concatenation
(3GPP TS 23.040). Imports nothing but ``base`` and the GSM alphabets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Encoding = Literal["gsm7", "8bit", "ucs2"]
Outcome = Literal["delivered", "pending", "failed"]

UNKNOWN_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)
"""Stands for a service-centre timestamp that could not be read."""

MAX_PARTS = 255

# TP-MTI (TS 23.040 §9.2.3.1), as seen by the MS.
MTI_DELIVER = 0b00
MTI_SUBMIT = 0b01
MTI_STATUS_REPORT = 0b10

# First-octet flags.
TP_MMS = 0x04  # SMS-DELIVER / STATUS-REPORT: 1 = no more messages waiting
TP_SRR = 0x20  # SMS-SUBMIT: status report requested
TP_SRI = 0x20  # SMS-DELIVER: status report indication
TP_UDHI = 0x40
VPF_SHIFT = 3

# Type of address (TS 23.040 §9.1.2.5): 1 TON(3) NPI(4).
TOA_INTERNATIONAL = 0x91
TOA_UNKNOWN = 0x81
TOA_ALPHANUMERIC = 0xD0
TON_INTERNATIONAL = 0b001
TON_ALPHANUMERIC = 0b101

# UDH information elements (TS 23.040 §9.2.3.24).
IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08

DCS_GSM7 = 0x00
DCS_8BIT = 0x04
DCS_UCS2 = 0x08

SINGLE_SEPTETS = 160
SINGLE_OCTETS = 140
MAX_ALNUM_SEPTETS = 11

NUMBER_RE = re.compile(r"\+?[0-9]{1,20}")
HEX_RE = re.compile(r"[0-9A-Fa-f]*")
# Semi-octet digit values (TS 23.040 §9.1.2.3 / TS 24.008 table 10.5.118).
BCD_DIGITS = "0123456789*#abc"


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
