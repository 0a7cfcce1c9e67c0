"""Amazon S3: every bucket of the account, with its protection settings joined in.

ListBuckets is account-wide, so S3 is collected once per account (unit region ``global``). Each
bucket's region is learnt first (from ListBuckets' ``BucketRegion``, which AWS returns to a
paginated listing such as this one, else GetBucketLocation), so the remaining reads go to the
bucket's own regional endpoint and need no redirect; those reads then run concurrently, and buckets
are processed concurrently (the unit's semaphore bounds the calls in flight). Two reads are made
only when they can find something: the policy status when the bucket has a policy, the replication
configuration when the bucket's versioning was ever enabled (S3 refuses replication otherwise).

The account-level public access block (S3 Control) is read once, joined into every bucket (it
decides, with the bucket's own block, what is effectively blocked) and handed to the account
context as ``s3_account_public_access_block``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

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
from guardian_collector.collectors.kms import key_manager, region_of_arn

SERVICE = "s3"
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
BUCKET_TYPE = "AWS::S3::Bucket"
ACCOUNT_BLOCK_FACT = "account_public_access_block"
ACCOUNT_BLOCK_FIELD = "s3_account_public_access_block"

# ListBuckets includes each bucket's BucketRegion only when the request has a parameter (AWS's
# documentation of the field), so the listing is asked for pages: of the most buckets AWS allows.
LIST_BUCKETS_PAGE = 10_000

NO_ENCRYPTION = "ServerSideEncryptionConfigurationNotFoundError"
NO_PUBLIC_ACCESS_BLOCK = "NoSuchPublicAccessBlockConfiguration"
NO_POLICY = "NoSuchBucketPolicy"
NO_TAGS = "NoSuchTagSet"
NO_REPLICATION = "ReplicationConfigurationNotFoundError"

ALL_USERS_URI = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS_URI = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
PUBLIC_GROUPS = {ALL_USERS_URI: "AllUsers", AUTHENTICATED_USERS_URI: "AuthenticatedUsers"}

BLOCK_SETTINGS = (
    ("BlockPublicAcls", "block_public_acls"),
    ("IgnorePublicAcls", "ignore_public_acls"),
    ("BlockPublicPolicy", "block_public_policy"),
    ("RestrictPublicBuckets", "restrict_public_buckets"),
)


def bucket_region(location: str | None) -> str:
    """GetBucketLocation's answer as a region name (us-east-1 answers null, old Ireland buckets 'EU')."""
    if not location:
        return "us-east-1"
    if location == "EU":
        return "eu-west-1"
    return location


def public_access_block(answer: Mapping[str, Any] | None) -> dict[str, bool]:
    """The four settings, snake_cased; a missing configuration (or setting) means 'off'."""
    config = (answer or {}).get("PublicAccessBlockConfiguration") or {}
    return {name: bool(config.get(key, False)) for key, name in BLOCK_SETTINGS}


def no_public_access_block() -> dict[str, bool]:
    return public_access_block(None)


def no_encryption() -> dict[str, Any]:
    return {"enabled": False, "algorithm": None, "kms_key_id": None, "bucket_key": False, "rules": []}


