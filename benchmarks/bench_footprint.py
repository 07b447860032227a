"""Footprint of a whole box in the Raspberry Pi 4 profile: memory and idle CPU.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_footprint.py [--idle 60] [--settle 15]

Starts ``switch run`` on ``configs/rpi4.toml`` (8 agents, 2 modems, 1 trunk, 4 media
workers, MQTT, daily backup), moved to a scratch directory: ports on 127.0.0.1, the two
modems replaced by the pty modem simulator (separate processes standing in for the
hardware: not counted in the box), a mosquitto broker on a free port when installed,
the trunk pointed at a port where nobody answers (it keeps trying to register, as a box
whose provider is down would). Once the modems are ready and the box has settled, it
prints the memory of every process of the box (PSS: shared pages split between the
processes that share them, so the totals add up; RSS beside it) and the CPU they used
over ``--idle`` seconds of doing nothing. Goals (issue 15): total <= 400 MB, the core
<= 120 MB, idle CPU <= 3 % of one core.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.gsm.simulator.client import SimulatorProcess  # noqa: E402

TOKEN = "bench-footprint-token-0123456789"
MB = 1024 * 1024
TICK = os.sysconf("SC_CLK_TCK")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(type(value))


def dump_toml(data: dict[str, Any]) -> str:
    lines: list[str] = []
    for section, value in data.items():
        entries = value if isinstance(value, list) else [value]
        header = f"[[{section}]]" if isinstance(value, list) else f"[{section}]"
        for entry in entries:
            lines.append(header)
            lines += [f"{k} = {toml_value(v)}" for k, v in entry.items()]
            lines.append("")
    return "\n".join(lines)


def box_config(work: Path, links: list[Path], mqtt_port: int | None) -> tuple[str, int]:
    data = tomllib.loads((ROOT / "configs" / "rpi4.toml").read_text(encoding="utf-8"))
    http = free_port()
    data["store"]["path"] = str(work / "data" / "switch.db")
    data["http"]["listen"] = f"127.0.0.1:{http}"
    data["api"] = {"tokens": [TOKEN], "technician_tokens": [TOKEN]}
    for modem, link in zip(data["modems"], links, strict=True):
        modem["port"] = str(link)
        modem["profile"] = "huawei_e173"
    sip = data["sip"]
    sip["listen"] = f"127.0.0.1:{free_port()}"
    sip["worker_port_base"] = 42000 + os.getpid() % 2000
    sip["rtp_port_base"] = 46000 + (os.getpid() % 1000) * 8
    sip["recordings"] = str(work / "data" / "recordings")
    data["trunks"][0]["host"] = "127.0.0.1"
    data["trunks"][0]["port"] = free_port(socket.SOCK_DGRAM)
    data["backup"]["dir"] = str(work / "data" / "backups")
    if mqtt_port is None:
        del data["mqtt"]
    else:
        data["mqtt"]["url"] = f"mqtt://127.0.0.1:{mqtt_port}"
    data["routing"] = {"prompts": str(work / "prompts")}
    return dump_toml(data), http


def api(http: int, path: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{http}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


# ------------------------------------------------------------------ /proc


def parents() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        out[int(entry)] = int(stat.rpartition(")")[2].split()[1])
    return out


def tree(root: int) -> list[int]:
    ppid = parents()
    found, todo = [root], [root]
    while todo:
        parent = todo.pop()
        kids = [pid for pid, pp in ppid.items() if pp == parent]
        found += kids
        todo += kids
    return found


def memory(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in bytes."""
    pss = rss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
            elif line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
    return pss, rss


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def kind(pid: int, core: int) -> str:
    if pid == core:
        return "core (switch run)"
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    if "kamailio" in cmd.split(" ")[0]:
        return "kamailio"
    if "drivers.sip.media" in cmd:
        return "media worker"
    return "other: " + cmd[:60]


# ------------------------------------------------------------------ the run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds before measuring")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="footprint-"))
    sims = [
        SimulatorProcess.spawn(work / f"m{i}", name=f"ttySIM{i}", profile="huawei")
        for i in range(2)
    ]
    broker: subprocess.Popen[bytes] | None = None
    mqtt_port = None
    if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists():
        mqtt_port = free_port()
        conf = work / "mosquitto.conf"
        conf.write_text(f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        broker = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
    text, http = box_config(work, [s.link for s in sims], mqtt_port)
    (work / "switch.toml").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "switch", "run", "--config", str(work / "switch.toml")],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "switch.log", "wb"),  # noqa: SIM115
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"switch exited: see {work / 'switch.log'}")
            try:
                modems = api(http, "/api/v1/modems")
                if [m["state"] for m in modems] == ["ready", "ready"]:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the modems never became ready: see {work / 'switch.log'}")
            time.sleep(0.5)
        time.sleep(args.settle)
        pids = tree(proc.pid)
        rows: dict[str, list[tuple[int, int, int]]] = {}
        for pid in pids:
            try:
                pss, rss = memory(pid)
                rows.setdefault(kind(pid, proc.pid), []).append((pid, pss, rss))
            except OSError:
                continue
        before = {pid: cpu_ticks(pid) for pid in pids}
        started = time.monotonic()
        time.sleep(args.idle)
        elapsed = time.monotonic() - started
        used: dict[str, float] = {}
        for pid, ticks in before.items():
            try:
                spent = (cpu_ticks(pid) - ticks) / TICK
            except OSError:
                continue
            name = kind(pid, proc.pid)
            used[name] = used.get(name, 0.0) + spent
        report(rows, used, elapsed, args)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        for sim in sims:
            sim.terminate()
        if broker is not None:
            broker.terminate()
            broker.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def report(
    rows: dict[str, list[tuple[int, int, int]]],
    used: dict[str, float],
    elapsed: float,
    args: argparse.Namespace,
) -> None:
    print("Raspberry Pi 4 profile: 8 agents, 2 modems (pty simulator), 1 trunk, 4 media workers")
    print(f"{'process':<24} {'n':>3} {'PSS MB':>9} {'RSS MB':>9} {'idle CPU %':>11}")
    total_pss = total_rss = 0
    total_cpu = 0.0
    for name in sorted(rows, key=lambda n: (not n.startswith("core"), n)):
        procs = rows[name]
        pss = sum(p for _, p, _ in procs)
        rss = sum(r for _, _, r in procs)
        cpu = 100 * used.get(name, 0.0) / elapsed
        total_pss, total_rss, total_cpu = total_pss + pss, total_rss + rss, total_cpu + cpu
        print(f"{name:<24} {len(procs):>3} {pss / MB:>9.1f} {rss / MB:>9.1f} {cpu:>11.2f}")
        if name == "media worker":
            for pid, p, r in procs:
                print(f"{'  worker pid ' + str(pid):<24} {'':>3} {p / MB:>9.1f} {r / MB:>9.1f}")
    core_pss = sum(p for _, p, _ in rows.get("core (switch run)", []))
    print(
        f"{'total':<24} {sum(len(v) for v in rows.values()):>3} {total_pss / MB:>9.1f} "
        f"{total_rss / MB:>9.1f} {total_cpu:>11.2f}"
    )
    print(
        f"goals: total PSS {total_pss / MB:.0f} MB (<= 400), core {core_pss / MB:.0f} MB "
        f"(<= 120), idle CPU {total_cpu:.2f} % of a core over {elapsed:.0f} s (<= 3)"
    )


if __name__ == "__main__":
    main()
