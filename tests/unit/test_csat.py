"""CSAT surveys: an SMS in the customer's language after an answered call from a queue
that asks for it; the next SMS, if a digit 1-5 in any script, is recorded as ``csat``."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from actors.messages import CallEvent, JourneyEntry
from base.clock import FakeClock
from base.errors import Rejected
from drivers.gsm import InboundSms
from switch.center.csat import CsatService, parse_score, survey_text
from switch.config import parse_config
from switch.core import Core
from switch.phone import phone_identity
from switch.sms import SmsService
from switch.store import Store

KH, TH, US = "+85512345678", "+66812345678", "+12025550123"


class RecordingSms(SmsService):
    """The SMS channel with the modem side replaced by a list of what was submitted."""

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.sent: list[tuple[str, str, str | None]] = []

    async def submit(
        self, to_raw: str, text: str, *, modem: str | None = None, idem: str | None = None
    ) -> str:
        if idem is not None and any(i == idem for _, _, i in self.sent):
            return "dup"
        self.sent.append((to_raw, text, idem))
        return f"out-{len(self.sent)}"


async def eventually(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Core, RecordingSms, CsatService]]:
    cfg = parse_config(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "api": {"tokens": ["secret-token-for-tests"]},
            "queues": [
                {"id": "support", "csat": "sms"},
                {"id": "sales"},
                {"id": "vip", "csat": "ivr"},
            ],
            "agents": [{"id": "alice"}],
        }
    )
    core = Core(cfg, await Store.open(cfg.store.path), FakeClock())
    sms = RecordingSms(core)
    core.sms = sms
    csat = CsatService(core)
    core.csat = csat
    sms.add_inbound_listener(csat.on_sms, first=True)  # as switch.app wires them
    sms.add_inbound_listener(core.conversations.on_sms)
    await csat.start()
    yield core, sms, csat
    await csat.stop()
    await core.close()


async def answered_call(
    core: Core, phone: str, call: str, queue: str, agent: str | None = "alice"
) -> str:
    contact = await core.directory.contact_for(phone_identity(phone))
    now = core.clock.now()
    if agent is not None:
        data = {"via": queue, "item": call, "agent": agent}
        await core.registry.ask(f"contact:{contact}", JourneyEntry("voice", "dequeued", now, data))
    await core.registry.ask(f"contact:{contact}", CallEvent(call, "started", now, number=phone))
    await core.registry.ask(
        f"contact:{contact}", CallEvent(call, "ended", now + 60, agent=agent, number=phone)
    )
    return contact


def inbound(phone: str, text: str) -> InboundSms:
    key = hashlib.sha256(f"{phone}{text}{asyncio.get_running_loop().time()}".encode()).hexdigest()
    return InboundSms("gsm1", phone, text, 1, False, (), key, None, 0.0)


def recorded(core: Core) -> bool:
    """A csat event is durable (the answer is recorded after the survey is closed)."""
    return bool(core.store.events_by_kind(("csat",), 0.0, 1e12))


async def csat_events(core: Core, contact: str) -> list[dict[str, Any]]:
    return [e for e in await core.journey(contact) if e["kind"] == "csat"]


async def test_a_khmer_survey_and_a_khmer_digit_answer(env: Any) -> None:
    core, sms, _ = env
    contact = await answered_call(core, KH, "call-1", "support")
    await eventually(lambda: len(sms.sent) == 1)
    assert sms.sent[0] == (KH, survey_text("km"), "csat:call-1")
    assert "១" in sms.sent[0][1] and "៥" in sms.sent[0][1]  # Khmer digits in Khmer
    core.clock.advance(120)  # the call ended 60 s after it started
    await sms.sms_received(inbound(KH, " ៤ "))
    await eventually(lambda: recorded(core) and not core.store.get("csat_pending", KH))
    [event] = await csat_events(core, contact)
    assert event["score"] == 4 and event["agent"] == "alice" and event["queue"] == "support"
    assert event["call_id"] == "call-1" and event["channel"] == "sms"
    journey = await core.journey(contact)
    assert [e["kind"] for e in journey][-2:] == ["message_in", "csat"]  # the text is kept
    await asyncio.sleep(0.05)
    assert len(sms.sent) == 1  # the answer opened no conversation (nothing said back)
    # the next SMS is a conversation as usual (nobody signed in: the center says so)
    await sms.sms_received(inbound(KH, "5"))
    await eventually(lambda: len(sms.sent) == 2)
    assert len(await csat_events(core, contact)) == 1


@pytest.mark.parametrize("digit", ["๕", "5", "۵", "٥"])
async def test_thai_persian_and_arabic_indic_digits_count(env: Any, digit: str) -> None:
    core, sms, _ = env
    contact = await answered_call(core, TH, "call-th", "support")
    await eventually(lambda: len(sms.sent) == 1)
    assert sms.sent[0][1] == survey_text("th")
    await sms.sms_received(inbound(TH, digit))
    await eventually(lambda: recorded(core) and core.store.get("csat_pending", TH) is None)
    await asyncio.sleep(0.05)
    assert [e["score"] for e in await csat_events(core, contact)] == [5]


async def test_no_survey_without_an_agent_or_from_a_queue_without_csat(env: Any) -> None:
    core, sms, _ = env
    await answered_call(core, KH, "call-a", "sales")
    await answered_call(core, TH, "call-b", "support", agent=None)
    contact = await answered_call(core, US, "call-c", "support")  # the control: sent
    await eventually(lambda: len(sms.sent) == 1)
    assert sms.sent[0][0] == US and sms.sent[0][1] == survey_text("en")
    await asyncio.sleep(0.05)
    assert len(sms.sent) == 1
    assert await csat_events(core, contact) == []


async def test_another_text_ends_the_survey_and_a_late_answer_is_not_counted(env: Any) -> None:
    core, sms, csat = env
    contact = await answered_call(core, KH, "call-1", "support")
    await eventually(lambda: len(sms.sent) == 1)
    assert not await csat.take_reply(KH, "thank you, bye", core.clock.now())
    assert not await csat.take_reply(KH, "5", core.clock.now())
    await answered_call(core, KH, "call-2", "support")
    await eventually(lambda: len(sms.sent) == 2)
    core.clock.advance(25 * 3600)
    assert not await csat.take_reply(KH, "5", core.clock.now())
    assert await csat_events(core, contact) == []


async def test_the_ivr_variant_records_the_digit_for_the_call_side(env: Any) -> None:
    core, _, csat = env
    contact = await core.directory.contact_for(phone_identity(KH))
    assert csat.wants("vip") == "ivr" and csat.wants("support") == "sms"
    assert csat.wants("sales") is None
    assert await csat.record_ivr("call-9", contact, "3", "alice", "vip") == 3
    with pytest.raises(Rejected):
        await csat.record_ivr("call-9", contact, "9", "alice", "vip")
    [event] = await csat_events(core, contact)
    assert event["score"] == 3 and event["channel"] == "voice" and event["via"] == "ivr"


@pytest.mark.parametrize(
    ("text", "score"),
    [("1", 1), (" 3 ", 3), ("3.", 3), ("៥", 5), ("๑", 1), ("۲", 2), ("٤", 4)],
)
def test_scores_in_every_script(text: str, score: int) -> None:
    assert parse_score(text) == score


@pytest.mark.parametrize("text", ["0", "6", "12", "a", "", "៦", "5 stars", "٠"])
def test_what_is_not_a_score(text: str) -> None:
    assert parse_score(text) is None
