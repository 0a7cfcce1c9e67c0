"""IAM facts beyond users and policies: the root user's MFA device type and the AWS Support role.

Global, no resource emitted. The global ``AWS::::Account`` snapshot gets:

* ``iam_root_hardware_mfa``: ``{"mfa_enabled", "virtual_devices"}``: whether the root user has MFA
  (GetAccountSummary ``AccountMFAEnabled``) and the serials of virtual MFA devices assigned to it
  (ListVirtualMFADevices, assigned devices whose user is the root ARN). Root MFA that is on with
  no virtual device assigned to root is a hardware device;
* ``iam_support_roles``: the roles the AWS managed policy AWSSupportAccess is attached to
  (ListEntitiesForPolicy);
* ``iam_cloudshell_full_access``: ``{"users", "groups", "roles"}`` the AWS managed policy
  AWSCloudShellFullAccess is attached to (ListEntitiesForPolicy);
* ``account_security_contact``: the account's SECURITY alternate contact (Account
  GetAlternateContact) as ``{"name", "title", "email"}``, or None when none is registered.

Each TLS certificate uploaded to IAM (ListServerCertificates) is emitted as an
``AWS::IAM::ServerCertificate`` with its ``expiration`` and ``upload_date`` (ISO-8601) and ``path``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_collector.collectors._gd_shared import read_pages
from guardian_collector.collectors.base import Collector, ConfigBuilder, Facts, Resource, UnitContext, register

SERVICE = "iamextra"
ROOT_FACT = "root_mfa"
SUPPORT_FACT = "support_roles"
CLOUDSHELL_FACT = "cloudshell_full_access"
SECURITY_CONTACT_FACT = "security_contact"
NO_CONTACT = "ResourceNotFoundException"
SERVER_CERTIFICATE_TYPE = "AWS::IAM::ServerCertificate"


def _iso(value: Any) -> str | None:
    """A date of an IAM answer as ISO-8601 text (botocore parses timestamps to datetimes)."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


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
    permissions = (
        "iam:GetAccountSummary",
        "iam:ListVirtualMFADevices",
        "iam:ListEntitiesForPolicy",
        "iam:ListServerCertificates",
        "account:GetAlternateContact",
    )
    resource_types = (SERVER_CERTIFICATE_TYPE,)

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

        cloudshell = await ctx.read(
            iam,
            "list_entities_for_policy",
            PolicyArn=f"arn:{ctx.partition}:iam::aws:policy/AWSCloudShellFullAccess",
        )
        if cloudshell.error is not None:
            ctx.facts.put_error(SERVICE, CLOUDSHELL_FACT, cloudshell.error.describe())
        elif cloudshell.value.get("IsTruncated"):
            ctx.facts.put_error(SERVICE, CLOUDSHELL_FACT, "ListEntitiesForPolicy answered more than one page")
        else:
            answer = cloudshell.value
            ctx.facts.put(
                SERVICE,
                CLOUDSHELL_FACT,
                {
                    "users": sorted(str(u.get("UserName")) for u in answer.get("PolicyUsers") or []),
                    "groups": sorted(str(g.get("GroupName")) for g in answer.get("PolicyGroups") or []),
                    "roles": sorted(str(r.get("RoleName")) for r in answer.get("PolicyRoles") or []),
                },
            )

        account = await ctx.client("account")
        contact = await ctx.read(
            account, "get_alternate_contact", absent=(NO_CONTACT,), AlternateContactType="SECURITY"
        )
        if contact.error is not None:
            ctx.facts.put_error(SERVICE, SECURITY_CONTACT_FACT, contact.error.describe())
        elif contact.absent:
            ctx.facts.put(SERVICE, SECURITY_CONTACT_FACT, None)
        else:
            found = contact.value.get("AlternateContact") or {}
            ctx.facts.put(
                SERVICE,
                SECURITY_CONTACT_FACT,
                {"name": found.get("Name"), "title": found.get("Title"), "email": found.get("EmailAddress")},
            )

        # A primary listing: when it fails the unit fails, so no certificate is ever judged from nothing.
        for meta in await ctx.list_all(iam, "list_server_certificates", "ServerCertificateMetadataList"):
            arn = str(meta["Arn"])
            name = str(meta.get("ServerCertificateName") or arn.rsplit("/", 1)[-1])
            cfg = ConfigBuilder(
                name=name,
                arn=arn,
                path=meta.get("Path") or "/",
                expiration=_iso(meta.get("Expiration")),
                upload_date=_iso(meta.get("UploadDate")),
            )
            await ctx.emit(
                Resource(
                    resource_type=SERVER_CERTIFICATE_TYPE,
                    arn=arn,
                    name=name,
                    region=ctx.unit_region,
                    configuration=cfg.build(),
                    tags={},
                )
            )

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region != "global":
            return {}, {}
        fields: dict[str, Any] = {}
        unreadable: dict[str, str] = {}
        missing = object()
        for fact, field in (
            (ROOT_FACT, "iam_root_hardware_mfa"),
            (SUPPORT_FACT, "iam_support_roles"),
            (CLOUDSHELL_FACT, "iam_cloudshell_full_access"),
            (SECURITY_CONTACT_FACT, "account_security_contact"),
        ):
            value = facts.get(SERVICE, fact, missing)
            error = facts.error(SERVICE, fact)
            if error is not None or value is missing:
                fields[field] = None
                unreadable[field] = error or "the IAM collection did not finish"
            else:
                fields[field] = value
        return fields, unreadable
