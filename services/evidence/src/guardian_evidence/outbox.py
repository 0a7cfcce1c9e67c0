"""Evidence events leave through an outbox written in the transaction of the change.

The relay publishes pending rows in id order to ``<prefix>.domain.<event_type>`` with
``Nats-Msg-Id: evidence:outbox:<id>`` (namespaced: the DOMAIN stream is shared with other
services' outboxes), then marks them. A relay that dies between the publish and the mark
publishes the same id again, which JetStream drops as a duplicate; consumers that outlive the
duplicate window de-duplicate on ``event_id``, which is the same string.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from guardian_common import bus, db
from guardian_common.logging import get_logger
from guardian_evidence.clock import Clock

log = get_logger("guardian.evidence.outbox")

SCHEMA_VERSION = 1
VERSION_ADDED = "evidence.version_added"
REVIEWED = "evidence.reviewed"
DELETED = "evidence.deleted"


def message_id(outbox_id: int) -> str:
    return f"evidence:outbox:{outbox_id}"


async def emit(conn: asyncpg.Connection, event_type: str, dedupe_key: str, data: dict[str, Any], at: datetime) -> None:
    payload = {
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
        "source": "evidence",
        "occurred_at": at.isoformat(),
        "data": data,
    }
    await conn.execute(
        "INSERT INTO outbox (event_type, dedupe_key, payload, created_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (dedupe_key) DO NOTHING",
        event_type,
        dedupe_key,
        json.loads(json.dumps(payload, default=str)),
        at,
    )


async def relay_once(
    pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, clock: Clock, limit: int = 200
) -> int:
    """Publish up to ``limit`` pending events; return how many were published."""
    async with db.transaction(pool) as conn:
        rows = await conn.fetch(
            "SELECT id, event_type, payload FROM outbox WHERE published_at IS NULL"
            " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        for row in rows:
            msg_id = message_id(row["id"])
            body = {"event_id": msg_id, **row["payload"]}
            await js.publish(
                subjects.domain(row["event_type"]),
                json.dumps(body).encode(),
                headers={"Nats-Msg-Id": msg_id, "Guardian-Event": row["event_type"]},
            )
        if rows:
            await conn.execute(
                "UPDATE outbox SET published_at = $2 WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
                clock.now(),
            )
    return len(rows)


async def relay_forever(
    pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, clock: Clock, every: float
) -> None:
    while True:
        try:
            while await relay_once(pool, js, subjects, clock) > 0:
                pass
        except Exception as exc:
            log.warning("outbox_relay_failed", error=str(exc))
        await asyncio.sleep(every)
