"""Widget chat: a customer's message from the page's socket to the agent's desktop socket,
with many chats open.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_widget.py [chats] [messages] [rate]

A server process (the core and the API under uvicorn, as ``switch run`` serves them,
without SIP or modems) with 20 agents (``max_chats`` = chats / 20), each reachable. This
process signs every agent in and keeps one desktop socket (``/api/v1/ws``) per agent
open; then opens ``chats`` widget pages (``POST /widget/session``, then ``/widget/ws``),
each writes a first message: the chats are assigned, and every agent's desktop watches
the contacts of its chats (``{"watch": [...]}``). Measured: pages write ``messages``
more messages each, ``rate`` a second over all pages (below the per-address limit: all
pages come from 127.0.0.1); for each, the time from the page's ``send`` to the
``journey`` event with its text at the agent's socket, parsed (one clock: both ends are
in this process).

The store's group commits over 50 ms are counted (from ``/metrics``): every message is
durable in the journey before anybody sees it, so a slow fsync holds the messages behind
it.

Baseline in the same run, through the same server and the same client loop: a relay
mounted only in the benchmark's server (``/bench/page`` -> ``/bench/agent``), the page
sockets' frames forwarded unchanged to the agents' sockets (WebSocket and uvicorn cost,
no switch).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-1"
AGENTS = 20
SHOP = "https://shop.example"


# --------------------------------------------------------------------- server


async def serve(port: int, chats: int, workdir: str) -> None:
    import uvicorn
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from actors.agent import AgentEvent
    from base.logs import configure_logging
    from switch.api.app import create_api
    from switch.center.api import center_routers
    from switch.config import parse_config
    from switch.core import Core
    from switch.passwords import hash_password

    configure_logging("warning")  # JSON on stderr; stdout is this script's protocol
    pw_hash = hash_password(PASSWORD)
    ids = [f"a{n:02d}" for n in range(AGENTS)]
    per_agent = -(-chats // AGENTS)
    config = parse_config(
        {
            "store": {"path": f"{workdir}/switch.db"},
            "api": {"tokens": ["bench-token-0123456789"]},
            "queues": [{"id": "support"}],
            "widget": {
                "allowed_origins": [SHOP],
                "queue": "support",
                "messages_per_minute": 600,
                "connections_per_minute": 10_000,
            },
            "agents": [
                {"id": i, "name": f"Agent {i}", "password_hash": pw_hash, "max_chats": per_agent}
                for i in ids
            ],
        }
    )
    core = await Core.open(config)
    for agent in ids:
        await core.registry.ask(f"agent:{agent}", AgentEvent("registered", core.clock.now()))
    app = create_api(core, center_routers())
    relays: dict[int, WebSocket] = {}

    async def relay_agent(ws: WebSocket) -> None:
        await ws.accept()
        relays[int(ws.query_params["n"])] = ws
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await ws.receive_text()

    async def relay_page(ws: WebSocket) -> None:
        await ws.accept()
        to = int(ws.query_params["to"])
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await relays[to].send_text(await ws.receive_text())

    app.router.add_websocket_route("/bench/agent", relay_agent)
    app.router.add_websocket_route("/bench/page", relay_page)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.should_exit = True
    await task
    await core.close()


# ------------------------------------------------------------------- clients


class Desk:
    """One agent's desktop socket: watches its chats' contacts, notes arrivals."""

    def __init__(self, agent: str, arrivals: dict[str, float]) -> None:
        self.agent = agent
        self.arrivals = arrivals
        self.contacts: set[str] = set()
        self.ws: Any = None

    async def open(self, port: int) -> None:
        import httpx
        import websockets

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            r = await c.post("/api/v1/login", json={"user": self.agent, "password": PASSWORD})
            r.raise_for_status()
            cookie = f"switch_session={c.cookies['switch_session']}"
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/api/v1/ws", additional_headers={"Cookie": cookie}
        )

    async def run(self) -> None:
        async for raw in self.ws:
            arrived = time.perf_counter()
            message = json.loads(raw)
            kind, data = message["type"], message["data"]
            if kind == "conversation" and data.get("agent") == self.agent:
                if data["contact_id"] not in self.contacts:
                    self.contacts.add(data["contact_id"])
                    await self.ws.send(json.dumps({"watch": sorted(self.contacts)}))
            elif kind == "journey" and data["event"]["kind"] == "message_in":
                self.arrivals.setdefault(data["event"].get("text", ""), arrived)


class Page:
    """One customer's widget: the cookie, then the socket."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ws: Any = None

    async def open(self, port: int) -> None:
        import httpx
        import websockets

        async with httpx.AsyncClient(timeout=60) as c:
            r = await c.post(f"http://127.0.0.1:{port}/widget/session", headers={"Origin": SHOP})
            r.raise_for_status()
            cookie = r.cookies["edge_visitor"]
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/widget/ws",
            additional_headers={"Cookie": f"edge_visitor={cookie}", "Origin": SHOP},
        )

    async def say(self, text: str, ref: str) -> None:
        await self.ws.send(json.dumps({"type": "send", "id": ref, "text": text}))

    async def drain(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame["type"] == "error":
                raise SystemExit(f"page {self.n}: {frame}")


async def paced(sends: list[Any], rate: float, sent: dict[str, float]) -> None:
    """Run ``(key, coroutine factory)`` sends at ``rate`` a second, noting send times."""
    start = time.perf_counter()
    for i, (key, send) in enumerate(sends):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[key] = time.perf_counter()
        await send()


async def settle(arrivals: dict[str, float], keys: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(k not in arrivals for k in keys):
        await asyncio.sleep(0.1)


def slow_commits(port: int) -> tuple[float, float]:
    """The store's group commits so far (fsync included): how many, how many over 50 ms."""
    import httpx

    buckets: dict[str, float] = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        if line.startswith("switch_store_commit_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[le] = float(line.rsplit(" ", 1)[1])
    return buckets["+Inf"], buckets["+Inf"] - buckets["0.05"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latencies(sent: dict[str, float], arrivals: dict[str, float]) -> list[float]:
    return [(arrivals[k] - t) * 1000 for k, t in sent.items() if k in arrivals]


async def run(chats: int, messages: int, rate: float) -> None:
    import websockets

    from tests.conftest import free_port

    port = free_port()
    workdir = tempfile.mkdtemp()
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "serve", str(port), str(chats), workdir,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    while (await server.stdout.readline()).strip() != b"ready":
        pass
    arrivals: dict[str, float] = {}
    desks = [Desk(f"a{n:02d}", arrivals) for n in range(AGENTS)]
    await asyncio.gather(*(d.open(port) for d in desks))
    tasks = [asyncio.create_task(d.run()) for d in desks]
    pages = [Page(n) for n in range(chats)]
    for batch in range(0, chats, 20):
        await asyncio.gather(*(p.open(port) for p in pages[batch : batch + 20]))
    tasks += [asyncio.create_task(p.drain()) for p in pages]

    # every page opens its chat; the agents' desks start watching
    opened: dict[str, float] = {}
    firsts = [(f"hello {p.n}", lambda p=p: p.say(f"hello {p.n}", "first")) for p in pages]
    await paced(firsts, rate, opened)
    await settle(arrivals, list(opened))
    watched = sum(len(d.contacts) for d in desks)
    await asyncio.sleep(1.0)

    sent: dict[str, float] = {}
    sends = [
        (f"m{k}.{p.n}", lambda p=p, k=k: p.say(f"m{k}.{p.n}", f"r{k}"))
        for k in range(messages)
        for p in pages
    ]
    await paced(sends, rate, sent)
    await settle(arrivals, list(sent))
    widget = latencies(sent, arrivals)
    commits = slow_commits(port)

    # baseline: the same number of sockets, frames relayed unchanged
    relay_arrivals: dict[str, float] = {}

    async def relay_desk(n: int) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/bench/agent?n={n}") as ws:
            async for raw in ws:
                relay_arrivals.setdefault(json.loads(raw)["text"], time.perf_counter())

    relay_tasks = [asyncio.create_task(relay_desk(n)) for n in range(AGENTS)]
    await asyncio.sleep(1.0)
    relay_pages = [
        await websockets.connect(f"ws://127.0.0.1:{port}/bench/page?to={n % AGENTS}")
        for n in range(chats)
    ]
    base_sent: dict[str, float] = {}

    def relay_send(ws: Any, key: str) -> Any:
        return lambda: ws.send(json.dumps({"type": "send", "id": "r", "text": key}))

    base = [
        (f"b{k}.{n}", relay_send(ws, f"b{k}.{n}"))
        for k in range(messages)
        for n, ws in enumerate(relay_pages)
    ]
    await paced(base, rate, base_sent)
    await settle(relay_arrivals, list(base_sent))
    baseline = latencies(base_sent, relay_arrivals)

    for task in tasks + relay_tasks:
        task.cancel()
    for ws in relay_pages:
        await ws.close()
    server.stdin.close()
    try:
        await asyncio.wait_for(server.wait(), 30)
    except TimeoutError:
        server.kill()
    print(f"open chats (widget sockets):      {chats}, watched by {AGENTS} desks: {watched}")
    print(f"messages:                         {len(widget)} of {len(sent)} at {rate:g}/s")
    print(
        f"page -> agent's socket (p50/p99/max): {statistics.median(widget):.1f} / "
        f"{pct(widget, 0.99):.1f} / {max(widget):.1f} ms   (goal p99 <= 50 ms)"
    )
    print(f"store group commits (whole run):  {commits[0]:.0f}, over 50 ms: {commits[1]:.0f}")
    print(
        f"baseline: raw relay (p50/p99/max):    {statistics.median(baseline):.1f} / "
        f"{pct(baseline, 0.99):.1f} / {max(baseline):.1f} ms   ({len(baseline)} frames)"
    )


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "serve":
        port, count, workdir = sys.argv[2:5]
        asyncio.run(serve(int(port), int(count), workdir))
        return
    args = [a for a in sys.argv[1:] if a]
    chats = int(args[0]) if args else 200
    messages = int(args[1]) if len(args) > 1 else 5
    rate = float(args[2]) if len(args) > 2 else 30.0
    asyncio.run(run(chats, messages, rate))


if __name__ == "__main__":
    main()
