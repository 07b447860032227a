"""GET /metrics: the queues' and agents' live metrics follow what the actors write."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from actors.agent import AgentEvent, SetIntent
from actors.queue import WorkItem
from actors.router import ROUTER
from actors.routing import Accepted, Enqueue, Withdraw
from base.clock import FakeClock
from switch.api.app import create_api
from switch.config import parse_config
from switch.core import Core
from switch.phone import phone_identity
from switch.store import Store, Write


def value(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


async def test_counters_gauges_and_the_rolling_service_level(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "api": {"tokens": ["secret-token-for-tests"]},
            "queues": [{"id": "metered", "service_level": 10}],
            "agents": [{"id": "mia"}],
        }
    )
    clock = FakeClock()
    core = Core(cfg, await Store.open(cfg.store.path), clock)
    await core.start_contact_center()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_api(core)), base_url="http://t"
    )
    try:
        contact = await core.directory.contact_for(phone_identity("+85512345678"))

        def item(n: int) -> WorkItem:
            return WorkItem(f"m{n}", f"call:m{n}", "voice", contact, "metered", clock.now())

        # signed in but on break: the items wait (nobody is offered them)
        await core.registry.ask("agent:mia", AgentEvent("registered", clock.now()))
        await core.registry.ask("agent:mia", SetIntent("break", clock.now(), "lunch"))
        for n in range(4):
            await core.registry.ask(ROUTER, Enqueue(item(n)))
        clock.advance(3)
        await core.registry.ask(ROUTER, Withdraw("m0", "abandoned"))  # short
        clock.advance(5)
        await core.registry.ask(ROUTER, Accepted("m1", "mia"))  # 8 s: within 10
        clock.advance(30)
        await core.registry.ask(ROUTER, Withdraw("m2", "abandoned"))
        await core.store.write(Write())
        text = (await client.get("/metrics")).text
        assert value(text, "switch_queue_offered_total", queue="metered") == 4
        assert value(text, "switch_queue_answered_total", queue="metered") == 1
        assert value(text, "switch_queue_abandoned_total", queue="metered") == 1
        assert value(text, "switch_queue_short_abandoned_total", queue="metered") == 1
        assert value(text, "switch_queue_waiting", queue="metered") == 1
        assert value(text, "switch_queue_longest_wait_seconds", queue="metered") == 38
        assert value(text, "switch_queue_service_level", queue="metered") == 0.5
        assert value(text, "switch_agents", state="break") == 1
        assert value(text, "switch_agents", state="offline") == 0
        clock.advance(1800)  # m3 was treated at max_wait (600 s); the rest left the window
        await core.store.write(Write())
        text = (await client.get("/metrics")).text
        assert value(text, "switch_queue_treated_total", queue="metered") == 1
        assert value(text, "switch_queue_service_level", queue="metered") == 0.0
        clock.advance(1900)
        text = (await client.get("/metrics")).text
        assert value(text, "switch_queue_service_level", queue="metered") is None
    finally:
        await client.aclose()
        await core.close()
