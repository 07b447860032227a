"""The network's SMS service as the simulated modem meets it, sans-IO.

Incoming: SMS-DELIVER PDUs and status reports wait in a FIFO (:attr:`SmsCenter.queue`)
and go to the terminal side in order while the modem can receive (powered, booted,
registered), routed by AT+CNMI as 3GPP TS 27.005 says: ``<mt>=2`` → ``+CMT: ,<len>`` +
PDU (one at a time when an ack is needed: the next waits for ``AT+CNMA``; an
unacknowledged one is re-delivered after ``timing.cnma_timeout``, like a network
retrying; ``AT+CNMA=2`` re-delivers it after that time too); otherwise stored in the SIM
with ``+CMTI: "SM",<i>`` (``<mt>`` 1..3) or silently (``<mt>=0``). Status reports:
``<ds>=1`` → ``+CDS: <len>`` + PDU, ``<ds>=2`` (or ``status_reports="cdsi"``) → stored
with ``+CDSI: "SM",<i>``, ``<ds>=0`` → lost. A full SIM makes the queue wait.

Outgoing: an SMS-SUBMIT typed after AT+CMGS's prompt is accepted ``timing.cmgs_delay``
later with ``+CMGS: <mr>`` (or refused per :class:`Outcome`); if it asked for a status
report, the outcome's reports follow ``timing.report_delay`` apart.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import structlog

from base.errors import ProtocolError
from drivers.gsm.pdu import StatusReport, Submit, decode_pdu, encode_deliver, encode_status_report
from drivers.gsm.simulator.atparse import Cmd, Final, int_arg, split_args
from drivers.gsm.simulator.core import ModemCore, OpenPrompt, Timer
from drivers.gsm.simulator.delivery import DEFAULT_DELIVERY, ROUTE_MODES, Delivery, RouteMode
from drivers.gsm.simulator.network import Network
from drivers.gsm.simulator.sim import REC_UNREAD, SimCard, Slot, tpdu_length

__all__ = ["HEX_RE", "STATUS_CODES", "Answer", "Incoming", "Outcome", "SentPart", "SmsCenter"]

log = structlog.get_logger("gsm.simulator")

HEX_RE = re.compile(r"(?:[0-9A-Fa-f]{2})+")

# TP-ST values used for the configured outcomes (TS 23.040 §9.2.3.15).
STATUS_CODES: dict[str, int] = {"delivered": 0x00, "pending": 0x20, "failed": 0x41}


@dataclass(frozen=True, slots=True)
class SentPart:
    """One SMS-SUBMIT the simulated network accepted (answered ``+CMGS: <reference>``)."""

    at: float  # wall clock
    destination: str
    text: str  # this part's text
    reference: int  # TP-MR the modem assigned
    part: int  # 1-based
    parts: int
    concat_reference: int | None
    encoding: str
    status_report_requested: bool
    pdu: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the network does with SMS to one destination."""

    statuses: tuple[int, ...] = (0x00,)  # TP-ST of each status report, report_delay apart
    submit_error: int | None = None  # AT+CMGS answers +CMS ERROR: <submit_error>

    @classmethod
    def parse(cls, outcome: str | int | Sequence[str | int], submit_error: int | None) -> Outcome:
        """From "delivered" | "pending" | "failed" | a TP-ST value, or a list of them."""
        items = [outcome] if isinstance(outcome, str | int) else list(outcome)
        statuses: list[int] = []
        for item in items:
            if isinstance(item, str):
                if item not in STATUS_CODES:
                    raise ValueError(f"outcome must be one of {sorted(STATUS_CODES)}")
                statuses.append(STATUS_CODES[item])
            elif isinstance(item, int) and 0 <= item <= 0xFF:
                statuses.append(item)
            else:
                raise ValueError(f"invalid outcome {item!r}")
        if submit_error is not None and not 0 <= submit_error <= 511:
            raise ValueError("submit_error must be a +CMS ERROR code (0..511)")
        return cls(tuple(statuses), submit_error)


@dataclass(frozen=True, slots=True)
class Answer:
    """The final result of AT+CMGS, ``delay`` after the PDU; ``then`` runs just before."""

    lines: list[str]
    final: str
    delay: float
    then: Callable[[], None] | None = None


@dataclass(slots=True)
class Incoming:
    """An SMS-DELIVER or a status report on its way to the modem."""

    kind: Literal["deliver", "status_report"]
    pdu: str
    route: RouteMode = "auto"
    attempts: int = 0


@dataclass(slots=True)
class _Outstanding:
    item: Incoming
    timer: Timer | None = None  # the re-delivery if no AT+CNMA comes


