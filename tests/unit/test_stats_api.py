"""GET /api/v1/stats over the events the real actors write (router, agents, contacts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from actors.agent import AgentEvent, GetAgent, SetIntent
from actors.messages import CallEvent
from actors.queue import WorkItem
from actors.router import ROUTER
from actors.routing import Accepted, Enqueue, Withdraw
from base.clock import FakeClock
from switch.api.app import create_api
from switch.center.stats import HOUR_FIELDS, box_zone, parse_range
from switch.config import parse_config
from switch.core import Core
from switch.phone import phone_identity
from switch.store import Store, Write

AUTH = {"Authorization": "Bearer secret-token-for-tests"}
T0 = datetime(2026, 5, 4, 9, 0, tzinfo=box_zone()).timestamp()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Core, FakeClock, httpx.AsyncClient]]:
    cfg = parse_config(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "api": {"tokens": ["secret-token-for-tests"]},
            "queues": [
                {"id": "support", "service_level": 20, "wrap_up": 30},
                {"id": "sales", "skills": ["sales"]},
            ],
            "agents": [{"id": "alice", "skills": ["sales"]}, {"id": "bob"}],
        }
    )
    clock = FakeClock(T0)
    core = Core(cfg, await Store.open(cfg.store.path), clock)
    await core.start_contact_center()
    transport = httpx.ASGITransport(app=create_api(core))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield core, clock, client
    await core.close()


async def agent(core: Core, agent_id: str, event: str, call: str | None = None) -> None:
    now = core.clock.now()
    await core.registry.ask(f"agent:{agent_id}", AgentEvent(event, now, call, wrap_up=30))


async def test_a_day_through_the_real_actors(env: Any) -> None:
    core, clock, c = env
    for name in ("alice", "bob"):
        await agent(core, name, "registered")
        await core.registry.ask(f"agent:{name}", SetIntent("ready", clock.now()))
    ann = await core.directory.contact_for(phone_identity("+85512345678"))
    ben = await core.directory.contact_for(phone_identity("+85512345679"))
    clock.advance(60)
    item = WorkItem("call-1", "call:call-1", "voice", ann, "support", clock.now())
    await core.registry.ask(ROUTER, Enqueue(item))
    await agent(core, "alice", "ring", "call-1")
    clock.advance(12)
    await agent(core, "alice", "answered")
    await core.registry.ask(ROUTER, Accepted("call-1", "alice"))
    await core.registry.ask(
        f"contact:{ann}", CallEvent("call-1", "answered", clock.now(), agent="alice")
    )
    clock.advance(100)
    await core.registry.ask(
        f"contact:{ann}", CallEvent("call-1", "ended", clock.now(), agent="alice")
    )
    await agent(core, "alice", "hangup")
    clock.advance(30)  # the wrap-up ends by its timer
    state = await core.registry.ask("agent:alice", GetAgent())
    assert state.status == "available"
    # ben gives up after 40 s
    await core.registry.ask(
        ROUTER, Enqueue(WorkItem("call-2", "call:call-2", "voice", ben, "sales", clock.now()))
    )
    clock.advance(40)
    await core.registry.ask(ROUTER, Withdraw("call-2", "abandoned"))
    await core.store.write(Write())  # after the presence writes submitted before it

    r = await c.get("/api/v1/stats", headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["offered"], body["answered"], body["abandoned"]) == (2, 1, 1)
    assert body["service_level"] == 1 / 2 and body["abandon_rate"] == 1 / 2
    assert body["asa"] == 12.0
    assert body["aht"] == 130.0  # 100 s talk + 30 s wrap-up
    assert body["fcr"] == 1.0
    assert body["channels"]["voice"] == {"offered": 2, "answered": 1, "abandoned": 1}
    assert body["short_abandon_threshold"] == 5.0
    assert 0 < body["occupancy"] < 1
    sales = (await c.get("/api/v1/stats", params={"queue": "sales"}, headers=AUTH)).json()
    assert (sales["offered"], sales["answered"], sales["abandoned"]) == (1, 0, 1)
    yesterday = (datetime.fromtimestamp(T0, box_zone()).date() - timedelta(days=1)).isoformat()
    r = await c.get("/api/v1/stats", params={"since": yesterday, "until": yesterday}, headers=AUTH)
    assert r.json()["offered"] == 0


async def test_the_default_range_is_today_in_the_boxs_time_zone(env: Any) -> None:
    _, _, c = env
    body = (await c.get("/api/v1/stats", headers=AUTH)).json()
    midnight = datetime.combine(datetime.fromtimestamp(T0, box_zone()).date(), time(), box_zone())
    assert datetime.fromisoformat(body["since"]) == midnight
    assert datetime.fromisoformat(body["until"]) == midnight + timedelta(days=1)
    assert body["offered"] == 0 and body["service_level"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "2026-13-01"},
        {"since": "2026-05-04T10:00", "until": "2026-05-04T09:00"},
        {"since": "2020-01-01", "until": "2026-01-01"},
        {"queue": "nope"},
    ],
)
async def test_bad_values_are_422_with_the_error_body(env: Any, params: dict[str, str]) -> None:
    _, _, c = env
    r = await c.get("/api/v1/stats", params=params, headers=AUTH)
    assert r.status_code == 422
    assert set(r.json()["error"]) == {"code", "message"}


def test_dates_times_and_offsets() -> None:
    zone = box_zone()
    start, end = parse_range("2026-05-01", "2026-05-01", T0, zone)
    assert datetime.fromtimestamp(start, zone) == datetime(2026, 5, 1, tzinfo=zone)
    assert datetime.fromtimestamp(end, zone) == datetime(2026, 5, 2, tzinfo=zone)
    start, end = parse_range("2026-05-01T08:00:00Z", "2026-05-01T16:30+07:00", T0, zone)
    assert start == datetime(2026, 5, 1, 8, 0, tzinfo=UTC).timestamp()
    assert end - start == 5400
    start, _ = parse_range("2026-05-01T08:00", None, T0, zone)  # a local time
    assert start == datetime(2026, 5, 1, 8, 0, tzinfo=zone).timestamp()


async def test_by_hour_gives_the_figures_of_each_hour_begun(env: Any) -> None:
    core, clock, c = env
    ben = await core.directory.contact_for(phone_identity("+85512345679"))
    clock.advance(30 * 60)  # 09:30: ben waits 40 s and is gone
    await core.registry.ask(
        ROUTER, Enqueue(WorkItem("call-2", "call:call-2", "voice", ben, "sales", clock.now()))
    )
    clock.advance(40)
    await core.registry.ask(ROUTER, Withdraw("call-2", "abandoned"))
    await core.store.write(Write())
    clock.advance(3600)  # 10:30
    body = (await c.get("/api/v1/stats", params={"by": "hour"}, headers=AUTH)).json()
    hours = body["hours"]
    assert len(hours) == 11  # 00:00 .. 10:00, the hours begun
    midnight = datetime.fromisoformat(body["since"])
    assert [datetime.fromisoformat(h["since"]) - midnight for h in hours] == [
        timedelta(hours=n) for n in range(11)
    ]
    assert [h["offered"] for h in hours] == [0] * 9 + [1, 0]
    # all of the day happened between 09:00 and 10:00: that hour's figures are the day's
    assert {k: v for k, v in hours[9].items() if k != "since"} == {k: body[k] for k in HOUR_FIELDS}
    assert hours[10]["service_level"] is None and hours[0]["asa"] is None
    assert body["offered"] == 1  # the day's figures are there as before
    assert "hours" not in (await c.get("/api/v1/stats", headers=AUTH)).json()
    r = await c.get(
        "/api/v1/stats", params={"by": "hour", "since": "2026-05-01", "until": "2026-05-04"},
        headers=AUTH,
    )  # fmt: skip
    assert r.status_code == 422 and "48 hours" in r.json()["error"]["message"]
    assert (await c.get("/api/v1/stats", params={"by": "day"}, headers=AUTH)).status_code == 422
