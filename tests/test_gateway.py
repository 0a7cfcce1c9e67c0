"""The gateway end to end: its keys, routing to the three services, limits and the merged document.

Everything runs on loopback with the real services behind the gateway. The `running` stack keeps
services reachable directly too (development); `gated` starts one where services accept only the
gateway's forwarded credential, with a small rate limit. Each is started once for the module: every
test makes keys of its own, so none depends on what another did.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from conftest import Running, local_stack

from guardian_cli.stack import LocalStack
from guardian_common.auth import PRINCIPAL_HEADER, Principal, Role, mint_key, sign_principal
from guardian_gateway.keys.service import bootstrap_key
from guardian_testkit.moto import MotoServer

OPEN_PATHS = {"/healthz", "/readyz", "/metrics"}
GATED_RATE_LIMIT = 8

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def running(shared_running: Running) -> Running:
    return shared_running


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def expect(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


@pytest_asyncio.fixture(loop_scope="module")
async def gateway(running: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.stack.url("gateway"), timeout=30) as http:
        yield http


async def root_key(database_url: str) -> str:
    return (await bootstrap_key(database_url, "test-root")).key


async def stored_key_ids(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return sorted(r["id"] for r in await conn.fetch("SELECT id FROM gateway.api_keys"))
    finally:
        await conn.close()


async def new_key(http: httpx.AsyncClient, admin: str, role: Role, **extra: Any) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/keys", json={"name": f"test-{role.value}", "role": role.value, **extra}, headers=bearer(admin)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_keys_made_at_the_gateway_reach_every_service_and_follow_a_scan(
    running: Running, gateway: httpx.AsyncClient
) -> None:
    root = await root_key(running.database_url)
    editor = await new_key(gateway, root, Role.EDITOR)
    assert editor["key"].startswith(f"gdk_{editor['id']}_")
    assert editor["key"].startswith(editor["prefix"])
    listed = (await gateway.get("/api/v1/keys", headers=bearer(root))).json()["items"]
    # The stack is the module's: the listing holds the other tests' keys too, exactly as stored.
    assert {"test-root", "test-editor"} <= {k["name"] for k in listed}
    assert sorted(k["id"] for k in listed) == await stored_key_ids(running.database_url)
    assert all("key" not in k and "secret_hash" not in k for k in listed)

    frameworks = await gateway.get("/api/v1/frameworks", headers=bearer(editor["key"]))
    assert frameworks.status_code == 200, frameworks.text
    assert "soc2" in frameworks.text
    checks = await gateway.get("/api/v1/checks", headers=bearer(editor["key"]))
    assert checks.status_code == 200, checks.text

    started = await gateway.post(
        "/api/v1/scans", json={"regions": ["us-east-1"], "services": ["s3"]}, headers=bearer(editor["key"])
    )
    assert started.status_code == 202, started.text
    scan_id = started.json()["scan_id"]
    assert started.json()["requested_by"] == "test-editor"
    evaluation: dict[str, Any] = {}
    for _ in range(300):
        collection = (await gateway.get(f"/api/v1/scans/{scan_id}", headers=bearer(editor["key"]))).json()
        answer = await gateway.get(f"/api/v1/scans/{scan_id}/evaluation", headers=bearer(editor["key"]))
        if answer.status_code == 200:
            evaluation = answer.json()
            if evaluation["final"]:
                break
        await asyncio.sleep(0.1)
    assert collection["scan_id"] == scan_id
    assert "units" in collection
    assert evaluation["final"], evaluation
    assert evaluation["state"] == "final"
    evaluations = (await gateway.get("/api/v1/evaluations", headers=bearer(editor["key"]))).json()
    assert scan_id in {item["scan_id"] for item in evaluations["items"]}
    errors = await gateway.get(f"/api/v1/scans/{scan_id}/errors", headers=bearer(editor["key"]))
    assert errors.status_code == 200


async def test_revoked_expired_foreign_and_missing_keys_get_401_and_auditors_403(
    running: Running, gateway: httpx.AsyncClient
) -> None:
    root = await root_key(running.database_url)
    auditor = await new_key(gateway, root, Role.AUDITOR)
    doomed = await new_key(gateway, root, Role.EDITOR)
    short = await new_key(gateway, root, Role.EDITOR, expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())

    assert (await gateway.get("/api/v1/frameworks", headers=bearer(auditor["key"]))).status_code == 200
    denied = await gateway.post("/api/v1/scans", json={}, headers=bearer(auditor["key"]))
    expect(denied, 403, "insufficient_role")  # the collector's answer, through the gateway
    expect(
        await gateway.post("/api/v1/keys", json={"name": "x", "role": "admin"}, headers=bearer(auditor["key"])),
        403,
        "insufficient_role",
    )

    revoked = await gateway.delete(f"/api/v1/keys/{doomed['id']}", headers=bearer(root))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    expect(await gateway.get("/api/v1/frameworks", headers=bearer(doomed["key"])), 401, "revoked_api_key")
    expect(await gateway.delete("/api/v1/keys/0000000000000000", headers=bearer(root)), 404, "key_not_found")

    assert (await gateway.get("/api/v1/checks", headers=bearer(short["key"]))).status_code == 200
    # Move the expiry into the past rather than wait for it.
    conn = await asyncpg.connect(running.database_url)
    try:
        await conn.execute(
            "UPDATE gateway.api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", short["id"]
        )
    finally:
        await conn.close()
    expect(await gateway.get("/api/v1/checks", headers=bearer(short["key"])), 401, "expired_api_key")

    expect(await gateway.get("/api/v1/frameworks"), 401, "missing_api_key")
    signed_key = mint_key(running.stack.auth_secret, Role.ADMIN, "direct-only")[1]
    expect(await gateway.get("/api/v1/frameworks", headers=bearer(signed_key)), 401, "invalid_api_key")
    past = await gateway.post(
        "/api/v1/keys",
        json={"name": "late", "role": "editor", "expires_at": "2020-01-01T00:00:00Z"},
        headers=bearer(root),
    )
    expect(past, 422, "invalid_expiry")


async def test_every_operation_of_the_merged_document_is_guarded(running: Running, gateway: httpx.AsyncClient) -> None:
    root = await root_key(running.database_url)
    auditor = await new_key(gateway, root, Role.AUDITOR)
    revoked = await new_key(gateway, root, Role.ADMIN)
    await gateway.delete(f"/api/v1/keys/{revoked['id']}", headers=bearer(root))
    spec = (await gateway.get("/openapi.json")).json()
    operations = [
        (method.upper(), path) for path, item in spec["paths"].items() if path not in OPEN_PATHS for method in item
    ]
    assert len(operations) > 10
    for method, path in operations:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        expect(await gateway.request(method, concrete), 401, "missing_api_key")
        expect(await gateway.request(method, concrete, headers=bearer(revoked["key"])), 401, "revoked_api_key")
        if method != "GET":
            response = await gateway.request(method, concrete, json={}, headers=bearer(auditor["key"]))
            expect(response, 403, "insufficient_role")
    for path in OPEN_PATHS:
        assert (await gateway.get(path)).status_code == 200, path


async def test_request_ids_are_echoed_or_made_and_unknown_routes_are_404(
    running: Running, gateway: httpx.AsyncClient
) -> None:
    root = await root_key(running.database_url)
    mine = await gateway.get("/api/v1/checks", headers={**bearer(root), "X-Request-Id": "trace-42.a"})
    assert mine.status_code == 200
    assert mine.headers["x-request-id"] == "trace-42.a"
    made = await gateway.get("/api/v1/checks", headers=bearer(root))
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    refused = await gateway.get("/api/v1/checks", headers={"X-Request-Id": "has spaces\tand tabs"})
    assert refused.status_code == 401
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])
    assert (await gateway.get("/healthz", headers={"X-Request-Id": "probe-1"})).headers["x-request-id"] == "probe-1"

    missing = await gateway.get("/api/v1/no-such-thing", headers=bearer(root))
    expect(missing, 404, "route_not_found")
    wrong_method = await gateway.delete("/api/v1/frameworks", headers=bearer(root))
    expect(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "GET"


async def test_a_body_over_the_limit_is_refused_with_413(running: Running, gateway: httpx.AsyncClient) -> None:
    root = await root_key(running.database_url)
    limit = 10 * 1024 * 1024

    async def chunks() -> AsyncIterator[bytes]:
        chunk = b" " * (256 * 1024)
        for _ in range(limit // len(chunk) + 1):
            yield chunk

    streamed = await gateway.post(
        "/api/v1/scans", content=chunks(), headers={**bearer(root), "Content-Type": "application/json"}
    )
    expect(streamed, 413, "body_too_large")
    assert streamed.headers["x-request-id"]
    declared = await gateway.post("/api/v1/scans", content=b" " * (limit + 1), headers=bearer(root))
    expect(declared, 413, "body_too_large")


async def test_the_merged_openapi_document_holds_every_services_paths(
    running: Running, gateway: httpx.AsyncClient
) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/scans",  # collector
        "/api/v1/scans/{scan_id}/errors",  # collector
        "/api/v1/checks",  # evaluator
        "/api/v1/frameworks",  # compliance
        "/api/v1/scans/{scan_id}/evaluation",  # compliance, moved
        "/api/v1/evaluations",  # compliance, moved
        "/api/v1/keys",  # the gateway's own
        "/healthz",
    ):
        assert path in paths, path
    # Services beyond the three (added to the stack later) are routed from their documents too.
    for name in set(running.stack.services) - {"collector", "evaluator", "compliance", "gateway"}:
        own = (await gateway.get(f"{running.stack.url(name)}/openapi.json")).json()
        assert {p for p in own["paths"] if p.startswith("/api/")} <= set(paths), name
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert paths["/api/v1/frameworks"]["get"]["security"] == [{"bearer": []}]
    assert "429" in paths["/api/v1/scans"]["post"]["responses"]
    assert "security" not in paths["/healthz"]["get"]
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', str(spec).replace("'", '"')))
    assert refs <= set(spec["components"]["schemas"])
    docs = await gateway.get("/docs")
    assert docs.status_code == 200
    assert "/openapi.json" in docs.text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gated(
    postgres_base: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory, module_aws: MotoServer
) -> AsyncIterator[LocalStack]:
    """A stack whose services accept only the gateway's credential, with a small rate limit."""
    home = tmp_path_factory.mktemp("gated")
    async with local_stack(
        postgres_base,
        nats_url,
        home,
        regions=["us-east-1"],
        require_gateway=True,
        rate_limit_per_minute=GATED_RATE_LIMIT,
    ) as stack:
        yield stack


