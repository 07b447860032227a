"""Waiting callers: memory (PSS) and CPU per waiting caller, and the talking calls' audio,
with callers parked several to a media worker, next to one worker per caller.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_waiting.py [--waiting 50] [--talking 8]
        [--seconds 10] [--packed 3]

Everything runs as in production: ``switch run`` (Kamailio, media workers, the core) as a
subprocess. ``--talking`` agents' phones (pjsua2 test phones, ``tests/sipphone.py``)
register with the edge and answer; as many caller phones, each behind its own trunk,
call the DID (G.711 only, as a trunk) and talk to them (each side plays a tone). Then one sipp UAC
(``benchmarks/sipp/waiting_caller.xml``) places ``--waiting`` calls through another
trunk, each sending G.711 RTP (sip-tester's g711a.pcap, in a loop): every agent is busy,
so they wait in the queue and hear the hold music (``builtin:hold``).

Two modes in the same run: ``baseline`` is today's one conversation per worker
(``callers_per_worker = 1``), ``packed`` parks ``--packed`` callers per worker. For each
mode the switch is started twice, each time with the pool its load needs: (A) only the
talking calls, (B) the talking calls and the waiting callers. Per waiting caller:

- PSS: (PSS of the switch's process tree in B - in A) / waiting callers, from
  ``/proc/<pid>/smaps_rollup`` (core, Kamailio and its children, every worker): what a
  waiting caller costs the box, the worker processes it needs included;
- CPU: (CPU time of the same tree over ``--seconds`` in B - in A) / waiting callers, in
  % of one core (utime + stime from ``/proc``, 10 ms ticks);
- the talking calls' audio in B, at both ends of each: RTP packets received per second
  and leg (50 sent), RTP sequence gaps and jitter-buffer discards (late or overflowing
  packets) over the window.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.integration.kamailio_harness import free_ports  # noqa: E402
from tests.integration.switchproc import SwitchProcess  # noqa: E402
from tests.sipphone import Phone  # noqa: E402

DID = "+85523900100"
WAITING = Path(__file__).with_name("sipp") / "waiting_caller.xml"
TICK = os.sysconf("SC_CLK_TCK")
PACKETS_PER_SECOND = 50  # 20 ms G.711 frames


# ------------------------------------------------------------------ /proc readers


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children(p)
    return found


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def is_worker(pid: int) -> bool:
    try:
        return b"drivers.sip.media.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# ------------------------------------------------------------------ one switch, one load


def config(http: int, edge: int, trunk: int, talking: int, workers: int, per_worker: int) -> str:
    base, rtp = free_ports(workers), free_ports(50 * workers)
    text = f"""
[store]
path = "data/switch.db"
[http]
listen = "127.0.0.1:{http}"
[api]
tokens = ["secret-token-for-tests"]
[log]
level = "warning"
[sip]
listen = "127.0.0.1:{edge}"
workers = {workers}
callers_per_worker = {per_worker}
worker_port_base = {base}
rtp_port_base = {rtp}
ring_timeout = 30
hold_music = "builtin:hold"
[[trunks]]
id = "waiting"
host = "127.0.0.1"
port = {trunk}
dids = ["{DID}"]
"""
    for n in range(talking):
        text += f"""
[[trunks]]
id = "t{n}"
host = "127.0.0.1"
port = {trunk + 1 + n}
dids = ["{DID}"]

