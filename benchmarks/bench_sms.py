"""SMS through `switch run` on standalone simulated modems, measured from outside.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_sms.py [--latency 60] [--per-modem 200]

Everything runs as in production: the switch is its own process (`switch run --config`)
with `[[modems]]` ports that are real ptys of simulated modems in their own processes
(`python -m drivers.gsm.simulator`). Times come from the simulator's AT transcript (wall
clock, one entry per line it received or wrote) and from the journey's ``at``; every
process is on this host, so they share one clock.

1. Latency the switch adds between ``+CMTI`` and the journey entry, one SMS at a time:

   - ``+CMTI -> AT+CMGD``: from the modem raising ``+CMTI`` to the modem receiving the
     delete. The driver deletes only after the core's durable write returned (store
     before delete), so this is an upper bound of "+CMTI -> durably in the journey".
   - the modem's own part, subtracted: its answer time to ``AT+CMGR`` (from receiving the
     command to writing the final ``OK``), which the switch waits for but does not cause.
   - ``+CMTI -> journey at``: when the core received the message (before the commit).

   Measured with a modem that answers at once and with one that takes 20 ms per command
   (``command_delay``), to show the subtraction isolates the switch. Baseline in the same
   run: a bare AT client (:class:`~drivers.gsm.simulator.terminal.RawTerminal`, no
   switch code) doing the same ``+CMTI -> AT+CMGR -> AT+CMGD`` dialogue on the same
   simulator, measured the same way. Goal: added <= 50 ms.

2. Throughput across 4 simulated modems at their fastest (no command, submit or report
   delay) with a per-SIM rate limit far above what is sent:

   - in: every modem receives K SMS at once (+CMTI each); from the first delivery to the
     last ``AT+CMGD`` any modem received, i.e. all stored durably;
   - out: 4 x K ``POST /api/v1/messages`` (8 client threads, each message to its modem),
     from the first POST to the last part the network accepted (``+CMGS``); status
     reports are requested and processed as in production.

   Baseline in the same run: the simulators' own maximum, 4 bare AT clients at once
   doing the same dialogues (read + delete; ``AT+CMGS`` with ready-made PDUs).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
import urllib.parse
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.gsm.pdu import encode_submit  # noqa: E402
from drivers.gsm.simulator import SimulatorProcess  # noqa: E402
from drivers.gsm.simulator.terminal import RawTerminal  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.integration.switchproc import SwitchProcess  # noqa: E402

FAST = {"cmgs_delay": 0.0, "report_delay": 0.05, "ready_delay": 0.0, "command_delay": 0.0}
CMTI = re.compile(r'\+CMTI: "\w+",(\d+)')
CMTI_BYTES = re.compile(rb'\+CMTI: "\w+",(\d+)\r\n')


def _epoch(at: str | float) -> float:
    """A journey's ``at`` (ISO 8601, UTC) as seconds since the epoch."""
    if isinstance(at, (int, float)):
        return float(at)
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def spawn(folder: Path, name: str) -> SimulatorProcess:
    return SimulatorProcess.spawn(
        folder,
        name=name,
        profile="huawei",
        options={"storage_size": 255, "transcript_lines": 50_000, "timing": FAST},
    )


def switch_config(http: int, sims: list[SimulatorProcess]) -> str:
    modems = "".join(
        f"""
[[modems]]
id = "sim{i}"
port = "{sim.link}"
profile = "huawei_e173"
rate_per_minute = 1000000
"""
        for i, sim in enumerate(sims)
    )
    return f"""
[store]
path = "data/switch.db"
[numbers]
default_region = "KH"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
{modems}
[sms]
default_modem = "sim0"
"""


def start_switch(workdir: Path, sims: list[SimulatorProcess]) -> SwitchProcess:
    http = free_port()
    sw = SwitchProcess(switch_config(http, sims), workdir, http).start()
    deadline = time.monotonic() + 20
    while {m["state"] for m in sw.get("/api/v1/modems")[1]} != {"ready"}:
        if time.monotonic() > deadline:
            raise SystemExit(f"modems not ready:\n{sw.stderr_text()[-2000:]}")
        time.sleep(0.05)
    return sw


def journey(sw: SwitchProcess, phone: str) -> list[dict[str, Any]]:
    status, found = sw.get("/api/v1/contacts?phone=" + urllib.parse.quote(phone))
    if status != 200 or not found:
        return []
    return list(sw.get(f"/api/v1/contacts/{found[0]['id']}/journey")[1])


# ------------------------------------------------------------------------- latency


