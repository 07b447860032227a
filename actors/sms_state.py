"""The outgoing SMS state machine.

Rules: everything that changes an outgoing message's status lives in this file; it
knows nothing of modems, stores or clocks (the caller passes ``now``).

Theory of operation: a message is ``queued`` when accepted (the API's 202). Sending it
gives every part a message reference (TP-MR); once all parts have one it is ``sent``.
Status reports arrive per part; the message is ``delivered`` when every part's report
says delivered, and ``failed`` as soon as any part failed for good, or when sending
failed permanently or ran out of attempts. ``delivered`` and ``failed`` are final.

The table is ``{status: {event: next_status}}``; an event that is not in the row of
the current status is a protocol error (e.g. a status report for a message never sent).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from base.errors import ProtocolError

Status = Literal["queued", "sent", "delivered", "failed"]
PartStatus = Literal["pending", "delivered", "failed"]

TRANSITIONS: dict[str, dict[str, str]] = {
    "queued": {"retry": "queued", "sent": "sent", "send_failed": "failed", "expired": "failed"},
    "sent": {"report": "sent", "all_delivered": "delivered", "part_failed": "failed"},
    "delivered": {},
    "failed": {},
}


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    id: str
    to: str
    text: str
    modem: str
    parts: int
    created_at: float
    contact_id: str | None = None
    status: Status = "queued"
    attempts: int = 0
    next_attempt_at: float = 0.0
    references: tuple[int | None, ...] = ()
    part_status: tuple[PartStatus, ...] = ()
    error: str | None = None
    updated_at: float = 0.0
    concat_ref: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "direction": "out",
            "to": self.to,
            "from": self.modem,
            "text": self.text,
            "status": self.status,
            "parts": self.parts,
            "modem": self.modem,
            "contact_id": self.contact_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
            "attempts": self.attempts,
            "references": list(self.references),
            "part_status": list(self.part_status),
            "error": self.error,
            "concat_ref": self.concat_ref,
            "next_attempt_at": self.next_attempt_at,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> OutgoingSms:
        return cls(
            id=d["id"],
            to=d["to"],
            text=d["text"],
            modem=d["modem"],
            parts=d["parts"],
            created_at=d["created_at"],
            contact_id=d.get("contact_id"),
            status=d["status"],
            attempts=d.get("attempts", 0),
            next_attempt_at=d.get("next_attempt_at", 0.0),
            references=tuple(d.get("references", ())),
            part_status=tuple(d.get("part_status", ())),
            error=d.get("error"),
            updated_at=d.get("updated_at", 0.0),
            concat_ref=d.get("concat_ref", 0),
        )


def _move(msg: OutgoingSms, event: str, now: float, **changes: Any) -> OutgoingSms:
    row = TRANSITIONS[msg.status]
    if event not in row:
        raise ProtocolError(f"sms {msg.id}: event {event!r} in status {msg.status!r}")
    status: Status = row[event]  # type: ignore[assignment]
    return replace(msg, status=status, updated_at=now, **changes)


def on_sent(msg: OutgoingSms, references: list[int], now: float) -> OutgoingSms:
    return _move(
        msg,
        "sent",
        now,
        references=tuple(references),
        part_status=tuple("pending" for _ in references),
        attempts=msg.attempts + 1,
        error=None,
    )


def on_send_error(
    msg: OutgoingSms, error: str, *, permanent: bool, now: float, max_attempts: int, backoff: float
) -> OutgoingSms:
    attempts = msg.attempts + 1
    if permanent:
        return _move(msg, "send_failed", now, attempts=attempts, error=error)
    if attempts >= max_attempts:
        return _move(
            msg, "expired", now, attempts=attempts, error=f"{error} (gave up after {attempts})"
        )
    delay = backoff * 2 ** (attempts - 1)
    return _move(msg, "retry", now, attempts=attempts, error=error, next_attempt_at=now + delay)


def on_unavailable(msg: OutgoingSms, reason: str, now: float, retry_in: float) -> OutgoingSms:
    """The modem cannot send now (not ready, unplugged): wait, without using an attempt."""
    return _move(msg, "retry", now, error=reason, next_attempt_at=now + retry_in)


def on_report(
    msg: OutgoingSms, reference: int, outcome: str, now: float, status_code: int | None = None
) -> OutgoingSms:
    """A status report for one part (matched by message reference)."""
    if msg.status in ("delivered", "failed"):
        return msg  # late or duplicate report for a final message
    if reference not in msg.references:
        raise ProtocolError(f"sms {msg.id}: no part with reference {reference}")
    index = msg.references.index(reference)
    parts = list(msg.part_status)
    if outcome == "delivered":
        parts[index] = "delivered"
    elif outcome == "failed":
        parts[index] = "failed"
    else:
        return _move(msg, "report", now)
    if "failed" in parts:
        why = f"part {index + 1} failed (status {status_code})" if status_code is not None else None
        return _move(msg, "part_failed", now, part_status=tuple(parts), error=why)
    if all(p == "delivered" for p in parts):
        return _move(msg, "all_delivered", now, part_status=tuple(parts))
    return _move(msg, "report", now, part_status=tuple(parts))
