"""Webhook metrics: what became of each attempt, and failed attempts (for alerting)."""

from __future__ import annotations

from prometheus_client import Counter

# outcome: delivered; retrying (failed, another attempt is scheduled); failed (failed, no attempt left).
WEBHOOK_DELIVERIES = Counter(
    "guardian_webhook_deliveries_total", "Webhook delivery attempts, by what became of the delivery", ["outcome"]
)
WEBHOOK_FAILURES = Counter(
    "guardian_webhook_failures_total",
    "Failed webhook attempts: an answer other than 2xx, a timeout, a connection error or a refused target",
)
WEBHOOKS_DISABLED = Counter(
    "guardian_webhooks_disabled_total", "Subscriptions disabled automatically after failing persistently"
)
