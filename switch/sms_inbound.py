"""Inbound SMS on the core side: the parts of a longer message kept until it is whole,
then the message recorded once in its sender's journey.

The GSM driver stores before it deletes (``drivers.gsm.ModemSink``):

- :meth:`InboundRecorder.part_received` — one part of a longer message becomes a keyed
  record (``smsin-part``, ``<modem>:<part key>``) in one durable write carrying the
  part's idempotency key; only then does the driver delete it from the SIM (or
  acknowledge its ``+CMT``). A message longer than the SIM therefore flows through it.
- :meth:`InboundRecorder.stored_parts` — those records, read back when the driver starts:
  reassembly goes on after a restart, a kill -9 between parts loses nothing.
- :meth:`InboundRecorder.sms_received` — the whole message (or what arrived of it, after
  ``[sms].reassembly_timeout``): the journey event, the message's API record, one
  ``smspart`` marker per part (:meth:`InboundRecorder.part_recorded`) and the removal of the
  parts' records, in one durable write with the message's idempotency key, so it is
  recorded once however often the driver hands it over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from actors.messages import InboundMessage
from actors.store import Put, Write
from base.errors import Rejected
from drivers.gsm import InboundPart, InboundSms
from switch.core import Core
from switch.metrics import SMS_IN
from switch.phone import phone_identity

__all__ = [
    "INPART_NS",
    "MESSAGE_NS",
    "PART_NS",
    "InboundRecorder",
    "part_from_json",
    "part_json",
    "sender_identity",
]

log = structlog.get_logger("sms")

MESSAGE_NS = "message"  # the API record of every message, both directions
PART_NS = "smspart"  # part key -> id of the recorded message it went into
INPART_NS = "smsin-part"  # "<modem>:<part key>" -> a part waiting for its message


def sender_identity(core: Core, raw: str) -> tuple[str, str]:
    """(sender as shown, contact identity) of a number or name a modem reported."""
    digits = raw.lstrip("+")
    if digits.isdigit():
        try:
            e164 = core.normalize(raw)
            return e164, phone_identity(e164)
        except Rejected:
            return raw, f"phone:{raw}"  # short codes keep their digits as they are
    return raw, f"sender:{raw}"  # alphanumeric sender ("Smart", "BANK")


@dataclass(frozen=True, slots=True)
class InboundText:
    """A received SMS, durable in the store, as the contact center sees it."""

    message_id: str
    contact_id: str
    sender: str  # E.164 (or what the network gave)
    text: str
    modem_id: str
    at: float


class InboundRecorder:
    def __init__(self, core: Core, on_new: Callable[[InboundText], None] | None = None) -> None:
        self.on_new = on_new
        self.core = core

    async def sms_received(self, sms: InboundSms) -> None:
        sender, identity = sender_identity(self.core, sms.sender)
        contact_id = await self.core.directory.contact_for(identity)
        message_id = "in-" + hashlib.sha256(sms.idempotency_key.encode()).hexdigest()[:16]
        now = self.core.clock.now()
        record = {
            "id": message_id,
            "direction": "in",
            "from": sender,
            "to": sms.modem_id,
            "text": sms.text,
            "status": "delivered",
            "parts": sms.parts,
            "incomplete": sms.incomplete,
            "missing": list(sms.missing),
            "modem": sms.modem_id,
            "contact_id": contact_id,
            "created_at": now,
            "sent_at": sms.smsc_timestamp.isoformat() if sms.smsc_timestamp else None,
        }
        result = await self.core.registry.ask(
            f"contact:{contact_id}",
            InboundMessage(
                channel="sms",
                via=sms.modem_id,
                sender=sender,
                text=sms.text,
                at=now,
                message_id=message_id,
                parts=sms.parts,
                incomplete=sms.incomplete,
                idem=f"sms-in:{sms.idempotency_key}",
                puts=(
                    Put(MESSAGE_NS, message_id, record),
                    *(Put(PART_NS, key, message_id) for key in sms.part_keys),
                    *(Put(INPART_NS, f"{sms.modem_id}:{key}", None) for key in sms.part_keys),
                ),
            ),
        )
        duplicate = getattr(result, "duplicate", False)
        if not duplicate:
            SMS_IN.labels(sms.modem_id).inc()
            if self.on_new is not None:  # the contact center's turn, off the modem's path
                self.on_new(
                    InboundText(message_id, contact_id, sender, sms.text, sms.modem_id, now)
                )
        log.info(
            "sms_received",
            modem_id=sms.modem_id,
            contact_id=contact_id,
            message_id=message_id,
            parts=sms.parts,
            duplicate=duplicate,
        )

    async def part_received(self, part: InboundPart) -> None:
        result = await self.core.store.write(
            Write(
                puts=(Put(INPART_NS, f"{part.modem_id}:{part.key}", part_json(part)),),
                idem=f"sms-part:{part.key}",
            )
        )
        log.info(
            "sms_part_kept",
            modem_id=part.modem_id,
            part=f"{part.sequence}/{part.total}",
            reference=part.reference,
            duplicate=result.duplicate,
        )

    def stored_parts(self, modem_id: str) -> list[InboundPart]:
        parts = []
        for key, value in self.core.store.scan(INPART_NS, f"{modem_id}:"):
            try:
                parts.append(part_from_json(value))
            except (KeyError, TypeError, ValueError) as exc:  # kept, never guessed at
                log.error("sms_part_record_unreadable", key=key, error=repr(exc))
        return parts

    def part_recorded(self, part_key: str) -> bool:
        return self.core.store.get(PART_NS, part_key) is not None


def part_json(part: InboundPart) -> dict[str, Any]:
    return {
        "modem_id": part.modem_id,
        "key": part.key,
        "sender": part.sender,
        "reference": part.reference,
        "total": part.total,
        "sequence": part.sequence,
        "text": part.text,
        "fingerprint": part.fingerprint,
        "smsc_timestamp": part.smsc_timestamp.isoformat() if part.smsc_timestamp else None,
        "received_at": part.received_at,
    }


def part_from_json(data: dict[str, Any]) -> InboundPart:
    stamp = data["smsc_timestamp"]
    reference = data["reference"]
    return InboundPart(
        modem_id=str(data["modem_id"]),
        key=str(data["key"]),
        sender=str(data["sender"]),
        reference=None if reference is None else int(reference),
        total=int(data["total"]),
        sequence=int(data["sequence"]),
        text=str(data["text"]),
        fingerprint=str(data["fingerprint"]),
        smsc_timestamp=datetime.fromisoformat(stamp) if stamp else None,
        received_at=float(data["received_at"]),
    )
