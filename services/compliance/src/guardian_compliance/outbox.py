"""Compliance's domain events, through the outbox shared by every service (:mod:`guardian_common.outbox`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from guardian_common import bus
from guardian_common.outbox import SCHEMA_VERSION, Outbox

__all__ = ["OUTBOX", "SCHEMA_VERSION", "emit", "message_id", "relay_forever", "relay_once"]

OUTBOX = Outbox("compliance")


def message_id(outbox_id: int) -> str:
    return OUTBOX.message_id(outbox_id)


async def emit(conn: asyncpg.Connection, event_type: str, dedupe_key: str, data: dict[str, Any], at: datetime) -> bool:
    """Write one event; a second write with the same ``dedupe_key`` is a no-op. True if written now."""
    return await OUTBOX.emit(conn, event_type, dedupe_key, data, at)


async def relay_once(pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, limit: int = 200) -> int:
    return await OUTBOX.relay_once(pool, js, subjects, limit)


async def relay_forever(pool: asyncpg.Pool, js: JetStreamContext, subjects: bus.Subjects, every: float) -> None:
    await OUTBOX.relay_forever(pool, js, subjects, every)
