"""Exponential backoff: how long to wait before the next restart or retry.

One value for every supervisor of the switch (actor restarts, Kamailio, media workers,
modem recovery, rtpengine): ``initial`` doubled per consecutive failure, capped at
``maximum``; a run that stayed up ``reset_after`` seconds counts as healthy, so the next
failure starts from ``initial`` again. Pure: the caller owns the clock and the sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` consecutive failures (1 = the first)."""
        if failures <= 0:
            return 0.0
        exponent = min(failures - 1, 30)  # no overflow, the cap wins long before
        return float(min(self.maximum, self.initial * self.factor**exponent))

    def failures_after(self, failures: int, uptime: float) -> int:
        """The failure count after a run that lasted ``uptime`` seconds ended."""
        return 1 if uptime >= self.reset_after else failures + 1
