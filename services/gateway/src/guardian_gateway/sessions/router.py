"""The sign-in pages: /login (form or JSON), /logout, and OpenID Connect's /login/oidc and its callback.

They are pages for browsers, not API operations, so they stay out of the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from guardian_common.errors import BadRequest, GuardianError, Unauthenticated
from guardian_common.service import runtime_of
from guardian_gateway.sessions.cookies import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    OIDC_COOKIE_PATH,
    OIDC_COOKIE_SECONDS,
    OIDC_STATE_COOKIE,
    SESSION_COOKIE,
    clear_session_cookies,
    new_secret,
    secure_cookies,
    set_session_cookies,
    tokens_match,
)
from guardian_gateway.sessions.csrf import form_fields, is_form, safe_next, verify_csrf
from guardian_gateway.sessions.oidc import OidcClient, principal_from_claims
from guardian_gateway.sessions.pages import login_page, problem_page
from guardian_gateway.sessions.service import OpenedSession, SessionService
from guardian_gateway.settings import GatewaySettings

router = APIRouter(include_in_schema=False)

LOGIN_TOKEN_SECONDS = 3600


class UnsupportedMediaType(GuardianError):
    code = "unsupported_media_type"
    status = 415


def _sessions(request: Request) -> SessionService:
    service: SessionService = runtime_of(request).extras["sessions"]
    return service


def _oidc(request: Request) -> OidcClient | None:
    client: OidcClient | None = runtime_of(request).extras.get("oidc")
    return client


def _secure(request: Request) -> bool:
    settings: GatewaySettings = request.app.state.settings
    return secure_cookies(settings)


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "application/json"


def _with_session(response: Response, request: Request, opened: OpenedSession, sessions: SessionService) -> Response:
    set_session_cookies(
        response, opened.session_id, opened.csrf_token, opened.max_age(sessions.clock()), secure=_secure(request)
    )
    return response


async def _end_previous(request: Request, sessions: SessionService) -> None:
    """Signing in again replaces the browser's session: the old one ends rather than lingering."""
    previous = request.cookies.get(SESSION_COOKIE)
    if not previous:
        return
    try:
        principal = await sessions.resolve(previous)
    except Unauthenticated:
        return
    await sessions.end(previous, principal)


def _login_token(request: Request) -> str:
    current = request.cookies.get(LOGIN_CSRF_COOKIE)
    return current if current and 32 <= len(current) <= 128 else new_secret()


def _with_login_token(response: Response, request: Request, token: str) -> Response:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=LOGIN_TOKEN_SECONDS,
        path="/login",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    token = _login_token(request)
    notice = "You have signed out." if request.query_params.get("signed_out") else None
    page = login_page(
        next_path=safe_next(request.query_params.get("next")),
        login_token=token,
        oidc_enabled=_oidc(request) is not None,
        notice=notice,
    )
    return _with_login_token(page, request, token)


