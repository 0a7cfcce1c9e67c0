"""Amazon Macie on each region's account context (CIS AWS Foundations 2.1.3).

``macie``: ``{"enabled", "status", "finding_publishing_frequency", "service_role"}`` (GetMacieSession; a
region where Macie was never enabled is ``enabled: false`` with no status);
``macie_automated_discovery``: ``ENABLED`` / ``DISABLED`` (GetAutomatedDiscoveryConfiguration), ``None``
where Macie is off. Either field listed in ``_errors`` (AccessDenied, throttling) makes the check ERROR.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import ACCOUNT, context_scope, needs
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed


@check(
    id="macie_sensitive_data_discovery",
    title="Macie discovers sensitive data in S3 in each region",
    description=(
        "Amazon Macie is enabled (not paused) in every scanned region and, unless the "
        "require_automated_discovery parameter is false, runs automated sensitive-data discovery, so the "
        "S3 data of the region is continually sampled and classified (CIS 2.1.3). A region where Macie "
        "is off fails; a region whose Macie status could not be read is ERROR, never PASS. Members of a Macie "
        "organisation whose administrator manages discovery may not be allowed to read its configuration: "
        "judge discovery in the administrator account and set require_automated_discovery to false for members."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Enable Macie in each region (or from the organisation's delegated Macie administrator) and turn on "
        "automated sensitive-data discovery.\n"
        "CLI: aws macie2 enable-macie --region REGION && "
        "aws macie2 update-automated-discovery-configuration --status ENABLED --region REGION\n"
        'Terraform: resource "aws_macie2_account" "main" { finding_publishing_frequency = "FIFTEEN_MINUTES" '
        'status = "ENABLED" } (automated discovery: aws_macie2_organization_configuration or the CLI call above)'
    ),
    permissions=("macie2:GetMacieSession", "macie2:GetAutomatedDiscoveryConfiguration"),
    parameters={"require_automated_discovery": True},
)
def macie_sensitive_data_discovery(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    if (err := needs(snap, "macie")) is not None:
        return err
    macie = snap.configuration["macie"]
    if not isinstance(macie, Mapping) or not isinstance(macie.get("enabled"), bool):
        return errored(f"The Macie data of {snap.region} is not usable ({macie!r})")
    if macie.get("status") == "PAUSED":
        return failed(f"Macie is paused in {snap.region}: it discovers no sensitive data there", status="PAUSED")
    if not macie["enabled"]:
        return failed(f"Macie is not enabled in {snap.region}, so no S3 data there is scanned for sensitive content")
    if not bool(params.get("require_automated_discovery", True)):
        return passed(f"Macie is enabled in {snap.region}", status=macie.get("status"))
    if (err := needs(snap, "macie_automated_discovery")) is not None:
        return err
    discovery = snap.configuration["macie_automated_discovery"]
    if discovery == "ENABLED":
        return passed(
            f"Macie is enabled in {snap.region} and runs automated sensitive-data discovery",
            status=macie.get("status"),
            automated_discovery=discovery,
        )
    if discovery == "DISABLED":
        return failed(
            f"Macie is enabled in {snap.region} but automated sensitive-data discovery is off",
            automated_discovery=discovery,
        )
    return errored(f"The automated discovery status of Macie in {snap.region} is not usable ({discovery!r})")
