"""The audit log end to end: changes made through the gateway in compliance, evidence, the collector
and the gateway itself reach the central chain with who, what, before and after; a rolled-back change
never does; only admins and auditors read it; and ``guardian audit verify`` proves it intact, names a
changed entry, and catches a consistently rewritten chain through a head exported before.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from conftest import Running
from typer.testing import CliRunner

from guardian_cli.main import app as cli
from guardian_common import db
from guardian_common.auth import Role
from guardian_compliance.scope import service as scope_service
from guardian_gateway.audit import chain
from guardian_gateway.audit.repository import entry_of
from guardian_gateway.keys.service import bootstrap_key

CONTROL = "GRD-GOV-01"  # bundled
PDF = b"%PDF-1.7\n" + b"8" * 1200 + b"\n%%EOF\n"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class People:
    root: str
    editor: dict[str, Any]
    auditor: dict[str, Any]


@pytest.fixture
async def gateway(running: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.stack.url("gateway"), timeout=30) as http:
        yield http


async def make_key(http: httpx.AsyncClient, admin: str, role: Role, name: str) -> dict[str, Any]:
    response = await http.post("/api/v1/keys", json={"name": name, "role": role.value}, headers=bearer(admin))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def people(running: Running, gateway: httpx.AsyncClient) -> People:
    root = (await bootstrap_key(running.database_url, "audit-root")).key
    editor = await make_key(gateway, root, Role.EDITOR, "erin-editor")
    auditor = await make_key(gateway, root, Role.AUDITOR, "abe-auditor")
    return People(root=root, editor=editor, auditor=auditor)


async def call(http: httpx.AsyncClient, method: str, path: str, key: str, status: int, **kwargs: Any) -> Any:
    response = await http.request(method, path, headers=bearer(key), **kwargs)
    assert response.status_code == status, f"{method} {path}: {response.text}"
    return response.json() if response.content else None


async def chain_until(
    http: httpx.AsyncClient, key: str, done: Any, what: str, attempts: int = 300
) -> list[dict[str, Any]]:
    """Every entry, once ``done(entries)`` holds (the relays and the gateway's consumer run in the background)."""
    entries: list[dict[str, Any]] = []
    for _ in range(attempts):
        entries, after = [], 0
        while True:
            page = await call(http, "GET", "/api/v1/audit", key, 200, params={"after": after, "limit": 1000})
            entries.extend(page["items"])
            if page["next_after"] is None:
                break
            after = page["next_after"]
        if done(entries):
            return entries
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} never reached the audit log; it holds {[e['action'] for e in entries]}")


def one(entries: list[dict[str, Any]], action: str, target_id: str) -> dict[str, Any]:
    found = [e for e in entries if e["action"] == action and e["target"]["id"] == target_id]
    assert len(found) == 1, f"{action} on {target_id}: {len(found)} entries"
    return found[0]


