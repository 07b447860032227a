"""Callbacks: the pure state machine, and the service with a real store (places kept
across a restart, asked twice is one callback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from actors import callback as cb
from actors.queue import QueueOffer
from base.clock import FakeClock
from base.errors import ProtocolError
from switch.api.app import create_api
from switch.center.api import center_routers
from switch.config import parse_config
from switch.core import Core
from switch.store import Store

AUTH = {"Authorization": "Bearer secret-token-for-tests"}


def fresh(**kw: Any) -> cb.CallbackState:
    base = cb.CallbackState("cb1", "+85512345678", "support", "k1", 100.0, 150.0)
    return cb.CallbackState(**{**base.to_json(), **kw, "policy": cb.CallbackPolicy(attempts=2)})  # type: ignore[arg-type]


def run(state: cb.CallbackState, *msgs: Any) -> tuple[cb.CallbackState, list[Any]]:
    effects: list[Any] = []
    for m in msgs:
        state, more = cb.decide(state, m, 200.0)
        effects += more
    return state, effects


def test_the_item_keeps_the_customers_first_time_in_the_queue() -> None:
    item = fresh().item()
    assert (item.kind, item.enqueued_at, item.owner) == ("callback", 100.0, "callback:cb1")


def test_offer_calls_the_agent_first_and_takes_the_item_once_placed() -> None:
    state, effects = run(fresh(), QueueOffer("cb1", "alice"))
    assert state.state == "dialing" and cb.PlaceCall("alice") in effects
    assert not any(isinstance(e, cb.TakeFromQueue) for e in effects)
    state, effects = run(state, cb.CallPlaced("c9"))
    assert cb.TakeFromQueue("alice") in effects and state.attempts == 1
    assert any(isinstance(e, cb.Journey) and e.kind == "callback_dialed" for e in effects)
    state, _ = run(state, cb.CustomerAnswered("c9"))
    assert state.state == "connected"
    state, effects = run(state, cb.CallOutcome("c9", True, True, "customer_hangup"))
    assert state.state == "done"


def test_a_call_not_placed_declines_the_offer() -> None:
    state, effects = run(fresh(), QueueOffer("cb1", "alice"), cb.CallNotPlaced("busy"))
    assert state.state == "waiting" and cb.DeclineOffer("alice") in effects


def test_agent_away_puts_it_back_at_its_place_and_counts_a_missed_ring() -> None:
    state, effects = run(
        fresh(),
        QueueOffer("cb1", "alice"),
        cb.CallPlaced("c9"),
        cb.CallOutcome("c9", False, False, "agent_hangup"),
    )
    assert state.state == "waiting" and cb.BackInQueue() in effects
    assert cb.AgentMissed("alice") in effects
    assert state.item().enqueued_at == 100.0


def test_a_customer_who_does_not_answer_is_tried_again_then_told_by_sms() -> None:
    state, effects = run(
        fresh(),
        QueueOffer("cb1", "alice"),
        cb.CallPlaced("c9"),
        cb.CallOutcome("c9", True, False, "no_answer"),
    )
    assert state.state == "retry_wait" and cb.WakeAfter(120.0, 1) in effects
    state, effects = run(state, cb.Retry(1))
    assert state.state == "waiting" and cb.BackInQueue() in effects
    state, effects = run(
        state,
        QueueOffer("cb1", "bob"),
        cb.CallPlaced("c10"),
        cb.CallOutcome("c10", True, False, "busy"),
    )
    assert state.state == "failed" and state.reason == "busy (2x)"
    assert cb.Notify("failed") in effects


def test_a_restart_during_a_call_puts_it_back_in_the_queue() -> None:
    state, _ = run(fresh(), QueueOffer("cb1", "alice"), cb.CallPlaced("c9"))
    state, effects = run(state, cb.Recovered())
    assert state.state == "waiting" and cb.BackInQueue() in effects


def test_the_table_refuses_what_a_state_cannot_do() -> None:
    with pytest.raises(ProtocolError):
        cb.next_state("done", "offered")
    assert {t for row in cb.TRANSITIONS.values() for t in row.values()} <= set(cb.TRANSITIONS)


CONFIG: dict[str, Any] = {
    "api": {"tokens": ["secret-token-for-tests"]},
    "queues": [{"id": "support", "callback": True}],
    "agents": [{"id": "alice"}],
}


async def open_core(path: Path, clock: FakeClock) -> Core:
    core = Core(
        parse_config({**CONFIG, "store": {"path": str(path)}}), await Store.open(path), clock
    )
    await core.start_contact_center()
    return core


async def test_callbacks_through_the_api_keep_their_places_across_a_restart(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    path = tmp_path / "s.db"
    core = await open_core(path, clock)
    app = create_api(core, center_routers())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ids = []
        for n, phone in enumerate(["+85512000001", "012 000 002", "+85512000003"]):
            clock.advance(1.0)
            r = await c.post("/api/v1/callbacks", json={"phone": phone}, headers=AUTH)
            assert r.status_code == 202, r.text
            assert r.json()["position"] == n + 1
            ids.append(r.json()["id"])
        again = await c.post("/api/v1/callbacks", json={"phone": "+85512000002"}, headers=AUTH)
        assert again.json()["id"] == ids[1]  # asked twice: one callback, its first place
        bad = await c.post("/api/v1/callbacks", json={"phone": "+855", "queue": "x"}, headers=AUTH)
        assert bad.status_code in (400, 422)
        nope = await c.post(
            "/api/v1/callbacks", json={"phone": "+85512000009", "queue": "nope"}, headers=AUTH
        )
        assert nope.status_code == 422 and nope.json()["error"]["code"] == "unknown_queue"
    await core.close()

    core = await open_core(path, clock)
    app = create_api(core, center_routers())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        views = [(await c.get(f"/api/v1/callbacks/{i}", headers=AUTH)).json() for i in ids]
        assert [(v["state"], v["position"]) for v in views] == [
            ("waiting", 1),
            ("waiting", 2),
            ("waiting", 3),
        ]
        assert views[1]["phone"] == "+85512000002" and views[1]["queue"] == "support"
        missing = await c.get("/api/v1/callbacks/cbnothing", headers=AUTH)
        assert missing.status_code == 404
        listing = (await c.get("/api/v1/callbacks", headers=AUTH)).json()
        assert [(v["id"], v["position"]) for v in listing] == list(zip(ids, [1, 2, 3], strict=True))
        journey = (
            await c.get(f"/api/v1/contacts/{views[0]['contact_id']}/journey", headers=AUTH)
        ).json()
        assert [e["kind"] for e in journey] == ["callback_requested", "queued"]
    await core.close()


async def test_a_caller_who_pressed_1_keeps_the_place_taken_on_joining(tmp_path: Path) -> None:
    clock = FakeClock()
    core = await open_core(tmp_path / "s.db", clock)
    joined = clock.now()
    clock.advance(60.0)
    api = await core.callbacks.request("+85512000001", "support")
    clock.advance(30.0)
    # the caller who joined before the API's callback presses 1 now: ahead of it
    pressed = await core.callbacks.request(
        "+85512000002", "support", queued_at=joined, language="km"
    )
    views = [await core.callbacks.view(i) for i in (pressed.id, api.id)]
    assert [(v["state"], v["position"]) for v in views] == [("waiting", 1), ("waiting", 2)]
    assert pressed.language == "km" and pressed.queued_at == joined
    await core.close()