def dialogue_times(lines: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Per +CMTI: its time, the CMGR it got (in, final) and the CMGD's arrival."""
    out: list[dict[str, float]] = []
    open_: dict[int, dict[str, float]] = {}
    reading: tuple[int, dict[str, float]] | None = None
    for line in lines:
        text, at, direction = line["text"], float(line["at"]), line["dir"]
        if direction == "urc" and (m := CMTI.search(text)):
            entry = {"cmti": at}
            open_[int(m.group(1))] = entry
            out.append(entry)
        elif direction == "in" and (m := re.fullmatch(r"AT\+CMGR=(\d+)", text)):
            entry_ = open_.get(int(m.group(1)))
            if entry_ is not None and "cmgr_in" not in entry_:
                entry_["cmgr_in"] = at
                reading = (int(m.group(1)), entry_)
        elif direction == "final" and reading is not None:
            reading[1]["cmgr_final"] = at
            reading = None
        elif direction == "in" and (m := re.fullmatch(r"AT\+CMGD=(\d+)", text)):
            entry_ = open_.pop(int(m.group(1)), None)
            if entry_ is not None:
                entry_["cmgd_in"] = at
    return [e for e in out if {"cmgr_in", "cmgr_final", "cmgd_in"} <= set(e)]


def summarise(entries: list[dict[str, float]], label: str) -> dict[str, float]:
    to_delete = [e["cmgd_in"] - e["cmti"] for e in entries]
    modem = [e["cmgr_final"] - e["cmgr_in"] for e in entries]
    added = [d - m for d, m in zip(to_delete, modem, strict=True)]
    to_sink = [e["sink"] - e["cmti"] for e in entries if "sink" in e]
    row = {
        "n": len(entries),
        "to_delete": ms(to_delete, 0.5),
        "modem": ms(modem, 0.5),
        "added": ms(added, 0.5),
        "added_p95": ms(added, 0.95),
        "to_sink": ms(to_sink, 0.5) if to_sink else float("nan"),
    }
    print(
        f"  {label:<34} n={row['n']:<3} +CMTI->CMGD {row['to_delete']:6.1f}  "
        f"modem's CMGR {row['modem']:5.1f}  added {row['added']:5.1f} (p95 "
        f"{row['added_p95']:5.1f})  +CMTI->journey at {row['to_sink']:5.1f}   [ms, median]"
    )
    return row


async def latency_switch(sw: SwitchProcess, sim: SimulatorProcess, n: int, tag: str) -> Any:
    sender = "+85512000900"
    texts = []
    mark = len(await sim.client.transcript())
    for i in range(n):
        text = f"latency {tag} {i}"
        texts.append(text)
        await sim.client.deliver_sms(sender, text)
        deadline = time.monotonic() + 10
        while (await sim.client.state())["storage"]["used"]:
            if time.monotonic() > deadline:
                raise SystemExit("an SMS stayed on the SIM")
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.02)  # one at a time
    lines = (await sim.client.transcript())[mark:]
    entries = dialogue_times(lines)
    at = {e["text"]: _epoch(e["at"]) for e in journey(sw, sender) if e["kind"] == "message_in"}
    for entry, text in zip(entries, texts, strict=False):
        if text in at:
            entry["sink"] = at[text]
    return entries


async def latency_raw(sim: SimulatorProcess, n: int) -> list[dict[str, float]]:
    mark = len(await sim.client.transcript())
    async with RawTerminal(sim.link) as term:
        client = RawClient(term)
        await client.setup()
        for i in range(n):
            await sim.client.deliver_sms("+85512000901", f"raw {i}")
            await client.read_and_delete()
            await asyncio.sleep(0.02)
    return dialogue_times((await sim.client.transcript())[mark:])


async def latency(n: int, tmp: Path) -> None:
    print(f"1. +CMTI -> journey, one SMS at a time ({n} each)")
    sim = spawn(tmp / "lat", "ttyLAT")
    sw = start_switch(tmp / "lat", [sim])
    try:
        rows = summarise(await latency_switch(sw, sim, n, "fast"), "switch, modem answers at once")
        await sim.client.set_timing(command_delay=0.02)
        summarise(await latency_switch(sw, sim, n, "slow"), "switch, modem 20 ms per command")
        await sim.client.set_timing(command_delay=0.0)
    finally:
        sw.terminate()
    try:
        raw = summarise(await latency_raw(sim, n), "bare AT client (baseline)")
    finally:
        sim.terminate()
    print(
        f"  => the switch adds {rows['added']:.1f} ms (median) beyond the modem's own answers; "
        f"the bare client {raw['added']:.1f} ms; goal <= 50 ms"
    )


# ---------------------------------------------------------------------- throughput


async def inbound_switch(sw: SwitchProcess, sims: list[SimulatorProcess], k: int) -> float:
    marks = [len(await s.client.transcript()) for s in sims]
    t0 = time.time()

    async def feed(i: int, sim: SimulatorProcess) -> None:
        for j in range(k):
            await sim.client.deliver_sms(f"+855120005{i:02d}", f"in {i}-{j}")

    await asyncio.gather(*(feed(i, s) for i, s in enumerate(sims)))
    for sim in sims:
        await sim.client.wait_for(lambda st: st["storage"]["used"] == 0, timeout=120)
    end = 0.0
    for sim, mark in zip(sims, marks, strict=True):
        lines = (await sim.client.transcript())[mark:]
        deletes = [x["at"] for x in lines if x["dir"] == "in" and x["text"].startswith("AT+CMGD")]
        assert len(deletes) >= k, f"{len(deletes)} deletes for {k} SMS"
        end = max(end, max(deletes))
    got = sum(
        1
        for i in range(len(sims))
        for e in journey(sw, f"+855120005{i:02d}")
        if e["kind"] == "message_in"
    )
    assert got == len(sims) * k, f"{got} journey entries for {len(sims) * k} SMS"
    return len(sims) * k / (end - t0)


