from __future__ import annotations

from pathlib import Path

from pydantic import Field

from guardian_common.settings import ServiceSettings


def _default_home() -> Path:
    return Path.home() / ".guardian" / "reporting"


class ReportingSettings(ServiceSettings):
    port: int = 8085
    # Reporting owns no findings: it reads them over REST from the services that do.
    compliance_url: str = "http://127.0.0.1:8083"
    evidence_url: str = "http://127.0.0.1:8084"
    collector_url: str = "http://127.0.0.1:8081"
    # The Action Centre's pages plan, approve, run and verify fixes through the remediation service.
    remediation_url: str = "http://127.0.0.1:8086"
    upstream_timeout_seconds: float = Field(default=60.0, gt=0)
    # Dashboard: how long a live posture read is shared between pages (0: every page reads compliance).
    dashboard_cache_seconds: float = Field(default=15.0, ge=0)
    # The deployment's Ed25519 signing key for auditor packages (PEM, PKCS#8); created here when missing.
    home: Path = Field(default_factory=_default_home)
    signing_key_path: Path | None = None
