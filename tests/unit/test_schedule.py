"""Opening hours (actors.schedule) and routes (actors.routes): pure, the time given."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from actors.routes import Route, RouteTable
from actors.schedule import is_open, parse_schedule

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
PHNOM_PENH = zoneinfo.ZoneInfo("Asia/Phnom_Penh")


def at(zone: zoneinfo.ZoneInfo, *fields: int, fold: int = 0) -> float:
    return dt.datetime(*fields, tzinfo=zone, fold=fold).timestamp()  # type: ignore[misc]


OFFICE = parse_schedule(
    "office",
    "Asia/Phnom_Penh",
    {"mon": ["08:00-12:00", "13:00-17:00"], "tue": ["08:00-17:00"], "sat": ["08:00-12:00"]},
    ["2026-04-14"],
)


def test_spans_are_local_time_start_included_end_excluded() -> None:
    # 2026-04-13 is a Monday
    assert not is_open(OFFICE, at(PHNOM_PENH, 2026, 4, 13, 7, 59))
    assert is_open(OFFICE, at(PHNOM_PENH, 2026, 4, 13, 8, 0))
    assert is_open(OFFICE, at(PHNOM_PENH, 2026, 4, 13, 11, 59))
    assert not is_open(OFFICE, at(PHNOM_PENH, 2026, 4, 13, 12, 0))  # lunch
    assert is_open(OFFICE, at(PHNOM_PENH, 2026, 4, 13, 13, 0))
    assert not is_open(OFFICE, at(PHNOM_PENH, 2026, 4, 13, 17, 0))
    assert not is_open(OFFICE, at(PHNOM_PENH, 2026, 4, 12, 10, 0))  # Sunday: no spans
    assert is_open(OFFICE, at(PHNOM_PENH, 2026, 4, 18, 9, 0))  # Saturday morning


def test_the_zone_decides_not_utc() -> None:
    # 01:30 UTC on Monday is 08:30 in Phnom Penh (UTC+7): open there
    utc = dt.datetime(2026, 4, 13, 1, 30, tzinfo=dt.UTC).timestamp()
    assert is_open(OFFICE, utc)
    assert not is_open(parse_schedule("u", "UTC", {"mon": ["08:00-17:00"]}), utc)


def test_a_holiday_is_closed_all_day_whatever_the_weekday() -> None:
    # 2026-04-14 is a Tuesday (Khmer New Year)
    assert not is_open(OFFICE, at(PHNOM_PENH, 2026, 4, 14, 10, 0))
    assert is_open(OFFICE, at(PHNOM_PENH, 2026, 4, 21, 10, 0))


def test_a_night_shift_spans_midnight_as_two_spans() -> None:
    night = parse_schedule("night", "UTC", {"mon": ["22:00-24:00"], "tue": ["00:00-06:00"]})

    def utc(*f: int) -> float:
        return dt.datetime(*f, tzinfo=dt.UTC).timestamp()  # type: ignore[misc]

    assert not is_open(night, utc(2026, 4, 13, 21, 59))
    assert is_open(night, utc(2026, 4, 13, 23, 59))
    assert is_open(night, utc(2026, 4, 14, 0, 0))  # Tuesday, just after midnight
    assert is_open(night, utc(2026, 4, 14, 5, 59))
    assert not is_open(night, utc(2026, 4, 14, 6, 0))
    assert not is_open(night, utc(2026, 4, 14, 23, 0))  # Tuesday night: not listed


def test_across_dst_the_wall_clock_decides() -> None:
    shop = parse_schedule("shop", "Europe/Berlin", {d: ["08:00-17:00"] for d in ("sat", "sun")})
    # 2026-03-29 (Sunday): clocks go 02:00 -> 03:00; 08:00 local is 06:00 UTC, not 07:00
    opening = at(BERLIN, 2026, 3, 29, 8, 0)
    assert dt.datetime.fromtimestamp(opening, dt.UTC).hour == 6
    assert is_open(shop, opening)
    assert not is_open(shop, opening - 60)
    # the day before (winter time) 08:00 local is 07:00 UTC
    saturday = at(BERLIN, 2026, 3, 28, 8, 0)
    assert dt.datetime.fromtimestamp(saturday, dt.UTC).hour == 7
    assert is_open(shop, saturday) and not is_open(shop, saturday - 60)
    # 2026-10-25: 02:00-03:00 happens twice; a span over it matches both times
    early = parse_schedule("early", "Europe/Berlin", {"sun": ["02:00-03:00"]})
    first = at(BERLIN, 2026, 10, 25, 2, 30, fold=0)
    second = at(BERLIN, 2026, 10, 25, 2, 30, fold=1)
    assert second - first == 3600
    assert is_open(early, first) and is_open(early, second)
    # and the hour skipped in spring never matches
    spring = parse_schedule("spring", "Europe/Berlin", {"sun": ["02:00-03:00"]})
    around = at(BERLIN, 2026, 3, 29, 1, 59)
    assert not any(is_open(spring, around + 60 * i) for i in range(1, 120))


def test_a_route_with_hours_leads_to_closed_to_outside_them() -> None:
    table = RouteTable(
        [
            Route("+85523900100", "ivr:main", OFFICE, "queue:night"),
            Route("+85523900200", "queue:sales"),
            Route("+85523900300", "queue:support", OFFICE),
        ]
    )
    monday_morning = at(PHNOM_PENH, 2026, 4, 13, 9, 0)
    monday_night = at(PHNOM_PENH, 2026, 4, 13, 21, 0)
    assert table.target("+85523900100", monday_morning) == "ivr:main"
    assert table.target("+85523900100", monday_night) == "queue:night"
    assert table.target("+85523900200", monday_night) == "queue:sales"
    # no closed_to: the target all the same (its queue may be closed itself)
    assert table.target("+85523900300", monday_night) == "queue:support"
    assert table.target("+85599999999", monday_morning) is None
    assert table.target(None, monday_morning) is None
