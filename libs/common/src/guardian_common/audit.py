"""Audit entries: written by the service that makes a change, in the same transaction, then chained centrally.

A service records who changed what with :func:`record`, on the connection of the change; the entry
leaves through that service's outbox as an ``audit.recorded`` domain event, so a rolled-back change
leaves no entry and a committed one always reaches the chain. The gateway consumes those events and
appends each to the hash chain (its ``audit_log``), where ``guardian audit verify`` checks it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from guardian_common.auth import Principal
from guardian_common.outbox import Outbox

AUDIT_EVENT = "audit.recorded"
SYSTEM_ACTOR = {"id": "system", "role": "system", "name": "Guardian"}


def actor_of(principal: Principal | None) -> dict[str, str]:
    if principal is None:
        return dict(SYSTEM_ACTOR)
    return {"id": principal.key_id, "role": principal.role.value, "name": principal.name}


async def record(
    conn: asyncpg.Connection,
    outbox: Outbox,
    *,
    actor: Principal | None,
    action: str,
    target_type: str,
    target_id: str,
    before: Any,
    after: Any,
    at: datetime,
    entry_id: str | None = None,
) -> str:
    """Write one audit entry in the caller's transaction; returns its id.

    ``action`` is ``<noun>.<verb>`` (``scope.updated``, ``acceptance.approved``); ``before`` and
    ``after`` are JSON-able snapshots of the target (``None`` for a creation or a deletion). Pass
    ``entry_id`` when the change itself is idempotent, so a retried request records one entry.
    """
    the_id = entry_id or str(uuid.uuid4())
    await outbox.emit(
        conn,
        AUDIT_EVENT,
        f"audit:{the_id}",
        {
            "entry_id": the_id,
            "actor": actor_of(actor),
            "action": action,
            "target": {"type": target_type, "id": target_id},
            "before": before,
            "after": after,
            "at": at.isoformat(),
            "source": outbox.source,
        },
        at,
    )
    return the_id