async def test_changes_in_every_service_reach_the_chain_with_actor_before_and_after(
    gateway: httpx.AsyncClient, people: People
) -> None:
    ed, root = people.editor["key"], people.root
    doomed = await make_key(gateway, root, Role.EDITOR, "short-lived")
    await call(gateway, "DELETE", f"/api/v1/keys/{doomed['id']}", root, 200)

    # compliance: a scope, an edit, a period; a framework subscription; a control edit; an acceptance
    await call(gateway, "POST", "/api/v1/scopes", ed, 201, json={"id": "payments", "name": "Payments"})
    await call(gateway, "PATCH", "/api/v1/scopes/payments", ed, 200, json={"name": "Payments platform"})
    period = await call(
        gateway,
        "POST",
        "/api/v1/scopes/payments/periods",
        ed,
        201,
        json={"name": "FY26", "start_date": "2026-01-01", "end_date": "2026-12-31", "type": "type2"},
    )
    frameworks = await call(gateway, "GET", "/api/v1/frameworks", ed, 200)
    framework = next(f["id"] for f in frameworks if not f["subscribed"])
    await call(gateway, "PUT", f"/api/v1/frameworks/{framework}/subscription", ed, 200)
    before_title = (await call(gateway, "GET", f"/api/v1/controls/{CONTROL}", ed, 200))["title"]
    await call(gateway, "PATCH", f"/api/v1/controls/{CONTROL}", ed, 200, json={"title": "Policies, read and signed"})
    expires = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    acceptance = await call(
        gateway,
        "POST",
        "/api/v1/acceptances",
        ed,
        201,
        json={
            "control_id": CONTROL,
            "justification": "Handbook rewrite in progress",
            "compensating_control": "Weekly all-hands reminder",
            "expires_at": expires,
        },
    )
    await call(gateway, "POST", f"/api/v1/acceptances/{acceptance['id']}/approve", root, 200, json={"note": "ok"})

    # evidence: an item uploaded, then reviewed by someone else
    uploaded = await call(
        gateway,
        "POST",
        "/api/v1/evidence",
        ed,
        201,
        data={
            "title": "Security policy",
            "type": "policy",
            "owner": "Security",
            "control": CONTROL,
            "frequency": "annual",
        },
        files={"file": ("policy.pdf", PDF, "application/pdf")},
    )
    item = uploaded["item_id"]
    await call(
        gateway,
        "POST",
        f"/api/v1/evidence/{item}/versions/1/review",
        root,
        200,
        json={"decision": "accepted", "comment": "Matches the handbook."},
    )

    # collector: a schedule created, changed, deleted
    schedule = await call(gateway, "POST", "/api/v1/schedules", ed, 201, json={"name": "nightly", "cron": "0 3 * * *"})
    sid = schedule["schedule_id"]
    await call(gateway, "PATCH", f"/api/v1/schedules/{sid}", ed, 200, json={"cron": "30 4 * * *"})
    await call(gateway, "DELETE", f"/api/v1/schedules/{sid}", ed, 204)

    wanted = {
        ("key.created", people.editor["id"]),
        ("key.revoked", doomed["id"]),
        ("scope.created", "payments"),
        ("scope.updated", "payments"),
        ("period.created", period["id"]),
        ("framework.subscribed", framework),
        ("control.updated", CONTROL),
        ("acceptance.requested", acceptance["id"]),
        ("acceptance.approved", acceptance["id"]),
        ("evidence.created", item),
        ("evidence.reviewed", item),
        ("schedule.created", sid),
        ("schedule.updated", sid),
        ("schedule.deleted", sid),
    }
    entries = await chain_until(
        gateway,
        people.auditor["key"],
        lambda es: wanted <= {(e["action"], e["target"]["id"]) for e in es},
        "every change",
    )
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert {e["source"] for e in entries} >= {"gateway", "compliance", "evidence", "collector"}

    editor_actor = {"id": people.editor["id"], "role": "editor", "name": "erin-editor"}
    updated = one(entries, "scope.updated", "payments")
    assert updated["actor"] == editor_actor
    assert updated["before"]["name"] == "Payments"
    assert updated["after"]["name"] == "Payments platform"
    created = one(entries, "scope.created", "payments")
    assert created["before"] is None
    assert created["after"]["categories"] == ["security"]
    control = one(entries, "control.updated", CONTROL)
    assert (control["before"]["title"], control["after"]["title"]) == (before_title, "Policies, read and signed")
    approved = one(entries, "acceptance.approved", acceptance["id"])
    assert approved["actor"]["name"] == "audit-root"
    assert approved["actor"]["role"] == "admin"
    assert (approved["before"]["state"], approved["after"]["state"]) == ("pending", "approved")
    reviewed = one(entries, "evidence.reviewed", item)
    assert reviewed["after"]["versions"][0]["review"]["decision"] == "accepted"
    assert reviewed["before"]["versions"][0]["review"] is None
    changed = one(entries, "schedule.updated", sid)
    assert (changed["before"]["cron"], changed["after"]["cron"]) == ("0 3 * * *", "30 4 * * *")
    assert changed["actor"] == editor_actor
    deleted = one(entries, "schedule.deleted", sid)
    assert deleted["after"] is None
    assert deleted["before"]["name"] == "nightly"
    revoked = one(entries, "key.revoked", doomed["id"])
    assert revoked["before"]["revoked_at"] is None
    assert revoked["after"]["revoked_at"] is not None

    # Filters: by actor, by action prefix, by target.
    mine = await call(gateway, "GET", "/api/v1/audit", root, 200, params={"actor": "erin-editor", "limit": 1000})
    assert {e["actor"]["id"] for e in mine["items"]} == {people.editor["id"]}
    schedules = await call(gateway, "GET", "/api/v1/audit", root, 200, params={"action": "schedule.*"})
    assert [(e["action"], e["target"]["id"]) for e in schedules["items"]] == [
        ("schedule.created", "sch-default"),  # the collector's first start, by the system
        ("schedule.created", sid),
        ("schedule.updated", sid),
        ("schedule.deleted", sid),
    ]
    on_target = await call(gateway, "GET", "/api/v1/audit", root, 200, params={"target": f"schedule:{sid}"})
    assert len(on_target["items"]) == 3

    report = await call(gateway, "GET", "/api/v1/audit/verify", people.auditor["key"], 200)
    assert report["intact"] is True
    assert report["entries"] == len(entries)


