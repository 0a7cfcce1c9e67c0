"""The sign-in page: plain HTML that works without scripts and with a screen reader."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from urllib.parse import urlencode

from starlette.responses import HTMLResponse

from guardian_gateway.sessions.cookies import CSRF_FIELD

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1b1f24}
main{max-width:28rem;margin:4rem auto;padding:2rem;background:#fff;border:1px solid #c9ced6;border-radius:.5rem}
h1{font-size:1.5rem;margin-top:0}
label{display:block;font-weight:600;margin-bottom:.25rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #5f6b7a;border-radius:.25rem}
input:focus,button:focus,a:focus{outline:3px solid #1f5fbf;outline-offset:2px}
.help{color:#3d4652;font-size:.9rem}
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem;background:#1f5fbf;color:#fff;border:0;border-radius:.25rem}
.error{color:#8a1111;background:#fdecec;padding:.5rem;border-radius:.25rem}
.status{color:#174d1f;background:#e8f5ea;padding:.5rem;border-radius:.25rem}
a{color:#1f5fbf}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# Nothing but this page's own style and a post to this site: no scripts, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def login_page(
    *,
    next_path: str,
    login_token: str,
    oidc_enabled: bool,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    message = ""
    if error:
        message = f'<p class="error" role="alert" id="login-error">{escape(error)}</p>'
    elif notice:
        message = f'<p class="status" role="status">{escape(notice)}</p>'
    described = "api-key-help login-error" if error else "api-key-help"
    invalid = ' aria-invalid="true"' if error else ""
    single_sign_on = ""
    if oidc_enabled:
        href = escape("/login/oidc?" + urlencode({"next": next_path}))
        single_sign_on = f'<p>Or <a href="{href}">sign in with your organisation\'s single sign-on</a>.</p>'
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Guardian</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>Sign in to Guardian</h1>
{message}
<form method="post" action="/login">
<input type="hidden" name="{CSRF_FIELD}" value="{escape(login_token)}">
<input type="hidden" name="next" value="{escape(next_path)}">
<label for="api-key">API key</label>
<input id="api-key" name="api_key" type="password" autocomplete="off" spellcheck="false" required
 aria-describedby="{described}"{invalid}>
<p class="help" id="api-key-help">Paste the key an administrator gave you (it starts with gdk_). It is exchanged
for a session; the browser keeps only the session, never the key.</p>
<button type="submit">Sign in</button>
</form>
{single_sign_on}
</main>
</body>
</html>
"""
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def problem_page(title: str, detail: str, status_code: int) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Guardian</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>{escape(title)}</h1>
<p class="error" role="alert">{escape(detail)}</p>
<p><a href="/login">Back to sign-in</a></p>
</main>
</body>
</html>
"""
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
