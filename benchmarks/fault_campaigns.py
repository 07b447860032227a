"""Faults from outside while SMS flow both ways (and calls are up): the figures.

    PYTHONPATH=. .venv/bin/python benchmarks/fault_campaigns.py \
        [--only kill9 unplug silent] [--seeds 20261207 1 2] [--kills 6] [--faults 3]

Scenarios, each once per seed, all against a standalone simulated modem whose SIM and
network outlive the switch, with the network delivering SMS and an API client posting
SMS with idempotency keys (retrying after errors):

- ``kill9`` (``tests/integration/kill9_campaign.py``): `switch run` with Kamailio and
  media workers; per kill two trunk calls up (one bridged to the agent, one queued),
  then SIGKILL a random moment later and a new switch on the same store;
- ``unplug`` (``tests/integration/modem_campaign.py``): the modem's pty closed and
  reopened, ``--faults`` times;
- ``silent``: the modem stops answering, then answers again, ``--faults`` times.

Printed per run and in total: faults injected, inbound SMS (sent, parts, received,
lost, duplicated), outbound SMS (answered 202, POSTs, lost, whole duplicates, parts
resent), calls (up at a kill, ended once with a cause, not ended), numbers without
exactly one contact, seconds. Then the causes of the calls' ends.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.kill9_campaign import run_campaign  # noqa: E402
from tests.integration.modem_campaign import ModemCampaign  # noqa: E402
from tests.integration.sms_traffic import Figures, Plan  # noqa: E402

COLUMNS = [
    ("seed", "seed"),
    ("faults", "faults"),
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


def run(scenario: str, seed: int, args: argparse.Namespace) -> Figures:
    with tempfile.TemporaryDirectory(prefix=f"fault-{scenario}-") as tmp:
        if scenario == "kill9":
            return run_campaign(Path(tmp), Plan(seed=seed, kills=args.kills))
        fault = "unplug" if scenario == "unplug" else "silent"
        return ModemCampaign(Path(tmp), fault, seed, faults=args.faults).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=["kill9", "unplug", "silent"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[20261207, 1, 2])
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--faults", type=int, default=3)
    args = parser.parse_args()
    print(row(["scenario"] + [title for title, _ in COLUMNS]))
    print(row(["---"] * (len(COLUMNS) + 1)))
    causes: dict[str, int] = {}
    for scenario in args.only:
        runs = []
        for seed in args.seeds:
            f = run(scenario, seed, args)
            runs.append(f)
            print(row([scenario] + [cell(f, name) for _, name in COLUMNS]), flush=True)
            if f.missing:
                print(f"  missing: {f.missing}", flush=True)
            for cause, n in f.causes.items():
                causes[cause] = causes.get(cause, 0) + n
        total = [str(sum(float(cell(f, name)) for f in runs)) for _, name in COLUMNS[1:]]
        print(row([scenario, "all"] + [t.removesuffix(".0") for t in total]), flush=True)
    print(f"call_ended causes: {causes}")


if __name__ == "__main__":
    main()
