"""Checks on S3 buckets (``AWS::S3::Bucket``) and the account-wide S3 public access block.

The bucket configuration is the one the S3 collector builds: ``encryption``,
``public_access_block`` and ``account_public_access_block`` (the four settings as booleans),
``policy_status`` (``is_public``), ``policy`` (the parsed document or None), ``acl`` and
``public_acl_grants``, ``logging``, ``versioning``. What AWS enforces is the union of the bucket's
and the account's public access block, so the checks judge that effective block.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed, unreadable

BUCKET = "AWS::S3::Bucket"
ACCOUNT = "AWS::::Account"

BLOCK_SETTINGS = ("block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets")
BLOCK_LABELS = {
    "block_public_acls": "BlockPublicAcls",
    "ignore_public_acls": "IgnorePublicAcls",
    "block_public_policy": "BlockPublicPolicy",
    "restrict_public_buckets": "RestrictPublicBuckets",
}
KNOWN_ALGORITHMS = {"AES256": "SSE-S3 (AES256)", "aws:kms": "SSE-KMS", "aws:kms:dsse": "DSSE-KMS"}


def _missing(snap: Snapshot, *fields: str) -> Verdict | None:
    """ERROR when a field the check reads is absent from the configuration altogether."""
    absent = [f for f in fields if f not in snap.configuration]
    if not absent:
        return None
    return errored(
        f"The configuration of bucket {snap.name} has no {', '.join(absent)} data, so it cannot be evaluated",
        missing=absent,
    )


def _mapping(snap: Snapshot, field: str) -> Mapping[str, Any] | Verdict:
    value = snap.configuration.get(field)
    if isinstance(value, Mapping):
        return value
    return errored(f"The {field} data of {snap.name} is not usable ({value!r})", field=field)


def _block(value: Any) -> dict[str, bool] | None:
    """A public access block as four booleans, or None when it is not a usable mapping."""
    if not isinstance(value, Mapping) or any(not isinstance(value.get(k), bool) for k in BLOCK_SETTINGS):
        return None
    return {k: bool(value[k]) for k in BLOCK_SETTINGS}


def _effective(snap: Snapshot, setting: str) -> bool | None:
    """Whether ``setting`` is enforced for the bucket (bucket OR account); None when unknown."""
    bucket = None if "public_access_block" in snap.unreadable else _block(snap.configuration.get("public_access_block"))
    account = (
        None
        if "account_public_access_block" in snap.unreadable
        else _block(snap.configuration.get("account_public_access_block"))
    )
    if (bucket is not None and bucket[setting]) or (account is not None and account[setting]):
        return True
    if bucket is None or account is None:
        return None
    return False


# --------------------------------------------------------------------------------------------
# Default encryption


@check(
    id="s3_bucket_default_encryption",
    title="S3 buckets encrypt new objects by default",
    description=(
        "The bucket has a default server-side encryption rule (SSE-S3, SSE-KMS or DSSE-KMS), so objects "
        "written without an encryption header are still encrypted at rest. With require_kms, only "
        "KMS-based encryption passes."
    ),
    severity=Severity.HIGH,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "Set a default encryption rule on the bucket, preferably with a KMS key: aws s3api "
        "put-bucket-encryption --bucket BUCKET --server-side-encryption-configuration "
        '\'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"},"BucketKeyEnabled":true}]}\''
    ),
    permissions=("s3:GetEncryptionConfiguration",),
    parameters={"require_kms": False},
)
def s3_bucket_default_encryption(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "encryption")) is not None:
        return err
    if (err := _missing(snap, "encryption")) is not None:
        return err
    enc = _mapping(snap, "encryption")
    if isinstance(enc, Verdict):
        return enc
    if not isinstance(enc.get("enabled"), bool):
        return errored(f"The encryption data of bucket {snap.name} does not say whether it is enabled")
    if not enc["enabled"]:
        return failed(f"Bucket {snap.name} has no default encryption configuration", encryption=dict(enc))
    algorithm = str(enc.get("algorithm") or "")
    label = KNOWN_ALGORITHMS.get(algorithm)
    if label is None:
        return failed(
            f"Bucket {snap.name} has a default encryption rule with an unrecognised algorithm {algorithm!r}",
            encryption=dict(enc),
        )
    if params.get("require_kms") and algorithm == "AES256":
        return failed(
            f"Bucket {snap.name} encrypts by default with {label}, but a KMS key is required",
            encryption=dict(enc),
        )
    key = f" with key {enc['kms_key_id']}" if enc.get("kms_key_id") else ""
    return passed(f"Bucket {snap.name} encrypts new objects by default with {label}{key}", encryption=dict(enc))


# --------------------------------------------------------------------------------------------
# Public access block


@check(
    id="s3_bucket_public_access_block",
    title="S3 buckets have every public access block setting on",
    description=(
        "All four S3 Block Public Access settings (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, "
        "RestrictPublicBuckets) are enforced for the bucket, by the bucket's own block or by the "
        "account-wide one."
    ),
    severity=Severity.HIGH,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "Turn on all four settings for the bucket (or for the whole account): aws s3api "
        "put-public-access-block --bucket BUCKET --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
    ),
    permissions=("s3:GetBucketPublicAccessBlock", "s3:GetAccountPublicAccessBlock"),
)
def s3_bucket_public_access_block(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "public_access_block")) is not None:
        return err
    if (err := _missing(snap, "public_access_block", "account_public_access_block")) is not None:
        return err
    bucket = _block(snap.configuration["public_access_block"])
    if bucket is None:
        return errored(f"The public access block data of bucket {snap.name} is not usable")
    if all(bucket.values()):
        return passed(
            f"Bucket {snap.name} has all four public access block settings on at bucket level",
            bucket_block=bucket,
        )
    # The bucket alone is not enough: the account-wide block decides the rest.
    if (err := unreadable(snap, "account_public_access_block")) is not None:
        return err
    account = _block(snap.configuration["account_public_access_block"])
    if account is None:
        return errored(f"The account-level public access block data seen by bucket {snap.name} is not usable")
    off = [BLOCK_LABELS[k] for k in BLOCK_SETTINGS if not (bucket[k] or account[k])]
    if off:
        return failed(
            f"Bucket {snap.name} is not covered by {', '.join(off)} at bucket or account level",
            off=off,
            bucket_block=bucket,
            account_block=account,
        )
    return passed(
        f"Bucket {snap.name} has all four public access block settings on, with the account-level block",
        bucket_block=bucket,
        account_block=account,
    )


# --------------------------------------------------------------------------------------------
# Not public


@check(
    id="s3_bucket_not_public",
    title="S3 buckets are not publicly accessible",
    description=(
        "Neither the bucket policy (as judged by S3's policy status) nor the ACL grants access to everyone "
        "(AllUsers) or to any AWS account (AuthenticatedUsers), unless the effective public access block "
        "neutralises it (RestrictPublicBuckets for the policy, IgnorePublicAcls for ACL grants)."
    ),
    severity=Severity.CRITICAL,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "Remove public statements and public ACL grants, then turn on Block Public Access: aws s3api "
        "put-public-access-block --bucket BUCKET --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
    ),
    permissions=(
        "s3:GetBucketPolicyStatus",
        "s3:GetBucketAcl",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetAccountPublicAccessBlock",
    ),
)
def s3_bucket_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (
        err := _missing(
            snap, "policy_status", "public_acl_grants", "public_access_block", "account_public_access_block"
        )
    ) is not None:
        return err
    exposures: list[str] = []
    unknown: list[str] = []

    # Bucket policy: public unless RestrictPublicBuckets is enforced.
    restrict = _effective(snap, "restrict_public_buckets")
    if "policy_status" in snap.unreadable:
        if restrict is not True:
            unknown.append(f"policy status ({snap.unreadable['policy_status']})")
    else:
        status = snap.configuration["policy_status"]
        if not isinstance(status, Mapping) or not isinstance(status.get("is_public"), bool):
            return errored(f"The policy status data of bucket {snap.name} is not usable")
        if status["is_public"]:
            if restrict is False:
                exposures.append("its bucket policy grants public access and RestrictPublicBuckets is off")
            elif restrict is None:
                unknown.append("whether RestrictPublicBuckets neutralises its public bucket policy")

    # ACL grants: public unless IgnorePublicAcls is enforced.
    ignore = _effective(snap, "ignore_public_acls")
    if "public_acl_grants" in snap.unreadable:
        if ignore is not True:
            unknown.append(f"ACL grants ({snap.unreadable['public_acl_grants']})")
    else:
        grants = snap.configuration["public_acl_grants"]
        if not isinstance(grants, list):
            return errored(f"The ACL grant data of bucket {snap.name} is not usable")
        if grants:
            described = ", ".join(sorted(f"{g.get('grantee')}:{g.get('permission')}" for g in grants))
            if ignore is False:
                exposures.append(f"its ACL grants {described} and IgnorePublicAcls is off")
            elif ignore is None:
                unknown.append(f"whether IgnorePublicAcls neutralises its ACL grants {described}")

    if exposures:
        return failed(f"Bucket {snap.name} is public: {'; '.join(exposures)}", exposures=exposures)
    if unknown:
        detail = "; ".join(unknown)
        unreadable_fields = {
            f: snap.unreadable[f]
            for f in (
                "policy_status",
                "public_acl_grants",
                "public_access_block",
                "account_public_access_block",
            )
            if f in snap.unreadable
        }
        return errored(
            f"Could not establish whether bucket {snap.name} is public: unknown {detail}",
            unreadable=unreadable_fields,
        )
    return passed(
        f"Bucket {snap.name} grants no public access through its policy or ACL, or the public access "
        "block neutralises it",
        restrict_public_buckets=restrict,
        ignore_public_acls=ignore,
    )


# --------------------------------------------------------------------------------------------
# Access logging


@check(
    id="s3_bucket_access_logging",
    title="S3 buckets have server access logging enabled",
    description="Server access logging is on, so requests made to the bucket are recorded in a log bucket.",
    severity=Severity.MEDIUM,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "Enable server access logging to a dedicated log bucket: aws s3api put-bucket-logging "
        "--bucket BUCKET --bucket-logging-status "
        '\'{"LoggingEnabled":{"TargetBucket":"LOG-BUCKET","TargetPrefix":"BUCKET/"}}\''
    ),
    permissions=("s3:GetBucketLogging",),
)
def s3_bucket_access_logging(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "logging")) is not None:
        return err
    if (err := _missing(snap, "logging")) is not None:
        return err
    logging = _mapping(snap, "logging")
    if isinstance(logging, Verdict):
        return logging
    if not isinstance(logging.get("enabled"), bool):
        return errored(f"The logging data of bucket {snap.name} does not say whether logging is on")
    if not logging["enabled"]:
        return failed(f"Bucket {snap.name} has server access logging disabled")
    return passed(
        f"Bucket {snap.name} logs server access to bucket {logging.get('target_bucket')}",
        target_bucket=logging.get("target_bucket"),
        target_prefix=logging.get("target_prefix"),
    )


# --------------------------------------------------------------------------------------------
# Versioning


@check(
    id="s3_bucket_versioning",
    title="S3 buckets have versioning enabled",
    description=(
        "Versioning is Enabled, so overwritten or deleted objects can be recovered. A bucket whose "
        "versioning was never enabled or is Suspended fails."
    ),
    severity=Severity.MEDIUM,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "Enable versioning on the bucket: aws s3api put-bucket-versioning --bucket BUCKET "
        "--versioning-configuration Status=Enabled"
    ),
    permissions=("s3:GetBucketVersioning",),
)
def s3_bucket_versioning(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "versioning")) is not None:
        return err
    if (err := _missing(snap, "versioning")) is not None:
        return err
    versioning = _mapping(snap, "versioning")
    if isinstance(versioning, Verdict):
        return versioning
    status = versioning.get("status")
    if not isinstance(status, str):
        return errored(f"The versioning data of bucket {snap.name} has no status")
    if status != "Enabled":
        state = "suspended" if status == "Suspended" else "never enabled"
        return failed(f"Bucket {snap.name} has versioning {state} (status {status})", status=status)
    mfa = " with MFA delete" if versioning.get("mfa_delete") else ""
    return passed(f"Bucket {snap.name} has versioning enabled{mfa}", status=status)


# --------------------------------------------------------------------------------------------
# Secure transport


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return "*" in _list(principal.get("AWS"))
    return False


def _denies_all_s3(actions: Iterable[Any]) -> bool:
    return any(str(a).lower() in ("*", "s3:*") for a in actions)


def _insecure_transport_only(condition: Any) -> bool:
    """True when the condition block is exactly 'aws:SecureTransport is false'."""
    if not isinstance(condition, Mapping) or not condition:
        return False
    for operator, tests in condition.items():
        if str(operator).lower() not in ("bool", "boolifexists") or not isinstance(tests, Mapping):
            return False
        for key, value in tests.items():
            if str(key).lower() != "aws:securetransport":
                return False
            values = [str(v).lower() for v in _list(value)]
            if values != ["false"]:
                return False
    return True


def _covers_objects(resources: Iterable[Any], bucket_arn: str) -> bool:
    probe = f"{bucket_arn}/any-object-key"
    return any(fnmatch.fnmatchcase(probe, str(r)) for r in resources)


def secure_transport_statement(policy: Mapping[str, Any], bucket_arn: str) -> Mapping[str, Any] | None:
    """The statement that denies every S3 request on the bucket's objects made without TLS, if any."""
    for statement in _list(policy.get("Statement")):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
            continue
        if "NotPrincipal" in statement or "NotAction" in statement or "NotResource" in statement:
            continue
        if not _everyone(statement.get("Principal")):
            continue
        if not _denies_all_s3(_list(statement.get("Action"))):
            continue
        if not _insecure_transport_only(statement.get("Condition")):
            continue
        if not _covers_objects(_list(statement.get("Resource")), bucket_arn):
            continue
        return statement
    return None