[[agents]]
id = "agent{n}"
name = "Agent {n}"
sip_user = "{2001 + n}"
sip_password = "secret-{2001 + n}"
"""
    return text


@dataclass
class Load:
    pss_mb: float  # the switch's process tree
    workers_pss_mb: float
    cpu_cores: float  # over the window
    workers: int
    talk: dict[str, float]  # the talking calls' audio over the window


def wait_api(sw: SwitchProcess, path: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        status, last = sw.request("GET", path)
        if status == 200 and check(last):
            return last
        time.sleep(0.2)
    raise RuntimeError(f"{path}: not reached in {timeout} s; last answer {str(last)[:500]}")


def run_load(
    workdir: Path, *, talking: int, waiting: int, workers: int, per_worker: int, seconds: float
) -> Load:
    http, edge, trunk = free_port(), free_ports(1, tcp=True), free_ports(1 + talking)
    workdir.mkdir(parents=True)
    sw = SwitchProcess(config(http, edge, trunk, talking, workers, per_worker), workdir, http)
    sw.start(timeout=120)
    phones: list[Phone] = []
    sipp: subprocess.Popen[bytes] | None = None
    try:
        agents = []
        for n in range(talking):
            agent = Phone(
                *("--port", str(free_ports(1)), "--rtp-port", str(free_ports(4))),
                *("--user", str(2001 + n), "--password", f"secret-{2001 + n}"),
                *("--register", f"127.0.0.1:{edge}", "--auto-answer", "--tone", "1400"),
            )
            phones.append(agent)
            agents.append(agent)
            agent.wait_for("registered", timeout=20)
        wait_api(
            sw,
            "/api/v1/agents",
            lambda rows: sum(a["status"] == "available" for a in rows) == talking,
            30,
        )
        callers = []
        for n in range(talking):
            caller = Phone(
                *("--port", str(trunk + 1 + n), "--rtp-port", str(free_ports(4))),
                *("--user", f"85512{n:06d}", "--tone", "440", "--codec", "PCMU/8000"),
                "--call",
                f"sip:{DID}@127.0.0.1:{edge}",
            )
            phones.append(caller)
            callers.append(caller)
            wait_api(
                sw,
                "/api/v1/calls?active=true",
                lambda rows, k=n + 1: sum(c["state"] == "answered" for c in rows) == k,
                30,
            )
        if waiting:
            numbers = workdir / "numbers.csv"
            numbers.write_text("SEQUENTIAL\n" + "".join(f"85599{n:06d};\n" for n in range(waiting)))
            sipp = subprocess.Popen(
                [
                    "sipp",
                    *("-sf", str(WAITING), "-inf", str(numbers)),
                    *("-i", "127.0.0.1", "-p", str(trunk), "-mp", str(free_ports(4 * waiting))),
                    *("-s", DID, "-m", str(waiting), "-l", str(waiting), "-r", "10"),
                    "-nostdin",
                    f"127.0.0.1:{edge}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=workdir,
            )
            wait_api(
                sw,
                "/api/v1/calls?active=true",
                lambda rows: sum(c["state"] == "ringing" for c in rows) == waiting,
                120,
            )
        time.sleep(3.0)  # settle
        assert sw.proc is not None
        root = sw.proc.pid
        pids = tree(root)
        before = [(p.stats(), time.monotonic()) for p in phones]
        ticks = cpu_ticks(pids)
        start = time.monotonic()
        time.sleep(seconds)
        ticks = cpu_ticks(pids) - ticks
        elapsed = time.monotonic() - start
        after = [(p.stats(), time.monotonic()) for p in phones]
        pss = {p: pss_kb(p) for p in tree(root)}
        calls = sw.request("GET", "/api/v1/calls?active=true")[1]
        answered = sum(c["state"] == "answered" for c in calls)
        still_waiting = sum(c["state"] == "ringing" for c in calls)
        if answered != talking or still_waiting != waiting:
            raise RuntimeError(f"{answered} talking, {still_waiting} waiting at the end")
        # each phone's own window: from its first reading to its second
        legs = [(a, b, tb - ta) for (a, ta), (b, tb) in zip(before, after, strict=True)]
        legs = [(a, b, span) for a, b, span in legs if b.get("active")]
        rx = sum(b["rx"] - a["rx"] for a, b, _ in legs)
        spans = sum(span for _, _, span in legs)
        talk = {
            "legs": len(legs),
            "rx_per_s": rx / max(spans, 1e-9),
            "lost": sum(b.get("lost", 0) - a.get("lost", 0) for a, b, _ in legs),
            "discard": sum(b.get("discard", 0) - a.get("discard", 0) for a, b, _ in legs),
            "expected": PACKETS_PER_SECOND * spans,
            "received": rx,
        }
        worker_pids = [p for p in pss if is_worker(p)]
        return Load(
            pss_mb=sum(pss.values()) / 1024,
            workers_pss_mb=sum(pss[p] for p in worker_pids) / 1024,
            cpu_cores=ticks / TICK / elapsed,
            workers=len(worker_pids),
            talk=talk,
        )
    finally:
        for phone in phones:
            phone.close()
        if sipp is not None:
            sipp.kill()
            sipp.wait()
        sw.terminate(timeout=60)


# ------------------------------------------------------------------ the comparison


def pool_size(mode: str, per_worker: int, talking: int, waiting: int) -> int:
    """The workers a load needs, plus one spare: one per caller (baseline); with
    parking, ``per_worker`` callers a worker and 4 legs (an agent's included)."""
    callers = talking + waiting
    if mode == "baseline":
        return callers + 1
    return max(math.ceil(callers / per_worker), math.ceil((callers + talking) / 4)) + 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--waiting", type=int, default=50)
    ap.add_argument("--talking", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--packed", type=int, default=3, choices=(2, 3))
    ap.add_argument("--modes", default="baseline,packed")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-waiting-"))
    print(
        f"cpus: {os.cpu_count()}  waiting: {args.waiting}  talking: {args.talking}"
        f"  window: {args.seconds:.0f} s"
    )
    for mode in args.modes.split(","):
        per_worker = 1 if mode == "baseline" else args.packed
        loads = {}
        for state, waiting in (("A", 0), ("B", args.waiting)):
            workers = pool_size(mode, per_worker, args.talking, waiting)
            loads[state] = load = run_load(
                tmp / f"{mode}-{state}",
                talking=args.talking,
                waiting=waiting,
                workers=workers,
                per_worker=per_worker,
                seconds=args.seconds,
            )
            t = load.talk
            print(
                f"{mode:8} ({per_worker} caller(s)/worker) {state}: {args.talking} talking"
                f" + {waiting:3} waiting, {load.workers:3} workers: switch PSS"
                f" {load.pss_mb:7.1f} MB (workers {load.workers_pss_mb:7.1f}), CPU"
                f" {100 * load.cpu_cores:5.1f} % of a core; talking legs {t['legs']}:"
                f" rx {t['rx_per_s']:.1f} pkt/s/leg, lost {t['lost']}, discarded"
                f" {t['discard']}"
            )
        a, b = loads["A"], loads["B"]
        n = max(1, args.waiting)
        pss = (b.pss_mb - a.pss_mb) / n
        cpu = 100 * (b.cpu_cores - a.cpu_cores) / n
        talk = b.talk
        loss = talk["lost"] + talk["discard"]
        print(
            f"=> {mode}: per waiting caller PSS {pss:.1f} MB, CPU {cpu:.2f} % of a core;"
            f" talking calls: {loss} of {talk['received']} packets lost or discarded"
            f" ({100 * loss / max(1, talk['received']):.3f} %), received"
            f" {100 * talk['received'] / max(1, talk['expected']):.1f} % of those sent"
            f"  (goal: <= 10 MB, <= 1 %, no loss)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
