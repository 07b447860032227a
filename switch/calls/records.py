"""A call as the API shows it (``GET /api/v1/calls``), built from the call's state.

Times are ISO 8601 in UTC. ``to`` of an inbound call is the number the customer dialled
(the DID, or the modem's own number), ``via`` the trunk or modem it came through.
What the agent should see of the caller's way in: ``queue``, ``language`` (set by a menu,
null: the default), ``identified`` (the number belonged to a known contact), ``ivr`` (the
digits pressed, menu by menu) and ``answers`` (to the queue's questions).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from actors.call import CallState

CALL_NS = "call"
WIDGET = "widget"  # the ``via`` of a customer's call from the web widget (WebRTC)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def recording_path(recordings: Path, call_id: str) -> Path:
    return (recordings / f"{call_id}.wav").resolve()


def call_record(state: CallState, recordings: Path) -> dict[str, Any]:
    inbound = state.direction == "in"
    status = state.status
    return {
        "id": state.id,
        "contact_id": state.contact_id,
        "direction": state.direction,
        "from": state.number if inbound else (state.agent or state.via),
        "to": (state.did or state.via) if inbound else state.number,
        "state": status,
        "agent": state.agent if status != "ringing" or not inbound else None,
        "via": state.via,
        "channel": _channel(state),
        "started_at": iso(state.started_at),
        "answered_at": iso(state.answered_at),
        "ended_at": iso(state.ended_at),
        "cause": state.cause,
        "recording": str(recording_path(recordings, state.id)) if state.recording else None,
        "worker": state.worker,
        "transfer": state.transfer.record() if state.transfer else None,
        "queue": state.queue,
        "language": state.language,
        "identified": state.identified,
        "ivr": [{"menu": menu, "digit": digit} for menu, digit in state.choices],
        "answers": [{"question": q, "answer": a} for q, a in state.answers],
    }


def _channel(state: CallState) -> str:
    if state.kind == "gsm_in" or state.route == "modem":
        return "gsm"
    return "webrtc" if state.via == WIDGET else "sip"
