"""Prometheus metrics of the actor runtime and the domain actors (same registry as the
rest of the switch, served at ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ACTORS_LIVE = Gauge("switch_actors_live", "Actors in memory", ["kind"])
ACTOR_RESTARTS = Counter("switch_actor_restarts_total", "Actor restarts after a crash", ["kind"])
ACTOR_CUT_OFF = Counter("switch_actor_cut_off_total", "Actors stopped after a crash loop", ["kind"])
ACTORS_HIBERNATED = Counter("switch_actors_hibernated_total", "Actors evicted when idle", ["kind"])
MAILBOX_REJECTED = Counter(
    "switch_mailbox_rejected_total", "Messages refused by a full mailbox", ["kind"]
)
MAILBOX_DROPPED = Counter(
    "switch_mailbox_dropped_total", "Messages dropped (drop-oldest policy)", ["kind"]
)
JOURNEY_EVENTS = Counter(
    "switch_journey_events_total", "Journey events recorded", ["channel", "kind"]
)
