"""OpenID Connect sign-in: discovery, the authorization code flow with PKCE, and ID token checks.

authlib builds the authorization request and the PKCE challenge; joserfc verifies the ID token
against the provider's published keys. The provider is read lazily (on the first sign-in), so the
gateway starts even while the identity provider is down.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from guardian_common.auth import Principal, Role
from guardian_common.errors import Forbidden, GuardianError, Unauthenticated
from guardian_gateway.clock import Clock, utcnow
from guardian_gateway.settings import GatewaySettings

# Asymmetric algorithms only: a symmetric one would let anyone holding the client secret mint tokens,
# and "none" is never accepted.
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
CLOCK_LEEWAY_SECONDS = 60


class ProviderUnavailable(GuardianError):
    code = "identity_provider_unavailable"
    status = 502


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_url: str
    scopes: str
    role_claim: str
    role_mapping: Mapping[str, Role]

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> OidcConfig | None:
        if not settings.oidc_issuer or not settings.oidc_client_id or not settings.oidc_redirect_url:
            return None
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            redirect_url=settings.oidc_redirect_url,
            scopes=settings.oidc_scopes,
            role_claim=settings.oidc_role_claim,
            role_mapping=dict(settings.oidc_role_mapping),
        )


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def role_from_claims(claims: Mapping[str, Any], claim: str, mapping: Mapping[str, Role]) -> Role:
    """The highest role any of the claim's values maps to; refused when none maps."""
    raw = claims.get(claim)
    values = [raw] if isinstance(raw, str) else [v for v in raw if isinstance(v, str)] if isinstance(raw, list) else []
    roles = [mapping[value] for value in values if value in mapping]
    if not roles:
        raise Forbidden(
            f"Your identity provider account has no Guardian role (claim {claim!r}); ask an administrator.",
            code="no_role_for_identity",
        )
    return max(roles, key=lambda role: role.rank)


def principal_from_claims(config: OidcConfig, claims: Mapping[str, Any]) -> Principal:
    role = role_from_claims(claims, config.role_claim, config.role_mapping)
    subject = str(claims["sub"])
    # A stable id per person and provider, the shape of a key id so limits and audit entries treat it alike.
    digest = hashlib.sha256(f"{config.issuer}|{subject}".encode()).hexdigest()[:16]
    name = next(
        (str(claims[c]) for c in ("email", "preferred_username", "name") if isinstance(claims.get(c), str)), subject
    )
    return Principal(key_id=f"oidc_{digest}", role=role, name=name)


class OidcClient:
    def __init__(self, config: OidcConfig, http: httpx.AsyncClient, clock: Clock = utcnow) -> None:
        self.config = config
        self.http = http
        self.clock = clock
        self._metadata: ProviderMetadata | None = None
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"The identity provider could not be read ({type(exc).__name__}).") from exc
        if not isinstance(document, dict):
            raise ProviderUnavailable("The identity provider answered with something other than a JSON object.")
        return document

    async def metadata(self) -> ProviderMetadata:
        async with self._lock:
            if self._metadata is None:
                url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                document = await self._get_json(url)
                fields = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
                if not all(isinstance(document.get(name), str) for name in fields):
                    raise ProviderUnavailable("The identity provider's discovery document lacks required fields.")
                # OpenID Connect Discovery section 4.3: the document must name the issuer we asked.
                if document["issuer"] != self.config.issuer:
                    raise ProviderUnavailable("The identity provider's discovery document names another issuer.")
                self._metadata = ProviderMetadata(**{name: document[name] for name in fields})
            return self._metadata

    def authorization_url(self, metadata: ProviderMetadata, *, state: str, nonce: str, code_verifier: str) -> str:
        url: str = prepare_grant_uri(
            metadata.authorization_endpoint,
            self.config.client_id,
            "code",
            redirect_uri=self.config.redirect_url,
            scope=self.config.scopes,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
        )
        return url

    async def exchange_code(self, metadata: ProviderMetadata, code: str, code_verifier: str) -> str:
        """The ID token for an authorization code (the client authenticates with HTTP Basic when it has a secret)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_url,
            "code_verifier": code_verifier,
            "client_id": self.config.client_id,
        }
        auth = httpx.BasicAuth(self.config.client_id, self.config.client_secret) if self.config.client_secret else None
        try:
            response = await self.http.post(
                metadata.token_endpoint,
                data=form,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"The identity provider could not be reached ({type(exc).__name__}).") from exc
        if response.status_code != 200:
            raise Unauthenticated("The identity provider refused the sign-in code.", code="oidc_code_refused")
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderUnavailable("The identity provider's token answer is not JSON.") from exc
        token = body.get("id_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise Unauthenticated("The identity provider returned no ID token.", code="oidc_no_id_token")
        return token

    async def _key_set(self, metadata: ProviderMetadata, *, refresh: bool) -> KeySet:
        if self._keys is None or refresh:
            document = await self._get_json(metadata.jwks_uri)
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise ProviderUnavailable("The identity provider's key set cannot be read.") from exc
        return self._keys

    async def verify_id_token(self, metadata: ProviderMetadata, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, times and nonce all check out."""
        invalid = Unauthenticated("The identity provider's ID token is not valid.", code="oidc_invalid_id_token")
        token: jwt.Token | None = None
        for refresh in (False, True):  # a key rotated since the last read: fetch the set once more
            try:
                token = jwt.decode(id_token, await self._key_set(metadata, refresh=refresh), ID_TOKEN_ALGORITHMS)
                break
            except JoseError:
                continue
            except ValueError as exc:
                raise invalid from exc
        if token is None:
            raise invalid
        registry = jwt.JWTClaimsRegistry(
            now=int(self.clock().timestamp()),
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": metadata.issuer},
            sub={"essential": True},
            aud={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise invalid from exc
        claims = dict(token.claims)
        audiences = [claims["aud"]] if isinstance(claims["aud"], str) else list(claims["aud"])
        # Core 1.0 section 3.1.3.7: we must be an audience; with several, we must be the authorized party.
        if self.config.client_id not in audiences:
            raise invalid
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise invalid
        return claims
