"""Cookie names, the session id and CSRF token formats, and how the cookies are set and cleared."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets

from starlette.responses import Response

from guardian_gateway.settings import GatewaySettings

SESSION_COOKIE = "guardian_session"
CSRF_COOKIE = "guardian_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
# Double-submit token of the login form itself, so another site cannot sign a browser in as someone else.
LOGIN_CSRF_COOKIE = "guardian_login_csrf"
OIDC_STATE_COOKIE = "guardian_oidc_state"
OIDC_COOKIE_PATH = "/login/oidc"
OIDC_COOKIE_SECONDS = 600

_CSRF_CONTEXT = b"guardian.session-csrf.v1"


def new_secret() -> str:
    """256 random bits, URL-safe: session ids, login tokens, OIDC state and nonce."""
    return secrets.token_urlsafe(32)


def hash_id(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def csrf_token_for(secret: str, session_id: str) -> str:
    """The CSRF token bound to one session: a MAC of its id, so it needs no storage and dies with it."""
    key = hmac.new(secret.encode(), _CSRF_CONTEXT, hashlib.sha256).digest()
    return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()


def tokens_match(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_cookies(settings: GatewaySettings) -> bool:
    """Secure unless configured otherwise, except in development on loopback, where it is plain http."""
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return not (settings.environment == "development" and _loopback(settings.host))


def set_session_cookies(response: Response, session_id: str, csrf_token: str, max_age: int, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, session_id, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )
    # Readable by the page's scripts (not HttpOnly): they echo it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE, csrf_token, max_age=max_age, path="/", secure=secure, httponly=False, samesite="lax"
    )


def clear_session_cookies(response: Response, *, secure: bool) -> None:
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=http_only, samesite="lax")
