"""Contact logic: pure decide() with an injected clock, and the actor with a real store."""

from typing import Any

import pytest

from actors.contact import ContactState, decide, evolve
from actors.messages import (
    AddIdentity,
    AddNote,
    CallEvent,
    GetContact,
    InboundMessage,
    MergeFrom,
    OutboundMessage,
    UndoMerge,
)
from base.clock import FakeClock
from base.errors import Rejected
from switch.core import Core
from switch.store import Store


def state_after(*kinds_data: tuple[str, dict[str, Any]]) -> ContactState:
    s = ContactState("c1")
    for kind, data in kinds_data:
        s = evolve(s, kind, 1.0, data)
    return s


CREATED = ("contact_created", {"identities": ["phone:+85512345678"]})


def sms_in(text: str, at: float = 1.0) -> InboundMessage:
    return InboundMessage("sms", "gsm1", "+85512345678", text, at, "m1")


def test_message_from_unknown_contact_is_rejected() -> None:
    with pytest.raises(Rejected):
        decide(ContactState("c1"), sms_in("hi"), 1.0)


def test_channel_switch_is_recorded_before_the_new_channels_first_event() -> None:
    s = state_after(CREATED, ("message_in", {"channel": "sms", "text": "hi"}))
    d = decide(s, CallEvent("call1", "started", 2.0, via="provider1"), 2.0)
    assert [k for k, _ in d.events] == ["channel_switched", "call_started"]
    assert d.events[0][1] == {"channel": "voice", "from": "sms", "to": "voice"}


def test_notes_do_not_count_as_a_channel_switch() -> None:
    s = state_after(CREATED, ("message_in", {"channel": "sms"}), ("note", {"channel": "note"}))
    d = decide(s, sms_in("again"), 3.0)
    assert [k for k, _ in d.events] == ["message_in"]


def test_call_phases_are_recorded_once_however_many_phones_rang() -> None:
    s = state_after(CREATED)
    events = []
    for msg in [
        CallEvent("k", "started", 1.0),
        CallEvent("k", "started", 1.1),  # second agent leg
        CallEvent("k", "answered", 2.0, agent="alice"),
        CallEvent("k", "answered", 2.1, agent="bob"),
        CallEvent("k", "ended", 3.0, cause="normal"),
        CallEvent("k", "ended", 3.1, cause="normal"),
    ]:
        d = decide(s, msg, msg.at)
        for kind, data in d.events:
            s = evolve(s, kind, msg.at, data)
            events.append((kind, data.get("agent")))
    assert events == [("call_started", None), ("call_answered", "alice"), ("call_ended", None)]


def test_answer_without_start_records_the_start_once() -> None:
    s = state_after(CREATED)
    d = decide(s, CallEvent("k", "answered", 1.0, agent="alice"), 1.0)
    assert [k for k, _ in d.events] == ["call_started", "call_answered"]


def test_an_outgoing_call_starts_with_the_agent_who_dials_an_incoming_one_without() -> None:
    s = state_after(CREATED)
    out = decide(s, CallEvent("k", "started", 1.0, via="gsm1", direction="out", agent="alice"), 1.0)
    [(kind, data)] = out.events
    assert kind == "call_started" and data["agent"] == "alice" and data["direction"] == "out"
    inbound = decide(s, CallEvent("j", "started", 1.0, via="gsm1", direction="in"), 1.0)
    assert "agent" not in inbound.events[0][1]


async def make_core(tmp_path: Any, clock: FakeClock) -> Core:
    from switch.config import parse_config

    cfg = parse_config(
        {"store": {"path": str(tmp_path / "s.db")}, "api": {"tokens": ["secret-token-for-tests"]}}
    )
    store = await Store.open(cfg.store.path)
    return Core(cfg, store, clock)


