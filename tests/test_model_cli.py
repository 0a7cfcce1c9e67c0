"""The model commands of the CLI (periods, controls, exceptions) against running services, run as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Running

from guardian_common.auth import Role, mint_key


@dataclass
class Result:
    code: int | None
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def guardian(running: Running, key: str, home: Path, *args: str, compliance: str | None = None) -> Result:
    env = {
        **os.environ,
        "GUARDIAN_COLLECTOR_URL": running.stack.url("collector"),
        "GUARDIAN_COMPLIANCE_URL": compliance or running.stack.url("compliance"),
        "GUARDIAN_API_KEY": key,
        "GUARDIAN_HOME": str(home),
        "COLUMNS": "250",  # wide enough that no table cell wraps
    }
    env.pop("GUARDIAN_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "guardian_cli.main",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, errs = await asyncio.wait_for(proc.communicate(), timeout=60)
    return Result(proc.returncode, out.decode(), errs.decode())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# Six CLI processes per step under one stack (over a minute here); the same commands' API paths run in
# test_soc2_model.py and the CLI's own tests, so this one waits for `-m slow`.
@pytest.mark.slow
async def test_periods_controls_and_exceptions_through_the_cli(running: Running, tmp_path: Path) -> None:
    secret = running.stack.auth_secret
    editor = mint_key(secret, Role.EDITOR, "erin-editor")[1]
    admin = mint_key(secret, Role.ADMIN, "ada-admin")[1]
    other_admin = mint_key(secret, Role.ADMIN, "otto-admin")[1]

    async def cli(key: str, *args: str) -> Result:
        return await guardian(running, key, tmp_path, *args)

    compliance = running.stack.url("compliance")
    matrix = tmp_path / "controls.yaml"
    expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    unreachable = f"http://127.0.0.1:{closed_port()}"

    # The CLI starts slowly, so independent calls run side by side, in rounds.
    controls = (await running.client.request("GET", f"{compliance}/api/v1/controls")).json()
    ids = [c["id"] for c in controls["items"]]
    assert ids

    added, exported, gone = await asyncio.gather(
        cli(
            editor, "periods", "add", "default", "--name", "FY2026 Type II",
            "--start", "2026-01-01", "--end", "2026-12-31", "--type", "type2", "--json",
        ),
        cli(editor, "controls", "export", "--format", "yaml", "--output", str(matrix)),
        guardian(running, editor, tmp_path, "controls", "list", compliance=unreachable),
    )  # fmt: skip

    # No service at the configured address: exit 3.
    assert gone.code == 3, gone.out + gone.err
    assert added.code == 0, added.err
    period = added.json()
    assert (period["type"], period["locked"], period["start_date"]) == ("type2", False, "2026-01-01")
    assert exported.code == 0, exported.err
    text = matrix.read_text()
    assert all(cid in text for cid in ids)

    locked, requested, own, bounded = await asyncio.gather(
        cli(admin, "periods", "lock", "default", period["id"], "--json"),
        cli(
            editor, "exceptions", "request", "--control", ids[0], "--check", "s3_bucket_versioning",
            "--resource", "arn:aws:s3:::legacy-*", "--justification", "Buckets are being retired this quarter.",
            "--compensating", "Weekly backup export to a versioned bucket.", "--expires", expires, "--json",
        ),
        cli(admin, "exceptions", "request", "--check", "iam_root_mfa", "--expires", expires,
            "--justification", "Root is sealed in a vault; MFA device is being replaced.",
            "--compensating", "Root sign-in alarms page the on-call engineer.", "--json"),
        cli(editor, "scopes", "set-boundary", "default", "--account", "123456789012", "--region", "us-east-1",
            "--tag", "env=prod", "--tag", "env=staging", "--json"),
    )  # fmt: skip

    # Periods: the lock holds, and a locked period refuses any further change.
    assert locked.code == 0, locked.err
    assert locked.json()["locked"] is True
    assert locked.json()["locked_by"] == "ada-admin"
    assert requested.code == 0, requested.err
    pending = requested.json()
    assert (pending["state"], pending["requested_by"]) == ("pending", "erin-editor")
    assert pending["expires_at"].startswith(expires)
    assert own.code == 0, own.err
    assert bounded.code == 0, bounded.err
    assert bounded.json()["boundary"] == {
        "account_ids": ["123456789012"],
        "regions": ["us-east-1"],
        "tags": {"env": ["prod", "staging"]},
        "environments": [],
    }

    again, imported, refused, scope_table, control_table = await asyncio.gather(
        cli(admin, "periods", "lock", "default", period["id"]),
        # Controls: import the exported YAML back: nothing changes.
        cli(editor, "controls", "import", str(matrix), "--format", "yaml", "--json"),
        # An admin cannot approve their own request.
        cli(admin, "exceptions", "approve", own.json()["id"]),
        cli(editor, "scopes", "show", "default"),
        cli(editor, "controls", "show", ids[0]),
    )
    assert again.code == 2, again.out + again.err
    assert "period_locked" in again.err
    scope = (await running.client.request("GET", f"{compliance}/api/v1/scopes/default")).json()
    assert [p["locked"] for p in scope["periods"] if p["id"] == period["id"]] == [True]
    assert imported.code == 0, imported.err
    outcome = imported.json()
    assert (outcome["created"], outcome["updated"], outcome["retired"]) == ([], [], [])
    assert outcome["unchanged"] == len(ids)
    assert refused.code == 2, refused.out + refused.err
    assert "self_approval" in refused.err
    assert scope_table.code == 0, scope_table.err
    assert "FY2026 Type II" in scope_table.out
    assert "env=prod|staging" in scope_table.out
    assert control_table.code == 0, control_table.err
    assert ids[0] in control_table.out

    # Exceptions: another admin approves the editor's request.
    approved = await cli(other_admin, "exceptions", "approve", pending["id"], "--comment", "ok", "--json")
    assert approved.code == 0, approved.err
    assert (approved.json()["state"], approved.json()["approver"]) == ("approved", "otto-admin")

    table, detail = await asyncio.gather(
        cli(editor, "exceptions", "list", "--status", "pending"),
        cli(editor, "exceptions", "show", pending["id"]),
    )
    assert detail.code == 0, detail.err
    assert "otto-admin" in detail.out
    assert "Weekly backup export" in detail.out
    assert table.code == 0, table.err
    assert own.json()["id"] in table.out
    assert pending["id"] not in table.out
