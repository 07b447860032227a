"""What a box reports about itself: modems, trunks, agents, disk, memory, version.

:func:`collect` reads the running services (never blocks on a modem: it uses the last
status each modem reported); :func:`change_key` is the part of a report whose change is
worth a report of its own (states, not signal or memory, which move all the time).
Queues are not built yet: ``queues`` is an empty list until they are.
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors.agent import GetAgent
from actors.agent_state import STATUSES as AGENT_STATES
from actors.agent_state import AgentState
from switch.version import switch_version

if TYPE_CHECKING:
    from switch.core import Core

STARTED = time.monotonic()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def modems(core: Core) -> list[dict[str, Any]]:
    sms = core.sms
    if sms is None:
        return []
    queued: dict[str, int] = {}
    for message in sms.outbox.values():
        queued[message.modem] = queued.get(message.modem, 0) + 1
    out = []
    for modem_id, status in sms.statuses.items():
        out.append(
            {
                "id": modem_id,
                "state": status.state,
                "signal": status.signal_dbm,
                "operator": status.operator,
                "registered": status.registered,
                "sms_queued": queued.get(modem_id, 0),
            }
        )
    return out


async def trunks(core: Core) -> list[dict[str, Any]]:
    """Configured trunks; with SIP running, the registration state of those that
    register (:meth:`switch.calls.trunk_test.TrunkTester.registrations`)."""
    configured = core.config.trunks
    if not configured:
        return []
    calls = core.calls
    states = await calls.trunk_tests.registrations() if calls is not None else {}
    out = []
    for trunk in configured:
        registration = states.get(trunk.id) or ("unknown" if trunk.register_ else "peering")
        out.append({"id": trunk.id, "register": trunk.register_, "registration": registration})
    return out


async def agents(core: Core) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(AGENT_STATES, 0)
    for agent in core.config.agents:
        state: AgentState = await core.registry.ask(f"agent:{agent.id}", GetAgent())
        counts[state.status] = counts.get(state.status, 0) + 1
    return counts


def disk(path: Path) -> dict[str, Any]:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return {"path": str(path), "free_bytes": usage.free, "total_bytes": usage.total}


def memory_rss() -> int:
    """The process's resident memory in bytes (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def collect(core: Core, box_id: str, extra: dict[str, Any]) -> dict[str, Any]:
    data_dir = Path(core.config.store.path).parent
    return {
        "box_id": box_id,
        "at": now_iso(),
        "version": switch_version(),
        "uptime": round(time.monotonic() - STARTED, 1),
        "modems": modems(core),
        "trunks": await trunks(core),
        "agents": await agents(core),
        "queues": [],
        "disk": disk(data_dir),
        "memory": {"rss_bytes": memory_rss()},
        **extra,
    }


def change_key(report: dict[str, Any]) -> tuple[Any, ...]:
    return (
        tuple(
            (m["id"], m["state"], m["registered"], m["operator"], m["sms_queued"] > 0)
            for m in report["modems"]
        ),
        tuple((t["id"], t["registration"]) for t in report["trunks"]),
        tuple(sorted(report["agents"].items())),
        report.get("disk_low"),
        (report.get("recording") or {}).get("paused"),
    )