@check(
    id="s3_bucket_secure_transport",
    title="S3 buckets refuse requests made without TLS",
    description=(
        "The bucket policy has a Deny statement for every principal and every S3 action on the bucket's "
        "objects when aws:SecureTransport is false, so data cannot be read or written over plain HTTP."
    ),
    severity=Severity.MEDIUM,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "Add a statement denying s3:* to Principal * on arn:aws:s3:::BUCKET and arn:aws:s3:::BUCKET/* with "
        'Condition {"Bool":{"aws:SecureTransport":"false"}}: aws s3api put-bucket-policy --bucket BUCKET '
        "--policy file://policy.json"
    ),
    permissions=("s3:GetBucketPolicy",),
)
def s3_bucket_secure_transport(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := unreadable(snap, "policy")) is not None:
        return err
    if (err := _missing(snap, "policy")) is not None:
        return err
    policy = snap.configuration["policy"]
    if policy is None:
        return failed(f"Bucket {snap.name} has no bucket policy, so requests over plain HTTP are not denied")
    if not isinstance(policy, Mapping):
        return errored(f"The bucket policy data of {snap.name} is not a policy document")
    statement = secure_transport_statement(policy, snap.arn)
    if statement is None:
        return failed(
            f"The bucket policy of {snap.name} has no statement denying all S3 actions on its objects to "
            "every principal when aws:SecureTransport is false"
        )
    sid = statement.get("Sid")
    label = f"statement {sid}" if sid else "a statement"
    return passed(f"The bucket policy of {snap.name} denies requests without TLS ({label})", statement=dict(statement))


