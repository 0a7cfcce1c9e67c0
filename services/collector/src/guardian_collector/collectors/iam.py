"""IAM: users with their credentials and permissions, customer-managed policies, and the
account-wide facts (password policy, root user) for the account context.

IAM is global: it is collected once per account (unit region ``global``).

Sources, in the order they are read:

* the credential report (GenerateCredentialReport, then GetCredentialReport, polled briefly while
  AWS builds it): the ``<root_account>`` row for the root user, and each user's
  ``password_last_used`` when ListUsers does not carry it;
* GetAccountSummary (live): ``AccountMFAEnabled`` and ``AccountAccessKeysPresent`` for the root
  user (AWS's own documented way of auditing both);
* GetAccountPasswordPolicy (``NoSuchEntity`` means the account has no policy);
* GetAccountAuthorizationDetails (Filter ``User`` and ``LocalManagedPolicy``, every page): each
  user's inline policy names, attached managed policies, groups and tags, and every version of each
  customer-managed policy, in a few calls for the whole account instead of four per user and one per
  policy. It is live (unlike the credential report), so the checks may pass on it;
* ListUsers (the primary listing) and, per user, MFA devices, access keys and their last use and
  login profile; inline and attached policies, groups and tags only for a user the bulk answer does
  not cover (the bulk call refused, e.g. by a role granted before Guardian asked for it, or a user
  created between the two listings), each by its own call as before, so a field neither source
  gives is unreadable;
* ListPolicies(Scope=Local) (the primary listing of customer-managed policies) and the default
  version of each, from the bulk answer or else GetPolicyVersion.

Dates are stored as ISO-8601 strings in UTC. The credential report's placeholders
(``N/A``, ``no_information``, ``not_supported``) become ``None``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import structlog

from guardian_collector.collectors.base import (
    CallError,
    Collector,
    ConfigBuilder,
    Facts,
    Read,
    Resource,
    UnitContext,
    register,
    tags_of,
)

USER_TYPE = "AWS::IAM::User"
POLICY_TYPE = "AWS::IAM::Policy"
ROOT_ROW = "<root_account>"

# Names of the facts this collector leaves for the account context.
FACT_PASSWORD_POLICY = "password_policy"
FACT_REPORT_ROOT = "credential_report_root"
FACT_ACCOUNT_SUMMARY = "account_summary"

# Credential report placeholders that mean "no value".
REPORT_NONE = frozenset({"", "N/A", "n/a", "no_information", "not_supported"})

# Polling of the credential report while AWS builds it: bounded, short.
REPORT_TRIES = 10
REPORT_FIRST_DELAY = 0.2
REPORT_MAX_DELAY = 1.0
REPORT_PENDING_CODES = ("ReportInProgress", "ReportNotPresent", "ReportExpired")

# Bound on the pages of one per-user listing (a user has at most a few dozen of anything).
MAX_PAGES = 100

# GetAccountAuthorizationDetails: the largest page AWS allows, so most accounts take one call; the
# entity kinds asked for (users and customer-managed policies; roles and groups are not collected).
BULK_PAGE_SIZE = 1000
BULK_FILTER = ("User", "LocalManagedPolicy")

log = structlog.get_logger(__name__)


def iso(value: Any) -> str | None:
    """A datetime (or an ISO string) as an ISO-8601 string in UTC; ``None`` for no value."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        if text in REPORT_NONE:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def snake_case(name: str) -> str:
    """``MinimumPasswordLength`` -> ``minimum_password_length``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def report_value(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    return None if text in REPORT_NONE else text


def report_flag(value: str | None) -> bool | None:
    text = report_value(value)
    if text is None:
        return None
    return text.lower() == "true"


def parse_credential_report(content: Any) -> dict[str, dict[str, str | None]]:
    """The CSV report as ``{user: {column: value or None}}``; placeholders become ``None``."""
    text = bytes(content).decode("utf-8") if isinstance(content, bytes | bytearray) else str(content)
    rows: dict[str, dict[str, str | None]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        user = row.get("user")
        if not user:
            continue
        rows[user] = {str(k): report_value(v) for k, v in row.items() if k is not None}
    return rows


def parse_policy_document(document: Any) -> dict[str, Any]:
    """A policy document in any of the shapes it arrives in: a dict (botocore decodes IAM's
    documents), a JSON string, or the URL-encoded JSON string real AWS sends on the wire."""
    if isinstance(document, Mapping):
        return dict(document)
    if not isinstance(document, str):
        raise ValueError(f"policy document is a {type(document).__name__}, not JSON")
    try:
        parsed = json.loads(document)
    except json.JSONDecodeError:
        parsed = json.loads(unquote(document))
    if not isinstance(parsed, dict):
        raise ValueError("policy document is not a JSON object")
    return parsed


@dataclass(frozen=True)
class BulkDetails:
    """What GetAccountAuthorizationDetails gave: user details by user id (an id, not a name, so that a
    user deleted and re-created under the same name between the calls is not given the old one's
    details), and the versions of each customer-managed policy by policy ARN."""

    users: Mapping[str, Mapping[str, Any]]
    policy_versions: Mapping[str, list[Mapping[str, Any]]]


def bulk_field(detail: Mapping[str, Any] | None, key: str, transform: Callable[[Any], Any]) -> Read | None:
    """One field of a user's bulk details as a read, or ``None`` when the bulk answer does not give it
    (no details for the user, or the member missing), so that the caller asks for it on its own."""
    if detail is None or detail.get(key) is None:
        return None
    return Read(value=transform(detail[key]))


def bulk_tags(detail: Mapping[str, Any] | None) -> Read | None:
    """A user's tags from the bulk details: AWS leaves ``Tags`` out for a user without tags, so a user
    present in the answer without the member has none."""
    if detail is None:
        return None
    return Read(value=list(detail.get("Tags") or []))


def default_version_document(versions: list[Mapping[str, Any]] | None, version_id: str) -> Any:
    """The document of version ``version_id`` among a policy's bulk versions, or ``None`` when the
    bulk answer does not hold it (then GetPolicyVersion is asked)."""
    for version in versions or []:
        if str(version.get("VersionId")) == version_id and version.get("Document") is not None:
            return version["Document"]
    return None


def root_context(
    report_root: Mapping[str, Any] | None,
    report_error: str | None,
    summary: Mapping[str, Any] | None,
    summary_error: str | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The root user's facts from the credential report's root row and the live account summary.

    Returns ``(iam_root, None)`` or ``(None, why it is unreadable)``. MFA comes from the live
    summary when it was read (the report may be hours old), else from the report. Active keys
    come from the report; without its root row, keys merely *present* (summary) count as active,
    which can only turn a PASS into a FAIL, never the reverse.
    """
    have_report = report_root is not None
    have_summary = summary is not None
    if not have_report and not have_summary:
        reasons = [
            f"credential report: {report_error or 'not read'}",
            f"account summary: {summary_error or 'not read'}",
        ]
        return None, "; ".join(reasons)

    mfa_active: bool | None = None
    keys_present: bool | None = None
    if summary is not None:
        if "AccountMFAEnabled" in summary:
            mfa_active = int(summary["AccountMFAEnabled"]) > 0
        if "AccountAccessKeysPresent" in summary:
            keys_present = int(summary["AccountAccessKeysPresent"]) > 0

    active_keys: int | None = None
    password_last_used: str | None = None
    if report_root is not None:
        if mfa_active is None:
            mfa_active = report_flag(report_root.get("mfa_active"))
        flags = [report_flag(report_root.get(f"access_key_{n}_active")) for n in (1, 2)]
        active_keys = sum(1 for flag in flags if flag)
        password_last_used = iso(report_root.get("password_last_used"))
    elif keys_present is not None:
        active_keys = 1 if keys_present else 0

    if mfa_active is None or active_keys is None:
        missing = "MFA status" if mfa_active is None else "access key status"
        return None, f"the credential report and account summary do not give the root user's {missing}"

    sources = [name for name, have in (("credential_report", have_report), ("account_summary", have_summary)) if have]
    return {
        "mfa_active": mfa_active,
        "access_keys_active": active_keys,
        "access_keys_present": keys_present if keys_present is not None else active_keys > 0,
        "password_last_used": password_last_used,
        "sources": sources,
    }, None


