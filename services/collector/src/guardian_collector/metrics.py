from __future__ import annotations

from prometheus_client import Counter

SNAPSHOTS_PUBLISHED = Counter("guardian_snapshots_published_total", "Resource snapshots published")
SCANS_FINISHED = Counter("guardian_scans_finished_total", "Scans whose collection ended, by state", ["state"])
