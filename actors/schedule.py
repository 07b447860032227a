"""Opening hours: a weekly table of spans in a time zone, and holidays.

Pure: :func:`is_open` takes the time as an argument (seconds since the epoch); the only
outside knowledge is the IANA time-zone database (``zoneinfo``). Imports nothing of ours.

Rules
-----
- A span ``HH:MM-HH:MM`` is local wall-clock time on its day, start included, end
  excluded; ``24:00`` ends at midnight. A span never crosses midnight: a night shift is
  two spans (``mon = ["22:00-24:00"]``, ``tue = ["00:00-06:00"]``).
- A holiday (a local date) is closed all day, whatever its weekday says.
- Across a DST change the wall clock decides: a span ``08:00-17:00`` opens at 08:00
  local time on both sides of the change. A time that does not exist (the hour skipped
  in spring) never matches; a time that happens twice (autumn) matches both times.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Schedule:
    id: str
    timezone: str = "UTC"
    # weekday (0 = Monday) -> spans in minutes since local midnight, [start, end)
    weekly: tuple[tuple[tuple[int, int], ...], ...] = ((),) * 7
    holidays: frozenset[str] = frozenset()  # local dates, YYYY-MM-DD


def _minutes(clock: str) -> int:
    hours, _, minutes = clock.partition(":")
    return int(hours) * 60 + int(minutes)


def parse_schedule(
    schedule_id: str,
    timezone: str,
    weekly: Mapping[str, Iterable[str]],
    holidays: Iterable[str] = (),
) -> Schedule:
    """A schedule from the config's words (``"mon": ["08:00-17:00"]``), already validated."""
    table: list[tuple[tuple[int, int], ...]] = []
    for day in DAYS:
        spans = []
        for span in weekly.get(day, ()):
            start, _, end = span.partition("-")
            spans.append((_minutes(start), _minutes(end)))
        table.append(tuple(sorted(spans)))
    return Schedule(schedule_id, timezone, tuple(table), frozenset(holidays))


def is_open(schedule: Schedule, now: float) -> bool:
    """Whether ``now`` (epoch seconds) falls in one of the schedule's spans."""
    local = dt.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(schedule.timezone))
    if local.date().isoformat() in schedule.holidays:
        return False
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in schedule.weekly[local.weekday()])
