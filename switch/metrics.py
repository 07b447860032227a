"""Prometheus metrics of the switch (served at ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STORE_EVENTS = Counter("switch_store_events_total", "Events committed to the store")
STORE_FAILED = Counter(
    "switch_store_failed_writes_total", "Writes the store could not make durable (disk full...)"
)
STORE_COMMIT_SECONDS = Histogram(
    "switch_store_commit_seconds",
    "Duration of one group commit (fsync included)",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0),
)
STORE_BATCH_SIZE = Histogram(
    "switch_store_batch_writes",
    "Writes per group commit",
    buckets=(1, 2, 5, 10, 50, 100, 500, 1000, 5000),
)
HTTP_REQUESTS = Counter(
    "switch_http_requests_total", "HTTP API requests", ["method", "route", "status"]
)
SMS_IN = Counter("switch_sms_received_total", "SMS received (complete messages)", ["modem"])
SMS_OUT = Counter("switch_sms_sent_parts_total", "SMS parts sent", ["modem"])
SMS_FAILED = Counter("switch_sms_failed_total", "Outgoing SMS failed for good", ["modem"])
MODEM_SIGNAL = Gauge("switch_modem_signal_dbm", "Modem signal strength (dBm)", ["modem"])
MODEM_READY = Gauge("switch_modem_ready", "1 when the modem is ready", ["modem"])
CALLS_ACTIVE = Gauge("switch_calls_active", "Calls not yet ended")
CALLS_TOTAL = Counter("switch_calls_total", "Calls started", ["direction"])

# The contact center (docs/kpis.md): queues and agents now, counters of what left
QUEUE_WAITING = Gauge("switch_queue_waiting", "Items waiting in the queue", ["queue"])
QUEUE_LONGEST_WAIT = Gauge(
    "switch_queue_longest_wait_seconds", "The longest wait in the queue now", ["queue"]
)
AGENTS = Gauge("switch_agents", "Agents per state", ["state"])
QUEUE_OFFERED = Counter("switch_queue_offered_total", "Items that entered the queue", ["queue"])
QUEUE_ANSWERED = Counter("switch_queue_answered_total", "Items assigned to an agent", ["queue"])
QUEUE_ABANDONED = Counter(
    "switch_queue_abandoned_total", "Customers who left the queue (not short abandons)", ["queue"]
)
QUEUE_SHORT_ABANDONED = Counter(
    "switch_queue_short_abandoned_total",
    "Customers who left within the short-abandon time",
    ["queue"],
)
QUEUE_TREATED = Counter(
    "switch_queue_treated_total", "Items the queue gave up on (treatment)", ["queue"]
)
QUEUE_SERVICE_LEVEL = Gauge(
    "switch_queue_service_level",
    "Service level of the items that left the queue in the rolling window",
    ["queue"],
)
WEBHOOK_DELIVERIES = Counter(
    "switch_webhook_deliveries_total", "Webhook deliveries by outcome", ["hook", "outcome"]
)
WEBHOOK_BEHIND = Gauge("switch_webhook_behind", "Journey events not delivered yet", ["hook"])
CSAT_ANSWERS = Counter("switch_csat_answers_total", "Survey answers recorded", ["queue", "channel"])
