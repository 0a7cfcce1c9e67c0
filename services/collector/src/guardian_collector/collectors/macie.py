"""Amazon Macie: whether each region discovers sensitive data in S3 (CIS AWS Foundations 2.1.3).

No resource is emitted. Each region's ``AWS::::Account`` snapshot gets:

* ``macie``: ``{"enabled", "status", "finding_publishing_frequency", "service_role"}`` from GetMacieSession.
  ``status`` is ``ENABLED`` or ``PAUSED`` (a paused Macie runs no discovery); a region where Macie was
  never enabled is ``{"enabled": False, "status": None, ...}``;
* ``macie_automated_discovery``: the status of automated sensitive-data discovery (``ENABLED`` or
  ``DISABLED``, GetAutomatedDiscoveryConfiguration), read only where Macie is enabled; ``None`` elsewhere.

AWS's quirk: a region where Macie is not enabled answers GetMacieSession with ``AccessDeniedException``
and the message "Macie is not enabled" (moto, and some regions, answer ``ResourceNotFoundException``).
Both mean "off", a fact, not an error. Any other refusal, an AccessDenied for missing permissions
included, leaves the field unreadable, so the check is ERROR, never PASS.
"""

from __future__ import annotations

from typing import Any

from guardian_collector.collectors.base import (
    ACCESS_DENIED_CODES,
    CallError,
    Collector,
    Facts,
    Read,
    UnitContext,
    register,
)
from guardian_collector.collectors.guardduty import regional_fields

SERVICE = "macie"
SESSION_FACT = "session"
DISCOVERY_FACT = "automated_discovery"
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException"})


def means_not_enabled(error: CallError) -> bool:
    """Whether GetMacieSession's refusal is AWS's way of saying Macie is off in the region."""
    if error.code in NOT_FOUND_CODES:
        return True
    return error.code in ACCESS_DENIED_CODES and "not enabled" in error.message.lower()


def session_summary(value: Any) -> dict[str, Any]:
    status = value.get("status") if isinstance(value, dict) else None
    return {
        "enabled": status == "ENABLED",
        "status": status,
        "finding_publishing_frequency": value.get("findingPublishingFrequency") if isinstance(value, dict) else None,
        "service_role": value.get("serviceRole") if isinstance(value, dict) else None,
    }


@register
class MacieCollector(Collector):
    service = SERVICE
    client_name = "macie2"
    permissions = ("macie2:GetMacieSession", "macie2:GetAutomatedDiscoveryConfiguration")
    resource_types = ()

    async def collect(self, ctx: UnitContext) -> None:
        region = ctx.unit_region
        client = await ctx.client("macie2")
        # Supplementary: "not enabled" arrives as an error and must not make the unit PARTIAL; any
        # other error is recorded below.
        session = await ctx.read(client, "get_macie_session", supplementary=True)
        if session.error is not None:
            if means_not_enabled(session.error):
                off = {"enabled": False, "status": None, "finding_publishing_frequency": None, "service_role": None}
                ctx.facts.put(SERVICE, SESSION_FACT, off, region=region)
                ctx.facts.put(SERVICE, DISCOVERY_FACT, None, region=region)
                return
            ctx.record(session.error)
            ctx.facts.put_error(SERVICE, SESSION_FACT, session.error.describe(), region=region)
            ctx.facts.put_error(SERVICE, DISCOVERY_FACT, "the Macie session was not read", region=region)
            return
        summary = session_summary(session.value)
        ctx.facts.put(SERVICE, SESSION_FACT, summary, region=region)
        if summary["status"] is None:
            ctx.facts.put_error(SERVICE, SESSION_FACT, "GetMacieSession answered without a status", region=region)
        discovery: Read = await ctx.read(client, "get_automated_discovery_configuration")
        if discovery.error is not None:
            ctx.facts.put_error(SERVICE, DISCOVERY_FACT, discovery.error.describe(), region=region)
        else:
            ctx.facts.put(SERVICE, DISCOVERY_FACT, discovery.value.get("status"), region=region)

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region == "global":
            return {}, {}
        return regional_fields(
            facts, SERVICE, region, ((SESSION_FACT, "macie"), (DISCOVERY_FACT, "macie_automated_discovery"))
        )
