"""The desktop's figures: how fast an offer reaches the agents' screens, how heavy the
first load is.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_desktop.py offer [agents] [rounds]
    PYTHONPATH=. .venv/bin/python benchmarks/bench_desktop.py load

``offer``: a server process (the core and the API under uvicorn, as ``switch run``
serves them, without SIP) with ``agents`` agents (default 50), each reachable, each
with a contact that has a short history. This process signs every agent in and keeps
one WebSocket per agent open. The server then rings the agents one after another (a
call record, then the agent's ``ring``, as the call service does), ``rounds`` times
each. For each ring: the time from the moment the agent actor turned to ringing (the
offer's ``offered_ts``) to the arrival of the ``offer`` with the caller's context at
that agent's socket, parsed. Baseline in the same run: the arrival of the plain
``agent`` state push for the same ring (no context to build).

``load``: `switch run` with the demo modem and an agent; Chromium (Debian's) loads
``/`` signed out (the sign-in page), then signs in and loads the desk afresh: bytes
transferred (every response, headers excluded) and time from navigation to the desk
being usable (its state buttons shown and the live socket's first message handled).
"""

from __future__ import annotations

import asyncio
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


# --------------------------------------------------------------------- server


async def serve(port: int, agents: int, rounds: int, workdir: str) -> None:
    import uvicorn

    from actors.agent import AgentEvent
    from actors.messages import InboundMessage
    from actors.store import Put, Write
    from base.logs import configure_logging
    from switch.api.app import create_api
    from switch.center.api import center_routers
    from switch.config import parse_config
    from switch.core import Core
    from switch.passwords import hash_password

    configure_logging("warning")  # JSON on stderr; stdout is this script's protocol
    pw_hash = hash_password(PASSWORD)
    ids = [f"a{n:02d}" for n in range(agents)]
    config = parse_config(
        {
            "store": {"path": f"{workdir}/switch.db"},
            "api": {"tokens": ["bench-token-0123456789"]},
            "queues": [{"id": "support"}],
            "agents": [{"id": i, "name": f"Agent {i}", "password_hash": pw_hash} for i in ids],
        }
    )
    core = await Core.open(config)
    now = core.clock.now()
    contacts = []
    for n, agent in enumerate(ids):
        number = f"+855121{n:05d}"
        contact = await core.directory.contact_for(f"phone:{number}")
        for k in range(3):
            message = InboundMessage("sms", "gsm1", number, f"message {k}", now, f"m{n}.{k}")
            await core.registry.ask(f"contact:{contact}", message)
        contacts.append((contact, number))
        await core.registry.ask(f"agent:{agent}", AgentEvent("registered", now))
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(core, center_routers()),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    while core.live.bus.listeners < agents:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    for r in range(rounds):
        for n, agent in enumerate(ids):
            call_id = f"call-{r}-{n}"
            contact, number = contacts[n]
            record = {"id": call_id, "contact_id": contact, "from": number, "state": "ringing"}
            await core.store.write(Write(puts=(Put("call", call_id, record),)))
            await core.registry.ask(f"agent:{agent}", AgentEvent("ring", core.clock.now(), call_id))
            await asyncio.sleep(0.02)
            await core.registry.ask(f"agent:{agent}", AgentEvent("no_answer", core.clock.now()))
    await asyncio.sleep(1.0)
    print("done", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.should_exit = True
    await task
    await core.close()


# ------------------------------------------------------------------- clients


async def agent_socket(
    port: int, agent: str, offers: list[float], pushes: dict[str, float], stop: asyncio.Event
) -> None:
    import httpx
    import websockets

    # 50 sign-ins at once queue for the password checks (two at a time): be patient
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
        r = await c.post("/api/v1/login", json={"user": agent, "password": PASSWORD})
        r.raise_for_status()
        cookie = f"switch_session={c.cookies['switch_session']}"
    ringing_at: float | None = None
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/api/v1/ws", additional_headers={"Cookie": cookie}
    ) as ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            arrived = time.time()
            message = json.loads(raw)
            if message["type"] == "agent" and message["data"]["state"] == "ringing":
                ringing_at = arrived
            elif message["type"] == "offer":
                data = message["data"]
                assert data["contact"]["last_contacts"], "the offer carries the context"
                offers.append(arrived - data["offered_ts"])
                if ringing_at is not None:
                    pushes[data["call"]["id"]] = ringing_at - data["offered_ts"]


