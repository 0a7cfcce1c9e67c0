"""Domain events leave a service through an outbox: written in the transaction of the change, relayed later.

Each service keeps its own ``outbox`` table (same shape in every schema; see :data:`OUTBOX_DDL`) and
names itself as the ``source``. A rolled-back change never emits its event. The relay publishes
pending rows in id order to ``<prefix>.domain.<event_type>`` with ``Nats-Msg-Id: <source>:outbox:<id>``
(namespaced because the DOMAIN stream is shared by every service), then marks them; a relay that dies
between the publish and the mark publishes the same id again, which JetStream drops as a duplicate,
and consumers that outlive the duplicate window de-duplicate on ``event_id``, the same string.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from guardian_common import bus, db
from guardian_common.logging import get_logger

log = get_logger("guardian.outbox")

SCHEMA_VERSION = 1

# The table every service with an outbox creates in its own migrations.
OUTBOX_DDL = """
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_type   text NOT NULL,
    dedupe_key   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz,
    CONSTRAINT outbox_dedupe_key UNIQUE (dedupe_key)
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
"""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """One service's outbox: ``emit`` inside a transaction, ``relay_once``/``relay_forever`` to publish."""

    def __init__(self, source: str, *, now: Callable[[], datetime] = _utcnow) -> None:
        self.source = source
        self._now = now

    def message_id(self, outbox_id: int) -> str:
        return f"{self.source}:outbox:{outbox_id}"

    async def emit(
        self, conn: asyncpg.Connection, event_type: str, dedupe_key: str, data: dict[str, Any], at: datetime
    ) -> bool:
        """Write one event; a second write with the same ``dedupe_key`` is a no-op. True if written now."""
        payload = self._payload(event_type, data, at)
        inserted = await conn.fetchval(
            "INSERT INTO outbox (event_type, dedupe_key, payload, created_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            event_type,
            dedupe_key,
            json.loads(json.dumps(payload, default=str)),
            at,
        )
        return inserted is not None

    async def emit_many(
        self, conn: asyncpg.Connection, events: Sequence[tuple[str, str, dict[str, Any], datetime]]
    ) -> int:
        """Write many ``(event_type, dedupe_key, data, at)`` events in one statement, in their order.

        Exactly as many :meth:`emit` calls would: a ``dedupe_key`` already written is skipped. Returns
        how many were written now.
        """
        if not events:
            return 0
        result: str = await conn.execute(
            "INSERT INTO outbox (event_type, dedupe_key, payload, created_at)"
            " SELECT t, k, p::jsonb, c FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])"
            " WITH ORDINALITY AS e(t, k, p, c, n) ORDER BY n ON CONFLICT (dedupe_key) DO NOTHING",
            [e[0] for e in events],
            [e[1] for e in events],
            [json.dumps(self._payload(t, data, at), default=str) for t, _, data, at in events],
            [e[3] for e in events],
        )
        return int(result.split()[-1])

    def _payload(self, event_type: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
        return {
            "event_type": event_type,
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "occurred_at": at.isoformat(),
            "data": data,
        }

    async def relay_once(
        self, pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, limit: int = 200
    ) -> int:
        """Publish up to ``limit`` pending events in id order; mark each batch after JetStream acknowledged it."""
        async with db.transaction(pool) as conn:
            rows = await conn.fetch(
                "SELECT id, event_type, payload FROM outbox WHERE published_at IS NULL"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                limit,
            )
            for row in rows:
                msg_id = self.message_id(row["id"])
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
                    self._now(),
                )
        return len(rows)

    async def relay_forever(
        self, pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, every: float
    ) -> None:
        while True:
            try:
                while await self.relay_once(pool, js, subjects) > 0:
                    pass
            except Exception as exc:
                log.warning("outbox_relay_failed", source=self.source, error=str(exc))
            await asyncio.sleep(every)

    def start_relay(
        self, pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, every: float
    ) -> asyncio.Task[None]:
        return asyncio.create_task(self.relay_forever(pool, js, subjects, every), name=f"{self.source}-outbox-relay")


async def stop_task(task: object, retry_every: float = 1.0) -> None:
    """Cancel a background task (if it is one) and wait for it to end.

    One ``cancel()`` is not always enough: on Python 3.11 ``asyncio.wait_for`` swallows a
    cancellation that arrives as the awaited future completes (nats-py's publish and request wait
    that way), and a loop whose cancellation was swallowed goes back to sleeping, for an hour in
    the outbox relay. So the task is cancelled again every ``retry_every`` seconds until it ends.
    """
    if not isinstance(task, asyncio.Task):
        return
    attempts = 0
    while not task.done():
        if attempts == 1:
            log.warning("background_task_ignored_cancellation", task=task.get_name())
        task.cancel()
        attempts += 1
        await asyncio.wait({task}, timeout=retry_every)
    with contextlib.suppress(asyncio.CancelledError):
        await task
