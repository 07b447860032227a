"""SMS through the switch on simulated modems: +CMTI → journey latency, and throughput.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_sms_path.py [messages_per_modem]

1. Latency: the time from the simulated modem raising ``+CMTI`` to the message being
   durably in the sender's journey (sink returned: fsync'd), one SMS at a time. The
   modem's own part is measured in the same run as the baseline: a raw AT client doing
   the same dialogue (``AT+CMGR`` then ``AT+CMGD``) on the same pty; the difference is
   what the switch adds (decode, reassembly, directory, actor, group commit + fsync).
2. Throughput across 4 simulated modems: SMS received (all modems at once) and SMS sent
   (``submit`` → ``sent`` with message references), per second.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from base.clock import RealClock
from drivers.gsm.simulator.terminal import RawTerminal
from drivers.gsm.types import InboundSms
from switch.config import parse_config
from switch.core import Core
from switch.sms import SmsService
from switch.store import Store

FAST = {"cmgs_delay": 0.0, "report_delay": 0.05, "ready_delay": 0.0}


class TimedSms(SmsService):
    stored: dict[str, float]

    async def sms_received(self, sms: InboundSms) -> None:
        await super().sms_received(sms)
        self.stored[sms.text] = time.perf_counter()


async def start(modems: int, tmp: Path) -> tuple[Core, TimedSms]:
    cfg = parse_config(
        {
            "store": {"path": str(tmp / "bench.db")},
            "api": {"tokens": ["bench-token-for-benchmarks"]},
            "modems": [
                {"id": f"sim{i}", "simulated": True, "rate_per_minute": 100000}
                for i in range(modems)
            ],
        }
    )
    core = Core(cfg, await Store.open(cfg.store.path), RealClock())
    service = TimedSms(core)
    service.stored = {}
    await service.start()
    core.sms = service
    for slot in service.slots.values():
        assert slot.simulator is not None
        slot.simulator.set_timing(**FAST)
    deadline = time.monotonic() + 10
    while not all(s.modem.status().state == "ready" for s in service.slots.values()):
        if time.monotonic() > deadline:
            raise SystemExit("simulated modems did not become ready")
        await asyncio.sleep(0.05)
    return core, service


async def latency(n: int) -> tuple[list[float], list[float]]:
    tmp = Path(tempfile.mkdtemp())
    core, service = await start(1, tmp)
    slot = next(iter(service.slots.values()))
    sim = slot.simulator
    assert sim is not None
    switch_times = []
    for i in range(n):
        text = f"latency probe {i}"
        t0 = time.perf_counter()
        await sim.deliver_sms("+85512345678", text)
        while text not in service.stored:
            await asyncio.sleep(0)
        switch_times.append(service.stored[text] - t0)
        while sim.state()["storage"]["used"]:
            await asyncio.sleep(0.001)
    await service.stop()
    await core.close()

    # Baseline: the same AT dialogue by a bare client on a fresh simulated modem.
    from drivers.gsm.simulator import SimulatedModem

    raw = SimulatedModem(tmp / "raw", profile="huawei")
    await raw.start()
    term = RawTerminal(str(tmp / "raw"))
    await term.open()
    await term.command("ATE0")
    await term.command("AT+CMGF=0")
    await term.command("AT+CNMI=2,1,0,1,0")
    modem_times = []
    for i in range(n):
        t0 = time.perf_counter()
        await raw.deliver_sms("+85512345678", f"baseline {i}")
        urc = await term.read_until(re.compile(rb'\+CMTI: "SM",(\d+)\r\n'))
        index = int(re.findall(rb'\+CMTI: "SM",(\d+)', urc)[-1])
        await term.command(f"AT+CMGR={index}")
        await term.command(f"AT+CMGD={index}")
        modem_times.append(time.perf_counter() - t0)
    term.close()
    await raw.stop()
    return switch_times, modem_times


async def throughput(per_modem: int) -> tuple[float, float]:
    tmp = Path(tempfile.mkdtemp())
    core, service = await start(4, tmp)
    sims = [s.simulator for s in service.slots.values()]
    t0 = time.perf_counter()

    async def feed(i: int, sim: Any) -> None:
        for k in range(per_modem):
            await sim.deliver_sms(f"+8551200{i:04d}", f"in {i}-{k}")

    await asyncio.gather(*(feed(i, sim) for i, sim in enumerate(sims)))
    while len(service.stored) < 4 * per_modem:
        await asyncio.sleep(0.01)
    inbound = 4 * per_modem / (time.perf_counter() - t0)

    ids = []
    t1 = time.perf_counter()
    for k in range(per_modem):
        for i in range(4):
            ids.append(await service.submit(f"+8551300{i:04d}", f"out {k}", modem=f"sim{i}"))
    while True:
        done = sum(1 for m in ids if core.store.get("message", m)["status"] != "queued")
        if done == len(ids):
            break
        await asyncio.sleep(0.01)
    outbound = len(ids) / (time.perf_counter() - t1)
    await service.stop()
    await core.close()
    return inbound, outbound


def ms(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1e3


async def main(per_modem: int) -> None:
    switch_times, modem_times = await latency(50)
    added = statistics.median(switch_times) - statistics.median(modem_times)
    print(
        f"+CMTI -> durable journey entry: median {ms(switch_times, 0.5):.1f} ms, "
        f"p95 {ms(switch_times, 0.95):.1f} ms"
    )
    print(f"modem alone (raw AT CMGR+CMGD): median {ms(modem_times, 0.5):.1f} ms")
    print(f"added by the switch (median):   {added * 1e3:.1f} ms   (goal <= 50 ms)")
    inbound, outbound = await throughput(per_modem)
    print(f"4 simulated modems, {per_modem} SMS each way per modem:")
    print(f"  received and stored: {inbound:8.1f} SMS/s")
    print(f"  sent (reference):    {outbound:8.1f} SMS/s")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 25))