def encryption(answer: Mapping[str, Any]) -> dict[str, Any]:
    """Default encryption: the first rule that applies a default algorithm decides."""
    rules = (answer.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    summary: list[dict[str, Any]] = []
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        summary.append(
            {
                "algorithm": default.get("SSEAlgorithm"),
                "kms_key_id": default.get("KMSMasterKeyID"),
                "bucket_key": bool(rule.get("BucketKeyEnabled", False)),
            }
        )
    applied = next((r for r in summary if r["algorithm"]), None)
    if applied is None:
        return {**no_encryption(), "rules": summary}
    return {
        "enabled": True,
        "algorithm": applied["algorithm"],
        "kms_key_id": applied["kms_key_id"],
        "bucket_key": applied["bucket_key"],
        "rules": summary,
    }


def policy_status(answer: Mapping[str, Any]) -> dict[str, bool]:
    return {"is_public": bool((answer.get("PolicyStatus") or {}).get("IsPublic", False))}


def acl(answer: Mapping[str, Any]) -> dict[str, Any]:
    grants = []
    for grant in answer.get("Grants") or []:
        grantee = grant.get("Grantee") or {}
        grants.append(
            {
                "grantee_type": grantee.get("Type"),
                "grantee_id": grantee.get("ID"),
                "grantee_uri": grantee.get("URI"),
                "grantee_email": grantee.get("EmailAddress"),
                "permission": grant.get("Permission"),
            }
        )
    return {"owner_id": (answer.get("Owner") or {}).get("ID"), "grants": grants}


def public_acl_grants(bucket_acl: Mapping[str, Any]) -> list[dict[str, str]]:
    """The grants that open the bucket to everyone (AllUsers) or to any AWS account (AuthenticatedUsers)."""
    found = []
    for grant in bucket_acl.get("grants") or []:
        group = PUBLIC_GROUPS.get(str(grant.get("grantee_uri") or ""))
        if group is not None:
            found.append({"grantee": group, "permission": str(grant.get("permission"))})
    return found


def logging_config(answer: Mapping[str, Any]) -> dict[str, Any]:
    enabled = answer.get("LoggingEnabled")
    if not enabled:
        return {"enabled": False, "target_bucket": None, "target_prefix": None}
    return {
        "enabled": True,
        "target_bucket": enabled.get("TargetBucket"),
        "target_prefix": enabled.get("TargetPrefix"),
    }


def no_replication() -> dict[str, Any]:
    return {"enabled": False, "rules": []}


def replication(answer: Mapping[str, Any]) -> dict[str, Any]:
    """Replication rules of a bucket (GetBucketReplication): each rule's status and destination bucket.

    ``enabled`` says whether at least one rule is Enabled; the destination's region is not in the
    answer (only its bucket ARN), so cross-region is judged where the destination is known.
    """
    config = answer.get("ReplicationConfiguration") or {}
    rules = [
        {
            "id": str(rule.get("ID") or ""),
            "status": str(rule.get("Status") or ""),
            "destination_bucket": str((rule.get("Destination") or {}).get("Bucket") or ""),
            "storage_class": (rule.get("Destination") or {}).get("StorageClass"),
        }
        for rule in config.get("Rules") or []
    ]
    return {"enabled": any(r["status"] == "Enabled" for r in rules), "rules": rules}


def versioning(answer: Mapping[str, Any]) -> dict[str, Any]:
    """``status`` is Enabled, Suspended or Disabled (never enabled: AWS returns no Status)."""
    return {
        "status": answer.get("Status") or "Disabled",
        "mfa_delete": answer.get("MFADelete") == "Enabled",
    }


class PolicyParseError(ValueError):
    pass


def policy_document(answer: Mapping[str, Any]) -> dict[str, Any]:
    raw = answer.get("Policy")
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        parsed = json.loads(str(raw))
    except (TypeError, ValueError) as exc:
        raise PolicyParseError(f"the bucket policy is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise PolicyParseError("the bucket policy is not a JSON object")
    return parsed


@register
class S3Collector(Collector):
    service = SERVICE
    global_service = True
    permissions = (
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
        "s3:GetEncryptionConfiguration",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketPolicyStatus",
        "s3:GetBucketPolicy",
        "s3:GetBucketAcl",
        "s3:GetBucketLogging",
        "s3:GetBucketVersioning",
        "s3:GetBucketTagging",
        "s3:GetReplicationConfiguration",
        "s3:GetAccountPublicAccessBlock",
        "kms:DescribeKey",
    )
    resource_types = (BUCKET_TYPE,)
    start_priority = 2  # nine or ten calls per bucket: usually the longest unit of a scan

    async def collect(self, ctx: UnitContext) -> None:
        s3 = await ctx.client("s3")
        # The account-level block is read even when the bucket listing fails: the account
        # context needs it either way.
        account_task = asyncio.create_task(self._account_block(ctx))
        try:
            buckets = await ctx.list_all(s3, "list_buckets", "Buckets", MaxBuckets=LIST_BUCKETS_PAGE)
        finally:
            account_block = await account_task
        await asyncio.gather(*(self._bucket(ctx, s3, bucket, account_block) for bucket in buckets))

    async def _account_block(self, ctx: UnitContext) -> Read:
        control = await ctx.client("s3control")
        read = await ctx.read(
            control, "get_public_access_block", absent=(NO_PUBLIC_ACCESS_BLOCK,), AccountId=ctx.account_id
        )
        if read.error is not None:
            ctx.facts.put_error(SERVICE, ACCOUNT_BLOCK_FACT, read.error.describe())
        elif read.absent:
            ctx.facts.put(SERVICE, ACCOUNT_BLOCK_FACT, no_public_access_block())
        else:
            ctx.facts.put(SERVICE, ACCOUNT_BLOCK_FACT, public_access_block(read.value))
        return read

    async def _bucket(self, ctx: UnitContext, s3: Any, bucket: Mapping[str, Any], account_block: Read) -> None:
        name = str(bucket["Name"])
        arn = f"arn:{ctx.partition}:s3:::{name}"
        created = bucket.get("CreationDate")
        cfg = ConfigBuilder(
            name=name,
            arn=arn,
            creation_date=created.isoformat() if isinstance(created, datetime) else created,
        )

        region: str | None
        if bucket.get("BucketRegion"):
            region = str(bucket["BucketRegion"])
        else:
            location = await ctx.read(s3, "get_bucket_location", resource_arn=arn, Bucket=name)
            region = None if location.error else bucket_region(location.value.get("LocationConstraint"))
            if location.error is not None:
                cfg.fail("region", location.error)
        if region is not None:
            cfg.put("region", region)
        # Unknown region: ask the home-region endpoint and let botocore follow S3's redirect.
        client = await ctx.client("s3", region) if region is not None else s3

        def read(operation: str, absent: tuple[str, ...] = ()) -> Any:
            return ctx.read(client, operation, absent=absent, resource_arn=arn, Bucket=name)

        async def policy_then_status() -> tuple[Read, Read]:
            # A bucket without a policy has no policy status: AWS answers GetBucketPolicyStatus with the
            # same NoSuchBucketPolicy, which reads as "not public". Asked only when there is a policy
            # (or when the policy could not be read, so its status is not presumed).
            policy = await read("get_bucket_policy", (NO_POLICY,))
            if policy.absent:
                return policy, Read(absent=True)
            return policy, await read("get_bucket_policy_status", (NO_POLICY,))

        async def versioning_then_replication() -> tuple[Read, Read]:
            # S3 accepts a replication configuration only on a bucket whose versioning is Enabled, and
            # versioning once enabled never returns to unversioned: a bucket whose versioning answer has
            # no Status was never versioned, so it has no replication configuration to read.
            versions = await read("get_bucket_versioning")
            if versions.ok and not versions.value.get("Status"):
                return versions, Read(absent=True)
            return versions, await read("get_bucket_replication", (NO_REPLICATION,))

        (enc, block, (policy, status), bucket_acl, logging, (versions, replicas), tagging) = await asyncio.gather(
            read("get_bucket_encryption", (NO_ENCRYPTION,)),
            read("get_public_access_block", (NO_PUBLIC_ACCESS_BLOCK,)),
            policy_then_status(),
            read("get_bucket_acl"),
            read("get_bucket_logging"),
            versioning_then_replication(),
            read("get_bucket_tagging", (NO_TAGS,)),
        )

        cfg.from_read("encryption", enc, encryption, when_absent=no_encryption())
        await self._key_manager(ctx, cfg, region)
        cfg.from_read("public_access_block", block, public_access_block, when_absent=no_public_access_block())
        cfg.from_read(
            "account_public_access_block",
            account_block,
            public_access_block,
            when_absent=no_public_access_block(),
        )
        cfg.from_read("policy_status", status, policy_status, when_absent={"is_public": False})
        self._policy(cfg, policy, arn)
        cfg.from_read("acl", bucket_acl, acl)
        if bucket_acl.error is not None:
            cfg.fail("public_acl_grants", bucket_acl.error)
        else:
            cfg.put("public_acl_grants", public_acl_grants(cfg.data["acl"]))
        cfg.from_read("logging", logging, logging_config)
        cfg.from_read("versioning", versions, versioning)
        cfg.from_read("tags", tagging, lambda v: tags_of(v.get("TagSet")), when_absent={})
        cfg.from_read("replication", replicas, replication, when_absent=no_replication())

        await ctx.emit(
            Resource(
                resource_type=BUCKET_TYPE,
                arn=arn,
                name=name,
                region=region or ctx.region,
                configuration=cfg.build(),
                tags=dict(cfg.data.get("tags") or {}),
            )
        )

    @staticmethod
    async def _key_manager(ctx: UnitContext, cfg: ConfigBuilder, region: str | None) -> None:
        """Who manages the default-encryption KMS key: only a customer-managed key counts for
        restricted data, and an ARN alone does not say whether it is the AWS-managed aws/s3 key."""
        enc = cfg.data.get("encryption")
        if not isinstance(enc, dict) or not enc.get("enabled") or enc.get("algorithm") not in KMS_ALGORITHMS:
            cfg.put("encryption_key_manager", None)
            return
        key = enc.get("kms_key_id")
        if not key or str(key).startswith("alias/aws/") or ":alias/aws/" in str(key):
            cfg.put("encryption_key_manager", "AWS")  # no key of its own means the aws/s3 key
            return
        read = await key_manager(ctx, str(key), region_of_arn(str(key)) or region)
        cfg.from_read("encryption_key_manager", read)

    @staticmethod
    def _policy(cfg: ConfigBuilder, read: Read, arn: str) -> None:
        if read.error is not None or read.absent:
            cfg.from_read("policy", read, when_absent=None)
            return
        try:
            cfg.put("policy", policy_document(read.value))
        except PolicyParseError as exc:
            cfg.fail("policy", CallError("GetBucketPolicy", "MalformedPolicy", str(exc), arn))

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        if region != "global":
            return {}, {}
        error = facts.error(SERVICE, ACCOUNT_BLOCK_FACT)
        if error is not None:
            return {ACCOUNT_BLOCK_FIELD: None}, {ACCOUNT_BLOCK_FIELD: error}
        value = facts.get(SERVICE, ACCOUNT_BLOCK_FACT)
        if value is None:
            return {ACCOUNT_BLOCK_FIELD: None}, {
                ACCOUNT_BLOCK_FIELD: "not collected: the S3 collection ended before reading it"
            }
        return {ACCOUNT_BLOCK_FIELD: dict(value)}, {}
