"""SMS and status reports in: the I/O side of :mod:`drivers.gsm.modem.inbox`.

It reads what the modem holds or pushes (``AT+CMGR`` for ``+CMTI``, ``AT+CMGL=4``
sweeps, ``+CMT`` PDUs), decodes, asks the sink whether a part is already recorded,
feeds the inbox core, and performs the actions the core decides, in order, reporting
each outcome back before anything else is fed: :class:`StorePart` and :class:`Deliver`
await the sink, :class:`DeleteSlot` is ``AT+CMGD``, :class:`Acknowledge` is
``AT+CNMA`` (where the profile needs it; a modem answering ``+CMS ERROR: 340`` needs
none, and is not asked again).

Status reports (``+CDS``, ``+CDSI``, or found by a sweep) go straight to the sink; a
stored one's slot is deleted after. An undecodable PDU is logged whole at error level
and its slot freed (one bad PDU would otherwise fill the SIM for ever).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from base.errors import ChannelUnavailable, ProtocolError
from drivers.gsm.engine import cmgd, cmgl, cmgr
from drivers.gsm.modem.inbox import (
    Acknowledge,
    Action,
    DeleteSlot,
    Deliver,
    Inbox,
    StorePart,
    give_up,
    read_part,
)
from drivers.gsm.modem.responses import listing, pdu_of
from drivers.gsm.modem.shell import SerialShell
from drivers.gsm.modem.status import StatusBoard
from drivers.gsm.pdu import StatusReport, decode_pdu
from drivers.gsm.types import DeliveryReport, ModemSink

__all__ = ["Receiver"]


class Receiver:
    def __init__(
        self,
        shell: SerialShell,
        status: StatusBoard,
        sink: ModemSink,
        inbox: Inbox,
        *,
        clock: Callable[[], float],
        cnma: bool,
        log: Any,
    ) -> None:
        self.shell = shell
        self.status = status
        self.sink = sink
        self.inbox = inbox
        self.clock = clock
        self.log = log
        self.modem_id = status.modem_id
        self._cnma = cnma
        self._restored = False

    async def start(self) -> None:
        """Before the first job of a (re)started worker: retry what was interrupted, and
        (once) take back the parts the core kept while we were not running."""
        self.inbox.resume(self.clock())
        if self._restored:
            return
        try:
            parts = self.sink.stored_parts(self.modem_id)
        except Exception as exc:  # the next start tries again; the SIM keeps the rest
            self.log.error("sms_parts_not_restored", error=repr(exc))
            return
        self._restored = True
        if parts:
            self.log.info("sms_parts_restored", parts=len(parts))
        await self.perform(self.inbox.restore(parts, self.clock(), time.time()))

    # ------------------------------------------------------------ reading

    async def read(self, slot: int | None) -> None:
        """``+CMTI``: the SMS in ``slot``."""
        if slot is None or self.inbox.holds(slot):
            return
        done = await self.shell.at(cmgr(slot))
        pdu = pdu_of(done.lines)
        if done.ok and pdu:
            await self._pdu(pdu, slot)

    async def sweep(self) -> None:
        """``AT+CMGL=4``: everything on the SIM that is not held already."""
        done = await self.shell.at(cmgl(4))
        if not done.ok:
            self.log.warning("sms_sweep_failed", answer=done.final)
        for index, pdu in listing(done.lines):
            if not self.inbox.holds(index):
                await self._pdu(pdu, index)

    async def direct(self, pdu: str) -> None:
        """``+CMT``: an SMS (part) given to us directly, to acknowledge once durable."""
        await self._pdu(pdu, None)

    async def due(self) -> None:
        """Incomplete messages whose wait is over; stores and deliveries to retry."""
        await self.perform(self.inbox.due(self.clock(), time.time()))

    async def report_direct(self, pdu: str) -> None:
        """``+CDS``: a status report, acknowledged once the sink has it."""
        await self._report_pdu(pdu)
        await self._acknowledge()

    async def report_on_sim(self, slot: int | None) -> None:
        """``+CDSI``: a status report stored in ``slot``."""
        if slot is None:
            return
        done = await self.shell.at(cmgr(slot))
        pdu = pdu_of(done.lines)
        if done.ok and pdu:
            await self._report_pdu(pdu)
        await self.shell.at(cmgd(slot))

    # ------------------------------------------------------------ deciding

    async def _pdu(self, pdu: str, slot: int | None) -> None:
        wall = time.time()
        identity = self.status.identity()
        self.inbox.identity = identity
        try:
            part = read_part(pdu, modem_id=self.modem_id, identity=identity, wall=wall)
        except ProtocolError as exc:
            # Nothing readable in it: log the whole PDU (so it is never silently lost),
            # then free the slot, or one bad PDU would fill the SIM for ever.
            self.log.error("sms_undecodable_dropped", slot=slot, pdu=pdu[:800], error=str(exc))
            self.status.error(f"undecodable SMS dropped (slot {slot})")
            await self.perform([give_up(slot)])
            return
        if isinstance(part, StatusReport):
            await self._report(part)
            await self.perform([give_up(slot)])
            return
        recorded = self.sink.part_recorded(part.key)
        if recorded:  # already in a stored message: only its delete was missing
            self.log.info("sms_part_already_stored", slot=slot)
        await self.perform(self.inbox.receive(part, slot, self.clock(), wall, recorded=recorded))

    async def perform(self, actions: Iterable[Action]) -> None:
        """Each action in order; each outcome goes back to the inbox at once."""
        queue: deque[Action] = deque(actions)
        while queue:
            action = queue.popleft()
            if isinstance(action, StorePart):
                queue.extend(await self._store_part(action))
            elif isinstance(action, Deliver):
                queue.extend(await self._deliver(action))
            elif isinstance(action, DeleteSlot):
                await self._delete(action.slot)
            elif isinstance(action, Acknowledge):
                await self._acknowledge()

    async def _store_part(self, action: StorePart) -> list[Action]:
        part = action.part
        try:
            await self.sink.part_received(part)
        except Exception as exc:  # not durable: the SIM (or the network) keeps it
            self.status.error(f"the core did not store an SMS part: {exc!r}")
            self.log.error(
                "sms_part_not_stored_kept_on_sim",
                part=f"{part.sequence}/{part.total}",
                reference=part.reference,
                error=repr(exc),
            )
            return self.inbox.part_not_stored(part.key, self.clock())
        self.log.info(
            "sms_part_stored",
            part=f"{part.sequence}/{part.total}",
            reference=part.reference,
            waiting=self.inbox.waiting(),
        )
        return self.inbox.part_stored(part.key)

    async def _deliver(self, action: Deliver) -> list[Action]:
        sms = action.sms
        try:
            await self.sink.sms_received(sms)
        except Exception as exc:  # not stored: every copy stays where it is, retried later
            self.status.error(f"the core did not store an SMS: {exc!r}")
            self.log.error("sms_not_stored_kept_on_sim", parts=sms.parts, error=repr(exc))
            return self.inbox.not_delivered(action.token, self.clock())
        self.log.info("sms_stored", parts=sms.parts, incomplete=sms.incomplete)
        return self.inbox.delivered(action.token)

    async def _delete(self, slot: int) -> None:
        try:
            done = await self.shell.at(cmgd(slot))
        except ChannelUnavailable as exc:  # left on the SIM: the next sweep sees it again
            self.status.error(f"deleting SIM slot {slot} failed: {exc}")
            return
        if not done.ok:  # left on the SIM: the next sweep sees it again (same keys)
            self.status.error(f"deleting SIM slot {slot} failed: {done.final}")

    async def _acknowledge(self) -> None:
        if not self._cnma:
            return
        try:
            done = await self.shell.q("AT+CNMA")
        except ChannelUnavailable as exc:  # the network delivers it again
            self.log.info("sms_ack_failed", error=str(exc))
            return
        if done.cms == 340:  # "no +CNMA acknowledgement expected": this modem needs none
            self._cnma = False

    # ------------------------------------------------------------ reports

    async def _report_pdu(self, pdu: str) -> None:
        try:
            decoded = decode_pdu(pdu)
        except ProtocolError as exc:
            self.log.error("status_report_undecodable", pdu=pdu[:400], error=str(exc))
            return
        if isinstance(decoded, StatusReport):
            await self._report(decoded)
        else:
            self.log.warning("status_report_expected", kind=type(decoded).__name__)

    async def _report(self, report: StatusReport) -> None:
        await self.sink.status_report(
            self.modem_id,
            DeliveryReport(
                self.modem_id,
                report.message_reference,
                report.recipient,
                report.outcome,
                report.status,
            ),
        )
