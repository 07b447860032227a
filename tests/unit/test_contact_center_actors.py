"""The routing engine's actor and the agent actors with a real store and a fake clock:
places survive a restart, breaks survive a restart, agents report to the engine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from actors.agent import AgentEvent, GetAgent, SetIntent
from actors.agent_state import AgentState
from actors.queue import QueueOffer, WorkItem
from actors.router import ROUTER, GetItem, GetQueue
from actors.routing import Enqueue
from base.clock import FakeClock
from switch.config import parse_config
from switch.core import Core
from switch.store import Store

CONFIG: dict[str, Any] = {
    "api": {"tokens": ["secret-token-123456"]},
    "queues": [{"id": "support", "max_wait": 600, "callback": True}],
    "agents": [{"id": "alice", "skills": ["km"]}, {"id": "bob"}],
}


class Owner:
    """Stands in for a conversation's actor: keeps what its queue tells it."""

    def __init__(self) -> None:
        self.got: list[Any] = []


async def open_core(path: Path, clock: FakeClock) -> tuple[Core, Owner]:
    cfg = parse_config({**CONFIG, "store": {"path": str(path)}})
    core = Core(cfg, await Store.open(path), clock)
    owner = Owner()

    class OwnerActor:
        def __init__(self, aid: str, reg: Any) -> None:
            self.actor_id, self.registry = aid, reg

        async def start(self) -> None: ...

        async def handle(self, message: Any) -> Any:
            owner.got.append(message)

        def idle(self) -> bool:
            return True

    core.registry.register_kind("owner", OwnerActor)  # type: ignore[arg-type]
    await core.start_contact_center()
    return core, owner


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def callback(name: str, at: float, contact: str = "k") -> WorkItem:
    return WorkItem(name, f"owner:{name}", "callback", contact, "support", at)


async def test_callbacks_keep_their_places_across_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "s.db"
    core, _ = await open_core(path, clock)
    contact = await core.directory.contact_for("phone:+85512345678")
    await core.registry.ask("agent:alice", SetIntent("break", clock.now(), "lunch"))
    t0 = clock.now()
    for n, name in enumerate(["cb1", "cb2", "cb3"]):
        await core.registry.ask(ROUTER, Enqueue(callback(name, t0 + n, contact)))
    voice = WorkItem("v1", "owner:v1", "voice", contact, "support", t0 + 10)
    await core.registry.ask(ROUTER, Enqueue(voice))
    await core.close()

    core, _ = await open_core(path, clock)
    from actors.contact import journey_actor_ids

    kinds = [e.kind for e in core.store.events_for(journey_actor_ids(core.store, contact))]
    assert kinds.count("queued") == 4
    detail = await core.registry.ask(ROUTER, GetQueue("support"))
    assert [e["item"] for e in detail["entries"]] == ["cb1", "cb2", "cb3"]  # the voice call died
    item = await core.registry.ask(ROUTER, GetItem("cb2"))
    assert item["position"] == 2
    alice: AgentState = await core.registry.ask("agent:alice", GetAgent())
    assert (alice.intent, alice.reason) == ("break", "lunch")  # her break survived too
    await core.close()


async def test_an_agent_who_registers_is_offered_the_waiting_item(tmp_path: Path) -> None:
    clock = FakeClock()
    core, owner = await open_core(tmp_path / "s.db", clock)
    await core.registry.ask("agent:bob", AgentEvent("registered", clock.now()))
    contact = await core.directory.contact_for("phone:+85512345678")
    await core.registry.ask(ROUTER, Enqueue(callback("cb1", clock.now(), contact)))
    await settle()
    assert owner.got == [QueueOffer("cb1", "bob")]
    await core.close()


async def test_an_agent_on_break_is_not_offered_anything(tmp_path: Path) -> None:
    clock = FakeClock()
    core, owner = await open_core(tmp_path / "s.db", clock)
    await core.registry.ask("agent:alice", AgentEvent("registered", clock.now()))
    await core.registry.ask("agent:alice", SetIntent("break", clock.now(), "training"))
    contact = await core.directory.contact_for("phone:+85512345678")
    await core.registry.ask(ROUTER, Enqueue(callback("cb1", clock.now(), contact)))
    await settle()
    assert owner.got == []
    await core.registry.ask("agent:alice", SetIntent("ready", clock.now()))
    await settle()
    assert owner.got == [QueueOffer("cb1", "alice")]
    await core.close()


async def test_a_break_asked_during_a_call_starts_after_its_wrap_up(tmp_path: Path) -> None:
    clock = FakeClock()
    core, _ = await open_core(tmp_path / "s.db", clock)
    ask = core.registry.ask
    await ask("agent:bob", AgentEvent("registered", clock.now()))
    await ask("agent:bob", AgentEvent("ring", clock.now(), "c1"))
    await ask("agent:bob", AgentEvent("answered", clock.now(), "c1"))
    state: AgentState = await ask("agent:bob", SetIntent("break", clock.now(), "coffee"))
    assert state.status == "busy" and state.pending == ("break", "coffee")
    state = await ask("agent:bob", AgentEvent("hangup", clock.now(), wrap_up=10.0))
    assert state.status == "wrap_up"
    clock.advance(10.0)
    await settle()
    state = await ask("agent:bob", GetAgent())
    assert (state.status, state.reason) == ("break", "coffee")
    await core.close()


async def test_a_missed_call_puts_the_agent_on_break(tmp_path: Path) -> None:
    clock = FakeClock()
    core, _ = await open_core(tmp_path / "s.db", clock)
    ask = core.registry.ask
    await ask("agent:bob", AgentEvent("registered", clock.now()))
    await ask("agent:bob", AgentEvent("ring", clock.now(), "c1"))
    state: AgentState = await ask("agent:bob", AgentEvent("missed", clock.now(), "c1"))
    assert (state.status, state.reason) == ("break", "missed")
    await core.close()


async def test_a_patient_message_keeps_its_place_past_max_wait_across_a_restart(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    path = tmp_path / "s.db"
    core, owner = await open_core(path, clock)
    contact = await core.directory.contact_for("phone:+85512345678")
    patient = WorkItem("m1", "owner:m1", "sms", contact, "support", clock.now(), patient=True)
    await core.registry.ask(ROUTER, Enqueue(patient))
    await core.close()

    core, owner = await open_core(path, clock)
    clock.advance(700)  # past the queue's max_wait (600 s)
    await settle()
    assert owner.got == []  # no treatment
    item = await core.registry.ask(ROUTER, GetItem("m1"))
    assert item is not None and item["position"] == 1
    await core.close()
