"""Account-wide IAM checks fed by the ``iamextra`` and ``accessanalyzer`` collectors.

Global ``AWS::::Account`` snapshot: ``iam_root_hardware_mfa`` (``{"mfa_enabled",
"virtual_devices"}``) and ``iam_support_roles`` (roles with AWSSupportAccess). Regional snapshots:
``access_analyzers`` (``[{"name", "arn", "type", "status"}]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import ACCOUNT, context_scope, needs
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

EXTERNAL_ACCESS_TYPES = ("ACCOUNT", "ORGANIZATION")


@check(
    id="iam_root_hardware_mfa",
    title="The root user's MFA is a hardware device",
    description=(
        "The root user has MFA, and no virtual MFA device is assigned to it: a hardware key or token cannot be "
        "copied along with a phone backup or a compromised laptop."
    ),
    severity=Severity.HIGH,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Sign in as root, remove the virtual device and register a hardware MFA device (FIDO key or TOTP token).\n"
        "CLI: aws iam deactivate-mfa-device --user-name root --serial-number VIRTUAL_SERIAL (as root), then add "
        "the hardware device in the console under Security credentials\n"
        "Terraform: root credentials are not managed by Terraform; record the change as evidence instead"
    ),
    permissions=("iam:GetAccountSummary", "iam:ListVirtualMFADevices"),
)
def iam_root_hardware_mfa(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "account":
        return None
    if (err := needs(snap, "iam_root_hardware_mfa")) is not None:
        return err
    data = snap.configuration["iam_root_hardware_mfa"]
    if not isinstance(data, Mapping) or not isinstance(data.get("mfa_enabled"), bool):
        return errored(f"The root MFA data of {snap.name} is not usable ({data!r})")
    if not data["mfa_enabled"]:
        return failed(f"The root user of account {snap.account_id} has no MFA at all")
    virtual = [str(d) for d in data.get("virtual_devices") or []]
    if virtual:
        return failed(
            f"The root user of account {snap.account_id} uses a virtual MFA device ({', '.join(virtual)})",
            virtual_devices=virtual,
        )
    return passed(f"The root user of account {snap.account_id} uses a hardware MFA device")


@check(
    id="iam_support_role_exists",
    title="A role can open AWS Support cases for incidents",
    description=(
        "The AWS managed policy AWSSupportAccess is attached to at least one role, so responders can open and "
        "follow AWS Support cases during an incident without using the root user or broad administrator rights."
    ),
    severity=Severity.LOW,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create a role for incident responders and attach AWSSupportAccess.\n"
        "CLI: aws iam attach-role-policy --role-name incident-support --policy-arn "
        "arn:aws:iam::aws:policy/AWSSupportAccess\n"
        'Terraform: resource "aws_iam_role_policy_attachment" "support" { role = aws_iam_role.incident_support.name, '
        'policy_arn = "arn:aws:iam::aws:policy/AWSSupportAccess" }'
    ),
    permissions=("iam:ListEntitiesForPolicy",),
)
def iam_support_role_exists(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "account":
        return None
    if (err := needs(snap, "iam_support_roles")) is not None:
        return err
    roles = snap.configuration["iam_support_roles"]
    if not isinstance(roles, list):
        return errored(f"The support role data of {snap.name} is not a list ({roles!r})")
    if not roles:
        return failed(f"No role in account {snap.account_id} has the AWSSupportAccess policy")
    return passed(f"Role(s) {', '.join(str(r) for r in roles)} can manage AWS Support cases", roles=list(roles))


@check(
    id="iam_access_analyzer_enabled",
    title="IAM Access Analyzer watches for external access in each region",
    description=(
        "Every scanned region has an ACTIVE IAM Access Analyzer of the account or organisation type, which "
        "reports resources (buckets, keys, roles, queues, functions) shared with principals outside the zone "
        "of trust as soon as a policy allows it."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Create an external access analyzer in each region (organisation type from the delegated administrator).\n"
        "CLI: aws accessanalyzer create-analyzer --analyzer-name external-access --type ACCOUNT --region REGION\n"
        'Terraform: resource "aws_accessanalyzer_analyzer" "external" { analyzer_name = "external-access", '
        'type = "ACCOUNT" }'
    ),
    permissions=("access-analyzer:ListAnalyzers",),
)
def iam_access_analyzer_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "region":
        return None
    if (err := needs(snap, "access_analyzers")) is not None:
        return err
    analyzers = snap.configuration["access_analyzers"]
    if not isinstance(analyzers, list):
        return errored(f"The Access Analyzer data of {snap.region} is not a list ({analyzers!r})")
    found = [a for a in analyzers if isinstance(a, Mapping)]
    for analyzer in found:
        if analyzer.get("type") in EXTERNAL_ACCESS_TYPES and analyzer.get("status") == "ACTIVE":
            return passed(
                f"Access Analyzer {analyzer.get('name')} ({analyzer.get('type')}) is active in {snap.region}",
                analyzer=analyzer.get("arn"),
            )
    if not found:
        return failed(f"IAM Access Analyzer has no analyzer in {snap.region}")
    shown = ", ".join(f"{a.get('name')} ({a.get('type')}, {a.get('status')})" for a in found)
    return failed(f"No active external-access analyzer in {snap.region}; analyzers found: {shown}")
