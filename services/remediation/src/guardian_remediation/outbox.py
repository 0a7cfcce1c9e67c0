"""The remediation service's outbox: audit entries and ``remediation.*`` domain events."""

from __future__ import annotations

from guardian_common.outbox import Outbox

OUTBOX = Outbox("remediation")
