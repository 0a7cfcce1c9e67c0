"""IAM facts beyond users and policies: the root user's MFA device type and the AWS Support role.

Global, no resource emitted. The global ``AWS::::Account`` snapshot gets:

* ``iam_root_hardware_mfa``: ``{"mfa_enabled", "virtual_devices"}``: whether the root user has MFA
  (GetAccountSummary ``AccountMFAEnabled``) and the serials of virtual MFA devices assigned to it
  (ListVirtualMFADevices, assigned devices whose user is the root ARN). Root MFA that is on with
  no virtual device assigned to root is a hardware device;
* ``iam_support_roles``: the roles the AWS managed policy AWSSupportAccess is attached to
  (ListEntitiesForPolicy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors._gd_shared import read_pages
from guardian_collector.collectors.base import Collector, Facts, UnitContext, register

SERVICE = "iamextra"
ROOT_FACT = "root_mfa"
SUPPORT_FACT = "support_roles"


def _is_root_device(device: Mapping[str, Any], root: str) -> bool:
    """A virtual MFA device assigned to the root user: its user is the root ARN, or (when the answer
    carries no user) its serial is the name AWS gives the root user's device."""
    user = device.get("User")
    if isinstance(user, Mapping) and user.get("Arn"):
        return str(user["Arn"]) == root
    return str(device.get("SerialNumber", "")).endswith(":mfa/root-account-mfa-device")


@register
class IamExtraCollector(Collector):
    service = SERVICE
    client_name = "iam"
    global_service = True
    permissions = ("iam:GetAccountSummary", "iam:ListVirtualMFADevices", "iam:ListEntitiesForPolicy")
    resource_types = ()

    async def collect(self, ctx: UnitContext) -> None:
        iam = await ctx.client("iam")
        summary = await ctx.read(iam, "get_account_summary")
        devices = await read_pages(
            ctx,
            iam,
            "list_virtual_mfa_devices",
            "VirtualMFADevices",
            token_in="Marker",
            token_out="Marker",
            AssignmentStatus="Assigned",
        )
        problem = summary.error or devices.error
        if problem is not None:
            ctx.facts.put_error(SERVICE, ROOT_FACT, problem.describe())
        else:
            mfa = int((summary.value.get("SummaryMap") or {}).get("AccountMFAEnabled", 0)) > 0
            root = f"arn:{ctx.partition}:iam::{ctx.account_id}:root"
            virtual = sorted(str(d.get("SerialNumber")) for d in devices.value or [] if _is_root_device(d, root))
            ctx.facts.put(SERVICE, ROOT_FACT, {"mfa_enabled": mfa, "virtual_devices": virtual})

        policy = f"arn:{ctx.partition}:iam::aws:policy/AWSSupportAccess"
        roles = await read_pages(
            ctx,
            iam,
            "list_entities_for_policy",
            "PolicyRoles",
            token_in="Marker",
            token_out="Marker",
            PolicyArn=policy,
            EntityFilter="Role",
        )
        if roles.error is not None:
            ctx.facts.put_error(SERVICE, SUPPORT_FACT, roles.error.describe())
        else:
            ctx.facts.put(SERVICE, SUPPORT_FACT, sorted(str(r.get("RoleName")) for r in roles.value or []))

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region != "global":
            return {}, {}
        fields: dict[str, Any] = {}
        unreadable: dict[str, str] = {}
        missing = object()
        for fact, field in ((ROOT_FACT, "iam_root_hardware_mfa"), (SUPPORT_FACT, "iam_support_roles")):
            value = facts.get(SERVICE, fact, missing)
            error = facts.error(SERVICE, fact)
            if error is not None or value is missing:
                fields[field] = None
                unreadable[field] = error or "the IAM collection did not finish"
            else:
                fields[field] = value
        return fields, unreadable
