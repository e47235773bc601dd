"""Prometheus metrics, one registry for the process (the default one, which /metrics serves;
FastStream's Kafka metrics are registered there too)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "appeasement_consumed_messages_total",
    "Consumed messages by method and outcome (applied, duplicate, ignored, dead_lettered)",
    ["method", "outcome"],
)
DEAD_LETTERS = Counter(
    "appeasement_dead_letters_total", "Messages sent to the dead-letter topic", ["code"]
)
BATCH_SECONDS = Histogram(
    "appeasement_projection_batch_seconds",
    "Time to apply one consumed batch in one transaction",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BATCH_RECORDS = Histogram(
    "appeasement_projection_batch_records",
    "Records in one consumed batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
DB_RETRIES = Counter(
    "appeasement_database_retries_total", "Transactions retried after a database outage"
)
APPEASEMENTS = Counter(
    "appeasement_decisions_total",
    "Appeasement commands by channel and outcome (granted, replayed, rejected)",
    ["channel", "outcome"],
)
REJECTIONS = Counter("appeasement_rejections_total", "Rejected commands by rule code", ["code"])
TRANSITIONS = Counter(
    "appeasement_transitions_total", "Appeasement status changes by target status", ["status"]
)
OUTBOX_PUBLISHED = Counter("appeasement_outbox_published_total", "Outbox messages published")
OUTBOX_ERRORS = Counter("appeasement_outbox_errors_total", "Outbox publications that failed")
OUTBOX_PURGED = Counter(
    "appeasement_outbox_purged_total",
    "Published outbox messages deleted after OUTBOX_RETENTION_HOURS",
)
OVER_CREDIT_ALERTS = Counter(
    "appeasement_over_credit_alerts_total", "OMS refunds that landed on appeased money"
)
OUTBOX_QUARANTINED = Counter(
    "appeasement_outbox_quarantined_total",
    "Outbox messages quarantined after failing on their own too many times",
)
OWN_EVENTS = Counter(
    "appeasement_own_events_total",
    "This service's own refund events seen on the consumed topic and skipped unread",
)
IN_FLIGHT_LIMIT = Gauge(
    "appeasement_in_flight_limit",
    "HTTP grants and previews let in at once now: MAX_GRANTS_IN_FLIGHT, lowered while even "
    "the quickest of them waits longer than GRANT_LATENCY_TARGET_MS",
)
SHED = Counter(
    "appeasement_shed_total", "Requests refused with 503 OVERLOADED, by use case", ["use_case"]
)

HTTP_REQUESTS = Counter(
    "appeasement_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "appeasement_http_request_duration_seconds",
    "Time from an HTTP request's arrival to its answer, by route template and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Gauges read at scrape time: what the consumers and the outbox look like now.
CONSUMER_LAG = Gauge(
    "appeasement_consumer_lag",
    "Records not consumed yet per assigned partition (end offset - position), by group",
    ["group", "topic", "partition"],
)
OUTBOX_PENDING_ROWS = Gauge(
    "appeasement_outbox_pending_rows", "Outbox messages waiting to be published (not quarantined)"
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "appeasement_outbox_oldest_pending_seconds",
    "Age of the oldest unpublished outbox message (quarantined ones included); 0 when none",
)
OUTBOX_QUARANTINED_ROWS = Gauge(
    "appeasement_outbox_quarantined_rows",
    "Outbox messages quarantined now, waiting for an operator's retry or skip",
)
