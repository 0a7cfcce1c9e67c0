"""Creating and removing the per-test resources tests make on shared servers."""

from __future__ import annotations

import contextlib

import asyncpg
import nats

from guardian_common.bus import Subjects


async def admin(postgres_base: str, statement: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(f"{postgres_base}/postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def drop_database(postgres_base: str, name: str) -> None:
    await admin(postgres_base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def empty_schema(url: str, schema: str) -> None:
    """Every table of ``schema`` emptied and its sequences reset, as if freshly migrated."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename <> 'schema_migrations'", schema
        )
        if tables:
            names = ", ".join(f'"{schema}"."{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


async def delete_streams(nats_url: str, prefix: str) -> None:
    """Remove every JetStream stream a bus prefix created."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for config in Subjects(prefix).stream_configs():
            assert config.name is not None
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(config.name)
    finally:
        await nc.close()
