"""The live bus and its feed, with a real store and a fake clock: who sees what, what a
committed write becomes, the offer's context, a slow subscriber cut off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from actors.agent import AgentEvent
from actors.messages import InboundMessage, JourneyEntry
from actors.store import Put, Write
from base.clock import FakeClock
from switch.audit import audit
from switch.config import parse_config
from switch.core import Core
from switch.live import LiveEvent, Viewer, visible
from switch.live.bus import QUEUE_SIZE, Bus
from switch.store import Store


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    cfg = parse_config(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "api": {"tokens": ["secret-token-for-tests"]},
            "queues": [{"id": "support"}],
            "agents": [{"id": "alice", "name": "Alice"}, {"id": "bob"}],
        }
    )
    c = Core(cfg, await Store.open(cfg.store.path), FakeClock())
    await c.start_contact_center()
    yield c
    await c.close()


async def next_event(queue: asyncio.Queue[LiveEvent], topic: str) -> LiveEvent:
    while True:
        event = await asyncio.wait_for(queue.get(), 5)
        if event.topic == topic:
            return event


# ----------------------------------------------------------------- visibility


def test_an_agent_sees_their_own_work_and_the_queue_counts_only() -> None:
    alice = Viewer("agent", "alice", frozenset({"c1"}))
    assert visible(LiveEvent("agent", {}, agent="alice"), alice)
    assert not visible(LiveEvent("agent", {}, agent="bob"), alice)
    assert visible(LiveEvent("offer", {}, agent="alice"), alice)
    assert not visible(LiveEvent("offer", {}, agent="bob"), alice)
    assert not visible(LiveEvent("call", {}, agent=None), alice)
    # a call she transferred to bob: she follows her transfer; carol does not
    handed = LiveEvent("call", {}, agent="bob", also="alice")
    assert visible(handed, alice) and visible(handed, Viewer("agent", "bob"))
    assert not visible(handed, Viewer("agent", "carol"))
    assert visible(LiveEvent("queues", []), alice)
    assert visible(LiveEvent("journey", {}, contact="c1"), alice)
    assert not visible(LiveEvent("journey", {}, contact="c2"), alice)
    assert not visible(LiveEvent("audit", {}), alice)


def test_operators_see_the_box_technicians_the_audit_trail() -> None:
    ops = Viewer("operator", "ops")
    tech = Viewer("technician", "tech")
    for topic in ("agent", "queues", "call", "conversation", "audit"):
        assert visible(LiveEvent(topic, {}, agent="bob"), ops)  # type: ignore[arg-type]
    assert not visible(LiveEvent("offer", {}, agent="bob"), ops)  # an agent's desktop only
    assert not visible(LiveEvent("journey", {}, contact="c9"), ops)  # not on screen
    assert visible(LiveEvent("audit", {}), tech)
    assert not visible(LiveEvent("agent", {}, agent="bob"), tech)
    assert not visible(LiveEvent("queues", []), tech)


async def test_a_subscriber_that_falls_behind_is_cut_off_not_grown() -> None:
    bus = Bus()
    slow = bus.subscribe(Viewer("operator", "ops"))
    for n in range(QUEUE_SIZE + 10):
        bus.publish(LiveEvent("queues", [n]))
    assert slow.lost and slow.queue.qsize() == QUEUE_SIZE
    fresh = bus.subscribe(Viewer("operator", "ops"))
    bus.publish(LiveEvent("queues", ["after"]))
    assert fresh.queue.qsize() == 1 and slow.queue.qsize() == QUEUE_SIZE


# ----------------------------------------------------------------------- feed


async def test_agent_changes_reach_the_agent_and_operators_not_other_agents(core: Core) -> None:
    bus = core.live.bus
    alice = bus.subscribe(Viewer("agent", "alice"))
    bob = bus.subscribe(Viewer("agent", "bob"))
    ops = bus.subscribe(Viewer("operator", "ops"))
    await core.registry.ask("agent:alice", AgentEvent("registered", core.clock.now()))
    event = await next_event(alice.queue, "agent")
    assert event.data["id"] == "alice" and event.data["state"] == "available"
    assert (await next_event(ops.queue, "agent")).data["id"] == "alice"
    assert all(e.topic != "agent" for e in _drain(bob.queue))


async def test_a_ringing_agent_gets_an_offer_with_the_contact_context(core: Core) -> None:
    contact = await core.directory.contact_for("phone:+85512345678")
    now = core.clock.now()
    await core.registry.ask(
        f"contact:{contact}", InboundMessage("sms", "gsm1", "+85512345678", "my bill", now, "m1")
    )
    await core.registry.ask(
        f"contact:{contact}",
        JourneyEntry("voice", "ivr_choice", now, {"text": "2", "call_id": "k1"}),
    )
    await core.registry.ask(f"contact:{contact}", JourneyEntry("sms", "csat", now, {"score": 4}))
    for outcome, text in (
        ("follow_up", "router replaced"),  # settled by the next one
        ("resolved", "works again"),
        ("escalated", "billing dispute"),  # open
    ):
        data: dict[str, object] = {"disposition": outcome, "text": text, "agent": "bob"}
        await core.registry.ask(f"contact:{contact}", JourneyEntry("note", "wrap_up", now, data))
    await core.callbacks.request("+85512345678", "default")
    record = {"id": "k1", "contact_id": contact, "from": "+85512345678", "state": "ringing"}
    await core.store.write(Write(puts=(Put("call", "k1", record),)))
    alice = core.live.bus.subscribe(Viewer("agent", "alice"))
    await core.registry.ask("agent:alice", AgentEvent("registered", now))
    await core.registry.ask("agent:alice", AgentEvent("ring", now, "k1"))
    offer = (await next_event(alice.queue, "offer")).data
    assert offer["kind"] == "call" and offer["call"]["id"] == "k1"
    context = offer["contact"]
    assert context["id"] == contact
    assert context["numbers"][0]["display"] == "012 345 678"  # national, for KH
    assert [e["kind"] for e in context["last_contacts"]] == ["message_in"]
    assert [e["text"] for e in context["ivr"]] == ["2"]
    assert [e["score"] for e in context["csat"]] == [4]
    wrapped, promised = context["open_issues"]
    assert wrapped["kind"] == "wrap_up" and wrapped["disposition"] == "escalated"
    assert wrapped["text"] == "billing dispute" and wrapped["agent"] == "bob"
    assert promised["kind"] == "callback" and promised["queue"] == "default"
    assert promised["state"] in ("waiting", "dialing")  # (alice may be offered it)


def test_open_issues_are_the_promises_not_yet_kept() -> None:
    from switch.live.issues import open_issues

    def wrap(outcome: str) -> dict[str, str]:
        return {"kind": "wrap_up", "disposition": outcome, "at": "t"}

    assert open_issues([wrap("follow_up"), wrap("resolved")], []) == []
    left = open_issues([wrap("resolved"), wrap("callback"), wrap("other")], [])
    assert [i["disposition"] for i in left] == ["callback"]
    assert len(open_issues([wrap("follow_up")] * 30, [])) == 10  # the latest ten


async def test_committed_writes_become_journey_call_conversation_and_audit_events(
    core: Core,
) -> None:
    contact = await core.directory.contact_for("phone:+85512345678")
    ops = core.live.bus.subscribe(Viewer("operator", "ops", frozenset({contact})))
    alice = core.live.bus.subscribe(Viewer("agent", "alice"))
    now = core.clock.now()
    await core.registry.ask(
        f"contact:{contact}", InboundMessage("sms", "gsm1", "+85512345678", "hello", now, "m1")
    )
    journey = await next_event(ops.queue, "journey")
    assert journey.data["contact_id"] == contact and journey.data["event"]["text"] == "hello"
    record = {"contact_id": contact, "channel": "sms", "state": "assigned", "agent": "alice"}
    await core.store.write(Write(puts=(Put("conversation", f"{contact}.sms", record),)))
    assert (await next_event(ops.queue, "conversation")).data["agent"] == "alice"
    offer = (await next_event(alice.queue, "offer")).data
    assert offer["kind"] == "conversation" and offer["contact"]["id"] == contact
    # a call alice transferred to bob: its record reaches bob and alice (her transfer)
    bob = core.live.bus.subscribe(Viewer("agent", "bob"))
    handed: dict[str, object] = {"id": "k2", "contact_id": contact, "agent": "bob"}
    handed["transfer"] = {"kind": "agent", "to": "bob", "from_agent": "alice", "state": "completed"}
    await core.store.write(Write(puts=(Put("call", "k2", handed),)))
    assert (await next_event(alice.queue, "call")).data["transfer"]["state"] == "completed"
    assert (await next_event(bob.queue, "call")).data["agent"] == "bob"
    await audit(core, "modem.at", who="tech", role="technician", target="gsm1")
    entry = (await next_event(ops.queue, "audit")).data
    assert entry["action"] == "modem.at" and entry["id"] > 0


async def test_queue_counts_are_published_when_they_change(core: Core) -> None:
    ops = core.live.bus.subscribe(Viewer("operator", "ops"))
    core.live.ensure_running()
    first = (await next_event(ops.queue, "queues")).data
    support = next(q for q in first if q["id"] == "support")
    assert support["agents_available"] == 0
    await core.registry.ask("agent:alice", AgentEvent("registered", core.clock.now()))
    while True:
        rows = (await next_event(ops.queue, "queues")).data
        if next(q for q in rows if q["id"] == "support")["agents_available"] == 1:
            break


def _drain(queue: asyncio.Queue[Any]) -> list[Any]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out
