"""Browser sign-in: sessions from API keys and OpenID Connect, CSRF, and the dashboard behind the gateway.

The gateway runs in-process (its lifespan, real PostgreSQL and NATS) with a clock the tests move;
the services behind it are small recorders on one loopback server, which also hosts an OpenID
Connect provider written here (it signs ID tokens with joserfc and checks PKCE like a real one).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.routing import Mount

from guardian_common import db
from guardian_common.auth import PRINCIPAL_HEADER, Role, verify_principal
from guardian_gateway.app import create_app
from guardian_gateway.database import SCHEMA
from guardian_gateway.keys.service import bootstrap_key
from guardian_gateway.sessions.cookies import (
    CSRF_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    hash_id,
    secure_cookies,
)
from guardian_gateway.sessions.csrf import safe_next
from guardian_gateway.sessions.service import SessionPolicy, SessionService
from guardian_gateway.settings import GatewaySettings
from guardian_testkit.moto import free_port
from guardian_testkit.resources import delete_streams

INTERNAL_SECRET = "internal-secret-for-session-tests-0123456789"
GATEWAY = "http://127.0.0.1"
CLIENT_ID = "guardian-gateway"
CLIENT_SECRET = "client-secret-of-the-test-provider"
LIFETIME = timedelta(hours=8)
IDLE = timedelta(minutes=30)


# --- the services behind the gateway, and an identity provider -------------------------------------


async def echo(request: Request, service: str) -> dict[str, Any]:
    header = request.headers.get(PRINCIPAL_HEADER)
    principal = verify_principal(INTERNAL_SECRET, header) if header else None
    return {
        "service": service,
        "path": request.url.path.removeprefix(request.scope.get("root_path", "")),
        "principal": None if principal is None else [principal.key_id, principal.role.value, principal.name],
        "cookie": request.headers.get("cookie"),
        "csrf_header": request.headers.get("x-csrf-token"),
        "body": (await request.body()).decode(),
    }


def collector() -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/things")
    async def read_things(request: Request) -> dict[str, Any]:
        return await echo(request, "collector")

    @app.post("/api/v1/things")
    async def add_thing(request: Request) -> dict[str, Any]:
        return await echo(request, "collector")

    return app


def reporting() -> FastAPI:
    app = FastAPI()

    @app.api_route("/dashboard", methods=["GET", "POST"], include_in_schema=False)
    @app.api_route("/dashboard/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    async def page(request: Request) -> Response:
        answer = JSONResponse(await echo(request, "reporting"))
        answer.set_cookie(SESSION_COOKIE, "planted-by-the-service")
        answer.set_cookie("dashboard_theme", "dark")
        return answer

    @app.get("/static/app.css", include_in_schema=False)
    async def style(request: Request) -> PlainTextResponse:
        seen = "with-principal" if PRINCIPAL_HEADER in request.headers else "anonymous"
        return PlainTextResponse(f"/* {seen} */ body{{margin:0}}", media_type="text/css")

    return app


@dataclass
class Provider:
    """A minimal OpenID Connect provider: discovery, authorize (auto-approving ``user``), token, keys."""

    base: str
    clock: Any
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "test-1"}))
    user: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    # Tests set these to make the provider misbehave.
    wrong_nonce: bool = False
    audience: str = CLIENT_ID

    @property
    def issuer(self) -> str:
        return f"{self.base}/idp"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/authorize")
        async def authorize(request: Request) -> Response:
            q = request.query_params
            if q.get("response_type") != "code" or q.get("client_id") != CLIENT_ID:
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return JSONResponse({"error": "invalid_request", "error_description": "PKCE required"}, 400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "nonce": q["nonce"],
                "challenge": q["code_challenge"],
                "redirect_uri": q["redirect_uri"],
                "scope": q.get("scope", ""),
            }
            return RedirectResponse(f"{q['redirect_uri']}?code={code}&state={q['state']}", status_code=302)

        @app.post("/token")
        async def token(
            request: Request,
            grant_type: str = Form(),
            code: str = Form(),
            redirect_uri: str = Form(),
            code_verifier: str = Form(),
        ) -> Response:
            expected_auth = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            self.token_requests.append({"code": code, "verifier": code_verifier})
            if request.headers.get("authorization") != expected_auth:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            grant = self.codes.pop(code, None)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=")
            if (
                grant is None
                or grant_type != "authorization_code"
                or grant["redirect_uri"] != redirect_uri
                or grant["challenge"] != challenge.decode()
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(self.clock().timestamp())
            claims = {
                "iss": self.issuer,
                "aud": self.audience,
                "iat": now,
                "exp": now + 300,
                "nonce": "not-the-one-sent" if self.wrong_nonce else grant["nonce"],
                **self.user,
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, self.key)
            return JSONResponse({"access_token": "unused", "token_type": "Bearer", "id_token": id_token})

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        return app


# --- running it --------------------------------------------------------------------------------------


@dataclass
class Deployment:
    http: httpx.AsyncClient
    database_url: str
    root: str
    clock: Any
    provider: Provider

    async def key(self, role: Role, **extra: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/keys",
            json={"name": f"person-{role.value}", "role": role.value, **extra},
            headers={"Authorization": f"Bearer {self.root}"},
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def sign_in(self, key: str) -> dict[str, Any]:
        response = await self.http.post("/login", json={"api_key": key})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


async def serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            raise RuntimeError(f"the test upstream did not start: {task.exception()!r}")
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{port}"


@pytest.fixture
async def deployment(fresh_database: str, nats_url: str, clock: Any) -> AsyncIterator[Deployment]:
    provider = Provider(base="", clock=clock)
    upstreams = Starlette(
        routes=[
            Mount("/collector", app=collector()),
            Mount("/evaluator", app=FastAPI()),
            Mount("/compliance", app=FastAPI()),
            Mount("/reporting", app=reporting()),
            Mount("/idp", app=provider.app()),
        ]
    )
    server, task, base = await serve(upstreams)
    provider.base = base
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = GatewaySettings(
        environment="development",
        host="127.0.0.1",
        database_url=fresh_database,
        nats_url=nats_url,
        bus_prefix=prefix,
        internal_secret=INTERNAL_SECRET,
        log_level="WARNING",
        collector_url=f"{base}/collector",
        evaluator_url=f"{base}/evaluator",
        compliance_url=f"{base}/compliance",
        extra_upstreams={"reporting": f"{base}/reporting"},
        session_lifetime_seconds=int(LIFETIME.total_seconds()),
        session_idle_seconds=int(IDLE.total_seconds()),
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_redirect_url=f"{GATEWAY}/login/oidc/callback",
        oidc_role_mapping={"guardian-admins": Role.ADMIN, "auditors": Role.AUDITOR},
    )
    app = create_app(settings, clock=clock)
    try:
        async with app.router.lifespan_context(app):
            root = (await bootstrap_key(fresh_database, "root")).key
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url=GATEWAY) as http:
                yield Deployment(http, fresh_database, root, clock, provider)
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        await delete_streams(nats_url, prefix)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header of the response, by cookie name."""
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        found[header.split("=", 1)[0]] = header
    return found


