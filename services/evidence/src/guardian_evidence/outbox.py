"""Evidence's domain events, through the outbox shared by every service (:mod:`guardian_common.outbox`).

Relayed to ``<prefix>.domain.<event_type>`` with ``Nats-Msg-Id: evidence:outbox:<id>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from guardian_common import bus
from guardian_common.outbox import Outbox
from guardian_evidence.clock import Clock

VERSION_ADDED = "evidence.version_added"
REVIEWED = "evidence.reviewed"
DELETED = "evidence.deleted"

OUTBOX = Outbox("evidence")


def message_id(outbox_id: int) -> str:
    return OUTBOX.message_id(outbox_id)


async def emit(conn: asyncpg.Connection, event_type: str, dedupe_key: str, data: dict[str, Any], at: datetime) -> None:
    await OUTBOX.emit(conn, event_type, dedupe_key, data, at)


async def relay_once(
    pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, clock: Clock, limit: int = 200
) -> int:
    """Publish up to ``limit`` pending events; return how many were published."""
    return await Outbox("evidence", now=clock.now).relay_once(pool, js, subjects, limit)


async def relay_forever(
    pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, clock: Clock, every: float
) -> None:
    await Outbox("evidence", now=clock.now).relay_forever(pool, js, subjects, every)
