"""``guardian exceptions revoke ID --reason ...`` against a running compliance service over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import nats
import pytest
import uvicorn
from typer.testing import CliRunner, Result

from guardian_cli.main import app as cli_app
from guardian_cli.stack import QuietServer
from guardian_common import db
from guardian_common.auth import Role, mint_key
from guardian_common.bus import Subjects
from guardian_compliance.app import create_app
from guardian_compliance.settings import ComplianceSettings
from guardian_testkit.resources import admin, drop_database


@dataclass
class Compliance:
    url: str
    secret: str

    def key(self, role: Role, name: str) -> str:
        return mint_key(self.secret, role, name)[1]


@pytest.fixture
async def compliance(postgres_base: str, nats_url: str) -> AsyncIterator[Compliance]:
    token = uuid.uuid4().hex[:10]
    name = f"guardian_cli_rev_{token}"
    await admin(postgres_base, f'CREATE DATABASE "{name}"')
    database = f"{postgres_base}/{name}"
    await db.migrate(database, "compliance", "guardian_compliance.migrations")
    settings = ComplianceSettings(
        environment="test",
        database_url=database,
        nats_url=nats_url,
        bus_prefix=f"c{token}",
        auth_secret=f"cli-revoke-{token}",
        log_level="WARNING",
        acceptance_poll_seconds=3600,
        outbox_poll_seconds=3600,
        deadline_poll_seconds=3600,
        run_consumers=False,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = QuietServer(uvicorn.Config(create_app(settings), log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                raise RuntimeError(f"compliance did not start: {task.exception()!r}")
            await asyncio.sleep(0.02)
        yield Compliance(f"http://127.0.0.1:{port}", settings.auth_secret)
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            for config in Subjects(settings.bus_prefix).stream_configs():
                assert config.name is not None
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await js.delete_stream(config.name)
        finally:
            await nc.close()
        await drop_database(postgres_base, name)


async def guardian(service: Compliance, key: str, *args: str) -> Result:
    """Run the CLI as a user would, in a thread of its own (it runs its own event loop)."""
    env: dict[str, str | None] = {
        "GUARDIAN_URL": None,
        "GUARDIAN_COLLECTOR_URL": service.url,
        "GUARDIAN_COMPLIANCE_URL": service.url,
        "GUARDIAN_API_KEY": key,
        "COLUMNS": "250",
    }
    return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args), env=env)


async def test_revoke_ends_an_approved_exception_and_refusals_exit_2(compliance: Compliance) -> None:
    editor = compliance.key(Role.EDITOR, "erin-editor")
    ada = compliance.key(Role.ADMIN, "ada-admin")
    otto = compliance.key(Role.ADMIN, "otto-admin")
    async with httpx.AsyncClient(base_url=f"{compliance.url}/api/v1") as http:
        created = await http.post(
            "/acceptances",
            headers={"Authorization": f"Bearer {editor}"},
            json={
                "arn_pattern": "arn:aws:s3:::dev-*",
                "justification": "Development buckets hold synthetic data",
                "compensating_control": "Weekly review of bucket contents",
                "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            },
        )
        assert created.status_code == 201, created.text
        acc_id = created.json()["id"]

        # Not approved yet: the API refuses, and the CLI says why and exits 2.
        early = await guardian(compliance, ada, "exceptions", "revoke", acc_id, "--reason", "no longer needed")
        assert early.exit_code == 2
        assert "acceptance_not_revocable (409)" in early.stderr
        assert "reject it instead" in early.stderr

        approved = await http.post(f"/acceptances/{acc_id}/approve", headers={"Authorization": f"Bearer {ada}"})
        assert approved.status_code == 200, approved.text

    # Usage errors never reach the API.
    blank = await guardian(compliance, otto, "exceptions", "revoke", acc_id, "--reason", "   ")
    assert blank.exit_code == 2
    assert "--reason must say why" in blank.stderr
    missing = await guardian(compliance, otto, "exceptions", "revoke", acc_id)
    assert missing.exit_code == 2
    as_editor = await guardian(compliance, editor, "exceptions", "revoke", acc_id, "--reason", "risk grew")
    assert as_editor.exit_code == 2
    assert "insufficient_role (403)" in as_editor.stderr

    done = await guardian(
        compliance, otto, "exceptions", "revoke", acc_id, "--reason", "Synthetic data replaced by a copy", "--json"
    )
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert (body["status"], body["revoked_by"], body["revocation_reason"]) == (
        "revoked",
        "otto-admin",
        "Synthetic data replaced by a copy",
    )
    assert body["ends_at"] == body["revoked_at"]

    shown = await guardian(compliance, editor, "exceptions", "show", acc_id)
    assert shown.exit_code == 0, shown.output
    assert "Synthetic data replaced by a copy" in shown.stdout
    assert "revoked" in shown.stdout
    again = await guardian(compliance, ada, "exceptions", "revoke", acc_id, "--reason", "twice")
    assert again.exit_code == 2
    assert "otto-admin revoked it already" in again.stderr
