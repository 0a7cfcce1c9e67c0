"""The gateway's own schema: API keys and rate-limit counters."""

from __future__ import annotations

SCHEMA = "gateway"
MIGRATIONS = "guardian_gateway.migrations"
