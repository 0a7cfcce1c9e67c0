"""Who may call what, over the whole API: a walk of the merged OpenAPI document of a running stack.

Every operation the gateway publishes is called, with path parameters and request bodies made
plausible from the document itself, so endpoints added to any service later are walked too:

- without a credential, with a revoked key and with an expired key: 401;
- as an auditor, any change (every method but GET/HEAD) and any key management: 403;
- as an auditor, reading is allowed ("auditors read reports, evidence, history and the audit log").

Health, readiness and metrics stay open; the sign-in pages are not API operations (they are not in
the document) and are checked separately.

The walks change nothing (every call is refused or only reads), so one stack and one set of keys
serve the whole module.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from conftest import Running
from hypothesis import Phase, find, settings
from hypothesis import strategies as st

from guardian_common.auth import Role
from guardian_gateway.keys.service import bootstrap_key

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
SIGN_IN_PAGES = ("/login",)
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
READS = frozenset({"GET", "HEAD"})
# Key management is for admins only, reading the list included.
KEY_MANAGEMENT = re.compile(r"^/api/v1/keys(/|$)")

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def running(shared_running: Running) -> Running:
    return shared_running


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: Mapping[str, Any]


@dataclass
class Keys:
    admin: str
    auditor: str
    revoked: str
    expired: str


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def resolve(schema: Any, document: Mapping[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(schema, Mapping) and "$ref" in schema and seen < 20:
        node: Any = document
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            node = node[part]
        schema, seen = node, seen + 1
    return dict(schema) if isinstance(schema, Mapping) else {}


def example(schema: Any, document: Mapping[str, Any], depth: int = 0) -> Any:
    """A small value the schema accepts: required properties only, lower bounds, first enum member."""
    schema = resolve(schema, document)
    if depth > 8:
        return None
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in schema:
            options = [resolve(s, document) for s in schema[combinator]]
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            if combinator == "allOf":
                chosen = {k: v for o in options for k, v in o.items()}
            return example(chosen, document, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: example(properties.get(name, {}), document, depth + 1) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema.get("items", {}), document, depth + 1) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    formats = {
        "uuid": str(uuid.uuid4()),
        "date": "2026-01-01",
        "date-time": "2026-01-01T00:00:00Z",
        "uri": "https://example.com/hook",
        "email": "someone@example.com",
    }
    if isinstance(schema.get("pattern"), str):
        return simplest_match(schema["pattern"])
    value = formats.get(str(schema.get("format")), "example")
    return value.ljust(int(schema.get("minLength", 0)), "x")


@cache
def simplest_match(pattern: str) -> str:
    """The simplest string the pattern accepts (for ^ev-[0-9a-f]{16}$, ev-0000000000000000).

    Shrinking finds the simplest; the explain phase, which only tells why a failing test failed,
    cost seconds per pattern here, so it is left out.
    """
    found: str = find(
        st.from_regex(pattern, fullmatch=True),
        lambda _: True,
        settings=settings(phases=[Phase.generate, Phase.shrink], database=None),
    )
    return found


# Identifiers whose shape services check in code rather than in the schema.
NAMED_VALUES = {"account_id": "123456789012", "region": "us-east-1"}


def concrete_path(operation: Operation, document: Mapping[str, Any]) -> str:
    parameters = {
        p["name"]: resolve(p.get("schema", {}), document)
        for p in (resolve(p, document) for p in operation.spec.get("parameters", []))
        if p.get("in") == "path"
    }

    def fill(match: re.Match[str]) -> str:
        if match.group(1) in NAMED_VALUES:
            return NAMED_VALUES[match.group(1)]
        value = example(parameters.get(match.group(1), {"type": "string"}), document)
        return str(value).lower() if isinstance(value, bool) else str(value)

    return re.sub(r"\{([^}]+)\}", fill, operation.template)


def request_body(operation: Operation, document: Mapping[str, Any]) -> dict[str, Any]:
    """httpx keyword arguments for a plausible body of the operation's first declared media type."""
    body = resolve(operation.spec.get("requestBody", {}), document)
    content: Mapping[str, Any] = body.get("content", {})
    if "application/json" in content:
        return {"json": example(content["application/json"].get("schema", {}), document)}
    if "multipart/form-data" in content:
        schema = resolve(content["multipart/form-data"].get("schema", {}), document)
        files: dict[str, tuple[str, bytes, str]] = {}
        data: dict[str, str] = {}
        for name, prop in schema.get("properties", {}).items():
            prop = resolve(prop, document)
            if prop.get("format") == "binary" or prop.get("contentMediaType"):
                files[name] = ("evidence.txt", b"walked by the access test", "text/plain")
            elif name in schema.get("required", []):
                data[name] = str(example(prop, document))
        return {"files": files or {"file": ("evidence.txt", b"walked", "text/plain")}, "data": data}
    if "application/x-www-form-urlencoded" in content:
        schema = content["application/x-www-form-urlencoded"].get("schema", {})
        return {"data": {k: str(v) for k, v in (example(schema, document) or {}).items()}}
    return {}


def operations(document: Mapping[str, Any]) -> list[Operation]:
    return [
        Operation(method.upper(), path, spec)
        for path, item in document["paths"].items()
        for method, spec in item.items()
        if method in METHODS and path not in OPEN_PATHS
    ]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(running: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.stack.url("gateway"), timeout=60) as http:
        yield http