async def test_gateway_only_services_refuse_keys_and_accept_the_forwarded_principal(gated: LocalStack) -> None:
    root = (await bootstrap_key(gated.database_url, "gated-root")).key
    evaluator = gated.url("evaluator")
    collector = gated.url("collector")
    async with httpx.AsyncClient(timeout=30) as http:
        through = await http.get(f"{gated.url('gateway')}/api/v1/checks", headers=bearer(root))
        assert through.status_code == 200, through.text

        direct_key = mint_key(gated.auth_secret, Role.ADMIN, "direct")[1]
        expect(await http.get(f"{evaluator}/api/v1/checks", headers=bearer(direct_key)), 401, "gateway_required")
        expect(await http.get(f"{evaluator}/api/v1/checks", headers=bearer(root)), 401, "gateway_required")
        expect(await http.get(f"{evaluator}/api/v1/checks"), 401, "gateway_required")

        admin = Principal(key_id="k1", role=Role.ADMIN, name="via-gateway")
        forwarded = {PRINCIPAL_HEADER: sign_principal(gated.internal_secret, admin)}
        assert (await http.get(f"{evaluator}/api/v1/checks", headers=forwarded)).status_code == 200
        forged = {PRINCIPAL_HEADER: sign_principal("some-other-secret", admin)}
        expect(await http.get(f"{evaluator}/api/v1/checks", headers=forged), 401, "invalid_internal_credential")
        auditor = {PRINCIPAL_HEADER: sign_principal(gated.internal_secret, Principal("k2", Role.AUDITOR, "aud"))}
        expect(await http.post(f"{collector}/api/v1/scans", json={}, headers=auditor), 403, "insufficient_role")
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await http.get(f"{evaluator}{path}")).status_code == 200


