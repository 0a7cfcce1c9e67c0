"""Domain events leave through an outbox: written in the transaction of the change, relayed later.

A rolled-back change never emits its event; a relayed event carries ``compliance:outbox:<id>`` as
its ``Nats-Msg-Id`` (the outbox id, namespaced so another service's outbox cannot collide in the
shared DOMAIN stream), so a relay that crashes between publishing and marking republishes harmlessly.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from guardian_common import bus, db
from guardian_common.logging import get_logger

log = get_logger("guardian.compliance.outbox")

SCHEMA_VERSION = 1


def message_id(outbox_id: int) -> str:
    return f"compliance:outbox:{outbox_id}"


async def emit(conn: asyncpg.Connection, event_type: str, dedupe_key: str, data: dict[str, Any], at: datetime) -> bool:
    """Write one event; a second write with the same ``dedupe_key`` is a no-op. True if written now."""
    payload = {
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
        "source": "compliance",
        "occurred_at": at.isoformat(),
        "data": data,
    }
    inserted = await conn.fetchval(
        "INSERT INTO outbox (event_type, dedupe_key, payload, created_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        event_type,
        dedupe_key,
        json.loads(json.dumps(payload, default=str)),
        at,
    )
    return inserted is not None


async def relay_once(pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, limit: int = 200) -> int:
    """Publish pending events in id order; mark each after JetStream acknowledged it."""
    async with db.transaction(pool) as conn:
        rows = await conn.fetch(
            "SELECT id, event_type, payload FROM outbox WHERE published_at IS NULL"
            " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        for row in rows:
            body = {"event_id": message_id(row["id"]), **row["payload"]}
            await js.publish(
                subjects.domain(row["event_type"]),
                json.dumps(body).encode(),
                headers={"Nats-Msg-Id": message_id(row["id"]), "Guardian-Event": row["event_type"]},
            )
        if rows:
            await conn.execute(
                "UPDATE outbox SET published_at = $2 WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
                datetime.now(UTC),
            )
    return len(rows)


async def relay_forever(pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, every: float) -> None:
    while True:
        try:
            while await relay_once(pool, js, subjects) > 0:
                pass
        except Exception as exc:
            log.warning("outbox_relay_failed", error=str(exc))
        await asyncio.sleep(every)
