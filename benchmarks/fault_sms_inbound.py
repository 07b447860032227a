"""Inbound SMS under faults, through `switch run` and a simulated modem with 10 SIM slots.

    PYTHONPATH=. .venv/bin/python benchmarks/fault_sms_inbound.py [--seed N] [--senders N]

Each scenario starts a standalone simulated modem (its SIM and the network outlive the
switch) and `switch run`, has the network deliver the same traffic — per sender one
2,000-character Khmer SMS (30 UCS-2 parts), one 3-part GSM-7 SMS sent out of order with
a duplicated part, and two single SMS — and counts, from the journeys, what arrived:

- ``baseline``: no fault;
- ``kill9``: SIGKILL of the switch every 1-3 s while the parts stream in (one every
  50 ms), then restart;
- ``atz``: a technician's ``ATZ`` every 1-2 s (CNMI back to 0,0,0,0,0: no +CMTI, status
  reports dropped) with ``[sms] health_interval = 1``;
- ``cmt_kill9``: every part pushed with ``+CMT`` (acknowledged only once durable) and
  SIGKILL every 1-3 s.

Printed per scenario: messages and parts sent, messages received, lost, duplicated,
incomplete, the faults injected, and the seconds until everything had arrived.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.gsm.simulator import Delivery, SimulatorProcess  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.integration.switchproc import SwitchProcess  # noqa: E402

TECH = "tech-token-for-tests"
KHMER = "ក" * 1000 + "ខ" * 1000


def config(http: int, link: Path, health: float) -> str:
    return f"""
[store]
path = "data/switch.db"
[numbers]
default_region = "KH"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
technician_tokens = ["{TECH}"]
[[modems]]
id = "gsm1"
port = "{link}"
profile = "huawei_e173"
[sms]
default_modem = "gsm1"
health_interval = {health}
"""


def traffic(senders: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(sender, text, Delivery fields) per message."""
    out = []
    for i in range(senders):
        sender = f"+8551200{i:04d}"
        out.append((sender, f"#{i} " + KHMER, {}))
        out.append(
            (sender, f"#{i} three parts " + "x" * 400, {"order": [3, 1, 2], "duplicate": [2]})
        )
        out.append((sender, f"#{i} short one", {}))
        out.append((sender, f"#{i} short two សួស្តី", {}))
    return out


def received(sw: SwitchProcess, senders: set[str]) -> tuple[Counter[tuple[str, str]], int]:
    got: Counter[tuple[str, str]] = Counter()
    incomplete = 0
    for sender in senders:
        status, found = sw.get("/api/v1/contacts?phone=" + urllib.parse.quote(sender))
        if status != 200 or not found:
            continue
        _, journey = sw.get(f"/api/v1/contacts/{found[0]['id']}/journey")
        for event in journey:
            if event["kind"] == "message_in":
                got[(sender, event["text"])] += 1
                incomplete += bool(event.get("incomplete"))
    return got, incomplete


def wait_ready(sw: SwitchProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sw.get("/api/v1/modems")[1][0]["state"] == "ready":
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"modem not ready:\n{sw.stderr_text()[-2000:]}")


def scenario(name: str, seed: int, senders: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}-{name}")
    tmp = Path(tempfile.mkdtemp(prefix=f"fault-{name}-"))
    sim = SimulatorProcess.spawn(
        tmp / "modem",
        profile="huawei",
        options={"storage_size": 10, "timing": {"report_delay": 0.1, "cmgs_delay": 0.02}},
    )
    sim.client.request_sync("set_timing", command_delay=0.005)
    http = free_port()
    cfg = config(http, sim.link, 1.0 if name == "atz" else 15.0)
    messages = traffic(senders)
    expected = Counter((s, t) for s, t, _ in messages)
    senders_of = {s for s, _, _ in messages}
    mode = "cmt" if name == "cmt_kill9" else "auto"
    parts = 0
    faults = 0
    sw = SwitchProcess(cfg, tmp, http).start()
    wait_ready(sw)
    t0 = time.monotonic()
    done = threading.Event()

    def network() -> None:
        nonlocal parts
        for sender, text, options in messages:
            delivery = Delivery(mode=mode, interval=0.05, **options)
            reply = sim.client.deliver_sms_sync(sender, text, delivery)
            parts += len(reply["pdus"])
            time.sleep(len(reply["pdus"]) * 0.05 + rng.uniform(0.0, 0.3))
        done.set()

    def streaming() -> bool:  # the network is still handing parts to the modem
        return not done.is_set() or bool(sim.client.state_sync()["network_pending"])

    feeder = threading.Thread(target=network, daemon=True)
    feeder.start()
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            got, incomplete = received(sw, senders_of)
            if done.is_set() and sum(got.values()) >= len(messages):
                break
            if name in ("kill9", "cmt_kill9") and streaming():
                time.sleep(rng.uniform(1.0, 3.0))
                sw.kill9()
                faults += 1
                time.sleep(rng.uniform(0.0, 0.5))
                sw = SwitchProcess(cfg, tmp, http).start()
                wait_ready(sw)
            elif name == "atz" and streaming():
                time.sleep(rng.uniform(1.0, 2.0))
                sw.token = TECH
                status, _ = sw.post("/api/v1/modems/gsm1/at", {"command": "ATZ"})
                sw.token = "secret-token-for-tests"
                faults += status == 200
            else:
                time.sleep(0.2)
        elapsed = time.monotonic() - t0
        time.sleep(2.0)  # a late duplicate would show up now
        got, incomplete = received(sw, senders_of)
        state = sim.client.state_sync()
        return {
            "scenario": name,
            "messages": len(messages),
            "parts": parts,
            "received": sum(got.values()),
            "lost": sum((expected - got).values()),
            "duplicated": sum((got - expected).values()),
            "incomplete": incomplete,
            "faults": faults,
            "left_on_sim": state["storage"]["used"] + state["network_pending"],
            "seconds": round(elapsed, 1),
        }
    finally:
        if sw.proc is not None and sw.proc.poll() is None:
            sw.terminate()
        sim.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--senders", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=["baseline", "kill9", "atz", "cmt_kill9"])
    args = parser.parse_args()
    columns = ["scenario", "messages", "parts", "received", "lost", "duplicated", "incomplete"]
    columns += ["faults", "left_on_sim", "seconds"]
    print(" | ".join(columns))
    for name in args.only:
        row = scenario(name, args.seed, args.senders)
        print(" | ".join(str(row[c]) for c in columns), flush=True)


if __name__ == "__main__":
    main()
