"""What is wrong with the box now, in one view for an operator (``GET /api/v1/health``).

The parts that fail from outside, each with its state and, when it is not well, one
line in ``problems`` that says what is wrong in plain words (the log has the same fault
as a JSON line: ``store_commit_failed``, ``kamailio_died``, ``modem_state``...):

- the store: a write it could not make durable (the disk is full...), until a commit
  succeeds again;
- the SIP edge: Kamailio not running (it is restarted with backoff), how many times it
  was restarted; a restart forgets the phones' registrations, which come back as each
  phone registers again (the agents' ``phone_registered`` says whose);
- rtpengine (browser phones, with ``[webrtc]``): not running, restarts;
- the media workers: how many are up, restarts;
- the modems: those not ``ready``, with their last error.

``status`` is ``ok`` with no problem, else ``degraded``. Reading it changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switch.core import Core


def collect(core: Core) -> dict[str, Any]:
    problems: list[str] = []
    failing = core.store.failing
    store = {"state": "failing" if failing else "ok", "error": failing}
    if failing:
        problems.append(f"store: {failing}")
    sip: dict[str, Any] | None = None
    if core.calls is not None:
        sip = _sip(core, problems)
    modems: list[dict[str, Any]] = []
    if core.sms is not None:
        for modem_id, status in core.sms.statuses.items():
            modems.append({"id": modem_id, "state": status.state, "last_error": status.last_error})
            if status.state != "ready":
                why = f": {status.last_error}" if status.last_error else ""
                problems.append(f"modem {modem_id}: {status.state}{why}")
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "store": store,
        "sip": sip,
        "modems": modems,
    }


def _sip(core: Core, problems: list[str]) -> dict[str, Any]:
    calls = core.calls
    assert calls is not None
    edge = calls.kamailio
    workers = calls.pool.health()
    up = sum(1 for w in workers if w["state"] == "up")
    if not edge.running:
        problems.append(
            f"sip edge: Kamailio is not running (restarts so far: {edge.restarts}); "
            "calls cannot start or end through it until it is back"
        )
    if up < len(workers):
        problems.append(f"media workers: {up} of {len(workers)} up (the others are restarting)")
    rtpengine: dict[str, Any] | None = None
    if calls.web is not None:
        media = calls.web.rtpengine
        rtpengine = {"state": "up" if media.running else "down", "restarts": media.restarts}
        if not media.running:
            problems.append(
                f"rtpengine: not running (restarts so far: {media.restarts}); "
                "browser phones cannot call until it is back"
            )
    return {
        "edge": {"state": "up" if edge.running else "down", "restarts": edge.restarts},
        "rtpengine": rtpengine,
        "workers": {
            "up": up,
            "total": len(workers),
            "restarts": sum(int(w["restarts"]) for w in workers),
        },
    }