# --------------------------------------------------------------------------------------------
# Account-wide public access block

ACCOUNT_FIELD = "s3_account_public_access_block"


@check(
    id="s3_account_public_access_block",
    title="The account-wide S3 public access block is fully on",
    description=(
        "All four S3 Block Public Access settings are on for the whole account, so no bucket, existing "
        "or future, can be made public by a policy or an ACL."
    ),
    severity=Severity.HIGH,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Turn on Block Public Access for the account: aws s3control put-public-access-block --account-id "
        "ACCOUNT_ID --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
    ),
    permissions=("s3:GetAccountPublicAccessBlock",),
)
def s3_account_public_access_block(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if snap.configuration.get("scope") != "account":
        return None
    if (err := unreadable(snap, ACCOUNT_FIELD)) is not None:
        return err
    if ACCOUNT_FIELD not in snap.configuration:
        return errored(
            f"The account context of {snap.name} has no S3 account public access block data (S3 was not collected)"
        )
    block = _block(snap.configuration[ACCOUNT_FIELD])
    if block is None:
        return errored(f"The S3 account public access block data of {snap.name} is not usable")
    off = [BLOCK_LABELS[k] for k in BLOCK_SETTINGS if not block[k]]
    if off:
        return failed(
            f"Account {snap.account_id} has the account-wide S3 public access block settings {', '.join(off)} off",
            off=off,
            block=block,
        )
    return passed(
        f"Account {snap.account_id} has all four account-wide S3 public access block settings on", block=block
    )
