"""Prometheus metrics shared by the plumbing; services add their own beside their domain."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_HANDLED = Counter(
    "guardian_messages_handled_total", "Messages handled and acked, by durable consumer", ["consumer"]
)
DEAD_LETTERS = Counter(
    "guardian_dead_letters_total", "Messages sent to the dead-letter subject, by consumer", ["consumer"]
)
CONSUMER_LAG = Gauge("guardian_consumer_lag_messages", "Messages pending or unacknowledged, by consumer", ["consumer"])
REQUEST_SECONDS = Histogram("guardian_http_request_seconds", "HTTP request duration", ["service", "method", "status"])
