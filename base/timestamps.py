"""Times as the outside world reads them: ISO 8601 in UTC, with its zone (``Z``)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(at: float) -> str:
    """``2025-01-31T08:15:02.123456Z`` for a Unix time."""
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def iso_utc_or_none(at: float | None) -> str | None:
    """:func:`iso_utc`, with None (or 0: never) for an unknown time."""
    return iso_utc(at) if at else None