@router.post("/login")
async def login(request: Request) -> Response:
    """Exchange an API key for a session: a JSON body answers JSON, the form answers with a redirect."""
    sessions = _sessions(request)
    if _is_json(request):
        # A JSON body needs a CORS preflight cross-site, which this site never grants: no login token needed.
        try:
            body: Any = await request.json()
        except ValueError as exc:
            raise BadRequest("The body is not valid JSON.", code="invalid_request") from exc
        if not isinstance(body, dict) or not isinstance(body.get("api_key"), str):
            raise BadRequest('Send {"api_key": "gdk_..."} to sign in.', code="invalid_request")
        raw_next = body.get("next")
        next_path = safe_next(raw_next if isinstance(raw_next, str) else None)
        await _end_previous(request, sessions)
        opened = await sessions.open_with_key(body["api_key"].strip())
        answer = JSONResponse(
            {
                "name": opened.principal.name,
                "role": opened.principal.role.value,
                "expires_at": opened.expires_at.isoformat(),
                "csrf_token": opened.csrf_token,
                "next": next_path,
            },
            headers={"Cache-Control": "no-store"},
        )
        return _with_session(answer, request, opened, sessions)
    if not is_form(request):
        raise UnsupportedMediaType("Sign in with a form post or a JSON body.")
    fields = await form_fields(request)
    next_path = safe_next(fields.get("next"))
    oidc_enabled = _oidc(request) is not None
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not tokens_match(fields.get(CSRF_FIELD), expected):
        fresh = new_secret()
        page = login_page(
            next_path=next_path,
            login_token=fresh,
            oidc_enabled=oidc_enabled,
            error="The sign-in form was out of date. Paste your key again.",
            status_code=403,
        )
        return _with_login_token(page, request, fresh)
    try:
        await _end_previous(request, sessions)
        opened = await sessions.open_with_key(fields.get("api_key", "").strip())
    except Unauthenticated as exc:
        page = login_page(
            next_path=next_path, login_token=expected, oidc_enabled=oidc_enabled, error=exc.detail, status_code=401
        )
        return _with_login_token(page, request, expected)
    redirect = RedirectResponse(next_path, status_code=303)
    redirect.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", secure=_secure(request), httponly=True, samesite="strict")
    return _with_session(redirect, request, opened, sessions)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (with its CSRF token, like any change) and clear the cookies."""
    sessions = _sessions(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        try:
            principal = await sessions.resolve(session_id)
        except Unauthenticated:
            principal = None
        if principal is not None:
            await verify_csrf(request, sessions.csrf_token(session_id))
            await sessions.end(session_id, principal)
    response: Response = (
        RedirectResponse("/login?signed_out=1", status_code=303) if is_form(request) else Response(status_code=204)
    )
    clear_session_cookies(response, secure=_secure(request))
    return response


@router.get("/login/oidc")
async def oidc_start(request: Request) -> Response:
    oidc = _oidc(request)
    if oidc is None:
        return problem_page("Single sign-on is not set up", "Sign in with an API key instead.", 404)
    try:
        metadata = await oidc.metadata()
    except GuardianError as exc:
        return problem_page("Single sign-on is unavailable", exc.detail, exc.status)
    state, nonce, verifier = new_secret(), new_secret(), new_secret() + new_secret()
    await _sessions(request).begin_oidc_login(
        state=state, nonce=nonce, code_verifier=verifier, next_path=safe_next(request.query_params.get("next"))
    )
    redirect = RedirectResponse(
        oidc.authorization_url(metadata, state=state, nonce=nonce, code_verifier=verifier), status_code=303
    )
    # The callback arrives as a top-level navigation from the provider: SameSite=Lax still sends this.
    redirect.set_cookie(
        OIDC_STATE_COOKIE,
        state,
        max_age=OIDC_COOKIE_SECONDS,
        path=OIDC_COOKIE_PATH,
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )
    return redirect


@router.get("/login/oidc/callback")
async def oidc_callback(request: Request) -> Response:
    oidc = _oidc(request)
    if oidc is None:
        return problem_page("Single sign-on is not set up", "Sign in with an API key instead.", 404)
    params = request.query_params
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        return problem_page("Sign-in was not completed", f"The identity provider said: {reason}", 401)
    state, code = params.get("state"), params.get("code")
    if not state or not code or not tokens_match(request.cookies.get(OIDC_STATE_COOKIE), state):
        return problem_page(
            "Sign-in could not be completed", "This sign-in was not started in this browser. Start again.", 400
        )
    sessions = _sessions(request)
    pending = await sessions.take_oidc_login(state)
    if pending is None:
        return problem_page("Sign-in could not be completed", "This sign-in expired or was used. Start again.", 400)
    try:
        metadata = await oidc.metadata()
        id_token = await oidc.exchange_code(metadata, code, pending.code_verifier)
        claims = await oidc.verify_id_token(metadata, id_token, pending.nonce)
        principal = principal_from_claims(oidc.config, claims)
    except GuardianError as exc:
        return problem_page("Sign-in failed", exc.detail, exc.status)
    await _end_previous(request, sessions)
    opened = await sessions.open_for_identity(principal)
    redirect = RedirectResponse(pending.next_path, status_code=303)
    redirect.delete_cookie(
        OIDC_STATE_COOKIE, path=OIDC_COOKIE_PATH, secure=_secure(request), httponly=True, samesite="lax"
    )
    return _with_session(redirect, request, opened, sessions)
