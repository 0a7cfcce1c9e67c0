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
    # Risk acceptances: the longest an acceptance may run, and how long before expiry to warn.
    acceptance_max_days: int = Field(default=365, ge=1, le=3650)
    acceptance_warning_days: float = Field(default=14.0, ge=0)
    # How often expiries and warnings are looked for, and how often the outbox is relayed.
    acceptance_poll_seconds: float = Field(default=5.0, gt=0)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    # False for API-only replicas: they serve REST and run no durable consumers.
    run_consumers: bool = True
    # Monitoring history: a complete collection of a unit vouches for this long after it (a daily
    # schedule plus slack); longer without one is "not monitored".
    coverage_window_hours: float = Field(default=26.0, gt=0, le=24 * 31)
    # Days after an occurrence of a recurring control ends within which its evidence must be
    # accepted to count as on time (history/evidence_deviations.py); later is a "late" deviation.
    evidence_grace_days: float = Field(default=0.0, ge=0, le=366)
    # Days to resolve a deviation, by the failing check's severity.
    sla_days: dict[str, float] = Field(
        default_factory=lambda: {"critical": 1.0, "high": 7.0, "medium": 30.0, "low": 90.0, "info": 180.0}
    )
