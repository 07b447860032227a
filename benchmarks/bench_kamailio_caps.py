"""Calls per second through the Kamailio edge, to sipp UASs standing in for workers.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_kamailio_caps.py [--rates 200,500,1000]
        [--seconds 5] [--workers 2] [--children 4]

For each rate: a sipp UAC plays a trunk (recognised by ip:port, so pike does not apply)
and places ``rate * seconds`` short calls (INVITE, 200, ACK, 200 ms, BYE) through the
edge, which dispatches them by call load (no per-destination limit here: a sipp UAS
takes any number of calls; the switch itself allows one per media worker) to
``--workers`` sipp UASs (the same
``uac_call.xml`` / ``uas_answer.xml`` scenarios as the integration tests). Printed per
rate: calls attempted, succeeded, failed, the calls/s achieved, the mean call length
(200 ms of pause + set-up + BYE: what is above 200 ms is signalling latency) and sipp's
retransmissions (a sign of overload).

Baseline in the same run: the same sipp UAC straight to one sipp UAS, no Kamailio
(what sipp itself manages on this machine). The media-worker benchmark (Kamailio ->
pjsua2 workers) compares itself with the "through Kamailio" line.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.sip.edge.supervisor import KamailioSupervisor
from switch.config import SipConfig, TrunkConfig
from tests.integration.kamailio_harness import KAMAILIO, SIPP, SIPP_DIR, free_ports


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of every process in Kamailio's process group."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


class CountingLog:
    """Stands in for structlog: counts Kamailio's error lines instead of printing them."""

    def __init__(self) -> None:
        self.errors = 0
        self.first: str | None = None

    def error(self, event: str, **kw: Any) -> None:
        self.errors += 1
        if self.first is None:
            self.first = str(kw.get("line", event))

    def warning(self, event: str, **kw: Any) -> None:
        pass

    info = debug = warning


@dataclass
class Result:
    label: str
    rate: int
    attempted: int
    succeeded: int
    failed: int
    seconds: float
    call_ms: float
    retransmissions: int
    kamailio_errors: int = 0
    kamailio_cpu: float | None = None  # CPU seconds per second of test

    def line(self) -> str:
        cps = self.succeeded / self.seconds if self.seconds else 0.0
        return (
            f"{self.label:<27} rate {self.rate:>5}/s  calls {self.attempted:>6}  "
            f"ok {self.succeeded:>6}  failed {self.failed:>4}  achieved {cps:>7.1f}/s  "
            f"call {self.call_ms:>6.1f} ms  retrans {self.retransmissions}"
            + (f"  Kamailio CPU {self.kamailio_cpu:.0%}" if self.kamailio_cpu is not None else "")
            + (f"  Kamailio error lines {self.kamailio_errors}" if self.kamailio_errors else "")
        )


