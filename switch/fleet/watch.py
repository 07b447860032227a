"""Operational events, decided without I/O: what changed that the fleet must hear of.

- a modem is *lost* when it enters ``disconnected`` or ``failed`` (port gone, modem
  silent, recovery given up), and *recovered* when it is ``ready`` again after that,
  however many states it went through on the way (``initialising``, ``searching``...);
- the disk is *low* when the data directory's free space falls under the threshold, and
  *ok* again only once it is 10 % above it (no event storm around the line);
- a media worker *crashed* when its restart count went up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOST_STATES = frozenset({"disconnected", "failed"})
DISK_HYSTERESIS = 1.1


@dataclass(slots=True)
class ModemWatch:
    lost: set[str] = field(default_factory=set)  # modems lost and not ready since

    def update(self, modem_id: str, state: str) -> str | None:
        """``modem_lost``, ``modem_recovered`` or None for a modem's reported state."""
        if state in LOST_STATES:
            if modem_id in self.lost:
                return None
            self.lost.add(modem_id)
            return "modem_lost"
        if state == "ready" and modem_id in self.lost:
            self.lost.discard(modem_id)
            return "modem_recovered"
        return None


@dataclass(slots=True)
class DiskWatch:
    threshold: int  # bytes
    low: bool = False

    def check(self, free: int) -> str | None:
        """``disk_low`` / ``disk_ok`` when the state flips, else None."""
        if not self.low and free < self.threshold:
            self.low = True
            return "disk_low"
        if self.low and free >= self.threshold * DISK_HYSTERESIS:
            self.low = False
            return "disk_ok"
        return None


def worker_crashes(before: dict[int, int], now: dict[int, int]) -> list[tuple[int, int]]:
    """``(worker, restarts)`` for each worker restarted since ``before``."""
    return [(w, n) for w, n in sorted(now.items()) if n > before.get(w, 0)]
