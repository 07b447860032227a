"""The SIM inbox, sans-IO: which part to store, delete, acknowledge or hand over, and when.

Rules
-----
- Store before delete. A *copy* of a part — a SIM slot, or a ``+CMT`` not acknowledged
  yet — is given up (:class:`DeleteSlot`, :class:`Acknowledge`) only once the part is
  durable in the core: kept on its own (:class:`StorePart`, confirmed with
  :meth:`Inbox.part_stored`), inside a message the core recorded (:class:`Deliver`,
  confirmed with :meth:`Inbox.delivered`), or known as recorded already (``recorded``).
- Every part of a longer message is stored as it arrives, then leaves the SIM: a message
  with more parts than the SIM has slots completes (parts waiting on the SIM for their
  siblings would fill it and block everything else until the reassembly timeout). A
  part that completes its message, and a single SMS, are not stored alone: the message
  is, in one write.
- Reassembly is in memory (:class:`~drivers.gsm.reassembly.Reassembler`), fed from the
  modem and, after a restart, from the parts the core kept (:meth:`Inbox.restore`).
  A kill -9 at any moment loses nothing: a part is in the store, or on the SIM, or an
  unacknowledged ``+CMT`` the network delivers again.
- No I/O and no clock here: ``now`` (monotonic, for deadlines) and ``wall`` (for
  ``received_at``) are arguments. The shell performs the actions in order and reports
  each outcome before it feeds anything else.

Theory of operation
-------------------
The shell decodes a PDU into an :class:`InboundPart` (:func:`read_part`), asks the sink
whether the part is already in a recorded message, and feeds :meth:`Inbox.receive`.
A part seen before (same position: sender, reference, total, sequence) is another copy:
given up at once if the part is durable, else held with it (a ``+CMT`` copy asks for
the part to be stored again, then is acknowledged). A new part goes to the reassembler:
a complete message becomes :class:`Deliver`; a part that waits becomes
:class:`StorePart`. While a part or message is not durable, its SIM slots are *held*
(:meth:`Inbox.holds`: a sweep does not read them again) and a failed store is retried
after a backoff (:meth:`Inbox.due`, :meth:`Inbox.next_deadline`), as is a message
whose parts stopped coming for ``reassembly_timeout`` (handed over incomplete).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from base.backoff import Backoff
from drivers.gsm.pdu import Concat, StatusReport, decode_pdu, pdu_fingerprint
from drivers.gsm.pdu import Deliver as DeliverPdu
from drivers.gsm.reassembly import CompleteMessage, Reassembler
from drivers.gsm.types import InboundPart, InboundSms

__all__ = [
    "Acknowledge",
    "Action",
    "DeleteSlot",
    "Deliver",
    "Inbox",
    "StorePart",
    "give_up",
    "part_key",
    "read_part",
]

Position = tuple[str, int, int, int]  # sender, concatenation reference, total, sequence


@dataclass(frozen=True, slots=True)
class StorePart:
    """``await sink.part_received(part)``, then :meth:`Inbox.part_stored` (or not)."""

    part: InboundPart


@dataclass(frozen=True, slots=True)
class DeleteSlot:
    """``AT+CMGD=<slot>``: the part in it is durable in the core."""

    slot: int


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """``AT+CNMA``: the ``+CMT`` just received is durable in the core."""


@dataclass(frozen=True, slots=True)
class Deliver:
    """``await sink.sms_received(sms)``, then :meth:`Inbox.delivered` (or not)."""

    token: int
    sms: InboundSms


Action = StorePart | DeleteSlot | Acknowledge | Deliver


def part_key(identity: str, fingerprint: str) -> str:
    return hashlib.sha256(f"{identity}|{fingerprint}".encode()).hexdigest()


def read_part(pdu: str, *, modem_id: str, identity: str, wall: float) -> InboundPart | StatusReport:
    """Decode one PDU read from the modem; ProtocolError when it cannot be read."""
    decoded = decode_pdu(pdu)
    if isinstance(decoded, StatusReport):
        return decoded
    assert isinstance(decoded, DeliverPdu)
    fingerprint = pdu_fingerprint(pdu)
    concat = decoded.concat
    return InboundPart(
        modem_id=modem_id,
        key=part_key(identity, fingerprint),
        sender=decoded.sender,
        reference=concat.reference if concat is not None else None,
        total=concat.total if concat is not None else 1,
        sequence=concat.sequence if concat is not None else 1,
        text=decoded.text,
        fingerprint=fingerprint,
        smsc_timestamp=decoded.timestamp if decoded.timestamp_valid else None,
        received_at=wall,
    )


def _concat(part: InboundPart) -> Concat | None:
    if part.reference is None:
        return None
    return Concat(reference=part.reference, total=part.total, sequence=part.sequence)


def _position(part: InboundPart) -> Position | None:
    """Where the part sits in a longer message; None for a single SMS."""
    if part.reference is None or part.total <= 1 or not 1 <= part.sequence <= part.total:
        return None
    return (part.sender, part.reference, part.total, part.sequence)


@dataclass(slots=True, eq=False)
class _Copies:
    """What the inbox knows of one part, and the copies of it still held."""

    part: InboundPart
    stored: bool = False  # durable in the core
    slots: set[int] = field(default_factory=set)  # SIM slots that hold it
    cmt: bool = False  # a +CMT of it waits for AT+CNMA
    retry_at: float | None = None  # when storing it is tried again (None: not due)
    message: int | None = None  # the token of the message it went into


@dataclass(slots=True, eq=False)
class _Message:
    sms: InboundSms
    copies: list[_Copies]
    retry_at: float | None = None


class Inbox:
    def __init__(self, modem_id: str, reassembly_timeout: float, retry: Backoff) -> None:
        self.modem_id = modem_id
        self.retry = retry
        self.identity = modem_id  # the SIM's name in keys; the driver sets it at set-up
        self._reassembler = Reassembler(reassembly_timeout)
        self._parts: dict[Position, _Copies] = {}
        self._by_key: dict[str, _Copies] = {}
        self._held: dict[int, _Copies] = {}
        self._messages: dict[int, _Message] = {}
        self._tokens = itertools.count(1)
        self._failures = 0  # consecutive store failures: the backoff of the next retry

    # ---------------------------------------------------------------- views

    def holds(self, slot: int) -> bool:
        """The slot holds a part that is not durable yet: do not read it again."""
        return slot in self._held

    def held(self) -> int:
        """How many SIM slots are held."""
        return len(self._held)

    def waiting(self) -> int:
        """Messages waiting for parts."""
        return self._reassembler.pending_count()

    def next_deadline(self) -> float | None:
        """When :meth:`due` has something to do next, if ever."""
        times = [self._reassembler.next_deadline()]
        times += [c.retry_at for c in self._by_key.values() if not c.stored]
        times += [m.retry_at for m in self._messages.values()]
        return min((t for t in times if t is not None), default=None)

    # ---------------------------------------------------------------- inputs

    def receive(
        self, part: InboundPart, slot: int | None, now: float, wall: float, *, recorded: bool
    ) -> list[Action]:
        """A part read from SIM ``slot`` (None: a ``+CMT``); ``recorded``: the core
        already has it in a recorded message."""
        if recorded:
            return [give_up(slot)]
        position = _position(part)
        known = self._parts.get(position) if position is not None else None
        if known is not None:
            return self._another_copy(known, slot)
        complete = self._reassembler.add(part.sender, _concat(part), part.text, now, position)
        if self._reassembler.take_discarded():
            # a late copy of a message already handed over and recorded
            return [give_up(slot)]
        copies = self._track(part, slot, stored=False)
        if complete is None:
            return [StorePart(part)]
        within = self._copies_of(complete) if position is not None else [copies]
        return self._deliver(complete, within, wall)

    def restore(self, parts: Iterable[InboundPart], now: float, wall: float) -> list[Action]:
        """The parts the core kept (after a restart): reassembly goes on with them."""
        actions: list[Action] = []
        for part in sorted(parts, key=lambda p: p.received_at):
            position = _position(part)
            known = self._parts.get(position) if position is not None else None
            if known is not None:
                known.stored = True
                actions += self._release(known)
                continue
            age = max(0.0, wall - part.received_at)
            when = now - min(age, self._reassembler.timeout)
            complete = self._reassembler.add(part.sender, _concat(part), part.text, when, position)
            if self._reassembler.take_discarded():
                continue
            copies = self._track(part, None, stored=True)
            if complete is not None:
                within = self._copies_of(complete) if position is not None else [copies]
                actions += self._deliver(complete, within, wall)
        return actions

    def part_stored(self, key: str) -> list[Action]:
        copies = self._by_key.get(key)
        if copies is None:
            return []
        self._failures = 0
        copies.stored = True
        copies.retry_at = None
        return self._release(copies)

    def part_not_stored(self, key: str, now: float) -> list[Action]:
        copies = self._by_key.get(key)
        if copies is None or copies.stored:
            return []
        self._failures += 1
        copies.cmt = False  # too late for this +CMT: the network delivers it again
        copies.retry_at = now + self.retry.delay(self._failures)
        return []

    def delivered(self, token: int) -> list[Action]:
        message = self._messages.pop(token, None)
        if message is None:
            return []
        self._failures = 0
        actions: list[Action] = []
        for copies in message.copies:
            copies.stored = True
            actions += self._release(copies)
            self._forget(copies)
        return actions

    def not_delivered(self, token: int, now: float) -> list[Action]:
        message = self._messages.get(token)
        if message is None:
            return []
        self._failures += 1
        message.retry_at = now + self.retry.delay(self._failures)
        for copies in message.copies:
            copies.cmt = False
        return []

    def due(self, now: float, wall: float) -> list[Action]:
        """Messages whose parts stopped coming (incomplete), and retries that are due."""
        actions: list[Action] = []
        for message in self._reassembler.expire(now):
            actions += self._deliver(message, self._copies_of(message), wall)
        for copies in list(self._by_key.values()):
            if copies.retry_at is not None and copies.retry_at <= now and not copies.stored:
                copies.retry_at = None
                actions.append(StorePart(copies.part))
        for token, pending in self._messages.items():
            if pending.retry_at is not None and pending.retry_at <= now:
                pending.retry_at = None
                actions.append(Deliver(token, pending.sms))
        return actions

    def resume(self, now: float) -> None:
        """The shell starts (again): whatever it was doing when stopped is retried, and
        no ``+CMT`` waits for an acknowledgement any more (the modem forgot it)."""
        for copies in self._by_key.values():
            copies.cmt = False
            if not copies.stored and copies.message is None and copies.retry_at is None:
                copies.retry_at = now
        for message in self._messages.values():
            if message.retry_at is None:
                message.retry_at = now

    # ---------------------------------------------------------------- inside

    def _another_copy(self, copies: _Copies, slot: int | None) -> list[Action]:
        if copies.stored:
            return [give_up(slot)]
        if slot is not None:
            copies.slots.add(slot)
            self._held[slot] = copies
            return []
        copies.cmt = True  # acknowledged once stored
        copies.retry_at = None
        return [StorePart(copies.part)]

    def _track(self, part: InboundPart, slot: int | None, *, stored: bool) -> _Copies:
        copies = _Copies(part, stored=stored, cmt=slot is None and not stored)
        if slot is not None:
            copies.slots.add(slot)
            self._held[slot] = copies
        position = _position(part)
        if position is not None:
            self._parts[position] = copies
        self._by_key[part.key] = copies
        return copies

    def _forget(self, copies: _Copies) -> None:
        position = _position(copies.part)
        if position is not None and self._parts.get(position) is copies:
            del self._parts[position]
        if self._by_key.get(copies.part.key) is copies:
            del self._by_key[copies.part.key]

    def _release(self, copies: _Copies) -> list[Action]:
        actions: list[Action] = [DeleteSlot(slot) for slot in sorted(copies.slots)]
        for slot in copies.slots:
            self._held.pop(slot, None)
        copies.slots.clear()
        if copies.cmt:
            copies.cmt = False
            actions.append(Acknowledge())
        return actions

    def _copies_of(self, message: CompleteMessage) -> list[_Copies]:
        """The parts that went into ``message``, in sequence order."""
        return [self._parts[m] for m in message.metas if isinstance(m, tuple) and m in self._parts]

    def _deliver(
        self, message: CompleteMessage, copies: list[_Copies], wall: float
    ) -> list[Action]:
        parts = [c.part for c in copies]
        fingerprints = sorted(p.fingerprint for p in parts)
        key = hashlib.sha256("|".join([self.identity, *fingerprints]).encode()).hexdigest()
        sms = InboundSms(
            modem_id=self.modem_id,
            sender=message.sender,
            text=message.text,
            parts=message.parts,
            incomplete=message.incomplete,
            missing=tuple(message.missing),
            idempotency_key=key,
            smsc_timestamp=next(
                (p.smsc_timestamp for p in parts if p.smsc_timestamp is not None), None
            ),
            received_at=wall,
            part_keys=tuple(p.key for p in parts),
        )
        token = next(self._tokens)
        for c in copies:
            c.message = token
            c.retry_at = None
        self._messages[token] = _Message(sms, copies)
        return [Deliver(token, sms)]


def give_up(slot: int | None) -> Action:
    """Let go of a copy whose part is durable: its SIM slot, or the ``+CMT`` (None)."""
    return DeleteSlot(slot) if slot is not None else Acknowledge()
