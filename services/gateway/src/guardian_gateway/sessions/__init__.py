"""Browser sign-in: an API key (or an OpenID Connect login) exchanged for a server-side session.

The ``guardian_session`` cookie holds a random id whose hash is the session's row; the session
carries the principal of the key (or the role the provider's claims mapped to). Cookie-authenticated
requests that change something must echo the session's CSRF token (double submit), which API-key
requests never need: a browser cannot be made to send an Authorization header cross-site.
"""
