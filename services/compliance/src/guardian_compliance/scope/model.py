"""A scope as the posture computation uses it, and whether a resource is inside its boundary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from guardian_compliance.scope.schemas import (
    Boundary,
    CriterionCoverage,
    NotApplicableMark,
    SubserviceOrganisation,
    UserEntityControl,
)

DEFAULT_SCOPE = "default"
GLOBAL_REGION = "global"
ACCOUNT_CONTEXT = "AWS::::Account"
GAP_PREFIX = "guardian:collection:"


def aws_carve_out() -> SubserviceOrganisation:
    """AWS as a carved-out subservice organisation, the usual arrangement for a system hosted on it."""
    return SubserviceOrganisation(
        name="Amazon Web Services",
        services="Data centres, hardware, network infrastructure and storage media disposal",
        method="carve_out",
        criteria=[
            CriterionCoverage(id="CC6.4", coverage="full", note="Physical access to the data centres"),
            CriterionCoverage(
                id="A1.2", coverage="partial", note="Environmental protections: power, cooling, fire suppression"
            ),
            CriterionCoverage(id="CC6.5", coverage="partial", note="Sanitisation and destruction of storage media"),
        ],
        report_evidence_id=None,
    )


@dataclass(frozen=True)
class Scope:
    id: str
    name: str
    version: int
    categories: frozenset[str]
    boundary: Boundary
    subservice_organisations: tuple[SubserviceOrganisation, ...] = ()
    user_entity_controls: tuple[UserEntityControl, ...] = ()
    not_applicable: tuple[NotApplicableMark, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)
    # The accounts the boundary's environments select, resolved when the scope was loaded
    # (None: the boundary names no environment).
    environment_accounts: frozenset[str] | None = None

    def account_filter(self) -> list[str] | None:
        """The accounts inside, or None when every account is (an empty list: none is)."""
        b = self.boundary
        if self.environment_accounts is None:
            return list(b.account_ids) or None
        chosen = self.environment_accounts & set(b.account_ids) if b.account_ids else self.environment_accounts
        return sorted(chosen)

    def contains(
        self, *, account_id: str, region: str, resource_type: str, arn: str, tags: Mapping[str, str] | None
    ) -> bool:
        b = self.boundary
        if b.account_ids and account_id not in b.account_ids:
            return False
        if self.environment_accounts is not None and account_id not in self.environment_accounts:
            return False
        if b.regions and region != GLOBAL_REGION and region not in b.regions:
            return False
        # Tags unknown (the inventory never saw the resource, e.g. its snapshot was dead-lettered):
        # it stays inside, because leaving it out could hide an ERROR.
        if b.tags and tags is not None and resource_type != ACCOUNT_CONTEXT and not arn.startswith(GAP_PREFIX):
            present = tags
            for key, allowed in b.tags.items():
                if key not in present or (allowed and present[key] not in allowed):
                    return False
        return True

    def covers_unit(self, account_id: str | None, region: str) -> bool:
        """Whether a collection unit (account, region) is inside the boundary."""
        b = self.boundary
        if b.account_ids and account_id not in b.account_ids:
            return False
        if self.environment_accounts is not None and account_id not in self.environment_accounts:
            return False
        return not (b.regions and region != GLOBAL_REGION and region not in b.regions)

    def marks(self, kind: str) -> dict[str, str]:
        return {m.id: m.justification for m in self.not_applicable if m.kind == kind}

    def carve_outs(self) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        for org in self.subservice_organisations:
            if org.method != "carve_out":
                continue
            for c in org.criteria:
                out.setdefault(c.id, []).append((org.name, c.coverage))
        return out
