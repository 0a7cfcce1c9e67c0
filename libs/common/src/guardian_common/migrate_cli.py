"""Apply a service's database migrations and exit: the step a deployment runs before the services roll.

    python -m guardian_common.migrate_cli --service compliance
    python -m guardian_common.migrate_cli --service gateway
    python -m guardian_common.migrate_cli --service collector --database-url postgresql://...

The database URL comes from ``--database-url`` or, as for the services, ``GUARDIAN_DATABASE_URL``.
Each service owns one schema and one migrations package; this module only knows that mapping and
hands it to :func:`guardian_common.db.migrate`, which takes a per-schema advisory lock, so a
migration Job and a service replica starting at the same moment cannot both apply a file.

Outside ``GUARDIAN_ENVIRONMENT=production`` the database itself is created when missing, exactly as
a service does at start; in production it must exist already.

Exit status: 0 applied (or nothing to apply), 1 the migration failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from guardian_common import db
from guardian_common.logging import configure_logging, get_logger
from guardian_common.settings import ServiceSettings

log = get_logger("guardian.migrate")


@dataclass(frozen=True)
class MigrationTarget:
    service: str
    schema: str
    package: str


class MigrateSettings(BaseSettings):
    """The few ``GUARDIAN_*`` settings a migration needs; the auth secret is deliberately not one of
    them, so the migration Job is never handed the key-signing secret."""

    model_config = SettingsConfigDict(env_prefix="GUARDIAN_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = ServiceSettings.model_fields["database_url"].default
    log_level: str = "INFO"
    log_json: bool = True


# Only services that own a schema appear here; the evaluator keeps no state.
TARGETS: dict[str, MigrationTarget] = {
    "collector": MigrationTarget("collector", "collector", "guardian_collector.migrations"),
    "compliance": MigrationTarget("compliance", "compliance", "guardian_compliance.migrations"),
    "gateway": MigrationTarget("gateway", "gateway", "guardian_gateway.migrations"),
    "evidence": MigrationTarget("evidence", "evidence", "guardian_evidence.migrations"),
    "reporting": MigrationTarget("reporting", "reporting", "guardian_reporting.migrations"),
    "remediation": MigrationTarget("remediation", "remediation", "guardian_remediation.migrations"),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m guardian_common.migrate_cli",
        description="Apply the pending database migrations of one Guardian service, then exit.",
    )
    parser.add_argument("--service", required=True, choices=sorted(TARGETS), help="the service whose schema to migrate")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL; defaults to GUARDIAN_DATABASE_URL (or the services' default)",
    )
    return parser.parse_args(argv)


async def run(target: MigrationTarget, settings: MigrateSettings, database_url: str) -> list[str]:
    try:
        found = importlib.util.find_spec(target.package) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise LookupError(
            f"{target.package} is not installed in this environment: run the {target.service} image "
            f"(or install guardian-{target.service}) to migrate its schema"
        )
    if settings.environment != "production":
        await db.ensure_database(database_url)
    return await db.migrate(database_url, target.schema, target.package)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = MigrateSettings()
    configure_logging(settings.log_level, json=settings.log_json)
    target = TARGETS[args.service]
    database_url: str = args.database_url or settings.database_url
    try:
        applied = asyncio.run(run(target, settings, database_url))
    except Exception as exc:
        # The URL may carry a password: name the schema and the error, never the URL.
        log.error("migration_failed", service=target.service, schema=target.schema, error=str(exc))
        return 1
    log.info("migrations_done", service=target.service, schema=target.schema, applied=applied)
    return 0


if __name__ == "__main__":
    sys.exit(main())