async def test_auditors_and_admins_read_the_log_editors_and_strangers_do_not(
    gateway: httpx.AsyncClient, people: People
) -> None:
    await chain_until(gateway, people.root, lambda es: len(es) >= 2, "the key creations")
    for path in ("/api/v1/audit", "/api/v1/audit/verify", "/api/v1/audit/head"):
        for key in (people.root, people.auditor["key"]):
            assert (await gateway.get(path, headers=bearer(key))).status_code == 200
        refused = await gateway.get(path, headers=bearer(people.editor["key"]))
        assert refused.status_code == 403
        assert refused.json()["error"] == "insufficient_role"
        assert (await gateway.get(path)).status_code == 401
    bad = await gateway.get("/api/v1/audit", params={"limit": 0}, headers=bearer(people.root))
    assert bad.status_code == 422
    backwards = await gateway.get(
        "/api/v1/audit",
        params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=bearer(people.root),
    )
    assert backwards.status_code == 422
    assert backwards.json()["error"] == "invalid_time_range"
    for params, code in (
        ({"actor": "a\x00b"}, "invalid_filter"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "invalid_time"),
    ):
        refused = await gateway.get("/api/v1/audit", params=params, headers=bearer(people.root))
        assert (refused.status_code, refused.json()["error"]) == (422, code), refused.text


class CommitFailed(RuntimeError):
    """Stands for anything failing after the audit entry was written, before the commit."""


