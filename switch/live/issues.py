"""A contact's open issues, for the offer an agent sees before answering.

An issue is open when somebody promised more work and it is not done yet:

- a wrap-up whose outcome left work to do (``follow_up``, ``callback``, ``escalated``),
  until a later wrap-up says ``resolved``;
- a callback the switch promised that is still waiting or being dialled.

Pure over what it is given (the contact's wrap-up events, its callbacks' records).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

OPEN_OUTCOMES = frozenset({"follow_up", "callback", "escalated"})
MAX_ISSUES = 10


def open_issues(
    wrap_ups: Iterable[dict[str, Any]], callbacks: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The open issues, oldest first: ``wrap_ups`` are journey views of ``wrap_up``
    events (oldest first), ``callbacks`` the public views of the contact's live
    callbacks."""
    issues: list[dict[str, Any]] = []
    for event in wrap_ups:
        outcome = event.get("disposition")
        if outcome == "resolved":
            issues.clear()
        elif outcome in OPEN_OUTCOMES:
            issues.append(
                {
                    "kind": "wrap_up",
                    "at": event.get("at"),
                    "disposition": outcome,
                    "text": event.get("text"),
                    "agent": event.get("agent"),
                }
            )
    for callback in callbacks:
        issues.append(
            {
                "kind": "callback",
                "at": callback.get("requested_at"),
                "queue": callback.get("queue"),
                "state": callback.get("state"),
                "position": callback.get("position"),
            }
        )
    return issues[-MAX_ISSUES:]
