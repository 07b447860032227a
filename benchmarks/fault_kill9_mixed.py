"""kill -9 of `switch run` while SMS flow both ways and calls are up: the figures.

    PYTHONPATH=. .venv/bin/python benchmarks/fault_kill9_mixed.py [--seeds 1 2 3] [--kills 6]

Runs the campaign of ``tests/integration/kill9_campaign.py`` once per seed (a standalone
simulated modem, `switch run` with Kamailio and media workers; per kill two trunk calls
up, one bridged to the agent and one queued, inbound SMS from the network and an API
client posting SMS with idempotency keys, retrying across the kills) and prints, per
run and in total: kills, inbound SMS (sent, received, lost, duplicated), outbound SMS
(acknowledged, POSTs, lost, whole duplicates, parts resent), calls (up at a kill, ended
once, causes), contacts that are not one per number, and the seconds the run took.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.kill9_campaign import Figures, Plan, run_campaign  # noqa: E402

COLUMNS = [
    ("seed", "seed"),
    ("kills", "kills"),
    ("in sent", "inbound_sent"),
    ("in parts", "inbound_parts"),
    ("in received", "inbound_received"),
    ("in lost", "inbound_lost"),
    ("in dup", "inbound_duplicated"),
    ("out 202", "outbound_acknowledged"),
    ("POSTs", "outbound_posts"),
    ("out lost", "outbound_lost"),
    ("out dup", "outbound_duplicated"),
    ("parts resent", "outbound_parts_resent"),
    ("calls up at kill", "calls_up_at_kill"),
    ("calls ended once", "calls_ended_once"),
    ("calls not ended", "calls_not_ended"),
    ("contacts not one", "contacts_not_one"),
    ("s", "seconds"),
]


def row(values: list[str]) -> str:
    return "| " + " | ".join(values) + " |"


def cell(f: Figures, name: str) -> str:
    value = getattr(f, name)
    return str(len(value)) if isinstance(value, list) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[20261207, 1, 2])
    parser.add_argument("--kills", type=int, default=6)
    args = parser.parse_args()
    print(row([title for title, _ in COLUMNS]))
    print(row(["---"] * len(COLUMNS)))
    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="fault-kill9-") as tmp:
            f = run_campaign(Path(tmp), Plan(seed=seed, kills=args.kills))
        runs.append(f)
        print(row([cell(f, name) for _, name in COLUMNS]), flush=True)
        if f.missing:
            print(f"  missing: {f.missing}", flush=True)
    total = [
        "all",
        *(str(sum(int(cell(f, name)) for f in runs)) for _, name in COLUMNS[1:]),
    ]
    print(row(total))
    causes: dict[str, int] = {}
    for f in runs:
        for cause, n in f.causes.items():
            causes[cause] = causes.get(cause, 0) + n
    print(f"call_ended causes: {causes}")


if __name__ == "__main__":
    main()