async def make_key(http: httpx.AsyncClient, admin: str, role: Role, **extra: Any) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/keys", json={"name": f"walk-{role.value}", "role": role.value, **extra}, headers=bearer(admin)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def keys(running: Running, gateway: httpx.AsyncClient) -> Keys:
    admin = (await bootstrap_key(running.database_url, "walk-root")).key
    auditor = await make_key(gateway, admin, Role.AUDITOR)
    revoked = await make_key(gateway, admin, Role.ADMIN)
    assert (await gateway.delete(f"/api/v1/keys/{revoked['id']}", headers=bearer(admin))).status_code == 200
    expiring = await make_key(
        gateway, admin, Role.ADMIN, expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
    )
    # Move the expiry into the past instead of waiting for it.
    conn = await asyncpg.connect(running.database_url)
    try:
        await conn.execute(
            "UPDATE gateway.api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", expiring["id"]
        )
    finally:
        await conn.close()
    return Keys(admin=admin, auditor=auditor["key"], revoked=revoked["key"], expired=expiring["key"])


def describe(operation: Operation, response: httpx.Response) -> str:
    return f"{operation.method} {operation.template}: {response.status_code} {response.text[:300]}"


async def test_every_operation_refuses_missing_revoked_and_expired_credentials(
    gateway: httpx.AsyncClient, keys: Keys
) -> None:
    document = (await gateway.get("/openapi.json")).json()
    walked = operations(document)
    assert len(walked) > 20, "the merged document lost most of its operations"
    problems: list[str] = []
    for operation in walked:
        path = concrete_path(operation, document)
        body = request_body(operation, document)
        for credential, code in (
            (None, "missing_api_key"),
            (keys.revoked, "revoked_api_key"),
            (keys.expired, "expired_api_key"),
        ):
            headers = bearer(credential) if credential else {}
            response = await gateway.request(operation.method, path, headers=headers, **body)
            if response.status_code != 401 or response.json().get("error") != code:
                problems.append(f"{code}: {describe(operation, response)}")
        if operation.spec.get("security") != [{"bearer": []}]:
            problems.append(f"{operation.method} {operation.template} does not declare the bearer key")
    assert not problems, "\n".join(problems)


async def test_an_auditor_reads_but_changes_nothing_and_never_manages_keys(
    gateway: httpx.AsyncClient, keys: Keys
) -> None:
    document = (await gateway.get("/openapi.json")).json()
    problems: list[str] = []
    reads = 0
    for operation in operations(document):
        path = concrete_path(operation, document)
        response = await gateway.request(
            operation.method, path, headers=bearer(keys.auditor), **request_body(operation, document)
        )
        must_refuse = operation.method not in READS or KEY_MANAGEMENT.match(operation.template)
        if must_refuse:
            if response.status_code != 403 or response.json().get("error") != "insufficient_role":
                problems.append(f"should be 403: {describe(operation, response)}")
        else:
            reads += 1
            # A read may find nothing (404) or dislike a made-up parameter (422), but is never refused
            # for the role, and never fails.
            if response.status_code in (401, 403) or response.status_code >= 500:
                problems.append(f"auditor should read: {describe(operation, response)}")
    assert reads > 10
    assert not problems, "\n".join(problems)


async def test_a_signed_in_auditor_changes_nothing_and_a_session_alone_cannot_make_changes(
    running: Running, keys: Keys
) -> None:
    """The same rules hold for people signed in through the browser: role first, and CSRF for cookies."""
    async with httpx.AsyncClient(base_url=running.stack.url("gateway"), timeout=60) as browser:
        document = (await browser.get("/openapi.json")).json()
        changes = [op for op in operations(document) if op.method not in READS]
        signed_in = await browser.post("/login", json={"api_key": keys.auditor})
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["csrf_token"]
        problems: list[str] = []
        for operation in changes:
            path = concrete_path(operation, document)
            body = request_body(operation, document)
            without = await browser.request(operation.method, path, **body)
            if without.status_code != 403 or without.json().get("error") != "csrf_token_invalid":
                problems.append(f"should need the CSRF token: {describe(operation, without)}")
            response = await browser.request(operation.method, path, headers={"X-CSRF-Token": token}, **body)
            if response.status_code != 403 or response.json().get("error") != "insufficient_role":
                problems.append(f"should be 403 for the auditor's session: {describe(operation, response)}")
    assert len(changes) > 10
    assert not problems, "\n".join(problems)


async def test_health_readiness_metrics_and_the_sign_in_page_stay_open(
    running: Running, gateway: httpx.AsyncClient
) -> None:
    for path in sorted(OPEN_PATHS):
        assert (await gateway.get(path)).status_code == 200, path
    for path in SIGN_IN_PAGES:
        page = await gateway.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
    # The document itself is readable without a key (it is how clients learn to authenticate).
    assert (await gateway.get("/openapi.json")).status_code == 200
    # Every service behind the gateway keeps its own health endpoints open too.
    async with httpx.AsyncClient(timeout=30) as http:
        for name in running.stack.services:
            for path in sorted(OPEN_PATHS):
                assert (await http.get(f"{running.stack.url(name)}{path}")).status_code == 200, (name, path)