class SmsCenter:
    """Incoming SMS and status reports, +CNMA, and SMS-SUBMITs (see the module docstring)."""

    def __init__(
        self,
        core: ModemCore,
        sim: SimCard,
        network: Network,
        *,
        require_cnma: bool,
        status_reports: Literal["cnmi", "cdsi"],
    ) -> None:
        self._core = core
        self._sim = sim
        self._network = network
        self.require_cnma = require_cnma
        self.status_reports = status_reports
        self.queue: deque[Incoming] = deque()
        self.outcomes: dict[str, Outcome] = {"*": Outcome()}
        self.next_mr = 0
        self.sent: list[SentPart] = []
        self.status_reports_sent: list[dict[str, Any]] = []
        self._outstanding: _Outstanding | None = None
        self._memfull_reported = False

    @property
    def outstanding(self) -> bool:
        """A ``+CMT`` / ``+CDS`` waits for its AT+CNMA."""
        return self._outstanding is not None

    # ------------------------------------------------------------ incoming

    def deliver_sms(
        self, sender: str, text: str, delivery: Delivery = DEFAULT_DELIVERY
    ) -> tuple[int, list[str]]:
        """The network sends an SMS: (number of parts, PDUs in the order delivered)."""
        ts = delivery.timestamp
        if isinstance(ts, datetime):
            stamp = ts
        else:
            stamp = self._core.local_time(None if ts is None else float(ts))
        pdus = encode_deliver(
            sender,
            text,
            timestamp=stamp,
            smsc=self._sim.smsc,
            reference=delivery.reference,
            force_ucs2=delivery.ucs2,
        )
        chosen = [pdus[p - 1] for p in delivery.select(len(pdus))]
        log.info(
            "sim_sms_incoming",
            modem=self._core.name,
            sender=sender,
            parts=len(pdus),
            delivered=len(chosen),
        )
        self._queue([Incoming("deliver", pdu, delivery.mode) for pdu in chosen], delivery.interval)
        return len(pdus), chosen

    def deliver_raw_pdu(self, pdu: str, *, mode: RouteMode = "auto") -> str:
        """Deliver a PDU (hex, SMSC field first) as given: "deliver" or "status_report".

        An SMS-STATUS-REPORT is routed as a status report; anything else, undecodable
        PDUs included (to test a driver's error path), as an SMS-DELIVER.
        """
        pdu = "".join(pdu.split()).upper()
        if not HEX_RE.fullmatch(pdu):
            raise ValueError("pdu must be hex")
        if mode not in ROUTE_MODES:
            raise ValueError("mode must be 'auto', 'cmti' or 'cmt'")
        try:
            decoded = decode_pdu(pdu)
        except ProtocolError:
            decoded = None
        kind: Literal["deliver", "status_report"] = (
            "status_report" if isinstance(decoded, StatusReport) else "deliver"
        )
        self._queue([Incoming(kind, pdu, mode)], 0.0)
        return kind

    def _queue(self, items: list[Incoming], interval: float) -> None:
        if interval <= 0:
            self.queue.extend(items)
            self.pump()
            return
        for i, item in enumerate(items):
            if i == 0:
                self._arrive(item)
            else:
                self._core.later(i * interval, functools.partial(self._arrive, item), network=True)

    def _arrive(self, item: Incoming) -> None:
        self.queue.append(item)
        self.pump()

    def _arrive_front(self, item: Incoming) -> None:
        self.queue.appendleft(item)
        self.pump()

    def pump(self) -> None:
        """Hand waiting items to the terminal side while it can take them."""
        core = self._core
        while self.queue and core.powered and not core.booting and self._network.registered():
            if not self._route(self.queue[0]):
                return
            self.queue.popleft()

    def _route(self, item: Incoming) -> bool:
        """Hand one item to the terminal side; False if it must wait."""
        length = tpdu_length(item.pdu)
        cnmi = self._core.settings.cnmi
        mt, ds = cnmi[1], cnmi[3]
        if item.kind == "status_report":
            if ds == 0:
                self._core.counters["reports_dropped"] += 1
                log.info("sim_status_report_dropped", modem=self._core.name, reason="CNMI ds=0")
                return True
            if ds == 1 and self.status_reports == "cnmi":
                return self._send_direct(item, f"+CDS: {length}", "cds_sent")
            return self._store(item, "+CDSI", "cdsi_sent")
        direct = item.route == "cmt" or (item.route == "auto" and mt == 2)
        if direct:
            return self._send_direct(item, f"+CMT: ,{length}", "cmt_sent")
        return self._store(item, "+CMTI" if mt else None, "cmti_sent")

    def _send_direct(self, item: Incoming, header: str, counter: str) -> bool:
        core = self._core
        ack = self.require_cnma or core.settings.csms == 1
        if ack and self._outstanding is not None:
            return False
        core.counters[counter] += 1
        item.attempts += 1
        core.urc(f"{header}\r\n{item.pdu}")
        if ack:
            outstanding = _Outstanding(item)
            self._outstanding = outstanding
            outstanding.timer = core.later(
                core.timing.cnma_timeout, lambda: self._ack_timeout(outstanding)
            )
        return True

    def _ack_timeout(self, outstanding: _Outstanding) -> None:
        if self._outstanding is not outstanding:
            return
        self._outstanding = None
        self._core.counters["cmt_unacked"] += 1
        log.info("sim_cnma_timeout", modem=self._core.name, attempts=outstanding.item.attempts)
        self._arrive_front(outstanding.item)

    def _store(self, item: Incoming, urc: str | None, counter: str) -> bool:
        core, memfull = self._core, self._core.profile.memfull_urc
        index = self._sim.store(Slot(item.kind, item.pdu, REC_UNREAD))
        if index is None:
            if not self._memfull_reported and memfull:
                core.urc(memfull)
            self._memfull_reported = True
            return False
        if urc is not None:
            core.counters[counter] += 1
            core.urc(f'{urc}: "SM",{self._sim.external(index)}')
        if self._sim.free_slot() is None and memfull:
            core.urc(memfull)
            self._memfull_reported = True
        return True

    def storage_freed(self) -> None:
        self._memfull_reported = False
        self.pump()

    def power_lost(self) -> None:
        """The un-acked ``+CMT`` goes back to the network, first in line."""
        if self._outstanding is not None:
            self.queue.appendleft(self._outstanding.item)
            self._outstanding = None

    # ------------------------------------------------------------ outgoing

    def set_outcome(
        self,
        destination: str,
        outcome: str | int | Sequence[str | int] = "delivered",
        *,
        submit_error: int | None = None,
    ) -> None:
        """What happens to SMS sent to ``destination`` ("*" = every other number).

        ``outcome``: "delivered" | "pending" | "failed" or a TP-ST value, or a list of
        them: one status report each, ``timing.report_delay`` apart (e.g.
        ``["pending", "delivered"]``). ``submit_error``: AT+CMGS answers
        ``+CMS ERROR: <submit_error>`` instead (nothing is sent).
        """
        self.outcomes[destination] = Outcome.parse(outcome, submit_error)

    def submit(self, submit: Submit, pdu: str) -> Answer:
        """An SMS-SUBMIT typed after AT+CMGS's prompt: how and when the modem answers."""
        core = self._core
        delay = core.timing.cmgs_delay
        if not self._network.registered():
            return Answer([], core.cms(331).text, delay)
        outcome = self.outcomes.get(submit.destination, self.outcomes["*"])
        if outcome.submit_error is not None:
            return Answer([], core.cms(outcome.submit_error).text, delay)
        mr = self.next_mr
        self.next_mr = (self.next_mr + 1) % 256
        part = SentPart(
            at=core.wall(),
            destination=submit.destination,
            text=submit.text,
            reference=mr,
            part=submit.concat.sequence if submit.concat else 1,
            parts=submit.concat.total if submit.concat else 1,
            concat_reference=submit.concat.reference if submit.concat else None,
            encoding=submit.encoding,
            status_report_requested=submit.status_report_requested,
            pdu=pdu,
        )
        return Answer([f"+CMGS: {mr}"], "OK", delay, lambda: self._accepted(part, outcome))

    def _accepted(self, part: SentPart, outcome: Outcome) -> None:
        core = self._core
        self.sent.append(part)
        log.info(
            "sim_sms_sent",
            modem=core.name,
            destination=part.destination,
            reference=part.reference,
            part=part.part,
            parts=part.parts,
        )
        if part.status_report_requested:
            submitted = core.wall()
            core.later(
                core.timing.report_delay,
                lambda: self._status_report_due(part, outcome.statuses, submitted),
                network=True,
            )

    def _status_report_due(
        self, part: SentPart, statuses: tuple[int, ...], submitted: float
    ) -> None:
        if not statuses:
            return
        core = self._core
        status, rest = statuses[0], statuses[1:]
        pdu = encode_status_report(
            part.reference,
            part.destination,
            status,
            scts=core.local_time(submitted),
            discharge=core.local_time(),
            smsc=self._sim.smsc,
        )
        self.status_reports_sent.append(
            {"reference": part.reference, "destination": part.destination, "status": status}
        )
        self._queue([Incoming("status_report", pdu)], 0.0)
        if rest:
            core.later(
                core.timing.report_delay,
                lambda: self._status_report_due(part, rest, submitted),
                network=True,
            )

    def snapshot(self) -> dict[str, Any]:
        """The SMS service's part of the modem's ``state()``."""
        counters = self._core.counters
        return {
            "network_pending": len(self.queue),
            "cmt": {
                "sent": counters["cmt_sent"],
                "acked": counters["cmt_acked"],
                "unacked": counters["cmt_unacked"],
                "nacked": counters["cmt_nacked"],
                "outstanding": self.outstanding,
            },
            "sent": [asdict(p) for p in self.sent],
            "sent_messages": self.sent_messages(),
            "status_reports": list(self.status_reports_sent),
            "next_mr": self.next_mr,
        }

    def sent_messages(self) -> list[dict[str, Any]]:
        """Sent parts grouped into messages (by destination and concat reference)."""
        groups: dict[tuple[str, int | None, int], list[SentPart]] = {}
        order: list[tuple[str, int | None, int]] = []
        for index, part in enumerate(self.sent):
            key = (part.destination, part.concat_reference, part.parts)
            if part.concat_reference is None or part.parts == 1:
                key = (part.destination, None, -index)  # single parts never merge
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(part)
        out = []
        for key in order:
            parts = sorted(groups[key], key=lambda p: p.part)
            unique = {p.part: p for p in parts}
            total = parts[0].parts
            out.append(
                {
                    "destination": key[0],
                    "text": "".join(unique[i].text for i in sorted(unique)),
                    "parts": total,
                    "complete": len(unique) == total,
                    "references": [p.reference for p in parts],
                }
            )
        return out

    # ------------------------------------------------------------ commands

    def at_csms(self, cmd: Cmd) -> list[str]:
        settings = self._core.settings
        if cmd.kind == "test":
            return ["+CSMS: (0,1)"]
        if cmd.kind == "read":
            return [f"+CSMS: {settings.csms},1,1,1"]
        if cmd.kind == "set":
            settings.csms = int_arg(cmd.args, 0, 1)
            return ["+CSMS: 1,1,1"]
        raise Final("ERROR")

    def at_cnmi(self, cmd: Cmd) -> list[str]:
        core = self._core
        if cmd.kind == "test":
            return ["+CNMI: (0-3),(0-3),(0-3),(0-2),(0,1)"]
        if cmd.kind == "read":
            return ["+CNMI: " + ",".join(map(str, core.settings.cnmi))]
        if cmd.kind != "set":
            raise Final("ERROR")
        args = split_args(cmd.args)
        limits = (3, 3, 3, 2, 1)
        if len(args) > 5:
            raise core.cms(303)
        values = list(core.settings.cnmi)
        for i, arg in enumerate(args):
            if arg:
                values[i] = int_arg(arg, 0, limits[i], error=core.cms(303).text)
        core.settings.cnmi = values
        outstanding = self._outstanding
        if outstanding is not None and values[1] != 2 and outstanding.item.kind == "deliver":
            # routing to the TE switched off before the ack: the message goes to the SIM
            self._outstanding = None
            if outstanding.timer is not None:
                outstanding.timer.cancel()
            self.queue.appendleft(outstanding.item)
        core.later(0, self.pump)
        return []

    def at_cnma(self, cmd: Cmd) -> list[str]:
        core = self._core
        if cmd.kind == "test":
            return ["+CNMA: (0-2)"]
        if cmd.kind not in ("exec", "set"):
            raise Final("ERROR")
        n = int_arg(split_args(cmd.args)[0] or "0", 0, 2) if cmd.kind == "set" else 0
        outstanding = self._outstanding
        if outstanding is None:
            raise core.cms(340)
        self._outstanding = None
        if outstanding.timer is not None:
            outstanding.timer.cancel()
        item = outstanding.item
        if n == 2:
            core.counters["cmt_nacked"] += 1
            core.later(core.timing.cnma_timeout, lambda: self._arrive_front(item), network=True)
        else:
            core.counters["cmt_acked"] += 1
            core.later(0, self.pump)
        return []

    def at_cmgs(self, cmd: Cmd) -> OpenPrompt | list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind != "set":
            raise Final("ERROR")
        self._sim.require(sms=True)
        length = int_arg(split_args(cmd.args)[0], 1, 232, error=self._core.cms(304).text)
        return OpenPrompt("+CMGS", length)
