"""Compliance's own Prometheus metrics (the plumbing's are in guardian_common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

VERDICTS_APPLIED = Counter(
    "guardian_verdicts_applied_total", "Check verdicts applied to current findings, by status", ["status"]
)
SCANS_FINALISED = Counter(
    "guardian_scans_finalised_total",
    "Scans that reached a final state, by state and completeness",
    ["state", "partial"],
)
SCAN_SECONDS = Histogram(
    "guardian_scan_duration_seconds",
    "From a scan's start to its final state",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
