from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from guardian_common.auth import Role
from guardian_common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    port: int = 8080
    collector_url: str = "http://127.0.0.1:8081"
    evaluator_url: str = "http://127.0.0.1:8082"
    compliance_url: str = "http://127.0.0.1:8083"
    # Further services behind the gateway, name -> base URL (GUARDIAN_EXTRA_UPSTREAMS as JSON): their
    # endpoints are routed from their OpenAPI documents like the three above.
    extra_upstreams: dict[str, str] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    rate_limit_per_minute: int = Field(default=600, ge=1)
    upstream_timeout_seconds: float = Field(default=60.0, gt=0)
    # How long start-up waits for the services' OpenAPI documents (they may start after the gateway).
    upstream_wait_seconds: float = Field(default=30.0, ge=0)
    # The audit chain's head is exported this often to a file (JSON lines) or an S3 bucket with Object
    # Lock (the bucket wins if both are set); with neither, heads are not exported.
    audit_head_export_seconds: float = Field(default=3600.0, gt=0)
    audit_head_file: Path | None = None
    audit_head_bucket: str | None = None
    audit_head_prefix: str = "audit-heads/"
    audit_head_retain_days: int = Field(default=7 * 365, ge=1)
    audit_head_s3_region: str = "us-east-1"
    audit_head_s3_endpoint_url: str | None = None
    # Browser sessions (guardian_gateway.sessions): a session ends at its lifetime or after this long idle.
    session_lifetime_seconds: int = Field(default=8 * 3600, ge=60)
    session_idle_seconds: int = Field(default=30 * 60, ge=60)
    # Secure cookies unless set: everywhere but development on a loopback host (plain http there).
    cookie_secure: bool | None = None
    # OpenID Connect sign-in, on when an issuer is set. The role claim's values map to roles; a person
    # whose claim maps to none is refused. GUARDIAN_OIDC_ROLE_MAPPING is JSON: {"sec-team": "admin"}.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_url: str | None = None
    oidc_scopes: str = "openid profile email"
    oidc_role_claim: str = "groups"
    oidc_role_mapping: dict[str, Role] = Field(default_factory=dict)
    # Webhooks (guardian_gateway.webhooks): targets resolving to private, loopback, link-local, multicast
    # or reserved addresses are refused unless allowed here (all of them, or networks as a JSON list of
    # CIDRs); plain http is refused in production unless allowed.
    webhook_allow_private: bool = False
    webhook_allowed_networks: list[str] = Field(default_factory=list)
    webhook_allow_http: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    # A subscription whose every attempt has failed for this long is disabled (and says so in an event).
    webhook_disable_after_hours: float = Field(default=72.0, gt=0)

    @model_validator(mode="after")
    def _needs_internal_secret(self) -> GatewaySettings:
        if clash := {"collector", "evaluator", "compliance", "gateway"} & set(self.extra_upstreams):
            raise ValueError(f"GUARDIAN_EXTRA_UPSTREAMS may not name {', '.join(sorted(clash))}")
        if not self.internal_secret:
            raise ValueError("the gateway needs GUARDIAN_INTERNAL_SECRET to sign what it forwards")
        if self.environment == "production" and len(self.internal_secret) < 32:
            raise ValueError("GUARDIAN_INTERNAL_SECRET must be at least 32 characters in production")
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> GatewaySettings:
        if self.oidc_issuer:
            missing = [name for name in ("oidc_client_id", "oidc_redirect_url") if not getattr(self, name)]
            if missing:
                raise ValueError(f"GUARDIAN_OIDC_ISSUER needs {', '.join(f'GUARDIAN_{m.upper()}' for m in missing)}")
            if not self.oidc_role_mapping:
                raise ValueError("GUARDIAN_OIDC_ISSUER needs GUARDIAN_OIDC_ROLE_MAPPING, or nobody gets a role")
        return self

    def upstreams(self) -> dict[str, str]:
        """Service name -> base URL, in the order routes are built."""
        named = {"collector": self.collector_url, "evaluator": self.evaluator_url, "compliance": self.compliance_url}
        return {name: url.rstrip("/") for name, url in {**named, **self.extra_upstreams}.items()}
