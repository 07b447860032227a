"""``GET /api/v1/stats``: the statistics of a time range, read from the store.

The numbers are :func:`actors.kpis.compute` over the events this module reads (by kind
and time, on the store's ``(kind, at)`` index): queue entries of the range and what
became of them up to :data:`OUTCOME_HORIZON` after its end (first-contact resolution
looks 7 days ahead), calls, survey answers, and the agents' presence (with each
agent's last status before the range, where the range begins).

``since`` and ``until`` are ISO 8601: a date (``2026-05-01``: that day's midnight; as
``until``, the end of that day), a local time (``2026-05-01T08:00``, in the box's time
zone) or a time with an offset (``...Z``, ``...+07:00``). The default is today in the
box's time zone; ``until`` defaults to the end of the day ``since`` falls in.

``by=hour`` adds ``hours``: the same figures for each hour of the range that has begun
(the wallboard's charts of the day), from the same events.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Literal

from actors.kpis import FCR_WINDOW, KINDS, SHORT_ABANDON, STATUS_KIND, Window, compute
from base.errors import Rejected

if TYPE_CHECKING:
    from switch.core import Core

OUTCOME_HORIZON = FCR_WINDOW + 86400.0  # seconds after ``until`` read for outcomes
MAX_RANGE_DAYS = 400
MAX_HOURS = 48  # by=hour: at most this many hours in the range
HOUR_FIELDS = ("offered", "answered", "abandoned", "service_level", "asa", "aht", "csat")


def box_zone() -> tzinfo:
    """The box's time zone (the system's, or ``TZ``)."""
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def _parse(name: str, raw: str, zone: tzinfo, *, end_of_day: bool) -> datetime:
    text = raw.strip()
    try:
        if len(text) == 10 and "T" not in text:
            day = date.fromisoformat(text)
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time(), zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Rejected(
            "invalid_request",
            f"{name}: {raw!r} is not an ISO 8601 date or time "
            "(e.g. 2026-05-01, 2026-05-01T08:00, 2026-05-01T08:00:00+07:00)",
            422,
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def parse_range(
    since: str | None, until: str | None, now: float, zone: tzinfo | None = None
) -> tuple[float, float]:
    """The range ``[since, until)`` as Unix times; Rejected (422) when it is not one."""
    zone = zone or box_zone()
    if since is None:
        start = datetime.combine(datetime.fromtimestamp(now, zone).date(), time(), zone)
    else:
        start = _parse("since", since, zone, end_of_day=False)
    if until is None:
        end = datetime.combine(start.astimezone(zone).date() + timedelta(days=1), time(), zone)
    else:
        end = _parse("until", until, zone, end_of_day=True)
    if end <= start:
        raise Rejected("invalid_request", "until must be later than since", 422)
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise Rejected("invalid_request", f"a range covers at most {MAX_RANGE_DAYS} days", 422)
    return start.timestamp(), end.timestamp()


async def stats(
    core: Core,
    since: str | None,
    until: str | None,
    queue: str | None,
    by: Literal["hour"] | None = None,
) -> dict[str, Any]:
    now = core.clock.now()
    zone = box_zone()
    start, end = parse_range(since, until, now, zone)
    if queue is not None and not core.queues.has(queue):
        raise Rejected("invalid_request", f"queue: no queue {queue!r}", 422)
    settings = core.queues.settings
    agents = None
    if queue is not None:
        wanted = settings[queue]
        agents = frozenset(
            a.id for a in core.config.agents if wanted.eligible(a.id, frozenset(a.skills))
        )
    window = Window(
        since=start,
        until=end,
        queue=queue,
        service_levels={q.id: q.service_level for q in settings.values()},
        agents=agents,
        now=now,
    )
    store = core.store

    if by == "hour" and end - start > MAX_HOURS * 3600:
        raise Rejected("invalid_request", f"by=hour: a range of at most {MAX_HOURS} hours", 422)

    def work() -> dict[str, Any]:
        events = store.events_by_kind(KINDS, start, end + OUTCOME_HORIZON)
        events += store.latest_by_actor(STATUS_KIND, start)
        out = compute(events, window).to_json()
        if by == "hour":
            out["hours"] = hourly(events, window)
        return out

    numbers = await asyncio.to_thread(work)
    return {
        "since": datetime.fromtimestamp(start, zone).isoformat(),
        "until": datetime.fromtimestamp(end, zone).isoformat(),
        "queue": queue,
        **numbers,
        "short_abandon_threshold": SHORT_ABANDON,
        "fcr_days": FCR_WINDOW / 86400,
    }


def hourly(events: list[Any], window: Window) -> list[dict[str, Any]]:
    """The figures of each hour of ``window`` that has begun (up to ``window.now``)."""
    zone = box_zone()
    out = []
    begin = window.since
    last = min(window.until, window.now if window.now is not None else window.until)
    while begin < last:
        hour = replace(window, since=begin, until=min(begin + 3600.0, window.until))
        figures = compute(events, hour).to_json()
        out.append(
            {
                "since": datetime.fromtimestamp(begin, zone).isoformat(),
                **{k: figures.get(k) for k in HOUR_FIELDS},
            }
        )
        begin += 3600.0
    return out