async def test_a_key_over_its_rate_limit_gets_429_with_retry_after(gated: LocalStack) -> None:
    root = (await bootstrap_key(gated.database_url, "gated-root")).key
    async with httpx.AsyncClient(base_url=gated.url("gateway"), timeout=30) as http:
        busy = (await new_key(http, root, Role.AUDITOR))["key"]
        other = (await new_key(http, root, Role.AUDITOR))["key"]
        # A fixed window may roll over during the loop, so allow up to two windows' worth.
        statuses: list[int] = []
        refusal: httpx.Response | None = None
        for _ in range(2 * GATED_RATE_LIMIT + 1):
            response = await http.get("/api/v1/checks", headers=bearer(busy))
            statuses.append(response.status_code)
            if response.status_code == 429:
                refusal = response
                break
        assert refusal is not None, statuses
        assert statuses.count(200) >= GATED_RATE_LIMIT
        expect(refusal, 429, "rate_limited")
        assert 1 <= int(refusal.headers["retry-after"]) <= 60
        assert (await http.get("/api/v1/checks", headers=bearer(other))).status_code == 200


async def test_the_cli_drives_a_scan_through_the_gateway_alone(running: Running, tmp_path: Path) -> None:
    import os
    import sys

    root = await root_key(running.database_url)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")},
        "GUARDIAN_URL": running.stack.url("gateway"),
        "GUARDIAN_API_KEY": root,
        "GUARDIAN_HOME": str(tmp_path),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "guardian_cli.main",
        "scan",
        "--region",
        "us-east-1",
        "--service",
        "s3",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode == 0, out.decode() + err.decode()
    assert "SOC2 readiness:" in out.decode()
