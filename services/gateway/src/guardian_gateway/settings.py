from __future__ import annotations

from pydantic import Field, model_validator

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

    @model_validator(mode="after")
    def _needs_internal_secret(self) -> GatewaySettings:
        if clash := {"collector", "evaluator", "compliance", "gateway"} & set(self.extra_upstreams):
            raise ValueError(f"GUARDIAN_EXTRA_UPSTREAMS may not name {', '.join(sorted(clash))}")
        if not self.internal_secret:
            raise ValueError("the gateway needs GUARDIAN_INTERNAL_SECRET to sign what it forwards")
        if self.environment == "production" and len(self.internal_secret) < 32:
            raise ValueError("GUARDIAN_INTERNAL_SECRET must be at least 32 characters in production")
        return self

    def upstreams(self) -> dict[str, str]:
        """Service name -> base URL, in the order routes are built."""
        named = {"collector": self.collector_url, "evaluator": self.evaluator_url, "compliance": self.compliance_url}
        return {name: url.rstrip("/") for name, url in {**named, **self.extra_upstreams}.items()}
