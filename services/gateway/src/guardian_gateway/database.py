"""The gateway's own schema: API keys, rate-limit counters and its outbox."""

from __future__ import annotations

from guardian_common.outbox import Outbox

SCHEMA = "gateway"
MIGRATIONS = "guardian_gateway.migrations"
OUTBOX = Outbox("gateway")
