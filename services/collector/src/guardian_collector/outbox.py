"""The collector's outbox: audit entries for schedule changes leave through it (see guardian_common.outbox)."""

from __future__ import annotations

from guardian_common.outbox import Outbox

OUTBOX = Outbox("collector")
