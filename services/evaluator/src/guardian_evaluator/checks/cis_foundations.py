"""Checks for CIS AWS Foundations v3.0.0 recommendations no other module answered.

* ``iam_user_single_active_key`` (CIS 1.13): an ``AWS::IAM::User``'s ``access_keys``;
* ``iam_user_no_unused_key_at_console_setup`` (CIS 1.11): the same user's ``console_access`` and each
  active key's ``last_used`` (``_errors["access_key_last_used"]`` when it could not be read);
* ``iam_server_certificate_not_expired`` (CIS 1.19): ``AWS::IAM::ServerCertificate`` ``expiration``;
* ``account_security_contact_registered`` (CIS 1.2): the global account snapshot's
  ``account_security_contact`` (None when no SECURITY alternate contact is registered);
* ``iam_cloudshell_full_access_restricted`` (CIS 1.22): the global account snapshot's
  ``iam_cloudshell_full_access`` (``{"users", "groups", "roles"}``);
* ``iam_admin_access_policy_not_attached`` (CIS 1.16, AWS managed side): the global account snapshot's
  ``iam_admin_policy_attachments`` (``{"policy_arn", "users", "groups", "roles"}``); customer-managed
  policies allowing "*" on "*" are judged by ``iam_policy_no_full_admin``;
* ``ec2_instance_iam_role`` (CIS 1.18): an ``AWS::EC2::Instance``'s ``state`` and ``iam_instance_profile``;
* ``s3_bucket_mfa_delete`` (CIS 2.1.2): an ``AWS::S3::Bucket``'s ``versioning`` (``status``, ``mfa_delete``);
* ``cloudtrail_bucket_access_logging`` (CIS 3.4): an ``AWS::CloudTrail::Trail``'s ``bucket_logging``;
* ``cloudtrail_s3_write_data_events`` / ``cloudtrail_s3_read_data_events`` (CIS 3.8, 3.9): the
  ``s3_data_events`` (``read``, ``write``) of each trail summary in ``cloudtrail_trails``.

Time-dependent checks take the current time from ``params["now"]`` (ISO-8601 or datetime) when given.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import context_scope, needs
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed, unreadable

ACCOUNT = "AWS::::Account"
USER = "AWS::IAM::User"
SERVER_CERTIFICATE = "AWS::IAM::ServerCertificate"
BUCKET = "AWS::S3::Bucket"
INSTANCE = "AWS::EC2::Instance"
TRAIL = "AWS::CloudTrail::Trail"
TRAILS_FIELD = "cloudtrail_trails"


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- IAM -------------------------------------------------------------------------------------------


@check(
    id="iam_user_single_active_key",
    title="IAM users have at most one active access key",
    description=(
        "No IAM user has two active access keys at once (CIS 1.13): a second key is only for the moment of "
        "a rotation, and a forgotten one doubles what can leak. Users without an active key are not evaluated."
    ),
    severity=Severity.MEDIUM,
    resource_type=USER,
    service="iam",
    remediation=(
        "Move every consumer to one key, then deactivate and delete the other.\n"
        "CLI: aws iam update-access-key --user-name USER --access-key-id OLD_KEY_ID --status Inactive && "
        "aws iam delete-access-key --user-name USER --access-key-id OLD_KEY_ID\n"
        'Terraform: keep a single aws_iam_access_key resource per user (resource "aws_iam_access_key" "k" '
        "{ user = aws_iam_user.u.name })"
    ),
    permissions=("iam:ListAccessKeys",),
)
def iam_user_single_active_key(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "access_keys")) is not None:
        return err
    keys = snap.configuration["access_keys"]
    if not isinstance(keys, list) or any(not isinstance(k, Mapping) or "status" not in k for k in keys):
        return errored(f"IAM user {snap.name}: the access key list is not usable ({keys!r})")
    active = sorted(str(k.get("id")) for k in keys if k["status"] == "Active")
    if not active:
        return None
    if len(active) > 1:
        return failed(
            f"IAM user {snap.name} has {len(active)} active access keys: {', '.join(active)}", active_keys=active
        )
    return passed(f"IAM user {snap.name} has one active access key ({active[0]})", active_keys=active)


@check(
    id="iam_user_no_unused_key_at_console_setup",
    title="Console users hold no access key that was never used",
    description=(
        "An IAM user with a console password has no active access key that has never been used (CIS 1.11): "
        "such a key was typically created along with the user by default, is not needed, and widens what "
        "can leak. Users without a console password are not evaluated."
    ),
    severity=Severity.LOW,
    resource_type=USER,
    service="iam",
    remediation=(
        "Delete the unused key; create keys only when a program needs one.\n"
        "CLI: aws iam delete-access-key --user-name USER --access-key-id KEY_ID\n"
        "Terraform: remove the aws_iam_access_key created with the aws_iam_user"
    ),
    permissions=("iam:GetLoginProfile", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed"),
)
def iam_user_no_unused_key_at_console_setup(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "console_access")) is not None:
        return err
    console = snap.configuration["console_access"]
    if not isinstance(console, bool):
        return errored(f"IAM user {snap.name}: console_access is not true or false: {console!r}")
    if not console:
        return None
    if (err := needs(snap, "access_keys")) is not None:
        return err
    keys = snap.configuration["access_keys"]
    if not isinstance(keys, list) or any(not isinstance(k, Mapping) or "status" not in k for k in keys):
        return errored(f"IAM user {snap.name}: the access key list is not usable ({keys!r})")
    active = [k for k in keys if k["status"] == "Active"]
    if not active:
        return passed(f"IAM user {snap.name} has a console password and no active access key")
    # Whether a key was ever used comes from GetAccessKeyLastUsed; unknown use never passes.
    if (err := unreadable(snap, "access_key_last_used")) is not None:
        return err
    never = sorted(str(k.get("id")) for k in active if not k.get("last_used"))
    if never:
        return failed(
            f"IAM user {snap.name} has a console password and active access key(s) never used: {', '.join(never)}",
            unused_keys=never,
        )
    return passed(f"IAM user {snap.name} has a console password and every active access key has been used")


@check(
    id="iam_server_certificate_not_expired",
    title="No expired TLS certificate is stored in IAM",
    description=(
        "Every server certificate uploaded to IAM is still valid (CIS 1.19): an expired one can still be "
        "attached to a load balancer or CloudFront by mistake, and serves no purpose."
    ),
    severity=Severity.MEDIUM,
    resource_type=SERVER_CERTIFICATE,
    service="iamextra",
    remediation=(
        "Delete the expired certificate (after checking nothing uses it).\n"
        "CLI: aws iam delete-server-certificate --server-certificate-name NAME\n"
        "Terraform: remove the aws_iam_server_certificate resource, or replace it with a renewed certificate "
        "(lifecycle { create_before_destroy = true })"
    ),
    permissions=("iam:ListServerCertificates",),
)
def iam_server_certificate_not_expired(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "expiration")) is not None:
        return err
    expires = _moment(snap.configuration["expiration"])
    if expires is None:
        return errored(
            f"Server certificate {snap.name}: expiration is not a date ({snap.configuration['expiration']!r})"
        )
    now = _moment(params.get("now")) if params.get("now") is not None else datetime.now(UTC)
    if now is None:
        return errored(f"params['now'] is not a date: {params.get('now')!r}")
    if expires <= now:
        return failed(
            f"Server certificate {snap.name} expired on {expires.date().isoformat()} and is still stored in IAM",
            expiration=expires.isoformat(),
        )
    return passed(
        f"Server certificate {snap.name} is valid until {expires.date().isoformat()}", expiration=expires.isoformat()
    )


@check(
    id="iam_cloudshell_full_access_restricted",
    title="The AWSCloudShellFullAccess policy is attached to no one",
    description=(
        "The AWS managed policy AWSCloudShellFullAccess, which lets its holder upload and download files "
        "through CloudShell unchecked, is attached to no IAM user, group or role (CIS 1.22)."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Detach the policy and grant a narrower CloudShell policy where it is needed.\n"
        "CLI: aws iam detach-role-policy --role-name ROLE --policy-arn "
        "arn:aws:iam::aws:policy/AWSCloudShellFullAccess (detach-user-policy / detach-group-policy likewise)\n"
        "Terraform: remove the aws_iam_*_policy_attachment naming AWSCloudShellFullAccess"
    ),
    permissions=("iam:ListEntitiesForPolicy",),
)
def iam_cloudshell_full_access_restricted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "account":
        return None
    if (err := needs(snap, "iam_cloudshell_full_access")) is not None:
        return err
    data = snap.configuration["iam_cloudshell_full_access"]
    if not isinstance(data, Mapping) or any(not isinstance(data.get(k), list) for k in ("users", "groups", "roles")):
        return errored(f"The CloudShell policy data of {snap.name} is not usable ({data!r})")
    holders = [f"{kind[:-1]} {name}" for kind in ("users", "groups", "roles") for name in data[kind]]
    if holders:
        return failed(
            f"AWSCloudShellFullAccess is attached in account {snap.account_id} to {', '.join(holders)}",
            holders=holders,
        )
    return passed(f"AWSCloudShellFullAccess is attached to no user, group or role in account {snap.account_id}")


@check(
    id="iam_admin_access_policy_not_attached",
    title="The AWS managed AdministratorAccess policy is attached to no one",
    description=(
        "The AWS managed policy AdministratorAccess, which allows every action on every resource, is attached "
        "to no IAM user, group or role (CIS 1.16, with iam_policy_no_full_admin covering customer-managed "
        "policies). Administrators get a role scoped to their duties, assumed with MFA, or a break-glass "
        "procedure instead of a standing full grant."
    ),
    severity=Severity.HIGH,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Detach AdministratorAccess and grant the permissions each duty needs through a narrower policy.\n"
        "CLI: aws iam detach-role-policy --role-name ROLE --policy-arn arn:aws:iam::aws:policy/AdministratorAccess "
        "(detach-user-policy --user-name / detach-group-policy --group-name likewise)\n"
        "Terraform: remove the aws_iam_role_policy_attachment (or aws_iam_user_policy_attachment, "
        "aws_iam_group_policy_attachment) naming arn:aws:iam::aws:policy/AdministratorAccess and attach a "
        "scoped aws_iam_policy instead"
    ),
    permissions=("iam:ListEntitiesForPolicy",),
)
def iam_admin_access_policy_not_attached(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "account":
        return None
    if (err := needs(snap, "iam_admin_policy_attachments")) is not None:
        return err
    data = snap.configuration["iam_admin_policy_attachments"]
    if not isinstance(data, Mapping) or any(not isinstance(data.get(k), list) for k in ("users", "groups", "roles")):
        return errored(f"The AdministratorAccess attachment data of {snap.name} is not usable ({data!r})")
    holders = [f"{kind[:-1]} {name}" for kind in ("users", "groups", "roles") for name in data[kind]]
    if holders:
        return failed(
            f"AdministratorAccess (every action on every resource) is attached in account {snap.account_id} "
            f"to {', '.join(holders)}",
            holders=holders,
        )
    return passed(f"AdministratorAccess is attached to no user, group or role in account {snap.account_id}")


@check(
    id="account_security_contact_registered",
    title="The account registers a security contact",
    description=(
        "The account has a SECURITY alternate contact with an email address (CIS 1.2), so AWS security "
        "notifications reach the security team directly instead of only the account owner."
    ),
    severity=Severity.LOW,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Register the security team as the account's security contact.\n"
        "CLI: aws account put-alternate-contact --alternate-contact-type SECURITY --name 'Security team' "
        "--title 'Security' --email-address security@example.com --phone-number +10000000000\n"
        'Terraform: resource "aws_account_alternate_contact" "security" { alternate_contact_type = '
        '"SECURITY" name = "Security team" title = "Security" email_address = "security@example.com" '
        'phone_number = "+10000000000" }'
    ),
    permissions=("account:GetAlternateContact",),
)
def account_security_contact_registered(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if context_scope(snap) != "account":
        return None
    if (err := needs(snap, "account_security_contact")) is not None:
        return err
    contact = snap.configuration["account_security_contact"]
    if contact is None:
        return failed(f"Account {snap.account_id} has no security alternate contact")
    if not isinstance(contact, Mapping):
        return errored(f"The security contact data of {snap.name} is not usable ({contact!r})")
    if not contact.get("email"):
        return failed(f"The security contact of account {snap.account_id} has no email address")
    who = contact.get("name") or contact.get("title") or "unnamed"
    return passed(f"Account {snap.account_id} registers {who} as its security contact", contact=who)


# -- EC2 -------------------------------------------------------------------------------------------


@check(
    id="ec2_instance_iam_role",
    title="EC2 instances get AWS credentials from an instance role",
    description=(
        "Every pending, running or stopped instance has an IAM instance profile (CIS 1.18), so software on it "
        "obtains short-lived role credentials instead of access keys stored on the host. Terminated and "
        "shutting-down instances are not evaluated."
    ),
    severity=Severity.MEDIUM,
    resource_type=INSTANCE,
    service="ec2fleet",
    remediation=(
        "Create a role for the workload and attach it through an instance profile, then remove stored keys.\n"
        "CLI: aws ec2 associate-iam-instance-profile --instance-id INSTANCE_ID --iam-instance-profile "
        "Name=PROFILE\n"
        'Terraform: resource "aws_iam_instance_profile" "app" { role = aws_iam_role.app.name } and '
        "iam_instance_profile = aws_iam_instance_profile.app.name on the aws_instance"
    ),
    permissions=("ec2:DescribeInstances",),
)
def ec2_instance_iam_role(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "state", "iam_instance_profile")) is not None:
        return err
    if snap.configuration["state"] in ("terminated", "shutting-down"):
        return None
    profile = snap.configuration["iam_instance_profile"]
    if profile is not None and not isinstance(profile, str):
        return errored(f"Instance {snap.name}: the instance profile is not usable ({profile!r})")
    if not profile:
        return failed(f"Instance {snap.name} has no IAM instance profile: any AWS access it has uses stored keys")
    return passed(f"Instance {snap.name} uses instance profile {profile}", iam_instance_profile=profile)


# -- S3 --------------------------------------------------------------------------------------------


@check(
    id="s3_bucket_mfa_delete",
    title="S3 buckets require MFA to delete versions",
    description=(
        "The bucket is versioned with MFA Delete enabled (CIS 2.1.2), so permanently deleting an object "
        "version or suspending versioning needs the root user's MFA code."
    ),
    severity=Severity.LOW,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "As the root user with its MFA device, enable versioning with MFA Delete.\n"
        "CLI: aws s3api put-bucket-versioning --bucket BUCKET --versioning-configuration "
        'Status=Enabled,MFADelete=Enabled --mfa "arn:aws:iam::ACCOUNT:mfa/root-account-mfa-device CODE"\n'
        'Terraform: aws_s3_bucket_versioning with versioning_configuration { status = "Enabled" '
        'mfa_delete = "Enabled" } and mfa = "SERIAL CODE" (applied with root credentials)'
    ),
    permissions=("s3:GetBucketVersioning",),
)
def s3_bucket_mfa_delete(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "versioning")) is not None:
        return err
    versioning = snap.configuration["versioning"]
    if not isinstance(versioning, Mapping) or not isinstance(versioning.get("mfa_delete"), bool):
        return errored(f"Bucket {snap.name}: the versioning data is not usable ({versioning!r})")
    state = str(versioning.get("status") or "Disabled")
    if versioning["mfa_delete"] and state == "Enabled":
        return passed(f"Bucket {snap.name} is versioned with MFA Delete enabled")
    if versioning["mfa_delete"]:
        return failed(f"Bucket {snap.name} has MFA Delete set but versioning is {state}", versioning=state)
    return failed(f"Bucket {snap.name} does not require MFA Delete (versioning {state})", versioning=state)


# -- CloudTrail ------------------------------------------------------------------------------------


@check(
    id="cloudtrail_bucket_access_logging",
    title="The bucket receiving a trail's logs has server access logging on",
    description=(
        "The S3 bucket a trail delivers to records every request made to it in server access logs "
        "(CIS 3.4), so reads and deletions of the audit trail itself can be traced. A bucket the scanned "
        "account cannot read (for example in a central logging account) gives ERROR, never PASS."
    ),
    severity=Severity.MEDIUM,
    resource_type=TRAIL,
    service="cloudtrail",
    remediation=(
        "Turn on server access logging for the trail's bucket, into a separate log bucket.\n"
        "CLI: aws s3api put-bucket-logging --bucket TRAIL_BUCKET --bucket-logging-status "
        '\'{"LoggingEnabled":{"TargetBucket":"LOG_BUCKET","TargetPrefix":"cloudtrail/"}}\'\n'
        'Terraform: resource "aws_s3_bucket_logging" "trail" { bucket = TRAIL_BUCKET '
        'target_bucket = LOG_BUCKET target_prefix = "cloudtrail/" }'
    ),
    permissions=("cloudtrail:DescribeTrails", "s3:GetBucketLogging"),
)
def cloudtrail_bucket_access_logging(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "bucket_logging")) is not None:
        return err
    logging = snap.configuration["bucket_logging"]
    bucket = snap.configuration.get("s3_bucket_name") or "(unnamed)"
    if not isinstance(logging, Mapping) or not isinstance(logging.get("enabled"), bool):
        return errored(f"Trail {snap.name}: the access logging data of its bucket is not usable ({logging!r})")
    if not logging["enabled"]:
        return failed(f"Trail {snap.name} delivers to bucket {bucket}, which has no server access logging")
    return passed(
        f"Trail {snap.name} delivers to bucket {bucket}, which logs its access to {logging.get('target_bucket')}",
        target_bucket=logging.get("target_bucket"),
    )


def _data_events(snap: Snapshot, kind: str) -> Verdict | None:
    """PASS when one logging multi-region trail records S3 ``kind`` data events for every bucket."""
    if context_scope(snap) != "account":
        return None
    if TRAILS_FIELD not in snap.configuration:
        return errored(
            f"The account context of {snap.name} has no CloudTrail trail data (CloudTrail was not collected)"
        )
    trails = snap.configuration[TRAILS_FIELD]
    if trails is None and TRAILS_FIELD in snap.unreadable:
        trails = []
    if not isinstance(trails, list) or any(not isinstance(t, Mapping) for t in trails):
        return errored(f"The CloudTrail trail data of {snap.name} is not usable")

    def records(trail: Mapping[str, Any]) -> bool | None:
        events = trail.get("s3_data_events")
        if not isinstance(events, Mapping) or not isinstance(events.get(kind), bool):
            return None
        return bool(events[kind])

    usable = [t for t in trails if t.get("is_multi_region") is True and t.get("is_logging") is not False]
    good = [t for t in usable if t.get("is_logging") is True and records(t) is True]
    if good:
        names = sorted(str(t.get("name")) for t in good)
        return passed(
            f"Multi-region trail(s) {', '.join(names)} record S3 object-level {kind} events for every bucket",
            trails=sorted(str(t.get("arn")) for t in good),
        )
    if (err := unreadable(snap, TRAILS_FIELD)) is not None:
        return err
    unknown = [t for t in usable if records(t) is None or t.get("is_logging") is None]
    if unknown:
        listed = ", ".join(sorted(str(t.get("name")) for t in unknown))
        return errored(f"Could not read the event selectors or status of multi-region trail(s) {listed}")
    if not trails:
        return failed(
            f"Account {snap.account_id} has no CloudTrail trail, so no S3 object-level {kind} events are recorded"
        )
    return failed(
        f"No logging multi-region trail of account {snap.account_id} records S3 object-level {kind} events for "
        f"every bucket (trails: {', '.join(sorted(str(t.get('name')) for t in trails))})",
        trails=sorted(str(t.get("arn")) for t in trails),
    )


_DATA_EVENTS_PERMISSIONS = ("cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors")


@check(
    id="cloudtrail_s3_write_data_events",
    title="CloudTrail records S3 object-level write events",
    description=(
        "A logging multi-region trail records S3 data events for writes (PutObject, DeleteObject, ...) on "
        "every bucket (CIS 3.8), so changes to individual objects can be investigated."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Add an S3 data event selector for all buckets to a multi-region trail.\n"
        "CLI: aws cloudtrail put-event-selectors --trail-name TRAIL --event-selectors "
        '\'[{"ReadWriteType":"WriteOnly","IncludeManagementEvents":true,'
        '"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}]}]\'\n'
        'Terraform: aws_cloudtrail event_selector { read_write_type = "WriteOnly" data_resource '
        '{ type = "AWS::S3::Object" values = ["arn:aws:s3"] } }'
    ),
    permissions=_DATA_EVENTS_PERMISSIONS,
)
def cloudtrail_s3_write_data_events(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    return _data_events(snap, "write")


@check(
    id="cloudtrail_s3_read_data_events",
    title="CloudTrail records S3 object-level read events",
    description=(
        "A logging multi-region trail records S3 data events for reads (GetObject, ...) on every bucket "
        "(CIS 3.9), so who read which object can be established after an incident."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Add an S3 data event selector for all buckets to a multi-region trail.\n"
        "CLI: aws cloudtrail put-event-selectors --trail-name TRAIL --event-selectors "
        '\'[{"ReadWriteType":"ReadOnly","IncludeManagementEvents":true,'
        '"DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}]}]\'\n'
        'Terraform: aws_cloudtrail event_selector { read_write_type = "ReadOnly" data_resource '
        '{ type = "AWS::S3::Object" values = ["arn:aws:s3"] } }'
    ),
    permissions=_DATA_EVENTS_PERMISSIONS,
)
def cloudtrail_s3_read_data_events(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    return _data_events(snap, "read")
