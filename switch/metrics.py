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