async def test_inbound_sms_is_durable_and_deduplicated(tmp_path: Any, clock: FakeClock) -> None:
    core = await make_core(tmp_path, clock)
    ref = await core.directory.ref_for("phone:+85512345678")
    msg = InboundMessage("sms", "gsm1", "+85512345678", "សួស្តី", clock.now(), "m1", idem="pdu:abc")
    first = await ref.ask(msg)
    again = await ref.ask(msg)
    assert not first.duplicate and again.duplicate
    journey = await core.journey(ref.actor_id.split(":")[1])
    assert [(j["kind"], j["text"]) for j in journey] == [("message_in", "សួស្តី")]
    await core.close()


async def test_same_identity_concurrently_creates_one_contact(
    tmp_path: Any, clock: FakeClock
) -> None:
    import asyncio

    core = await make_core(tmp_path, clock)
    ids = await asyncio.gather(
        *[core.directory.contact_for("phone:+85512000001") for _ in range(20)]
    )
    assert len(set(ids)) == 1
    await core.close()


async def test_state_rebuilds_after_hibernation_and_snapshot(
    tmp_path: Any, clock: FakeClock
) -> None:
    from switch.config import parse_config

    cfg = parse_config(
        {
            "store": {"path": str(tmp_path / "s.db"), "snapshot_every": 3},
            "api": {"tokens": ["secret-token-for-tests"]},
        }
    )
    store = await Store.open(cfg.store.path)
    core = Core(cfg, store, clock)
    cid = await core.directory.contact_for("phone:+85512000002")
    ref = core.registry.ref(f"contact:{cid}")
    for i in range(7):
        await ref.ask(
            InboundMessage("sms", "gsm1", "+85512000002", f"m{i}", clock.now() + i, f"id{i}")
        )
    before: ContactState = await ref.ask(GetContact())
    assert core.registry.hibernate(f"contact:{cid}")
    after: ContactState = await ref.ask(GetContact())
    assert after.journey_len == before.journey_len == 7
    assert after.identities == before.identities
    snap, tail = store.load_actor(f"contact:{cid}")
    assert snap is not None and len(tail) < 7
    await core.close()


async def test_merge_and_undo_move_identities_and_journeys(tmp_path: Any, clock: FakeClock) -> None:
    core = await make_core(tmp_path, clock)
    a = await core.directory.contact_for("phone:+85512000003")
    b = await core.directory.contact_for("web:session-9")
    await core.registry.ask(
        f"contact:{a}", InboundMessage("sms", "gsm1", "+85512000003", "by sms", clock.now(), "m1")
    )
    clock.advance(1)
    await core.registry.ask(
        f"contact:{b}",
        InboundMessage("chat", "widget", "web:session-9", "by chat", clock.now(), "m2"),
    )
    clock.advance(1)
    await core.registry.ask(f"contact:{a}", MergeFrom(b, clock.now()))
    assert core.directory.lookup("web:session-9") == a
    texts = [j.get("text") for j in await core.journey(a) if j["kind"] == "message_in"]
    assert texts == ["by sms", "by chat"]
    merged_b = await core.contact_state(b)
    assert merged_b.merged_into == a
    clock.advance(1)
    await core.registry.ask(f"contact:{a}", UndoMerge(b, clock.now()))
    assert core.directory.lookup("web:session-9") == b
    assert (await core.contact_state(b)).merged_into is None
    texts = [j.get("text") for j in await core.journey(a) if j["kind"] == "message_in"]
    assert texts == ["by sms"]
    with pytest.raises(Rejected):
        await core.registry.ask(f"contact:{a}", MergeFrom(a, clock.now()))
    await core.close()


async def test_note_outbound_and_identity(tmp_path: Any, clock: FakeClock) -> None:
    core = await make_core(tmp_path, clock)
    a = await core.directory.contact_for("phone:+85512000004")
    ref = core.registry.ref(f"contact:{a}")
    await ref.ask(OutboundMessage("sms", "gsm1", "+85512000004", "reply", clock.now(), "o1"))
    await ref.ask(AddNote("called back twice", "alice", clock.now()))
    await ref.ask(AddIdentity("email:x@example.com", clock.now()))
    assert core.directory.lookup("email:x@example.com") == a
    kinds = [(j["channel"], j["kind"]) for j in await core.journey(a)]
    assert kinds == [("sms", "message_out"), ("note", "note")]
    await core.close()