@register
class IamCollector(Collector):
    service = "iam"
    global_service = True
    permissions = (
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountSummary",
        "iam:GetAccountPasswordPolicy",
        "iam:GetAccountAuthorizationDetails",
        "iam:ListUsers",
        "iam:ListMFADevices",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "iam:GetLoginProfile",
        "iam:ListUserPolicies",
        "iam:ListAttachedUserPolicies",
        "iam:ListGroupsForUser",
        "iam:ListUserTags",
        "iam:ListPolicies",
        "iam:GetPolicyVersion",
    )
    resource_types = (USER_TYPE, POLICY_TYPE)
    start_priority = 1  # three calls per user, and the credential report's polling

    async def collect(self, ctx: UnitContext) -> None:
        iam = await ctx.client("iam")
        bulk_task = asyncio.create_task(self._bulk_details(ctx, iam))
        try:
            report, _, _ = await asyncio.gather(
                self._credential_report(ctx, iam),
                self._password_policy(ctx, iam),
                self._account_summary(ctx, iam),
            )
            report_rows = report.value if report.ok else {}
            users = await ctx.list_all(iam, "list_users", "Users")
        finally:
            # Awaited even when the listing failed: no task outlives its unit.
            bulk = await bulk_task
        details = bulk.users if bulk is not None else {}
        await asyncio.gather(
            *(self._user(ctx, iam, user, report_rows, details.get(str(user.get("UserId")))) for user in users)
        )

        policies = await ctx.list_all(iam, "list_policies", "Policies", Scope="Local")
        versions = bulk.policy_versions if bulk is not None else {}
        await asyncio.gather(*(self._policy(ctx, iam, policy, versions.get(str(policy["Arn"]))) for policy in policies))

    async def _bulk_details(self, ctx: UnitContext, iam: Any) -> BulkDetails | None:
        """Every page of GetAccountAuthorizationDetails, or ``None`` when any page could not be read.

        A refusal is not a collection error: each user's and policy's own calls then give the same
        fields (as they did before Guardian asked for this action), so nothing is unreadable; it is
        logged, as it costs four calls per user.
        """
        users: dict[str, Mapping[str, Any]] = {}
        policies: dict[str, list[Mapping[str, Any]]] = {}
        marker: str | None = None
        for _ in range(MAX_PAGES):
            args: dict[str, Any] = {"Filter": list(BULK_FILTER), "MaxItems": BULK_PAGE_SIZE}
            if marker:
                args["Marker"] = marker
            page = await ctx.read(iam, "get_account_authorization_details", supplementary=True, **args)
            if page.error is not None:
                log.warning(
                    "iam_bulk_details_unavailable",
                    account_id=ctx.account_id,
                    error=page.error.describe(),
                    consequence="users and policies read one call at a time",
                )
                return None
            for user in page.value.get("UserDetailList") or []:
                if user.get("UserId"):
                    users[str(user["UserId"])] = user
            for policy in page.value.get("Policies") or []:
                if policy.get("Arn"):
                    policies[str(policy["Arn"])] = list(policy.get("PolicyVersionList") or [])
            marker = page.value.get("Marker") if page.value.get("IsTruncated") else None
            if not marker:
                return BulkDetails(users=users, policy_versions=policies)
        log.warning("iam_bulk_details_unavailable", account_id=ctx.account_id, error=f"more than {MAX_PAGES} pages")
        return None

    # -- account-wide facts ----------------------------------------------------------------------

    async def _credential_report(self, ctx: UnitContext, iam: Any) -> Read:
        """Generate, then fetch, the credential report; polls a few times while AWS builds it."""
        delay = REPORT_FIRST_DELAY
        pending = ""
        for attempt in range(REPORT_TRIES):
            generated = await ctx.read(iam, "generate_credential_report")
            if generated.error is not None:
                return self._report_failed(ctx, generated.error)
            got = await ctx.read(iam, "get_credential_report", absent=REPORT_PENDING_CODES)
            if got.error is not None:
                return self._report_failed(ctx, got.error)
            if not got.absent:
                try:
                    rows = parse_credential_report(got.value.get("Content", b""))
                except (UnicodeDecodeError, csv.Error) as exc:
                    error = CallError("get_credential_report", "MalformedReport", str(exc))
                    ctx.record(error)
                    return self._report_failed(ctx, error)
                root = rows.get(ROOT_ROW)
                if root is not None:
                    ctx.facts.put(self.service, FACT_REPORT_ROOT, root)
                else:
                    ctx.facts.put_error(self.service, FACT_REPORT_ROOT, f"the credential report has no {ROOT_ROW} row")
                return Read(value=rows)
            pending = str(generated.value.get("State", "")) if generated.value else ""
            if attempt + 1 < REPORT_TRIES:
                await asyncio.sleep(delay)
                delay = min(delay * 2, REPORT_MAX_DELAY)
        error = CallError(
            "get_credential_report",
            "ReportNotReady",
            f"the credential report was still not ready after {REPORT_TRIES} tries (state {pending or '?'})",
        )
        ctx.record(error)
        return self._report_failed(ctx, error)

    def _report_failed(self, ctx: UnitContext, error: CallError) -> Read:
        ctx.facts.put_error(self.service, FACT_REPORT_ROOT, error.describe())
        return Read(error=error)

    async def _password_policy(self, ctx: UnitContext, iam: Any) -> None:
        read = await ctx.read(iam, "get_account_password_policy", absent=("NoSuchEntity",))
        if read.error is not None:
            ctx.facts.put_error(self.service, FACT_PASSWORD_POLICY, read.error.describe())
        elif read.absent:
            ctx.facts.put(self.service, FACT_PASSWORD_POLICY, None)
        else:
            policy = read.value.get("PasswordPolicy") or {}
            ctx.facts.put(self.service, FACT_PASSWORD_POLICY, {snake_case(str(k)): v for k, v in policy.items()})

    async def _account_summary(self, ctx: UnitContext, iam: Any) -> None:
        read = await ctx.read(iam, "get_account_summary")
        if read.error is not None:
            ctx.facts.put_error(self.service, FACT_ACCOUNT_SUMMARY, read.error.describe())
        else:
            ctx.facts.put(self.service, FACT_ACCOUNT_SUMMARY, dict(read.value.get("SummaryMap") or {}))

    # -- users -----------------------------------------------------------------------------------

    async def _read_all(
        self, ctx: UnitContext, client: Any, operation: str, key: str, resource_arn: str, **kwargs: Any
    ) -> Read:
        """Every page of a secondary listing (Marker/IsTruncated); a failed page fails the read."""
        items: list[Any] = []
        marker: str | None = None
        for _ in range(MAX_PAGES):
            args = dict(kwargs, Marker=marker) if marker else kwargs
            read = await ctx.read(client, operation, resource_arn=resource_arn, **args)
            if read.error is not None:
                return read
            items.extend(read.value.get(key) or [])
            marker = read.value.get("Marker") if read.value.get("IsTruncated") else None
            if not marker:
                return Read(value=items)
        error = CallError(operation, "TooManyPages", f"more than {MAX_PAGES} pages", resource_arn)
        ctx.record(error)
        return Read(error=error)

    async def _access_keys(self, ctx: UnitContext, iam: Any, name: str, arn: str, cfg: ConfigBuilder) -> None:
        listed = await self._read_all(ctx, iam, "list_access_keys", "AccessKeyMetadata", arn, UserName=name)
        if listed.error is not None:
            cfg.fail("access_keys", listed.error)
            return
        last_used = await asyncio.gather(
            *(
                ctx.read(iam, "get_access_key_last_used", resource_arn=arn, AccessKeyId=key["AccessKeyId"])
                for key in listed.value
            )
        )
        keys = []
        for key, used in zip(listed.value, last_used, strict=True):
            when = None
            if used.error is not None:
                # The key list stays usable (age, status); only its last use is unknown.
                cfg.errors["access_key_last_used"] = used.error.describe()
            else:
                when = iso((used.value.get("AccessKeyLastUsed") or {}).get("LastUsedDate"))
            keys.append(
                {
                    "id": key.get("AccessKeyId"),
                    "status": key.get("Status"),
                    "created": iso(key.get("CreateDate")),
                    "last_used": when,
                }
            )
        cfg.put("access_keys", keys)

    async def _user(
        self,
        ctx: UnitContext,
        iam: Any,
        user: Mapping[str, Any],
        report_rows: Mapping[str, Mapping[str, str | None]],
        detail: Mapping[str, Any] | None,
    ) -> None:
        name = str(user["UserName"])
        arn = str(user["Arn"])
        cfg = ConfigBuilder(
            user_name=name,
            user_id=user.get("UserId"),
            arn=arn,
            created=iso(user.get("CreateDate")),
        )
        row = report_rows.get(name) or {}
        # ListUsers carries PasswordLastUsed when the password was ever used; the report agrees
        # with it, and covers the case where ListUsers omitted it. Keep the later of the two.
        used = [d for d in (iso(user.get("PasswordLastUsed")), iso(row.get("password_last_used"))) if d]
        cfg.put("password_last_used", max(used, key=datetime.fromisoformat) if used else None)

        # From the bulk details where they hold the field; each field they lack is read on its own.
        # Both sources give the same shapes: policy names, {PolicyName, PolicyArn}, group names, tags.
        known: dict[str, Read | None] = {
            "inline": bulk_field(detail, "UserPolicyList", lambda v: [p.get("PolicyName") for p in v]),
            "attached": bulk_field(detail, "AttachedManagedPolicies", list),
            "groups": bulk_field(detail, "GroupList", lambda v: [{"GroupName": g} for g in v]),
            "tags": bulk_tags(detail),
        }
        separate: dict[str, Callable[[], Coroutine[Any, Any, Read]]] = {
            "inline": lambda: self._read_all(ctx, iam, "list_user_policies", "PolicyNames", arn, UserName=name),
            "attached": lambda: self._read_all(
                ctx, iam, "list_attached_user_policies", "AttachedPolicies", arn, UserName=name
            ),
            "groups": lambda: self._read_all(ctx, iam, "list_groups_for_user", "Groups", arn, UserName=name),
            "tags": lambda: self._read_all(ctx, iam, "list_user_tags", "Tags", arn, UserName=name),
        }

        async with asyncio.TaskGroup() as group:
            mfa_task = group.create_task(self._read_all(ctx, iam, "list_mfa_devices", "MFADevices", arn, UserName=name))
            login_task = group.create_task(
                ctx.read(iam, "get_login_profile", absent=("NoSuchEntity",), resource_arn=arn, UserName=name)
            )
            asked: dict[str, asyncio.Task[Read]] = {
                field: group.create_task(read()) for field, read in separate.items() if known[field] is None
            }
            group.create_task(self._access_keys(ctx, iam, name, arn, cfg))
        reads: dict[str, Read] = {}
        for field, found in known.items():
            reads[field] = asked[field].result() if found is None else found
        mfa, login = mfa_task.result(), login_task.result()
        inline, attached, groups, tags = reads["inline"], reads["attached"], reads["groups"], reads["tags"]
        cfg.from_read("console_access", login, lambda _: True, when_absent=False)
        cfg.from_read(
            "password_created",
            login,
            lambda v: iso((v.get("LoginProfile") or {}).get("CreateDate")),
            when_absent=None,
        )
        cfg.from_read("mfa_devices", mfa, lambda v: [str(d.get("SerialNumber")) for d in v])
        cfg.from_read("inline_policies", inline, lambda v: sorted(str(n) for n in v))
        cfg.from_read(
            "attached_policies",
            attached,
            lambda v: [{"name": p.get("PolicyName"), "arn": p.get("PolicyArn")} for p in v],
        )
        cfg.from_read("groups", groups, lambda v: sorted(str(g.get("GroupName")) for g in v))
        if tags.error is not None:
            cfg.fail("tags", tags.error)
        await ctx.emit(
            Resource(
                resource_type=USER_TYPE,
                arn=arn,
                name=name,
                region=ctx.unit_region,
                configuration=cfg.build(),
                tags=tags_of(tags.value) if tags.ok else {},
            )
        )

    # -- customer-managed policies ---------------------------------------------------------------

    async def _policy(
        self, ctx: UnitContext, iam: Any, policy: Mapping[str, Any], versions: list[Mapping[str, Any]] | None
    ) -> None:
        arn = str(policy["Arn"])
        version_id = policy.get("DefaultVersionId")
        cfg = ConfigBuilder(
            policy_name=policy.get("PolicyName"),
            arn=arn,
            default_version_id=version_id,
            attachment_count=policy.get("AttachmentCount"),
        )
        if not version_id:
            missing = CallError("list_policies", "MissingDefaultVersion", "the policy has no default version", arn)
            ctx.record(missing)
            cfg.fail("document", missing)
        else:
            # The bulk answer's copy of the default version when it holds one (the same document);
            # GetPolicyVersion otherwise (bulk call refused, or the policy changed between the calls).
            document = default_version_document(versions, str(version_id))
            if document is not None:
                read = Read(value={"PolicyVersion": {"Document": document}})
            else:
                read = await ctx.read(
                    iam, "get_policy_version", resource_arn=arn, PolicyArn=arn, VersionId=str(version_id)
                )
            if read.error is not None:
                cfg.fail("document", read.error)
            else:
                raw = (read.value.get("PolicyVersion") or {}).get("Document")
                try:
                    cfg.put("document", parse_policy_document(raw))
                except (ValueError, TypeError) as exc:
                    error = CallError("get_policy_version", "MalformedPolicyDocument", str(exc), arn)
                    ctx.record(error)
                    cfg.fail("document", error)
        await ctx.emit(
            Resource(
                resource_type=POLICY_TYPE,
                arn=arn,
                name=str(policy.get("PolicyName") or arn),
                region=ctx.unit_region,
                configuration=cfg.build(),
                tags=tags_of(policy.get("Tags")),
            )
        )

    # -- account context -------------------------------------------------------------------------

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region != "global":
            return {}, {}
        fields: dict[str, Any] = {}
        unreadable: dict[str, str] = {}

        missing = object()
        policy = facts.get(self.service, FACT_PASSWORD_POLICY, missing)
        policy_error = facts.error(self.service, FACT_PASSWORD_POLICY)
        if policy_error is not None or policy is missing:
            fields["iam_password_policy"] = None
            unreadable["iam_password_policy"] = policy_error or "the IAM collection did not read it"
        else:
            fields["iam_password_policy"] = policy

        summary = facts.get(self.service, FACT_ACCOUNT_SUMMARY)
        root, why = root_context(
            facts.get(self.service, FACT_REPORT_ROOT),
            facts.error(self.service, FACT_REPORT_ROOT),
            summary,
            facts.error(self.service, FACT_ACCOUNT_SUMMARY),
        )
        fields["iam_root"] = root
        if why is not None:
            unreadable["iam_root"] = why
        return fields, unreadable
