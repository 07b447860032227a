"""Customer satisfaction surveys after a contact (``[[queues]] csat = "sms" | "ivr"``).

SMS: when a call that an agent answered ends, and the call came through a queue with
``csat = "sms"``, the customer gets an SMS in their language asking for a score from 1
to 5. The survey waits for an answer under the customer's number for
:data:`ANSWER_WINDOW`; the next SMS from that number in that time, if it is one digit
from 1 to 5 (in any script: ASCII, Khmer, Thai, Persian, Arabic-Indic...), is recorded
as a ``csat`` journey event (``score``, ``agent``, ``queue``, ``call_id``) and is not a
new conversation (this service is the SMS service's first inbound listener, before the
conversations). Any other next SMS ends the survey and goes its usual way.

The ended calls are read from the event log by a :class:`LogFollower` (``csat``), so a
survey owed when the switch was killed is sent after the restart; the SMS is submitted
with an idempotency key per call, so it is never sent twice.

IVR: the call side asks :meth:`CsatService.wants` whether a queue wants a survey and,
after the agent hangs up, plays the question and hands the digit to
:meth:`CsatService.record_ivr`.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any, Literal

import phonenumbers
import structlog
from fastapi import APIRouter

from actors.messages import JourneyEntry
from actors.store import StoredEvent
from base.errors import Rejected
from switch.center.texts import text
from switch.follower import LogFollower
from switch.metrics import CSAT_ANSWERS

if TYPE_CHECKING:
    from switch.core import Core
    from switch.sms_inbound import InboundText

log = structlog.get_logger("csat")

PENDING_NS = "csat_pending"
ANSWER_WINDOW = 24 * 3600.0  # seconds a survey waits for its answer
# The customer's language by their number's country, when nothing else says it.
LANGUAGE_BY_REGION = {"KH": "km", "TH": "th", "IR": "fa", "AF": "fa"}
_TRAILING = " \t\r\n.!。?,،"


def parse_score(text: str) -> int | None:
    """The score in a survey answer: one decimal digit 1-5 in any script (``4``,
    ``៤``, ``๔``, ``۴``, ``٤``), spaces and a final full stop allowed; else None."""
    core = text.strip().rstrip(_TRAILING).strip()
    if len(core) != 1:
        return None
    value = unicodedata.decimal(core, None)
    return value if value is not None and 1 <= value <= 5 else None


def survey_text(language: str) -> str:
    return text("csat_survey", language, low=1, high=5)


def language_for(number: str, default: str) -> str:
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return default
    return LANGUAGE_BY_REGION.get(region or "", default)


class CsatService:
    name = "csat"

    def __init__(self, core: Core) -> None:
        self.core = core
        self.modes: dict[str, Literal["sms", "ivr"]] = {
            q.id: q.csat for q in core.config.queues if q.csat is not None
        }
        self.follower = LogFollower(core.store, "csat", ("call_ended",), self._call_ended)

    def wants(self, queue: str | None) -> Literal["sms", "ivr"] | None:
        """The survey a queue asks for after an answered call, if any."""
        return self.modes.get(queue) if queue is not None else None

    async def start(self) -> None:
        await self.follower.start()

    async def stop(self) -> None:
        await self.follower.stop()

    def routers(self) -> list[APIRouter]:
        return []

    # ------------------------------------------------------------- SMS survey

    async def _call_ended(self, event: StoredEvent) -> None:
        data = event.data
        agent, call_id, number = data.get("agent"), data.get("call_id"), data.get("number")
        if not event.actor.startswith("contact:") or not agent or not call_id:
            return  # nobody answered: no survey
        contact = event.actor.partition(":")[2]
        queue = self._queue_of(contact, str(call_id), event.at)
        if self.wants(queue) != "sms":
            return
        bound = log.bind(call_id=call_id, contact_id=contact, queue=queue)
        sms = self.core.sms
        if sms is None or not isinstance(number, str) or not number.startswith("+"):
            bound.warning("csat_not_sent", reason="no SMS channel or no customer number")
            return
        language = language_for(number, self.core.config.routing.language)
        try:
            await sms.submit(number, survey_text(language), idem=f"csat:{call_id}")
        except Rejected as exc:  # a number no modem can reach: nothing to retry
            bound.warning("csat_not_sent", reason=exc.message)
            return
        pending = {
            "call_id": call_id,
            "contact_id": contact,
            "agent": agent,
            "queue": queue,
            "sent_at": self.core.clock.now(),
            "language": language,
        }
        await self.core.store.put(PENDING_NS, number, pending)
        bound.info("csat_sent", language=language)

    def _queue_of(self, contact: str, call_id: str, ended_at: float) -> str | None:
        """The queue the call left with its agent (the contact's ``dequeued`` entry)."""
        found = self.core.store.events_by_kind(("dequeued",), ended_at - 86400.0, ended_at + 1)
        for ev in reversed(found):
            if ev.actor == f"contact:{contact}" and ev.data.get("item") == call_id:
                via = ev.data.get("via")
                return str(via) if via is not None else None
        return None

    async def on_sms(self, sms: InboundText) -> bool:
        """A received SMS (the SMS service's first listener): True when it was a
        survey's answer, which then goes to no conversation."""
        return await self.take_reply(sms.sender, sms.text, sms.at)

    async def take_reply(self, sender: str, reply: str, at: float) -> bool:
        """An SMS from ``sender`` (E.164): True when it answered a survey (recorded as
        ``csat``; not a new conversation), False when it goes its usual way."""
        pending: Any = self.core.store.get(PENDING_NS, sender)
        if not isinstance(pending, dict):
            return False
        await self.core.store.put(PENDING_NS, sender, None)  # the next SMS ends the survey
        score = parse_score(reply)
        if at - float(pending.get("sent_at", 0.0)) > ANSWER_WINDOW or score is None:
            return False
        await self._record(pending, score, "sms", at)
        return True

    # ------------------------------------------------------------- IVR survey

    async def record_ivr(
        self, call_id: str, contact_id: str, digit: str, agent: str | None, queue: str | None
    ) -> int:
        """The score a caller keyed in after the agent hung up, recorded as ``csat``
        (channel ``voice``); Rejected when the digit is not 1-5."""
        score = parse_score(digit)
        if score is None:
            raise Rejected("invalid_score", f"a score is a digit from 1 to 5, not {digit!r}", 422)
        pending = {"call_id": call_id, "contact_id": contact_id, "agent": agent, "queue": queue}
        await self._record(pending, score, "voice", self.core.clock.now())
        return score

    async def _record(self, pending: dict[str, Any], score: int, channel: str, at: float) -> None:
        data: dict[str, object] = {
            "score": score,
            "agent": pending.get("agent"),
            "queue": pending.get("queue"),
            "call_id": pending.get("call_id"),
            "via": "sms" if channel == "sms" else "ivr",
        }
        entry = JourneyEntry(
            channel,  # type: ignore[arg-type]
            "csat",
            at,
            {k: v for k, v in data.items() if v is not None},
            idem=f"csat:{pending.get('call_id')}",
        )
        await self.core.registry.ask(f"contact:{pending['contact_id']}", entry)
        CSAT_ANSWERS.labels(str(pending.get("queue")), channel).inc()
        log.info("csat_recorded", call_id=pending.get("call_id"), score=score, channel=channel)