def attributes(set_cookie: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookie)
    (morsel,) = jar.values()
    return {name: str(value) for name, value in morsel.items() if value}


def expect(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


# --- signing in with a key ----------------------------------------------------------------------------


async def test_a_key_becomes_an_httponly_lax_session_whose_id_is_stored_only_as_a_hash(
    deployment: Deployment,
) -> None:
    editor = await deployment.key(Role.EDITOR)
    response = await deployment.http.post("/login", json={"api_key": editor["key"]})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "editor"
    cookies = set_cookies(response)
    session = attributes(cookies[SESSION_COOKIE])
    assert session["httponly"] is not None
    assert session["samesite"].lower() == "lax"
    assert session["path"] == "/"
    assert int(session["max-age"]) == int(LIFETIME.total_seconds())
    assert "secure" not in session  # development on loopback: plain http
    csrf = attributes(cookies[CSRF_COOKIE])
    assert "httponly" not in csrf
    assert csrf["samesite"].lower() == "lax"

    session_id = deployment.http.cookies[SESSION_COOKIE]
    assert deployment.http.cookies[CSRF_COOKIE] == response.json()["csrf_token"]
    rows = await deployment.fetch("SELECT * FROM gateway.sessions")
    assert [r["id_hash"] for r in rows] == [hash_id(session_id)]
    assert session_id not in {str(v) for v in rows[0].values()}
    assert rows[0]["key_id"] == editor["id"]
    assert rows[0]["expires_at"] == deployment.clock.now + LIFETIME

    # The session alone now authenticates: the service gets the key's principal, never the session.
    answer = await deployment.http.get("/api/v1/things")
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen["principal"] == [editor["id"], "editor", "person-editor"]
    assert SESSION_COOKIE not in (seen["cookie"] or "")
    assert f"{CSRF_COOKIE}=" in seen["cookie"]


async def test_a_bad_key_signs_nobody_in(deployment: Deployment) -> None:
    expect(await deployment.http.post("/login", json={"api_key": "gdk_nope"}), 401, "invalid_api_key")
    expect(await deployment.http.post("/login", json={"key": "x"}), 422, "invalid_request")
    expect(await deployment.http.post("/login", content=b"api_key=x"), 415, "unsupported_media_type")
    assert SESSION_COOKIE not in deployment.http.cookies
    assert await deployment.fetch("SELECT * FROM gateway.sessions") == []


async def test_the_form_needs_its_login_token_and_only_redirects_within_the_site(deployment: Deployment) -> None:
    auditor = await deployment.key(Role.AUDITOR)
    page = await deployment.http.get("/login", params={"next": "/dashboard/reports?period=q1"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<html lang="en">' in page.text
    assert '<label for="api-key">' in page.text
    assert 'value="/dashboard/reports?period=q1"' in page.text
    token = deployment.http.cookies[LOGIN_CSRF_COOKIE]
    assert f'value="{token}"' in page.text

    forged = await deployment.http.post(
        "/login", data={"api_key": auditor["key"], "next": "/dashboard", "csrf_token": "guessed"}
    )
    assert forged.status_code == 403
    assert SESSION_COOKIE not in deployment.http.cookies
    token = deployment.http.cookies[LOGIN_CSRF_COOKIE]  # the refusal hands out a fresh one

    wrong = await deployment.http.post("/login", data={"api_key": "gdk_wrong", "csrf_token": token})
    assert wrong.status_code == 401
    assert 'role="alert"' in wrong.text
    assert 'aria-invalid="true"' in wrong.text

    elsewhere = await deployment.http.post(
        "/login", data={"api_key": auditor["key"], "next": "https://evil.example/", "csrf_token": token}
    )
    assert elsewhere.status_code == 303
    assert elsewhere.headers["location"] == "/dashboard"
    assert SESSION_COOKIE in deployment.http.cookies

    page = await deployment.http.get("/login")
    token = deployment.http.cookies[LOGIN_CSRF_COOKIE]
    first_session = deployment.http.cookies[SESSION_COOKIE]
    within = await deployment.http.post(
        "/login", data={"api_key": auditor["key"], "next": "/dashboard/reports?period=q1", "csrf_token": token}
    )
    assert within.headers["location"] == "/dashboard/reports?period=q1"
    # Signing in again replaced the earlier session instead of leaving it open.
    ended = await deployment.fetch(
        "SELECT ended_reason FROM gateway.sessions WHERE id_hash = $1", hash_id(first_session)
    )
    assert [r["ended_reason"] for r in ended] == ["signed_out"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "/dashboard"),
        ("", "/dashboard"),
        ("/dashboard/controls?status=FAIL", "/dashboard/controls?status=FAIL"),
        ("/api/v1/frameworks", "/api/v1/frameworks"),
        ("https://evil.example/dashboard", "/dashboard"),
        ("//evil.example/dashboard", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("/dashboard\r\nSet-Cookie: x=1", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        ("dashboard", "/dashboard"),
        ("/login?next=/x", "/dashboard"),
        ("/logout", "/dashboard"),
    ],
)
def test_only_a_path_on_this_site_is_a_place_to_go_after_signing_in(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


@pytest.mark.parametrize(
    ("environment", "host", "override", "secure"),
    [
        ("development", "127.0.0.1", None, False),
        ("development", "localhost", None, False),
        ("development", "0.0.0.0", None, True),
        ("test", "127.0.0.1", None, True),
        ("production", "127.0.0.1", None, True),
        ("development", "127.0.0.1", True, True),
    ],
)
def test_cookies_are_secure_except_in_development_on_loopback(
    environment: str, host: str, override: bool | None, secure: bool
) -> None:
    settings = GatewaySettings(
        environment=environment,  # type: ignore[arg-type]
        host=host,
        internal_secret="x" * 40,
        auth_secret="y" * 40,
        cookie_secure=override,
    )
    assert secure_cookies(settings) is secure


# --- CSRF ---------------------------------------------------------------------------------------------


async def test_a_change_with_the_session_cookie_needs_the_csrf_token_and_one_with_a_key_does_not(
    deployment: Deployment,
) -> None:
    admin = await deployment.key(Role.ADMIN)
    token = (await deployment.sign_in(admin["key"]))["csrf_token"]

    expect(await deployment.http.post("/api/v1/things", json={"n": 1}), 403, "csrf_token_invalid")
    expect(
        await deployment.http.post("/api/v1/things", json={"n": 1}, headers={"X-CSRF-Token": "0" * 64}),
        403,
        "csrf_token_invalid",
    )
    # The gateway's own endpoints are held to the same rule.
    expect(await deployment.http.post("/api/v1/keys", json={"name": "n", "role": "auditor"}), 403, "csrf_token_invalid")
    created = await deployment.http.post(
        "/api/v1/keys", json={"name": "n", "role": "auditor"}, headers={"X-CSRF-Token": token}
    )
    assert created.status_code == 201, created.text

    sent = await deployment.http.post("/api/v1/things", json={"n": 1}, headers={"X-CSRF-Token": token})
    assert sent.status_code == 200, sent.text
    assert sent.json()["body"] == '{"n":1}'
    assert sent.json()["csrf_header"] is None  # the gateway's concern; not passed on
    # A plain HTML form sends the token as a field; the body still reaches the service whole.
    form = await deployment.http.post("/api/v1/things", data={"csrf_token": token, "note": "a b"})
    assert form.status_code == 200, form.text
    assert parse_qs(form.json()["body"]) == {"csrf_token": [token], "note": ["a b"]}

    # The token is bound to the session: another session's token does not do.
    other = await deployment.key(Role.ADMIN)
    async with httpx.AsyncClient(transport=deployment.http._transport, base_url=GATEWAY) as second:
        other_token = (await second.post("/login", json={"api_key": other["key"]})).json()["csrf_token"]
    deployment.http.cookies.set(CSRF_COOKIE, other_token)
    expect(
        await deployment.http.post("/api/v1/things", json={}, headers={"X-CSRF-Token": other_token}),
        403,
        "csrf_token_invalid",
    )

    # A key needs no token, even with a session cookie beside it: the key decides who calls.
    keyed = await deployment.http.post(
        "/api/v1/things", json={}, headers={"Authorization": f"Bearer {deployment.root}"}
    )
    assert keyed.status_code == 200, keyed.text
    assert keyed.json()["principal"][2] == "root"
    assert (await deployment.http.get("/api/v1/things")).status_code == 200  # reading needs no token


# --- how sessions end ---------------------------------------------------------------------------------


async def test_revoking_the_key_ends_its_sessions(deployment: Deployment) -> None:
    editor = await deployment.key(Role.EDITOR)
    await deployment.sign_in(editor["key"])
    assert (await deployment.http.get("/api/v1/things")).status_code == 200
    revoked = await deployment.http.delete(
        f"/api/v1/keys/{editor['id']}", headers={"Authorization": f"Bearer {deployment.root}"}
    )
    assert revoked.status_code == 200
    expect(await deployment.http.get("/api/v1/things"), 401, "session_ended")
    expect(await deployment.http.get("/api/v1/things"), 401, "session_ended")
    rows = await deployment.fetch("SELECT ended_reason FROM gateway.sessions WHERE key_id = $1", editor["id"])
    assert [r["ended_reason"] for r in rows] == ["key_revoked"]
    expect(await deployment.http.post("/login", json={"api_key": editor["key"]}), 401, "revoked_api_key")


async def test_a_session_never_outlives_its_key(deployment: Deployment) -> None:
    expiry = deployment.clock.now + timedelta(hours=1)
    short = await deployment.key(Role.AUDITOR, expires_at=expiry.isoformat())
    signed_in = await deployment.sign_in(short["key"])
    assert signed_in["expires_at"] == expiry.isoformat()
    for _ in range(2):  # active, so not idle
        deployment.clock.advance(minutes=29)
        assert (await deployment.http.get("/api/v1/things")).status_code == 200
    deployment.clock.advance(minutes=1, seconds=59)
    assert (await deployment.http.get("/api/v1/things")).status_code == 200
    deployment.clock.advance(seconds=1)
    expect(await deployment.http.get("/api/v1/things"), 401, "session_ended")


async def test_an_idle_session_ends_and_an_active_one_ends_at_its_lifetime(deployment: Deployment) -> None:
    editor = await deployment.key(Role.EDITOR)
    await deployment.sign_in(editor["key"])
    deployment.clock.advance(seconds=IDLE.total_seconds() - 1)
    assert (await deployment.http.get("/api/v1/things")).status_code == 200
    deployment.clock.advance(seconds=IDLE.total_seconds())
    expect(await deployment.http.get("/api/v1/things"), 401, "session_ended")

    await deployment.sign_in(editor["key"])
    started = deployment.clock.now
    while deployment.clock.now + timedelta(minutes=20) < started + LIFETIME:
        deployment.clock.advance(minutes=20)
        assert (await deployment.http.get("/api/v1/things")).status_code == 200
    deployment.clock.now = started + LIFETIME
    expect(await deployment.http.get("/api/v1/things"), 401, "session_ended")
    reasons = await deployment.fetch("SELECT ended_reason FROM gateway.sessions ORDER BY created_at")
    assert [r["ended_reason"] for r in reasons] == ["idle", "expired"]


async def test_signing_out_needs_the_token_ends_the_session_and_is_audited(deployment: Deployment) -> None:
    editor = await deployment.key(Role.EDITOR)
    token = (await deployment.sign_in(editor["key"]))["csrf_token"]
    session_id = deployment.http.cookies[SESSION_COOKIE]
    expect(await deployment.http.post("/logout"), 403, "csrf_token_invalid")
    out = await deployment.http.post("/logout", headers={"X-CSRF-Token": token})
    assert out.status_code == 204
    assert SESSION_COOKIE not in deployment.http.cookies
    assert CSRF_COOKIE not in deployment.http.cookies
    # The old cookie, kept by someone, no longer works.
    deployment.http.cookies.set(SESSION_COOKIE, session_id)
    expect(await deployment.http.get("/api/v1/things"), 401, "session_ended")

    entries = [
        json.loads(row["payload"])["data"]
        for row in await deployment.fetch(
            "SELECT payload FROM gateway.outbox WHERE event_type = 'audit.recorded' ORDER BY id"
        )
    ]
    ours = [(e["action"], e["actor"]["id"]) for e in entries if e["target"]["type"] == "session"]
    assert ours == [("session.started", editor["id"]), ("session.ended", editor["id"])]
    assert session_id not in json.dumps(entries)

    # A form sign-out goes back to the sign-in page.
    await deployment.sign_in(editor["key"])
    token = deployment.http.cookies[CSRF_COOKIE]
    form = await deployment.http.post("/logout", data={"csrf_token": token})
    assert form.status_code == 303
    assert form.headers["location"] == "/login?signed_out=1"
    assert "You have signed out." in (await deployment.http.get(form.headers["location"])).text


# --- the dashboard ------------------------------------------------------------------------------------


async def test_the_dashboard_is_the_reporting_service_behind_the_sign_in(deployment: Deployment) -> None:
    http = deployment.http
    away = await http.get("/dashboard/reports", params={"period": "q1"})
    assert away.status_code == 303
    assert away.headers["location"] == "/login?next=%2Fdashboard%2Freports%3Fperiod%3Dq1"
    assert (await http.get("/dashboard")).headers["location"] == "/login?next=%2Fdashboard"
    # A program (it sent a key) and a change get a 401, not a page.
    expect(await http.get("/dashboard", headers={"Authorization": "Bearer gdk_bad"}), 401, "invalid_api_key")
    expect(await http.post("/dashboard/forms"), 401, "missing_api_key")
    expect(await http.get("/dashboardx"), 404, "route_not_found")

    auditor = await deployment.key(Role.AUDITOR)
    token = (await deployment.sign_in(auditor["key"]))["csrf_token"]
    page = await http.get("/dashboard/reports", params={"period": "q1"})
    assert page.status_code == 200, page.text
    seen = page.json()
    assert seen["service"] == "reporting"
    assert seen["path"] == "/dashboard/reports"
    assert seen["principal"] == [auditor["id"], "auditor", "person-auditor"]
    assert SESSION_COOKIE not in (seen["cookie"] or "")
    # The service cannot plant a session cookie; its other cookies pass.
    returned = set_cookies(page)
    assert SESSION_COOKIE not in returned
    assert "dashboard_theme" in returned
    assert (await http.get("/dashboard")).json()["path"] == "/dashboard"

    expect(await http.post("/dashboard/forms", data={"x": "1"}), 403, "csrf_token_invalid")
    posted = await http.post("/dashboard/forms", data={"x": "1", "csrf_token": token})
    assert posted.status_code == 200
    assert posted.json()["principal"][1] == "auditor"


async def test_static_files_of_the_dashboard_need_no_credential_and_carry_none(deployment: Deployment) -> None:
    style = await deployment.http.get("/static/app.css")
    assert style.status_code == 200
    assert style.text.startswith("/* anonymous */")
    admin = await deployment.key(Role.ADMIN)
    await deployment.sign_in(admin["key"])
    assert (await deployment.http.get("/static/app.css")).text.startswith("/* anonymous */")
    assert (await deployment.http.post("/static/app.css")).status_code == 405
    # httpx (like browsers) removes literal dot segments itself, so those go to the app as sent by curl --path-as-is.
    for sneaky in (b"/static/../dashboard", b"/static/./../dashboard", b"/dashboard/../api/v1/keys"):
        assert await raw_get(deployment, sneaky) == 404, sneaky
    expect(await deployment.http.get("/static/%2e%2e/dashboard"), 404, "route_not_found")
    expect(await deployment.http.get("/static/%2E%2E/dashboard"), 404, "route_not_found")


async def raw_get(deployment: Deployment, raw_path: bytes) -> int:
    """The status the gateway answers for a GET of exactly ``raw_path``, with the client's cookies."""
    app = deployment.http._transport.app  # type: ignore[attr-defined]
    cookie = "; ".join(f"{name}={value}" for name, value in deployment.http.cookies.items())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path.decode(),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]


# --- OpenID Connect -----------------------------------------------------------------------------------


async def oidc_sign_in(deployment: Deployment, next_path: str = "/dashboard/overview") -> httpx.Response:
    """Walk the browser through the provider and back; the gateway's final answer."""
    start = await deployment.http.get("/login/oidc", params={"next": next_path})
    assert start.status_code == 303, start.text
    async with httpx.AsyncClient() as browser_at_provider:
        at_provider = await browser_at_provider.get(start.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    callback = urlsplit(at_provider.headers["location"])
    return await deployment.http.get(f"{callback.path}?{callback.query}")


async def test_openid_connect_signs_a_person_in_with_the_role_their_groups_map_to(deployment: Deployment) -> None:
    provider = deployment.provider
    provider.user = {"sub": "u-42", "email": "ada@example.com", "groups": ["staff", "auditors"]}
    page = await deployment.http.get("/login")
    assert 'href="/login/oidc?next=%2Fdashboard"' in page.text

    start = await deployment.http.get("/login/oidc", params={"next": "/dashboard/overview"})
    location = urlsplit(start.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.issuer}/authorize"
    query = parse_qs(location.query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["openid profile email"]
    assert query["redirect_uri"] == [f"{GATEWAY}/login/oidc/callback"]
    assert query["state"] != query["nonce"]

    done = await oidc_sign_in(deployment)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/dashboard/overview"
    # PKCE: the verifier sent with the code hashes to the challenge (the provider refuses otherwise).
    assert provider.token_requests[-1]["verifier"]
    seen = (await deployment.http.get("/api/v1/things")).json()
    key_id, role, name = seen["principal"]
    assert (role, name) == ("auditor", "ada@example.com")
    assert re.fullmatch(r"oidc_[0-9a-f]{16}", key_id)
    rows = await deployment.fetch("SELECT source, key_id, role FROM gateway.sessions WHERE ended_at IS NULL")
    assert [(r["source"], r["key_id"], r["role"]) for r in rows] == [("oidc", None, "auditor")]

    provider.user = {"sub": "u-7", "groups": "guardian-admins"}
    await oidc_sign_in(deployment)
    assert (await deployment.http.get("/api/v1/things")).json()["principal"][1:] == ["admin", "u-7"]


async def test_openid_connect_refuses_strangers_forged_callbacks_and_wrong_tokens(deployment: Deployment) -> None:
    provider = deployment.provider
    provider.user = {"sub": "u-1", "groups": ["marketing"]}
    refused = await oidc_sign_in(deployment)
    assert refused.status_code == 403
    assert "no Guardian role" in refused.text
    assert SESSION_COOKIE not in deployment.http.cookies

    provider.user = {"sub": "u-2", "groups": ["guardian-admins"]}
    provider.wrong_nonce = True
    assert (await oidc_sign_in(deployment)).status_code == 401
    provider.wrong_nonce = False
    provider.audience = "some-other-client"
    assert (await oidc_sign_in(deployment)).status_code == 401
    provider.audience = CLIENT_ID

    # A callback made for another browser's login (no matching state cookie) signs nobody in.
    start = await deployment.http.get("/login/oidc")
    async with httpx.AsyncClient() as browser_at_provider:
        at_provider = await browser_at_provider.get(start.headers["location"])
    callback = urlsplit(at_provider.headers["location"])
    async with httpx.AsyncClient(transport=deployment.http._transport, base_url=GATEWAY) as victim:
        forged = await victim.get(f"{callback.path}?{callback.query}")
        assert forged.status_code == 400
        assert SESSION_COOKIE not in victim.cookies
    # The real browser can still finish, once; the same state cannot be used twice.
    first = await deployment.http.get(f"{callback.path}?{callback.query}")
    assert first.status_code == 303, first.text
    deployment.http.cookies.set("guardian_oidc_state", parse_qs(callback.query)["state"][0], path="/login/oidc")
    assert (await deployment.http.get(f"{callback.path}?{callback.query}")).status_code == 400
    denied = await deployment.http.get("/login/oidc/callback", params={"error": "access_denied"})
    assert denied.status_code == 401


async def test_the_sweeper_forgets_sessions_a_day_after_they_ended_and_stale_oidc_logins(
    deployment: Deployment,
) -> None:
    editor = await deployment.key(Role.EDITOR)
    token = (await deployment.sign_in(editor["key"]))["csrf_token"]
    assert (await deployment.http.post("/logout", headers={"X-CSRF-Token": token})).status_code == 204
    await deployment.sign_in(editor["key"])
    await deployment.http.get("/login/oidc")  # a login left at the provider, never finished
    pool = await db.create_pool(deployment.database_url, SCHEMA, max_size=1)
    try:
        sweeper = SessionService(pool, SessionPolicy(LIFETIME, IDLE), INTERNAL_SECRET, deployment.clock)
        deployment.clock.advance(hours=23)
        assert await sweeper.sweep() == 1  # the OIDC login expired; the ended session is kept a day
        deployment.clock.advance(hours=2)
        assert await sweeper.sweep() == 1  # now the ended session; the open one stays until it expires
        assert len(await deployment.fetch("SELECT 1 FROM gateway.sessions")) == 1
        deployment.clock.advance(hours=LIFETIME.total_seconds() / 3600)
        assert await sweeper.sweep() == 1
    finally:
        await pool.close()
