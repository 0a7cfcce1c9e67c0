"""CloudTrail management events, as the collector's ``AWS::CloudTrail::ManagementEvents`` snapshots
carry them: stored per event (for drift actors) and per read, never as inventory resources."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from guardian_common.events import ResourceSnapshot

EVENTS_TYPE = "AWS::CloudTrail::ManagementEvents"
UNREADABLE = "unknown (CloudTrail not readable)"


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


async def record_events(conn: asyncpg.Connection, snapshots: Sequence[ResourceSnapshot]) -> None:
    """Store each read (window, readable) and each event once; malformed entries are skipped."""
    reads: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for snap in snapshots:
        config = snap.configuration
        start = _moment(config.get("window_start")) or snap.observed_at
        end = _moment(config.get("window_end")) or snap.observed_at
        readable = config.get("readable") is True
        error = config.get("error")
        reads.append(
            (
                snap.scan_id,
                snap.account_id,
                snap.region,
                start,
                end,
                readable,
                config.get("truncated") is True,
                str(error) if error is not None else None,
            )
        )
        for e in config.get("events") or [] if readable else []:
            when = _moment(e.get("event_time")) if isinstance(e, dict) else None
            if when is None or not e.get("event_id") or not e.get("event_name"):
                continue
            names = [str(r) for r in e.get("resources") or [] if r]
            events.append(
                (
                    str(e["event_id"]),
                    snap.account_id,
                    snap.region,
                    str(e["event_name"]),
                    when,
                    e.get("event_source"),
                    e.get("actor_arn"),
                    names,
                    snap.scan_id,
                )
            )
    await conn.executemany(
        "INSERT INTO cloudtrail_reads (scan_id, account_id, region, window_start, window_end, readable, truncated,"
        " error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        reads,
    )
    await conn.executemany(
        "INSERT INTO cloudtrail_events (event_id, account_id, region, event_name, event_time, event_source,"
        " actor_arn, resources, scan_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        events,
    )
