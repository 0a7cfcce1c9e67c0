"""Checks on ECR repositories (``AWS::ECR::Repository``).

The ecr collector's configuration: ``scan_on_push`` (the repository's own setting),
``registry_scanning`` (``{"scan_type": "BASIC" | "ENHANCED", "rules": [...]}``: the registry scanning
rules whose filters match this repository), ``tag_mutability`` and ``policy`` (parsed or ``None``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import needs, policy_verdict_data, public_statements
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

REPOSITORY = "AWS::ECR::Repository"


@check(
    id="ecr_repository_scan_on_push",
    title="ECR images are scanned for vulnerabilities when pushed",
    description=(
        "Images pushed to the repository are scanned: a registry scanning rule covers it (enhanced scanning by "
        "Inspector, or basic scanning on push), or, under basic scanning, the repository's own scan-on-push "
        "flag is on, so vulnerable images are flagged before they are deployed. Under enhanced scanning only "
        "the registry's rules count, as in AWS."
    ),
    severity=Severity.MEDIUM,
    resource_type=REPOSITORY,
    service="ecr",
    remediation=(
        "Turn on scanning for the repository (or registry-wide enhanced scanning).\n"
        "CLI: aws ecr put-image-scanning-configuration --repository-name REPOSITORY "
        "--image-scanning-configuration scanOnPush=true\n"
        'Terraform: resource "aws_ecr_repository" "app" { name = "REPOSITORY", image_scanning_configuration '
        "{ scan_on_push = true } }"
    ),
    permissions=("ecr:DescribeRepositories", "ecr:GetRegistryScanningConfiguration"),
)
def ecr_repository_scan_on_push(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "scan_on_push", "registry_scanning")) is not None:
        return err
    registry = snap.configuration["registry_scanning"]
    if not isinstance(registry, Mapping):
        return errored(f"The registry scanning data of {snap.name} is not usable ({registry!r})")
    scan_type = str(registry.get("scan_type") or "BASIC").upper()
    for rule in registry.get("rules") or []:
        if not isinstance(rule, Mapping):
            continue
        frequency = str(rule.get("scan_frequency") or "")
        if scan_type == "ENHANCED" or frequency == "SCAN_ON_PUSH":
            filters = ", ".join(str(f) for f in rule.get("filters") or [])
            return passed(
                f"ECR repository {snap.name} is covered by a registry {scan_type.lower()} scanning rule "
                f"({frequency}, filter {filters})",
                scan_type=scan_type,
            )
    if scan_type == "ENHANCED":
        # With enhanced scanning the registry's rules alone decide; the repository flag is not used.
        return failed(f"ECR repository {snap.name} matches no rule of the registry's enhanced scanning")
    if snap.configuration["scan_on_push"] is True:
        return passed(f"ECR repository {snap.name} scans images on push")
    return failed(f"ECR repository {snap.name} does not scan images on push and no registry scanning rule covers it")


@check(
    id="ecr_repository_tag_immutability",
    title="ECR repositories have immutable image tags",
    description=(
        "Tag immutability is on, so a tag that was reviewed and deployed (v1.4.2) cannot later be made to point "
        "at a different, unreviewed image."
    ),
    severity=Severity.LOW,
    resource_type=REPOSITORY,
    service="ecr",
    remediation=(
        "Make the repository's tags immutable.\n"
        "CLI: aws ecr put-image-tag-mutability --repository-name REPOSITORY --image-tag-mutability IMMUTABLE\n"
        'Terraform: resource "aws_ecr_repository" "app" { name = "REPOSITORY", image_tag_mutability = "IMMUTABLE" }'
    ),
    permissions=("ecr:DescribeRepositories",),
)
def ecr_repository_tag_immutability(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "tag_mutability")) is not None:
        return err
    mutability = str(snap.configuration["tag_mutability"] or "")
    if mutability.startswith("IMMUTABLE"):
        return passed(f"ECR repository {snap.name} has immutable tags ({mutability})")
    return failed(f"ECR repository {snap.name} allows tags to be overwritten ({mutability or 'MUTABLE'})")


@check(
    id="ecr_repository_not_public",
    title="ECR repositories are not open to everyone",
    description=(
        "No statement of the repository policy allows a wildcard principal without a restricting condition, so "
        "images cannot be pulled (or pushed) by any AWS account."
    ),
    severity=Severity.HIGH,
    resource_type=REPOSITORY,
    service="ecr",
    remediation=(
        "Replace the wildcard principal with the accounts or organisation that need access.\n"
        "CLI: aws ecr set-repository-policy --repository-name REPOSITORY --policy-text file://policy.json\n"
        'Terraform: resource "aws_ecr_repository_policy" "app" { repository = aws_ecr_repository.app.name, '
        "policy = data.aws_iam_policy_document.pull.json }"
    ),
    permissions=("ecr:GetRepositoryPolicy",),
)
def ecr_repository_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    document = policy_verdict_data(snap)
    if isinstance(document, Verdict):
        return document
    if document is None:
        return passed(f"ECR repository {snap.name} has no repository policy, so only its account can use it")
    public = public_statements(document)
    if public:
        return failed(f"ECR repository {snap.name} is open to everyone: " + "; ".join(public), statements=public)
    return passed(f"The policy of ECR repository {snap.name} grants nothing to unrestricted principals")
