"""Amazon GuardDuty: whether each region has an enabled detector, and where its findings go.

No resource is emitted. Each region's ``AWS::::Account`` snapshot gets:

* ``guardduty``: ``{"detectors": [{"id", "status", "administrator"}]}`` from ListDetectors,
  GetDetector and GetAdministratorAccount (the delegated administrator this account is a member
  of, when it is one);
* ``guardduty_finding_routes``: the EventBridge rules of the default bus whose pattern matches
  GuardDuty findings (source ``aws.guardduty``), with their state and targets.

moto serves detectors and administrator accounts but not findings; the finding routes come from
EventBridge, which moto serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors._gd_shared import finding_routes, read_pages
from guardian_collector.collectors.base import Collector, Facts, UnitContext, register

SERVICE = "guardduty"
DETECTORS_FACT = "detectors"
ROUTES_FACT = "routes"
SOURCE = "aws.guardduty"
DETAIL_TYPES = ("GuardDuty Finding",)


def regional_fields(
    facts: Facts, service: str, region: str, pairs: tuple[tuple[str, str], ...]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Account-context fields of ``region`` from facts (fact name -> field name); errors as unreadable."""
    fields: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    missing = object()
    for fact, field in pairs:
        value = facts.get(service, fact, missing, region=region)
        error = facts.error(service, fact, region=region)
        if error is not None or value is missing:
            fields[field] = None
            unreadable[field] = error or f"the {service} collection of this region did not finish"
        else:
            fields[field] = value
    return fields, unreadable


@register
class GuardDutyCollector(Collector):
    service = SERVICE
    permissions = (
        "guardduty:ListDetectors",
        "guardduty:GetDetector",
        "guardduty:GetAdministratorAccount",
        "events:ListRules",
        "events:ListTargetsByRule",
    )
    resource_types = ()

    async def collect(self, ctx: UnitContext) -> None:
        region = ctx.unit_region
        client = await ctx.client("guardduty")
        listed = await read_pages(ctx, client, "list_detectors", "DetectorIds")
        if listed.error is not None:
            ctx.facts.put_error(SERVICE, DETECTORS_FACT, listed.error.describe(), region=region)
        else:
            detectors = []
            problem = None
            for detector_id in listed.value or []:
                summary, error = await self._detector(ctx, client, str(detector_id))
                detectors.append(summary)
                problem = problem or error
            if problem is not None:
                ctx.facts.put_error(SERVICE, DETECTORS_FACT, problem, region=region)
            else:
                ctx.facts.put(SERVICE, DETECTORS_FACT, {"detectors": detectors}, region=region)
        routes, error = await finding_routes(ctx, SOURCE, DETAIL_TYPES)
        if error is not None:
            ctx.facts.put_error(SERVICE, ROUTES_FACT, error, region=region)
        else:
            ctx.facts.put(SERVICE, ROUTES_FACT, routes, region=region)

    async def _detector(self, ctx: UnitContext, client: Any, detector_id: str) -> tuple[dict[str, Any], str | None]:
        detector = await ctx.read(client, "get_detector", DetectorId=detector_id)
        admin = await ctx.read(client, "get_administrator_account", DetectorId=detector_id)
        summary: dict[str, Any] = {"id": detector_id, "status": None, "administrator": None}
        if detector.error is not None:
            return summary, f"detector {detector_id}: {detector.error.describe()}"
        summary["status"] = detector.value.get("Status")
        summary["finding_publishing_frequency"] = detector.value.get("FindingPublishingFrequency")
        if admin.error is not None:
            return summary, f"administrator of detector {detector_id}: {admin.error.describe()}"
        summary["administrator"] = _administrator(admin.value.get("Administrator"))
        return summary, None

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region == "global":
            return {}, {}
        return regional_fields(
            facts, SERVICE, region, ((DETECTORS_FACT, "guardduty"), (ROUTES_FACT, "guardduty_finding_routes"))
        )


def _administrator(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping) or not value.get("AccountId"):
        return None
    return {"account_id": str(value["AccountId"]), "relationship_status": value.get("RelationshipStatus")}
