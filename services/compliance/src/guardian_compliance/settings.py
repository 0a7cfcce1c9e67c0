from __future__ import annotations

from pydantic import Field

from guardian_common.settings import ServiceSettings


class ComplianceSettings(ServiceSettings):
    port: int = 8083
    batch_size: int = Field(default=500, ge=1, le=5000)
    # A scan not final this long after its collection ended is finalised INCOMPLETE.
    scan_deadline_seconds: float = Field(default=1800.0, gt=0)
    deadline_poll_seconds: float = Field(default=5.0, gt=0)
    # Frameworks subscribed at first start (the guidance's SOC 2 is the product's reason to exist).
    default_subscriptions: list[str] = Field(default_factory=lambda: ["soc2"])