async def test_a_rolled_back_change_leaves_no_entry(
    gateway: httpx.AsyncClient, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_audit = scope_service._audit

    async def audit_then_fail(*args: Any, **kwargs: Any) -> None:
        await real_audit(*args, **kwargs)
        raise CommitFailed("the change fails after its audit entry was written")

    ed = people.editor["key"]
    monkeypatch.setattr(scope_service, "_audit", audit_then_fail)
    failed = await gateway.post("/api/v1/scopes", json={"id": "doomed", "name": "Doomed"}, headers=bearer(ed))
    assert failed.status_code >= 500
    monkeypatch.setattr(scope_service, "_audit", real_audit)
    await call(gateway, "POST", "/api/v1/scopes", ed, 201, json={"id": "kept", "name": "Kept"})

    entries = await chain_until(
        gateway, people.auditor["key"], lambda es: any(e["target"]["id"] == "kept" for e in es), "the kept scope"
    )
    assert not [e for e in entries if e["target"]["id"] == "doomed"]
    await call(gateway, "GET", "/api/v1/scopes/doomed", ed, 404)


@dataclass
class Result:
    code: int | None
    out: str
    err: str


async def guardian(gateway_url: str | None, key: str, *args: str, subprocess: bool = False) -> Result:
    """``guardian audit ...``: in this process (in a thread, it runs its own event loop), or as a user runs it."""
    env = {"GUARDIAN_API_KEY": key, "COLUMNS": "250", "GUARDIAN_URL": gateway_url}
    if not subprocess:
        result = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", *args], env=env)
        return Result(result.exit_code, result.stdout, result.stderr)
    full = {**os.environ, **{k: v for k, v in env.items() if v is not None}}
    if gateway_url is None:
        full.pop("GUARDIAN_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "guardian_cli.main",
        "audit",
        *args,
        env=full,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, errs = await asyncio.wait_for(proc.communicate(), timeout=120)
    return Result(proc.returncode, out.decode(), errs.decode())


async def gateway_pool(running: Running) -> asyncpg.Pool:
    return await db.create_pool(running.database_url, "gateway", max_size=2)


async def rewrite(pool: asyncpg.Pool, seq: int, after: Any) -> None:
    """A database owner's rewrite: entry ``seq`` changed, every hash from there on recomputed."""
    async with db.transaction(pool) as conn:
        entries = [entry_of(r) for r in await conn.fetch("SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq", seq)]
        prev = await conn.fetchval("SELECT hash FROM audit_log WHERE seq = $1", seq - 1) or chain.GENESIS
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        for old in entries:
            fields = {k: v for k, v in old.__dict__.items() if k not in ("hash", "prev_hash")}
            if old.seq == seq:
                fields["after"] = after
            new = chain.link(**fields, prev_hash=prev)
            await conn.execute(
                "UPDATE audit_log SET after = $2, prev_hash = $3, hash = $4 WHERE seq = $1",
                new.seq,
                new.after,
                new.prev_hash,
                new.hash,
            )
            prev = new.hash
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")


async def test_guardian_audit_verify_names_a_changed_entry_and_catches_a_rewrite_through_an_exported_head(
    running: Running, gateway: httpx.AsyncClient, people: People, tmp_path: Path
) -> None:
    url = running.stack.url("gateway")
    auditor = people.auditor["key"]
    for n in range(3):
        await make_key(gateway, people.root, Role.AUDITOR, f"reader-{n}")
    # Six keys (the bootstrapped root among them), and what the services create at their first start.
    first_start = {("scope.created", "default"), ("schedule.created", "sch-default")}

    def settled(es: list[dict[str, Any]]) -> bool:
        return [e["action"] for e in es].count("key.created") == 6 and first_start <= {
            (e["action"], e["target"]["id"]) for e in es
        }

    entries = await chain_until(gateway, auditor, settled, "six key creations and the first-start defaults")
    total = len(entries)
    assert total == 8
    system = [e for e in entries if (e["action"], e["target"]["id"]) in first_start]
    assert all(e["actor"] == {"id": "system", "role": "system", "name": "Guardian"} for e in system)

    intact = await guardian(url, auditor, "verify", subprocess=True)
    assert intact.code == 0, intact.err
    assert f"intact: {total} entries" in intact.out
    listed = await guardian(url, auditor, "list", "--action", "key.*", "--json")
    assert listed.code == 0, listed.err
    assert [e["seq"] for e in json.loads(listed.out)] == [e["seq"] for e in entries if e["action"] == "key.created"]

    heads = tmp_path / "kept-elsewhere" / "heads.jsonl"
    exported = await guardian(url, auditor, "export-head", "--to", str(heads))
    assert exported.code == 0, exported.err
    assert json.loads(heads.read_text())["seq"] == total
    again = await guardian(url, auditor, "export-head", "--to", str(heads))
    assert again.code == 0
    assert len(heads.read_text().splitlines()) == 1

    pool = await gateway_pool(running)
    try:
        await rewrite(pool, 3, {"name": "nobody", "role": "admin"})
        server_only = await guardian(url, auditor, "verify", "--json")
        assert server_only.code == 0, "a consistent rewrite passes the chain check alone"
        caught = await guardian(url, auditor, "verify", "--heads", str(heads))
        assert caught.code == 1, caught.out + caught.err
        assert f"BROKEN at entry {total}" in caught.out
        assert "rewritten" in caught.out

        async with db.transaction(pool) as conn:
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
            await conn.execute("UPDATE audit_log SET action = 'key.looked_at' WHERE seq = 2")
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
            entry_id = await conn.fetchval("SELECT entry_id FROM audit_log WHERE seq = 2")
    finally:
        await pool.close()
    changed = await guardian(url, auditor, "verify", "--heads", str(heads), "--recompute")
    assert changed.code == 1
    assert f"BROKEN at entry 2 ({entry_id})" in changed.out
    assert "changed" in changed.out


async def test_guardian_audit_refuses_bad_usage_with_exit_2(running: Running, people: People, tmp_path: Path) -> None:
    url = running.stack.url("gateway")
    no_gateway = await guardian(None, people.auditor["key"], "verify")
    assert no_gateway.code == 2
    assert "GUARDIAN_URL" in no_gateway.err
    missing = await guardian(url, people.auditor["key"], "verify", "--heads", str(tmp_path / "nowhere.jsonl"))
    assert missing.code == 2
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("not json\n")
    broken_file = await guardian(url, people.auditor["key"], "verify", "--heads", str(damaged))
    assert broken_file.code == 2
    assert "damaged" in broken_file.err
    editor = await guardian(url, people.editor["key"], "verify")
    assert editor.code == 2
    assert "insufficient_role" in editor.err
    bad_date = await guardian(url, people.auditor["key"], "list", "--from", "yesterday")
    assert bad_date.code == 2
