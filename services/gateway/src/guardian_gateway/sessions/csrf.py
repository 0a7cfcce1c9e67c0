"""CSRF protection of cookie-authenticated changes, and where a sign-in may send the browser next."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from guardian_common.errors import Forbidden
from guardian_gateway.sessions.cookies import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, tokens_match

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPE = "application/x-www-form-urlencoded"
DEFAULT_NEXT = "/dashboard"


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == FORM_TYPE


async def form_fields(request: Request) -> dict[str, str]:
    """A URL-encoded body's fields (first value of each). The body stays cached, so it is still forwarded."""
    body = await request.body()
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items() if values}


async def submitted_csrf_token(request: Request) -> str | None:
    """The token the page sent back: the X-CSRF-Token header, or the csrf_token field of a plain form."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if is_form(request):
        return (await form_fields(request)).get(CSRF_FIELD)
    return None


async def verify_csrf(request: Request, expected: str) -> None:
    """Double submit: the cookie and the echoed token must both equal the session's token."""
    given = await submitted_csrf_token(request)
    if not (tokens_match(given, expected) and tokens_match(request.cookies.get(CSRF_COOKIE), expected)):
        raise Forbidden(
            f"A change made with a session cookie must send the session's CSRF token in the {CSRF_HEADER} header.",
            code="csrf_token_invalid",
        )


def safe_next(value: str | None, default: str = DEFAULT_NEXT) -> str:
    """A same-site path to go to after signing in; anything that could leave the site becomes ``default``.

    Refused: absolute URLs, scheme-relative ``//host``, backslashes (browsers read ``/\\host`` as a
    host), control characters, and the sign-in pages themselves.
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    if parts.path in {"/login", "/logout"} or parts.path.startswith("/login/"):
        return default
    return value
