"""What the reporting page tests share: the whole local stack on a database of its own, scanned once.

Modules import it as ``reporting_stack`` (``services/reporting/tests`` is on pytest's pythonpath).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from guardian_cli.client import Endpoints, GuardianClient
from guardian_cli.follow import run_scan
from guardian_cli.stack import LocalStack, StackConfig
from guardian_common.auth import Role, mint_key
from guardian_testkit.resources import delete_streams, drop_database


@contextlib.asynccontextmanager
async def scanned_stack(
    postgres_base: str, nats_url: str, home: Path, aws_endpoint_url: str, label: str, services: Sequence[str]
) -> AsyncIterator[tuple[LocalStack, str]]:
    """Every service on loopback after one final scan of ``services`` in us-east-1: the stack and the
    scan's id. The database and bus prefix are the stack's own and are removed afterwards."""
    token = uuid.uuid4().hex[:10]
    database = f"guardian_t_{label}_{token}"
    prefix = f"{label}{token}"
    stack = await LocalStack(
        StackConfig(
            home=home,
            database_url=f"{postgres_base}/{database}",
            nats_url=nats_url,
            bus_prefix=prefix,
            auth_secret=f"{label}-secret-{token}-{uuid.uuid4().hex}",
            aws_endpoint_url=aws_endpoint_url,
            regions=["us-east-1"],
            log_level="WARNING",
        )
    ).start()
    admin = mint_key(stack.auth_secret, Role.ADMIN, f"{label}-admin")[1]
    client = GuardianClient(Endpoints(stack.url("collector"), stack.url("compliance"), stack.url("evaluator")), admin)
    try:
        outcome = await run_scan(
            client, regions=["us-east-1"], services=list(services), poll_seconds=0.1, timeout_seconds=120
        )
        assert outcome.final, outcome
        yield stack, outcome.scan_id
    finally:
        await client.close()
        await stack.stop()
        await delete_streams(nats_url, prefix)
        await drop_database(postgres_base, database)