def outbound_switch(sw: SwitchProcess, sims: list[SimulatorProcess], k: int) -> tuple[float, float]:
    before = [len(s.client.state_sync()["sent"]) for s in sims]
    jobs = [(f"+855130005{i:02d}", f"out {i}-{j}", f"sim{i}") for j in range(k) for i in range(4)]

    def post(job: tuple[str, str, str]) -> float:
        status, body = sw.post("/api/v1/messages", {"to": job[0], "text": job[1], "modem": job[2]})
        assert status == 202, body
        return time.time()

    t0 = time.time()
    with ThreadPoolExecutor(8) as pool:
        accepted = max(pool.map(post, jobs))
    end = 0.0
    for sim, n0 in zip(sims, before, strict=True):
        state = sim.client.wait_for_sync(lambda st, n0=n0: len(st["sent"]) >= n0 + k, timeout=120)
        end = max(end, max(p["at"] for p in state["sent"][n0:]))
    return len(jobs) / (accepted - t0), len(jobs) / (end - t0)


class RawClient:
    """A bare AT client (no switch code): +CMTI slots seen in any output are queued."""

    def __init__(self, term: RawTerminal) -> None:
        self.term = term
        self.slots: deque[int] = deque()

    async def setup(self) -> None:
        await self.term.drain(0.1)
        for line in ("ATE0", "AT+CMGF=0", "AT+CNMI=2,1,0,0,0"):
            await self.command(line)

    async def command(self, line: str) -> str:
        out = await self.term.command(line, timeout=10)
        self.slots.extend(int(s) for s in CMTI_BYTES.findall(out.encode("latin-1")))
        return out

    async def next_slot(self) -> int:
        if not self.slots:
            urc = await self.term.read_until(CMTI_BYTES, timeout=30)
            self.slots.extend(int(s) for s in CMTI_BYTES.findall(urc))
        return self.slots.popleft()

    async def read_and_delete(self) -> None:
        slot = await self.next_slot()
        await self.command(f"AT+CMGR={slot}")
        await self.command(f"AT+CMGD={slot}")

    async def submit(self, tpdu_length: int, pdu_hex: str) -> None:
        self.term.write(f"AT+CMGS={tpdu_length}\r")
        await self.term.read_until(b"> ", timeout=10)
        self.term.write(pdu_hex + "\x1a")
        await self.term.read_until(re.compile(rb"\r\nOK\r\n"), timeout=10)


async def raw_client(sim: SimulatorProcess, k: int, index: int) -> tuple[float, float]:
    """One bare AT client: k SMS in (read + delete), then k out (CMGS). Durations."""
    parts = [
        encode_submit(f"+855140005{index:02d}", f"raw out {j}", reference=j % 256)[0]
        for j in range(k)
    ]
    async with RawTerminal(sim.link) as term:
        client = RawClient(term)
        await client.setup()
        t_in = time.time()
        for j in range(k):
            await sim.client.deliver_sms(f"+855140006{index:02d}", f"raw in {j}")
        for _ in range(k):
            await client.read_and_delete()
        t_in_end = time.time()
        for part in parts:
            await client.submit(part.tpdu_length, part.hex)
        t_out_end = time.time()
    return (t_in_end - t_in, t_out_end - t_in_end)


async def throughput(k: int, tmp: Path) -> None:
    print(f"2. throughput, 4 simulated modems, {k} SMS per modem each way")
    sims = [spawn(tmp / "tp", f"ttyTP{i}") for i in range(4)]
    try:
        sw = start_switch(tmp / "tp", sims)
        try:
            inbound = await inbound_switch(sw, sims, k)
            accept, outbound = outbound_switch(sw, sims, k)
        finally:
            sw.terminate()
        results = await asyncio.gather(*(raw_client(s, k, i) for i, s in enumerate(sims)))
        raw_in = 4 * k / max(r[0] for r in results)
        raw_out = 4 * k / max(r[1] for r in results)
    finally:
        for sim in sims:
            sim.terminate()
    print(f"  in : switch {inbound:7.1f} SMS/s stored   | bare AT clients {raw_in:7.1f} SMS/s")
    print(f"  out: switch {outbound:7.1f} SMS/s sent     | bare AT clients {raw_out:7.1f} SMS/s")
    print(f"       (POST /api/v1/messages accepted at {accept:.1f}/s, 8 client threads)")


def ms(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1e3


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=int, default=60, help="SMS per latency series")
    parser.add_argument("--per-modem", type=int, default=200, help="SMS per modem (<= 250)")
    args = parser.parse_args()
    if not 1 <= args.per_modem <= 250:
        raise SystemExit("--per-modem must be 1..250 (the simulated SIM holds 255)")
    tmp = Path(tempfile.mkdtemp(prefix="bench_sms_"))
    await latency(args.latency, tmp)
    await throughput(args.per_modem, tmp)


if __name__ == "__main__":
    asyncio.run(main())
