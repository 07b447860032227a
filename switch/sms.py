"""SMS and modems as a channel of the switch: the core side of the GSM driver.

- Inbound (:mod:`switch.sms_inbound`): each part of a longer SMS is kept durably as it
  arrives, so it can leave the SIM at once; the whole message is recorded in the
  sender's contact's journey together with its API record, in one durable write with
  the driver's idempotency key, and only then does the driver delete what the SIM still
  holds of it (store before delete).
- Outbound: ``submit`` writes the message (status ``queued``), the outbox entry and the
  contact's ``message_out`` journey event durably before the API answers 202. One sender
  task per modem takes due messages in order, respects the SIM's rate limit, sends, and
  records references; status reports move parts to delivered/failed
  (:mod:`actors.sms_state`). The outbox is reloaded on start.
- Voice: a GSM call is recorded in the caller's journey. When the modem has a voice port
  (``audio_port``, or the simulator's own) and the SIP part runs, an incoming call is
  handed to the call service (``gsm_incoming``), which rings the agents and bridges the
  one who answers with the modem's PCM port; that call's later events go there too.
  Simulated modems get a voice port and a control socket (``<data>/modems/<id>/control.sock``,
  the simulator's JSON ops) so a test or a technician can ring them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter

from actors.messages import OutboundMessage
from actors.modem import GetModem, ModemTelemetry
from actors.sms_state import (
    OutgoingSms,
    on_report,
    on_send_error,
    on_sent,
    on_unavailable,
)
from base.errors import ChannelUnavailable, ProtocolError, Rejected
from drivers.gsm import (
    DeliveryReport,
    GsmCallEvent,
    InboundPart,
    InboundSms,
    Modem,
    ModemStatus,
    SimulatedModem,
    SmsSendError,
    sms_parts_needed,
)
from switch.config import ModemConfig
from switch.core import Core
from switch.metrics import MODEM_READY, MODEM_SIGNAL, SMS_FAILED, SMS_OUT
from switch.phone import phone_identity
from switch.settings import modem_settings
from switch.sms_inbound import MESSAGE_NS, InboundRecorder, InboundText
from switch.sms_voice import ModemVoice
from switch.store import Put, Write

log = structlog.get_logger("sms")

OUTBOX_NS = "outbox"
REF_NS = "smsref"
CALL_NS = "call"
MAX_TEXT = 1530  # 10 GSM-7 parts; longer texts are refused, not truncated
RETRY_BACKOFF = 5.0
UNAVAILABLE_RETRY = 5.0
# A status report can beat the sender to the store: the network may confirm part 1 while
# part 3 is still going out, before the references are recorded. Such reports wait here
# (bounded, short-lived) for the message they belong to.
EARLY_REPORTS_MAX = 256
EARLY_REPORT_TTL = 120.0


IDEM_NS = "api-idem"


def _idempotent_answer(known: Any, fingerprint: str | None) -> str:
    """The first answer under an idempotency key, if this is the same request."""
    if isinstance(known, str):  # recorded before requests were fingerprinted
        return known
    if not isinstance(known, dict) or known.get("request") != fingerprint:
        raise Rejected(
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request: use a new key",
            422,
        )
    return str(known["id"])


# A listener of received SMS; True: it took the message (later listeners do not see it).
InboundListener = Callable[[InboundText], Awaitable[bool]]


@dataclass
class _ModemSlot:
    config: ModemConfig
    modem: Modem
    task: asyncio.Task[None] | None = None
    sender: asyncio.Task[None] | None = None
    simulator: SimulatedModem | None = None
    wakeup: asyncio.Event | None = None
    sent_times: deque[float] | None = None
    audio_port: str | None = None  # the modem's PCM voice port (absolute path)


def _simulator_profile(profile: str) -> str:
    """The simulator dialect closest to a configured driver profile (Huawei otherwise)."""
    for family in ("simcom", "quectel"):
        if profile.startswith(family):
            return family
    return "huawei"


class SmsService:
    name = "sms"

    def __init__(self, core: Core) -> None:
        self.core = core
        self.config = core.config
        self.slots: dict[str, _ModemSlot] = {}
        self.statuses: dict[str, ModemStatus] = {}
        self.outbox: dict[str, OutgoingSms] = {}
        self._stopping = False
        self._lock = asyncio.Lock()
        self._early: OrderedDict[tuple[str, int], tuple[float, DeliveryReport]] = OrderedDict()
        self._inbound_listeners: list[InboundListener] = []
        self._inbound: asyncio.Queue[InboundText] = asyncio.Queue()
        self._inbound_task: asyncio.Task[None] | None = None
        self.inbound = InboundRecorder(core, on_new=self._spawn_inbound)
        self.voice = ModemVoice(self)
        self._status_listeners: list[Callable[[ModemStatus], None]] = []

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        data_dir = Path(self.config.store.path).parent
        for mc in self.config.modems:
            simulator = None
            audio_port = mc.audio_port
            port = mc.port
            if mc.simulated:
                link = data_dir / "modems" / mc.id / "tty"
                link.parent.mkdir(parents=True, exist_ok=True)
                simulator = SimulatedModem(
                    str(link), profile=_simulator_profile(mc.profile), audio=True, name=mc.id
                )
                await simulator.start()
                port = str(link)
                # absolute() keeps the symlink (it survives unplug/replug), unlike resolve()
                audio_port = str(simulator.audio_link_path.absolute())
                control = link.parent / "control.sock"
                try:
                    await simulator.serve_control(control)
                except OSError as exc:  # e.g. a data dir too deep for a Unix socket path
                    log.warning("simulator_control_unavailable", modem_id=mc.id, error=str(exc))
            modem = Modem(
                modem_settings(mc, port),
                self,
                reassembly_timeout=self.config.sms.reassembly_timeout,
                poll_interval=self.config.sms.health_interval,
            )
            slot = _ModemSlot(
                mc, modem, simulator=simulator, wakeup=asyncio.Event(), audio_port=audio_port
            )
            slot.sent_times = deque()
            self.slots[mc.id] = slot
            self.statuses[mc.id] = modem.status()
        for key, value in self.core.store.scan(OUTBOX_NS):
            record = self.core.store.get(MESSAGE_NS, key)
            if record is not None and record["status"] == "queued":
                self.outbox[key] = OutgoingSms.from_json(record)
            elif value is not None:
                await self.core.store.put(OUTBOX_NS, key, None)
        for slot in self.slots.values():
            slot.task = asyncio.create_task(self._run_modem(slot), name=f"modem:{slot.config.id}")
            slot.sender = asyncio.create_task(self._sender(slot), name=f"outbox:{slot.config.id}")
        log.info("sms_started", modems=list(self.slots), outbox=len(self.outbox))

    async def _run_modem(self, slot: _ModemSlot) -> None:
        try:
            await slot.modem.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the driver's own supervision failed: say so loudly
            log.error("modem_task_died", modem_id=slot.config.id, error=repr(exc), exc_info=exc)

    async def stop(self) -> None:
        self._stopping = True
        for slot in self.slots.values():
            for task in (slot.sender, slot.task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if slot.simulator is not None:
                await slot.simulator.stop()

    def routers(self) -> list[APIRouter]:
        from switch.api.sms import sms_routers

        return sms_routers()

    # ------------------------------------------------------ driver sink (inbound)

    async def sms_received(self, sms: InboundSms) -> None:
        await self.inbound.sms_received(sms)

    async def part_received(self, part: InboundPart) -> None:
        await self.inbound.part_received(part)

    def stored_parts(self, modem_id: str) -> list[InboundPart]:
        return self.inbound.stored_parts(modem_id)

    def part_recorded(self, part_key: str) -> bool:
        return self.inbound.part_recorded(part_key)

    async def status_report(self, modem_id: str, report: DeliveryReport) -> None:
        async with self._lock:
            message_id = self.core.store.get(REF_NS, f"{modem_id}:{report.message_reference}")
            if message_id is None:
                self._hold_early(modem_id, report)
                return
            record = self.core.store.get(MESSAGE_NS, str(message_id))
            if record is None:
                return
            msg = OutgoingSms.from_json(record)
            try:
                new = on_report(
                    msg,
                    report.message_reference,
                    report.outcome,
                    self.core.clock.now(),
                    report.status,
                )
            except ProtocolError as exc:
                log.warning("status_report_ignored", modem_id=modem_id, error=str(exc))
                return
            if new != msg:
                await self.core.store.put(MESSAGE_NS, new.id, new.to_json())
                if new.status == "failed":
                    SMS_FAILED.labels(modem_id).inc()
                log.info("sms_status", message_id=new.id, status=new.status, modem_id=modem_id)

    def _hold_early(self, modem_id: str, report: DeliveryReport) -> None:
        now = time.monotonic()
        key = (modem_id, report.message_reference)
        self._early.pop(key, None)
        self._early[key] = (now, report)
        # the oldest go when they are too old or too many: no message ever claimed them
        while self._early and (
            len(self._early) > EARLY_REPORTS_MAX
            or next(iter(self._early.values()))[0] < now - EARLY_REPORT_TTL
        ):
            (lost_modem, lost_mr), _ = self._early.popitem(last=False)
            log.warning("status_report_unmatched", modem_id=lost_modem, mr=lost_mr)
        log.info("status_report_early", modem_id=modem_id, mr=report.message_reference)

    async def _apply_early(self, new: OutgoingSms) -> None:
        now = time.monotonic()
        for ref in new.references:
            held = self._early.pop((new.modem, ref), None) if ref is not None else None
            if held is not None and held[0] >= now - EARLY_REPORT_TTL:
                await self.status_report(new.modem, held[1])

    def add_inbound_listener(self, listener: InboundListener, *, first: bool = False) -> None:
        """Call ``listener`` with every new received SMS once it is durable, in order,
        off the modem's path (the SIM's delete does not wait for it). ``first``: before
        the listeners already there (a survey's answer before the conversations)."""
        if first:
            self._inbound_listeners.insert(0, listener)
        else:
            self._inbound_listeners.append(listener)

    def _spawn_inbound(self, text: InboundText) -> None:
        if not self._inbound_listeners:
            return
        self._inbound.put_nowait(text)
        if self._inbound_task is None or self._inbound_task.done():
            self._inbound_task = asyncio.create_task(self._deliver_inbound(), name="sms:inbound")

    async def _deliver_inbound(self) -> None:
        while not self._inbound.empty():
            text = self._inbound.get_nowait()
            for listener in list(self._inbound_listeners):
                try:
                    if await listener(text):
                        break
                except Exception as exc:  # a listener's bug: the SMS is safe in the store
                    log.error(
                        "sms_listener_failed",
                        message_id=text.message_id,
                        error=repr(exc),
                        exc_info=exc,
                    )

    def add_status_listener(self, listener: Callable[[ModemStatus], None]) -> None:
        """Call ``listener`` with every status a modem reports (fleet events)."""
        self._status_listeners.append(listener)

    async def modem_status(self, status: ModemStatus) -> None:
        self.statuses[status.modem_id] = status
        for listener in self._status_listeners:
            try:
                listener(status)
            except Exception as exc:  # a listener's bug never stops the modem's reports
                log.error("modem_status_listener_failed", error=repr(exc))
        self.core.registry.tell(
            f"modem:{status.modem_id}",
            ModemTelemetry(self._status_json(status.modem_id, status), self.core.clock.now()),
        )
        MODEM_READY.labels(status.modem_id).set(1 if status.state == "ready" else 0)
        if status.signal_dbm is not None:
            MODEM_SIGNAL.labels(status.modem_id).set(status.signal_dbm)
        slot = self.slots.get(status.modem_id)
        if slot is not None and slot.wakeup is not None and status.state == "ready":
            slot.wakeup.set()

    async def call_event(self, event: GsmCallEvent) -> None:
        await self.voice.call_event(event)

    # ----------------------------------------------------------- outbound API

    def choose_modem(self, to: str, requested: str | None) -> str:
        if requested is not None:
            if requested not in self.slots:
                raise Rejected("unknown_modem", f"no modem {requested!r}", 422)
            return requested
        best: tuple[int, str] | None = None
        for route in self.config.sms.routes:
            if to.startswith(route.prefix) and (best is None or len(route.prefix) > best[0]):
                best = (len(route.prefix), route.modem)
        if best is not None:
            return best[1]
        if self.config.sms.default_modem is not None:
            return self.config.sms.default_modem
        return next(iter(self.slots))

    async def submit(
        self,
        to_raw: str,
        text: str,
        *,
        modem: str | None = None,
        idem: str | None = None,
        fingerprint: str | None = None,
    ) -> str:
        """Queue a message durably; its id. With ``idem`` (an idempotency key, scoped by
        the caller) a repeat of the same request (``fingerprint``) gets the first id,
        and another request under the same key is refused (422)."""
        to = self.core.normalize(to_raw)
        if not text:
            raise Rejected("invalid_text", "text must not be empty", 422)
        if len(text) > MAX_TEXT:
            raise Rejected("invalid_text", f"text longer than {MAX_TEXT} characters", 422)
        if idem is not None:
            known = self.core.store.get(IDEM_NS, idem)
            if known is not None:
                return _idempotent_answer(known, fingerprint)
        modem_id = self.choose_modem(to, modem)
        parts, _ = sms_parts_needed(text)
        message_id = "out-" + secrets.token_hex(8)
        now = self.core.clock.now()
        contact_id = await self.core.directory.contact_for(phone_identity(to))
        msg = OutgoingSms(
            id=message_id,
            to=to,
            text=text,
            modem=modem_id,
            parts=parts,
            created_at=now,
            contact_id=contact_id,
            concat_ref=secrets.randbelow(256),
        )
        puts = [Put(MESSAGE_NS, message_id, msg.to_json()), Put(OUTBOX_NS, message_id, modem_id)]
        if idem is not None:
            puts.append(Put(IDEM_NS, idem, {"id": message_id, "request": fingerprint}))
        result = await self.core.registry.ask(
            f"contact:{contact_id}",
            OutboundMessage(
                channel="sms",
                via=modem_id,
                recipient=to,
                text=text,
                at=now,
                message_id=message_id,
                parts=parts,
                idem=f"api:{idem}" if idem else None,
                puts=tuple(puts),
            ),
        )
        if getattr(result, "duplicate", False):  # the same key, committed meanwhile
            return _idempotent_answer(self.core.store.get(IDEM_NS, idem or ""), fingerprint)
        self.outbox[message_id] = msg
        slot = self.slots[modem_id]
        if slot.wakeup is not None:
            slot.wakeup.set()
        log.info("sms_queued", message_id=message_id, modem_id=modem_id, parts=parts)
        return message_id

    def message(self, message_id: str) -> dict[str, Any]:
        record = self.core.store.get(MESSAGE_NS, message_id) if len(message_id) < 64 else None
        if record is None:
            raise Rejected("not_found", f"message {message_id!r} not found", 404)
        keys = ("id", "direction", "to", "from", "text", "status", "parts", "error", "contact_id")
        out = {k: record.get(k) for k in keys}
        if record["direction"] == "out":
            out["part_status"] = record.get("part_status", [])
            out["modem"] = record.get("modem")
        else:
            out["incomplete"] = record.get("incomplete", False)
        return out

    # ------------------------------------------------------------ the sender

    def _next_due(self, modem_id: str) -> OutgoingSms | None:
        due = [m for m in self.outbox.values() if m.modem == modem_id]
        return min(due, key=lambda m: (m.next_attempt_at, m.created_at), default=None)

    async def _sender(self, slot: _ModemSlot) -> None:
        modem_id = slot.config.id
        assert slot.wakeup is not None and slot.sent_times is not None
        while not self._stopping:
            msg = self._next_due(modem_id)
            now = self.core.clock.now()
            if msg is None or msg.next_attempt_at > now:
                slot.wakeup.clear()
                timeout = None if msg is None else msg.next_attempt_at - now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(slot.wakeup.wait(), timeout)
                continue
            await self._rate_limit(slot, msg.parts)
            try:
                refs = await slot.modem.send_sms(
                    msg.to,
                    msg.text,
                    reference=msg.concat_ref,
                    status_report=self.config.sms.status_reports,
                )
            except ChannelUnavailable as exc:
                new = on_unavailable(msg, str(exc) or "modem not ready", now, UNAVAILABLE_RETRY)
            except SmsSendError as exc:
                new = on_send_error(
                    msg,
                    str(exc),
                    permanent=exc.permanent,
                    now=self.core.clock.now(),
                    max_attempts=self.config.sms.max_attempts,
                    backoff=RETRY_BACKOFF,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # driver bug or garbage: retry, never lose the message
                log.error("sms_send_crashed", message_id=msg.id, error=repr(exc), exc_info=exc)
                new = on_send_error(
                    msg,
                    repr(exc),
                    permanent=False,
                    now=self.core.clock.now(),
                    max_attempts=self.config.sms.max_attempts,
                    backoff=RETRY_BACKOFF,
                )
            else:
                new = on_sent(msg, refs, self.core.clock.now())
                slot.sent_times.extend(time.monotonic() for _ in refs)
                SMS_OUT.labels(modem_id).inc(len(refs))
            await self._record(new)

    async def _record(self, new: OutgoingSms) -> None:
        puts = [Put(MESSAGE_NS, new.id, new.to_json())]
        if new.status != "queued":
            puts.append(Put(OUTBOX_NS, new.id, None))
            self.outbox.pop(new.id, None)
            if new.status == "failed":
                SMS_FAILED.labels(new.modem).inc()
        else:
            self.outbox[new.id] = new
        for ref in new.references:
            if ref is not None:
                puts.append(Put(REF_NS, f"{new.modem}:{ref}", new.id))
        async with self._lock:
            await self.core.store.write(Write(puts=tuple(puts)))
        if self._early:
            await self._apply_early(new)
        log.info(
            "sms_status",
            message_id=new.id,
            status=new.status,
            modem_id=new.modem,
            references=list(new.references),
            error=new.error,
        )

    async def _rate_limit(self, slot: _ModemSlot, parts: int) -> None:
        assert slot.sent_times is not None
        window = 60.0
        limit = slot.config.rate_per_minute
        while True:
            now = time.monotonic()
            while slot.sent_times and now - slot.sent_times[0] > window:
                slot.sent_times.popleft()
            if len(slot.sent_times) + min(parts, limit) <= limit:
                return
            await asyncio.sleep(window - (now - slot.sent_times[0]) + 0.01)

    # ------------------------------------------------------------- modems API

    def modem_slot(self, modem_id: str) -> _ModemSlot:
        slot = self.slots.get(modem_id)
        if slot is None:
            raise Rejected("not_found", f"modem {modem_id!r} not found", 404)
        return slot

    def _status_json(self, modem_id: str, st: ModemStatus) -> dict[str, Any]:
        slot = self.slots.get(modem_id)
        return {
            "id": modem_id,
            "state": st.state,
            "imei": st.imei,
            "iccid": st.iccid,
            "operator": st.operator,
            "signal": st.signal_dbm,
            "registered": st.registered,
            "model": st.model,
            "simulated": bool(slot and slot.config.simulated),
            "last_error": st.last_error,
        }

    async def modems_json(self) -> list[dict[str, Any]]:
        out = []
        for modem_id in self.slots:
            status: dict[str, Any] = await self.core.registry.ask(f"modem:{modem_id}", GetModem())
            if "imei" not in status:  # no telemetry yet
                status = self._status_json(modem_id, self.slots[modem_id].modem.status())
            out.append(status)
        return out
