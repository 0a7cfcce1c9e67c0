"""``guardian evidence add / review / list`` against the service served over HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from guardian_cli.main import app as cli
from guardian_common.auth import Role, mint_key

SECRET = "evidence-tests-secret-" + "x" * 20


@pytest.fixture
async def served(local: Any) -> AsyncIterator[tuple[Any, str]]:
    # Bound here and handed to uvicorn, so no other process can take the port in between.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The harness already ran the app's lifespan; uvicorn only serves it.
    server = uvicorn.Server(uvicorn.Config(local.app, host="127.0.0.1", port=port, lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield local, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _run(url: str, name: str, args: list[str], role: Role = Role.EDITOR) -> Any:
    env = {"GUARDIAN_EVIDENCE_URL": url, "GUARDIAN_API_KEY": mint_key(SECRET, role, name)[1]}
    return await asyncio.to_thread(CliRunner().invoke, cli, ["evidence", *args], env=env)


async def test_add_review_and_list_from_the_command_line(served: tuple[Any, str], tmp_path: Path) -> None:
    h, url = served
    document = tmp_path / "access-review-q3.csv"
    await asyncio.to_thread(document.write_bytes, b"user,reviewed\nann,yes\nbob,no\n")
    added = await _run(
        url,
        "alice",
        [
            "add",
            str(document),
            "--control",
            "GRD-ACC-03",
            "--type",
            "access_review",
            "--title",
            "Q3 access review",
            "--frequency",
            "quarterly",
            "--period",
            "2027-Q3",
            "--period-end",
            "2027-09-30",
        ],
    )
    assert added.exit_code == 0, added.output
    item_id = added.output.split()[0]
    assert item_id.startswith("ev-")
    assert "pending_review" in added.output

    own = await _run(url, "alice", ["review", item_id, "--version", "1", "--accept", "--comment", "ok"])
    assert own.exit_code == 1
    assert "self_review" in own.output

    both = await _run(url, "bob", ["review", item_id, "--version", "1", "--accept", "--reject", "--comment", "x"])
    assert both.exit_code == 2

    reviewed = await _run(url, "bob", ["review", item_id, "--version", "1", "--accept", "--comment", "Complete."])
    assert reviewed.exit_code == 0, reviewed.output
    assert "current" in reviewed.output

    listed = await _run(url, "carol", ["list", "--control", "GRD-ACC-03"], role=Role.AUDITOR)
    assert listed.exit_code == 0, listed.output
    assert item_id in listed.output
    assert "1 item(s)" in listed.output
    assert (await h.get(item_id))["versions"][0]["review"]["reviewer"] == "bob"


async def test_missing_configuration_is_a_usage_error(tmp_path: Path) -> None:
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["evidence", "list"], env={"GUARDIAN_EVIDENCE_URL": ""})
    assert result.exit_code == 2
