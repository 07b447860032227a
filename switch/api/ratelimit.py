"""A per-key rate limit (token bucket), sans-IO: the caller passes the time.

``RateLimit(per_minute, burst).allow(key, now)`` says whether one more request from
``key`` (a client address) may pass now. Each key holds at most ``burst`` tokens,
refilled at ``per_minute`` a minute. At most ``max_keys`` keys are remembered; the
least recently seen is forgotten first (an attacker with many addresses cannot make
it grow without bound; a forgotten key starts again with a full bucket).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["RateLimit"]


@dataclass(slots=True)
class RateLimit:
    per_minute: float
    burst: int
    max_keys: int = 10_000
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def allow(self, key: str, now: float) -> bool:
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.per_minute / 60.0)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed
