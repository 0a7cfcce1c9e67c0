"""``python -m guardian_common.migrate_cli``: the step the Helm hook Job and the compose file run.

Run as the containers run it (a child process, settings from GUARDIAN_* variables) against a real
PostgreSQL: the machine's on 127.0.0.1:5432 when it answers, else an embedded one. Every schema the
chart's Job and the compose migrate-* steps name is migrated here, and the first-key command the
docs give is run against the migrated gateway schema.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from importlib import resources
from typing import Any

import asyncpg
import pytest

from guardian_common.migrate_cli import TARGETS, MigrateSettings, MigrationTarget, main, run
from guardian_testkit.infra import EmbeddedPostgres, machine_postgres
from guardian_testkit.moto import free_port

MIGRATION_FILE = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """database name -> URL, on the machine's PostgreSQL or an embedded one."""
    base = machine_postgres()
    if base is not None:
        yield lambda name: f"{base}/{name}"
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pgdata")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def fresh_database(database_url: Callable[[str], str]) -> AsyncIterator[str]:
    """The name of a database nobody has created yet; dropped afterwards if something created it."""
    name = f"guardian_m_{uuid.uuid4().hex[:10]}"
    yield name
    conn = await asyncpg.connect(database_url("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def run_module(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` with only the given GUARDIAN_* variables, as in a container."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def migrate(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]], str]:
    """Run the CLI; return its exit status, its JSON log lines and everything it printed."""
    result = run_module("guardian_common.migrate_cli", *args, env=env)
    records = []
    for line in result.stderr.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return result.returncode, records, result.stdout + result.stderr


def shipped(package: str) -> list[str]:
    return sorted(e.name for e in resources.files(package).iterdir() if MIGRATION_FILE.match(e.name))


async def recorded(url: str, schema: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(f'SELECT name FROM "{schema}".schema_migrations ORDER BY name')
        return [r["name"] for r in rows]
    finally:
        await conn.close()


def test_every_schema_owning_service_is_a_target() -> None:
    # What the Helm Job and the compose migrate-* steps name; the evaluator keeps no state.
    assert {name: (t.schema, t.package) for name, t in TARGETS.items()} == {
        "collector": ("collector", "guardian_collector.migrations"),
        "compliance": ("compliance", "guardian_compliance.migrations"),
        "evidence": ("evidence", "guardian_evidence.migrations"),
        "gateway": ("gateway", "guardian_gateway.migrations"),
        "remediation": ("remediation", "guardian_remediation.migrations"),
        "reporting": ("reporting", "guardian_reporting.migrations"),
    }


async def test_each_service_schema_is_migrated_once(database_url: Callable[[str], str], fresh_database: str) -> None:
    url = database_url(fresh_database)

    async def twice(service: str) -> None:
        target = TARGETS[service]
        status, logs, output = await asyncio.to_thread(migrate, "--service", service, "--database-url", url)
        assert status == 0, output
        (done,) = [r for r in logs if r["event"] == "migrations_done"]
        assert done["service"] == service
        assert done["applied"] == shipped(target.package) != []
        assert await recorded(url, target.schema) == shipped(target.package)
        # Again: nothing left to apply, and still a success.
        status, logs, output = await asyncio.to_thread(migrate, "--service", service, "--database-url", url)
        assert status == 0, output
        assert [r["applied"] for r in logs if r["event"] == "migrations_done"] == [[]]

    # The first run creates the database (outside production); the other schemas then migrate at the
    # same time, as independent steps may, without getting in each other's way.
    first, *others = TARGETS
    await twice(first)
    await asyncio.gather(*(twice(service) for service in others))
    # Four schemas side by side in one database, none touching another's tables.
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ANY($1::text[])",
            [t.schema for t in TARGETS.values()],
        )
    finally:
        await conn.close()
    tables = {(r["table_schema"], r["table_name"]) for r in rows}
    assert {("gateway", "api_keys"), ("evidence", "items"), ("evidence", "versions")} <= tables
    assert {schema for schema, _ in tables} == {t.schema for t in TARGETS.values()}


async def test_the_first_admin_key_is_made_on_the_migrated_gateway_schema(
    database_url: Callable[[str], str], fresh_database: str
) -> None:
    # In production nothing creates the database: the operator (or RDS) did, as here.
    admin = await asyncpg.connect(database_url("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{fresh_database}"')
    finally:
        await admin.close()
    url = database_url(fresh_database)
    env = {"GUARDIAN_DATABASE_URL": url, "GUARDIAN_ENVIRONMENT": "production"}
    status, _, output = await asyncio.to_thread(migrate, "--service", "gateway", env=env)
    assert status == 0, output
    # The command NOTES.txt and the compose tools profile give, with the gateway container's settings.
    secret_env = {**env, "GUARDIAN_AUTH_SECRET": "s" * 48, "GUARDIAN_RUN_MIGRATIONS": "false"}
    made = await asyncio.to_thread(
        run_module, "guardian_gateway", "bootstrap-key", "--name", "first-admin", env=secret_env
    )
    assert made.returncode == 0, made.stderr
    (key,) = made.stdout.split()
    assert key.startswith("gdk_")
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT name, role, created_by, row_to_json(k)::text AS whole FROM gateway.api_keys k"
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["name"], row["role"], row["created_by"]) == ("first-admin", "admin", "bootstrap")
    # Only a hash of the key's secret part is stored, never the part itself.
    secret_part = key.split("_", 2)[2]  # gdk_<16 hex id>_<secret>
    assert secret_part not in row["whole"]


async def test_the_database_url_comes_from_the_environment(
    database_url: Callable[[str], str], fresh_database: str
) -> None:
    url = database_url(fresh_database)
    env = {"GUARDIAN_DATABASE_URL": url, "GUARDIAN_ENVIRONMENT": "test"}
    status, _, output = await asyncio.to_thread(migrate, "--service", "compliance", env=env)
    assert status == 0, output
    assert await recorded(url, "compliance") == shipped("guardian_compliance.migrations")


async def test_production_neither_creates_the_database_nor_needs_the_auth_secret(
    database_url: Callable[[str], str], fresh_database: str
) -> None:
    # No GUARDIAN_AUTH_SECRET at all: the services would refuse to start, the migration must not care.
    env = {"GUARDIAN_DATABASE_URL": database_url(fresh_database), "GUARDIAN_ENVIRONMENT": "production"}
    status, logs, output = await asyncio.to_thread(migrate, "--service", "collector", env=env)
    assert status == 1
    (failed,) = [r for r in logs if r["event"] == "migration_failed"]
    assert "does not exist" in failed["error"], output
    conn = await asyncpg.connect(database_url("postgres"))
    try:
        assert await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", fresh_database) is None
    finally:
        await conn.close()


def test_an_unreachable_database_fails_without_printing_the_password() -> None:
    url = f"postgresql://guardian:s3cret-pw-{uuid.uuid4().hex}@127.0.0.1:{free_port()}/guardian"
    status, logs, output = migrate("--service", "compliance", "--database-url", url)
    assert status == 1
    assert [r["schema"] for r in logs if r["event"] == "migration_failed"] == ["compliance"]
    assert "s3cret-pw" not in output


@pytest.mark.parametrize("argv", [["--service", "evaluator"], [], ["--service"]])
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: python -m guardian_common.migrate_cli" in capsys.readouterr().err


async def test_a_package_missing_from_the_image_is_named() -> None:
    target = MigrationTarget("reports", "reports", "guardian_reports.migrations")
    with pytest.raises(LookupError, match=r"guardian_reports\.migrations is not installed"):
        await run(target, MigrateSettings(), "postgresql://postgres@127.0.0.1:1/unused")
