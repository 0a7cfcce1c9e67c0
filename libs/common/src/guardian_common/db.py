"""PostgreSQL plumbing: one schema per service, ordered SQL migrations, a pool per process.

Each service owns its schema (invariant 6). Migrations are plain SQL files named
``NNNN_description.sql`` inside the service package; each runs once, in its own transaction,
and is recorded in ``<schema>.schema_migrations`` together with its SHA-256 so an edited,
already-applied migration is refused rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

Connection = asyncpg.Connection
Pool = asyncpg.Pool


class MigrationError(RuntimeError):
    pass


def _quote_ident(name: str) -> str:
    if not _SCHEMA_NAME.match(name):
        raise ValueError(f"not a safe identifier: {name!r}")
    return f'"{name}"'


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def normalise_dsn(url: str) -> str:
    """Accept SQLAlchemy-style URLs (``postgresql+asyncpg://``) as well as plain libpq ones."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in {"postgresql", "postgres"}:
        raise ValueError(f"unsupported database URL scheme {parts.scheme!r}")
    return urlunsplit(("postgresql", *parts[1:]))


async def create_pool(url: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    quoted = _quote_ident(schema)
    pool = await asyncpg.create_pool(
        normalise_dsn(url),
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": f"{quoted},public", "application_name": f"guardian-{schema}"},
    )
    assert pool is not None
    return pool


def _migration_files(package: str) -> list[tuple[int, str, str]]:
    found: list[tuple[int, str, str]] = []
    for entry in resources.files(package).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise MigrationError(f"duplicate migration numbers in {package}")
    return found


async def migrate(url: str, schema: str, package: str) -> list[str]:
    """Apply the pending migrations of ``package`` to ``schema``; return the names applied."""
    quoted = _quote_ident(schema)
    conn = await asyncpg.connect(normalise_dsn(url))
    applied_now: list[str] = []
    try:
        # One migrator at a time per schema, whatever the number of replicas starting together.
        lock_key = int.from_bytes(hashlib.sha256(schema.encode()).digest()[:8], "big", signed=True)
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
        try:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {quoted}.schema_migrations ("
                " name text PRIMARY KEY, sha256 text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = await conn.fetch(f"SELECT name, sha256 FROM {quoted}.schema_migrations")
            done = {r["name"]: r["sha256"] for r in rows}
            for _, name, sql in _migration_files(package):
                digest = hashlib.sha256(sql.encode()).hexdigest()
                if name in done:
                    if done[name] != digest:
                        raise MigrationError(f"migration {schema}/{name} changed after it was applied")
                    continue
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL search_path TO {quoted}, public")
                    await conn.execute(sql)
                    await conn.execute(
                        f"INSERT INTO {quoted}.schema_migrations (name, sha256) VALUES ($1, $2)",
                        name,
                        digest,
                    )
                applied_now.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
    finally:
        await conn.close()
    return applied_now


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist (development and tests)."""
    parts = urlsplit(normalise_dsn(url))
    name = parts.path.lstrip("/")
    if not name:
        return
    admin = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """The one place a unit of work commits: a request or a batch of messages."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn


async def ping(pool: asyncpg.Pool, limit_seconds: float = 2.0) -> bool:
    try:
        async with pool.acquire(timeout=limit_seconds) as conn:
            value: Any = await conn.fetchval("SELECT 1", timeout=limit_seconds)
            return bool(value == 1)
    except Exception:
        return False
