"""Time from `switch run` (no arguments: the demo config) to the first 200 on /healthz.

    .venv/bin/python benchmarks/bench_startup.py [runs]

Each run starts in a fresh empty directory (a fresh clone's situation: no ./data yet),
so the store is created and migrated, and the simulated modem is started. Baseline in
the same run: the bare interpreter start (`python -c pass`).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def healthz_time() -> float:
    workdir = tempfile.mkdtemp()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "switch", "run"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit("switch exited before serving /healthz")
            try:
                with urllib.request.urlopen("http://127.0.0.1:8080/healthz", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def interpreter_time() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main(runs: int) -> None:
    base = [interpreter_time() for _ in range(runs)]
    times = [healthz_time() for _ in range(runs)]
    print(f"python -c pass (baseline):        median {statistics.median(base) * 1e3:7.0f} ms")
    print(
        f"switch run -> /healthz 200:       median {statistics.median(times) * 1e3:7.0f} ms, "
        f"max {max(times) * 1e3:.0f} ms   (goal <= 2000 ms)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