async def _run(args: list[str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        SIPP,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=str(cwd),
    )


async def _uas(port: int, cwd: Path) -> asyncio.subprocess.Process:
    proc = await _run(
        [
            "-sf",
            str(SIPP_DIR / "uas_answer.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mp",
            str(free_ports(4)),
            "-nostdin",
        ],
        cwd,
    )
    await asyncio.sleep(0.3)
    return proc


async def _uac(
    label: str,
    port: int,
    target: str,
    rate: int,
    seconds: int,
    cwd: Path,
    *,
    scenario: Path = SIPP_DIR / "uac_call.xml",
    extra: Sequence[str] = (),
) -> Result:
    count = rate * seconds
    stats = cwd / f"uac-{port}-{rate}-{label[:4]}.csv"
    proc = await _run(
        [
            "-sf",
            str(scenario),
            *extra,
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-s",
            "+85523900100",
            "-r",
            str(rate),
            "-m",
            str(count),
            "-l",
            str(rate * 4),
            "-mp",
            str(free_ports(4)),
            "-nostdin",
            "-timeout",
            str(seconds * 4 + 30),  # a guard: sipp ends when its calls are done
            "-trace_stat",
            "-stf",
            str(stats),
            "-fd",
            "1",
            target,
        ],
        cwd,
    )
    await proc.wait()
    rows = list(csv.DictReader(stats.open(), delimiter=";")) if stats.exists() else []
    last = rows[-1] if rows else {}
    ok = int(last.get("SuccessfulCall(C)", 0) or 0)
    failed = int(last.get("FailedCall(C)", 0) or 0)
    retrans = int(last.get("Retransmissions(C)", 0) or 0)
    # mean call length: the scenario's 200 ms pause + call set-up + BYE round trip
    call_ms = _duration_ms(last.get("CallLength(C)", ""))
    # achieved rate: calls over the time from the first INVITE to the last call's start
    span = _epoch(last.get("CurrentTime", "")) - _epoch(last.get("StartTime", ""))
    span -= call_ms / 1000
    return Result(label, rate, count, ok, failed, max(span, 1e-3), call_ms, retrans)


def _epoch(field: str) -> float:
    parts = field.split("\t")
    try:
        return float(parts[-1])
    except ValueError:
        return 0.0


def _duration_ms(field: str) -> float:
    """sipp's ``hh:mm:ss:uuuuuu``."""
    try:
        h, m, sec, us = (int(x) for x in field.split(":"))
    except ValueError:
        return 0.0
    return ((h * 60 + m) * 60 + sec) * 1000 + us / 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="200,500,1000")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--children", type=int, default=4)
    parser.add_argument("--shm", type=int, default=256, help="Kamailio shared memory, MB")
    ns = parser.parse_args()
    rates = [int(r) for r in ns.rates.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="kbench", dir="/tmp"))
    results: list[Result] = []
    try:
        # baseline: sipp -> sipp, no edge
        for rate in rates:
            uas_port = free_ports(1)
            uas = await _uas(uas_port, workdir)
            results.append(
                await _uac(
                    "sipp -> sipp (baseline)",
                    free_ports(1),
                    f"127.0.0.1:{uas_port}",
                    rate,
                    ns.seconds,
                    workdir,
                )
            )
            uas.kill()
            await uas.wait()
        # through Kamailio
        for rate in rates:
            trunk_port = free_ports(1)
            sip = SipConfig(
                listen=f"127.0.0.1:{free_ports(1, tcp=True)}",
                workers=ns.workers,
                worker_port_base=free_ports(ns.workers),
                kamailio=KAMAILIO,
                shm_mb=ns.shm,
            )
            trunk = TrunkConfig.model_validate(
                {"id": "bench", "host": "127.0.0.1", "port": trunk_port}
            )
            log = CountingLog()
            sup = KamailioSupervisor(
                sip,
                [trunk],
                [],
                rundir=workdir / f"sip{rate}",
                children=ns.children,
                ping_interval=600,
                log=log,
                worker_maxload=0,  # sipp UASs take any number of calls
            )
            await sup.start()
            uases = [await _uas(sip.worker_port_base + i, workdir) for i in range(ns.workers)]
            assert sup.pid is not None
            cpu0, t0 = group_cpu_seconds(sup.pid), time.monotonic()
            try:
                result = await _uac(
                    f"sipp -> Kamailio -> {ns.workers} sipp",
                    trunk_port,
                    sip.listen,
                    rate,
                    ns.seconds,
                    workdir,
                )
                result.kamailio_errors = sup.error_lines
                result.kamailio_cpu = (group_cpu_seconds(sup.pid) - cpu0) / (time.monotonic() - t0)
                results.append(result)
                if log.first:
                    print(f"rate {rate}: first Kamailio error: {log.first}")
            finally:
                for uas in uases:
                    uas.kill()
                    await uas.wait()
                await sup.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"short calls (INVITE/200/ACK, 200 ms, BYE/200), {ns.seconds} s per rate; "
        f"Kamailio: {ns.children} UDP children, {ns.shm} MB shm"
    )
    for result in results:
        print(result.line())


if __name__ == "__main__":
    asyncio.run(main())