async def _wait_for_line(stream: asyncio.StreamReader, line: bytes) -> None:
    while (await stream.readline()).strip() != line:
        pass


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_offer(agents: int, rounds: int) -> None:
    from tests.conftest import free_port

    port = free_port()
    workdir = tempfile.mkdtemp()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "serve",
        str(port),
        str(agents),
        str(rounds),
        workdir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert server.stdout is not None and server.stdin is not None
    while (await server.stdout.readline()).strip() != b"ready":
        pass
    offers: list[float] = []
    pushes: dict[str, float] = {}
    stop = asyncio.Event()
    clients = [
        asyncio.create_task(agent_socket(port, f"a{n:02d}", offers, pushes, stop))
        for n in range(agents)
    ]
    done = asyncio.create_task(_wait_for_line(server.stdout, b"done"))
    await asyncio.wait([done, *clients], return_when=asyncio.FIRST_COMPLETED)
    for client in clients:
        if client.done():  # a socket ends only when told to: this one failed
            server.kill()
            raise SystemExit(f"an agent's socket failed: {client.exception()!r}")
    await done
    stop.set()
    await asyncio.gather(*clients)
    server.stdin.close()
    try:
        await asyncio.wait_for(server.wait(), 30)
    except TimeoutError:
        print("the server did not stop within 30 s", file=sys.stderr)
        server.kill()
    ms = [x * 1000 for x in offers]
    base = [x * 1000 for x in pushes.values()]
    print(f"agents signed in (WebSockets):   {agents}")
    print(f"offers received:                 {len(ms)} of {agents * rounds}")
    print(
        f"offer with context (p50/p99/max): {statistics.median(ms):.1f} / "
        f"{pct(ms, 0.99):.1f} / {max(ms):.1f} ms   (goal p99 <= 200 ms)"
    )
    print(
        f"baseline: state push (p50/p99):  {statistics.median(base):.1f} / {pct(base, 0.99):.1f} ms"
    )


# ---------------------------------------------------------------------- load


def run_load() -> None:
    from switch.passwords import hash_password
    from tests.conftest import free_port
    from tests.integration.switchproc import SwitchProcess
    from tests.web.browser import chromium

    port = free_port()
    workdir = Path(tempfile.mkdtemp())
    text = f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{port}"
[api]
tokens = ["bench-token-0123456789"]
[[modems]]
id = "gsm1"
simulated = true
[[agents]]
id = "alice"
name = "Alice"
password_hash = "{hash_password(PASSWORD)}"
"""
    sw = SwitchProcess(text, workdir, port).start(timeout=60)
    url = f"http://127.0.0.1:{port}/"
    try:
        with chromium() as browser:
            context = browser.new_context()
            page = context.new_page()
            sizes: list[int] = []

            def count(response: Any) -> None:
                try:
                    sizes.append(len(response.body()))
                except Exception:
                    sizes.append(0)

            page.on("response", count)
            page.goto(url)
            page.get_by_label("User").wait_for()
            login_bytes, login_files = sum(sizes), len(sizes)
            page.get_by_label("User").fill("alice")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="My state").wait_for()
            times = []
            desk_bytes = desk_files = 0
            for _ in range(5):
                fresh = context.new_page()
                sizes = []
                fresh.on("response", count)
                fresh.route("**/*", lambda route: route.continue_())  # no HTTP cache
                fresh.goto(url, wait_until="commit")
                fresh.get_by_role("button", name="Available").wait_for()
                fresh.wait_for_function("document.querySelector('.queues table') !== null")
                times.append(fresh.evaluate("performance.now()"))
                desk_bytes, desk_files = sum(sizes), len(sizes)
                fresh.close()
    finally:
        sw.terminate(timeout=30)
    print(f"sign-in page, first load:       {login_bytes / 1024:.1f} KB in {login_files} responses")
    print(
        f"agent desk, first load:          {desk_bytes / 1024:.1f} KB in {desk_files} responses"
        "   (goal <= 300 KB)"
    )
    print(
        f"desk usable after navigation:    median {statistics.median(times):.0f} ms, "
        f"max {max(times):.0f} ms (5 loads)"
    )


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "offer"
    if what == "serve":
        port, agents, rounds, workdir = sys.argv[2:6]
        asyncio.run(serve(int(port), int(agents), int(rounds), workdir))
    elif what == "offer":
        agents = int(sys.argv[2]) if len(sys.argv) > 2 else 50
        rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
        asyncio.run(run_offer(agents, rounds))
    elif what == "load":
        run_load()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
