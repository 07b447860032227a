"""Calls per second through the whole switch: sipp trunk -> Kamailio -> media workers -> core.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_switch_caps.py [--rates 50,100,150]
        [--seconds 10] [--workers 40]

The switch runs as in production (``switch run`` as a subprocess, Kamailio supervised by
it, ``--workers`` pjsua2 media worker processes). A sipp UAC plays the provider's trunk
and places ``rate * seconds`` short calls to the DID (INVITE, 200, ACK, 200 ms, BYE),
each from a different customer number (``benchmarks/sipp/switch_caller.xml``). Every
call goes the full way: Kamailio dispatches it to a free worker, the worker announces
it, the core finds or creates the customer's contact, records ``call_started``, answers
and plays the greeting; the caller hangs up, the core records ``call_ended``.

Baseline in the same run, at each rate: the same sipp UAC through a bare Kamailio
(same template, same supervisor, same call-load dispatching with one call per
destination) to ``--workers`` sipp UASs answering at once: what the edge alone does on
this machine with as many destinations. Printed per rate: calls attempted, ok, failed,
achieved calls/s, mean call length (200 ms of pause + set-up + BYE), and CPU (cores) of
the core process, of all workers together and of Kamailio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from bench_kamailio_caps import (  # noqa: E402
    CountingLog,
    Result,
    _uac,
    _uas,
    group_cpu_seconds,
)

from drivers.sip.edge.probe import sip_options  # noqa: E402
from drivers.sip.edge.supervisor import KamailioSupervisor, kamailio_processes  # noqa: E402
from switch.config import SipConfig, TrunkConfig  # noqa: E402
from tests.integration.kamailio_harness import KAMAILIO, free_ports  # noqa: E402

DID = "+85523900100"
CALLER = Path(__file__).with_name("sipp") / "switch_caller.xml"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def worker_pids(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes()
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and b"drivers.sip.media.worker" in argv:
            found.append(int(entry))
    return found


def write_callers(path: Path, count: int, first: int = 100000) -> None:
    lines = ["SEQUENTIAL"] + [f"+85512{first + i % 400000};" for i in range(count)]
    path.write_text("\n".join(lines) + "\n")


async def uac(label: str, port: int, target: str, rate: int, seconds: int, cwd: Path) -> Result:
    """sipp's calls, each from a new customer number (the warm-up uses other numbers)."""
    callers = cwd / f"callers-{label[:4]}-{rate}.csv"
    write_callers(callers, rate * seconds, 500000 if label == "warm-up" else 100000)
    return await _uac(
        label, port, target, rate, seconds, cwd, scenario=CALLER, extra=["-inf", str(callers)]
    )


def switch_config(http: int, edge: int, trunk: int, workers: int, base: int, rtp: int) -> str:
    return f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["bench-token-for-benchmarks"]
[log]
level = "info"
[sip]
listen = "127.0.0.1:{edge}"
workers = {workers}
worker_port_base = {base}
rtp_port_base = {rtp}
[[trunks]]
id = "provider1"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID}"]
"""


def healthy(http: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


async def through_switch(rate: int, seconds: int, workers: int, workdir: Path) -> str:
    run = workdir / f"switch{rate}"
    run.mkdir()
    http, edge, trunk = free_ports(1, tcp=True), free_ports(1, tcp=True), free_ports(1)
    base, rtp = free_ports(workers), free_ports(50 * workers)
    (run / "switch.toml").write_text(switch_config(http, edge, trunk, workers, base, rtp))
    stderr = (run / "switch.stderr").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "switch", "run", "--config", "switch.toml"],
        cwd=run,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        deadline = time.monotonic() + 120
        while not healthy(http):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((run / "switch.stderr").read_text()[-3000:])
            await asyncio.sleep(0.2)
        for i in range(workers):  # every worker's UA answers OPTIONS once it is up
            while await sip_options("127.0.0.1", base + i, timeout=0.5) != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {i} did not come up")
                await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)  # the dispatcher's first probe round
        # warm-up, not measured: every worker's first calls, the store's first pages
        await uac("warm-up", trunk, f"127.0.0.1:{edge}", 10, 3, run)
        kam = kamailio_processes((run / "data" / "sip" / "kamailio.cfg").resolve())
        pgid = os.getpgid(min(kam))
        wpids = worker_pids(proc.pid)
        c0, w0, k0, t0 = (
            cpu_of([proc.pid]),
            cpu_of(wpids),
            group_cpu_seconds(pgid),
            time.monotonic(),
        )
        result = await uac(
            f"sipp -> switch ({workers} workers)", trunk, f"127.0.0.1:{edge}", rate, seconds, run
        )
        span = time.monotonic() - t0
        core = (cpu_of([proc.pid]) - c0) / span
        work = (cpu_of(wpids) - w0) / span
        kamailio = (group_cpu_seconds(pgid) - k0) / span
        restarts = (run / "switch.stderr").read_text().count('"worker_exited"')
        return (
            result.line()
            + f"  CPU core {core:.2f} workers {work:.2f} Kamailio {kamailio:.2f}"
            + (f"  worker exits {restarts}" if restarts else "")
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr.close()


async def through_bare_kamailio(rate: int, seconds: int, workers: int, workdir: Path) -> str:
    trunk_port = free_ports(1)
    sip = SipConfig(
        listen=f"127.0.0.1:{free_ports(1, tcp=True)}",
        workers=workers,
        worker_port_base=free_ports(workers),
        kamailio=KAMAILIO,
    )
    trunk = TrunkConfig.model_validate(
        {"id": "provider1", "host": "127.0.0.1", "port": trunk_port, "dids": [DID]}
    )
    sup = KamailioSupervisor(
        sip, [trunk], [], rundir=workdir / f"kam{rate}", ping_interval=600, log=CountingLog()
    )
    await sup.start()
    uases = [await _uas(sip.worker_port_base + i, workdir) for i in range(workers)]
    try:
        await uac("warm-up", trunk_port, sip.listen, 10, 3, workdir)
        result = await uac(
            f"sipp -> Kamailio -> {workers} sipp", trunk_port, sip.listen, rate, seconds, workdir
        )
        return result.line()
    finally:
        for u in uases:
            u.kill()
            await u.wait()
        await sup.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,100,150")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--no-baseline", action="store_true")
    ns = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="swbench", dir="/tmp"))
    lines = []
    try:
        for rate in (int(r) for r in ns.rates.split(",")):
            if not ns.no_baseline:
                lines.append(await through_bare_kamailio(rate, ns.seconds, ns.workers, workdir))
                print(lines[-1], flush=True)
            lines.append(await through_switch(rate, ns.seconds, ns.workers, workdir))
            print(lines[-1], flush=True)
    finally:
        if ns.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\nshort calls (INVITE/200/ACK, 200 ms, BYE/200), {ns.seconds} s per rate, "
        f"cpus {os.cpu_count()}"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
