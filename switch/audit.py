"""The audit trail: who did what, when, and from where, for the actions that matter.

Recorded: raw AT commands (a technician's ``AT+CMGD=1,4`` empties the SIM), USSD codes,
contact merges and unmerges, call transfers (the call service records those), supervision
of calls (``call.supervise``: listen, whisper, barge), and failed
logins (a bearer token that matches none: at most :data:`FAILED_LOGINS_PER_MINUTE` per
client address a minute are recorded, the rest are counted in the log).

Each action is one event of the store's ``audit`` log, durable before the API answers,
and one ``audit`` log line. ``GET /api/v1/audit`` (technician token) reads them back,
newest page first, each page oldest first like every list of the API.

Anything in the switch records an action with :func:`audit`::

    await audit(core, "call.transfer", who=caller.who, role=caller.role,
                source=caller.source, target=call_id, detail={"to": number})
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import structlog

from base.timestamps import iso_utc

if TYPE_CHECKING:
    from switch.core import Core

log = structlog.get_logger("audit")

AUDIT_LOG = "audit"  # the store's log (actor id) that holds the trail
AUDIT_KIND = "audit"
FAILED_LOGINS_PER_MINUTE = 10
_SOURCES_TRACKED = 1024


async def audit(
    core: Core,
    action: str,
    *,
    who: str,
    role: str,
    source: str | None = None,
    target: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    """Record ``action`` (``"modem.at"``, ``"call.transfer"``...) durably, and log it.

    ``who`` names the caller (a token's key path and fingerprint, later a user id),
    ``source`` where the request came from, ``outcome`` ``"ok"`` or why it failed."""
    data: dict[str, Any] = {
        "action": action,
        "who": who,
        "role": role,
        "source": source,
        "target": target,
        "outcome": outcome,
        "detail": detail or {},
    }
    await core.store.append(AUDIT_LOG, AUDIT_KIND, data, core.clock.now())
    log.info("audit", **data)


def audit_page(
    core: Core, *, before: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the trail, oldest first, and the cursor of the next (older) page.
    ``ValueError`` for a cursor that is not an audit entry."""
    events, more = core.store.events_page([AUDIT_LOG], before=before, limit=limit)
    entries = [{"id": ev.seq, "at": iso_utc(ev.at), **ev.data} for ev in events]
    return entries, (events[0].seq if more and events else None)


class FailedLogins:
    """Which failed logins get an audit entry: the first few per client address and
    minute. A client guessing tokens must not fill the store; what is not recorded is
    counted, and the count is logged when its minute ends."""

    def __init__(self, per_minute: int = FAILED_LOGINS_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def admit(self, source: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        started, count = self._windows.pop(source, (now, 0))
        if now - started >= 60.0:
            if count > self.per_minute:
                log.warning(
                    "audit_failed_logins_not_recorded",
                    source=source,
                    count=count - self.per_minute,
                )
            started, count = now, 0
        self._windows[source] = (started, count + 1)
        while len(self._windows) > _SOURCES_TRACKED:
            self._windows.popitem(last=False)
        return count < self.per_minute
