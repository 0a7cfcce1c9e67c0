"""Golden tests: S3 and CloudTrail seeded in moto, collected by the real collectors, judged by the real checks.

Every S3 and CloudTrail check is shown PASS on a well-configured resource and FAIL on a badly
configured one, both produced by the collectors from moto's answers. The last test denies a few
reads (a botocore ``before-call`` hook answering 403 AccessDenied in place of moto, so the
collectors' own error handling runs) and shows the affected checks turn ERROR, never PASS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import golden_support
import pytest
from golden_support import (
    ACCOUNT,
    Answer,
    Emitted,
    answering_with,
    model_checked,
    refusal,
    request_url,
    status,
    units,
    verdict,
)
from golden_support import moto_fixture as moto_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_collector.collection import (
    CollectionOutcome,
    undo_s3control_host_prefix,
)
from guardian_collector.collectors.base import CallError, Read
from guardian_collector.collectors.cloudtrail import ALL_USERS_URI, bucket_exposure, management_events
from guardian_collector.collectors.s3 import PolicyParseError, bucket_region, policy_document
from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY
from guardian_testkit.moto import MotoServer

REGIONS = ["us-east-1", "eu-west-1"]
GOOD_BUCKET = "guardian-good-data"
BAD_BUCKET = "guardian-bad-data"
LOG_BUCKET = "guardian-access-logs"
GOOD_TRAIL = "guardian-org-trail"
BAD_TRAIL = "guardian-local-trail"
LOG_GROUP = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:cloudtrail-events:*"
CW_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cloudtrail-to-cloudwatch"

ALL_BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}

P, F, E = Status.PASS, Status.FAIL, Status.ERROR

load_all()

UrlIntercept = Callable[[str, str, str, str], "Answer | None"]
"""intercept(service, operation, client_region, url) -> (HTTP status, parsed answer) to answer in
moto's place, or None to let moto answer."""


def access_denied(operation: str) -> Answer:
    return refusal("AccessDenied", f"injected denial of {operation}")


async def collect(moto: MotoServer, intercept: UrlIntercept | None = None) -> tuple[Emitted, CollectionOutcome]:
    # A before-call handler that returns a response short-circuits the HTTP call.
    handlers = None if intercept is None else {"before-call": answering_with(intercept, request_url)}
    return await golden_support.collect(moto, ["s3", "cloudtrail"], regions=REGIONS, handlers=handlers)


def verdicts(emitted: Emitted) -> dict[str, dict[str, Status | None]]:
    """{resource name: {check id: status}} for every S3 and CloudTrail check on every emitted resource."""
    out: dict[str, dict[str, Status | None]] = {}
    for resource, _, _ in emitted:
        checks = [c for c in REGISTRY.for_type(resource.resource_type) if c.id.startswith(("s3_", "cloudtrail_"))]
        out[resource.name] = {chk.id: status(chk.id, resource) for chk in checks}
    return out


def reasons(emitted: Emitted, name: str, check_id: str) -> str:
    resource = next(r for r, _, _ in emitted if r.name == name)
    result = verdict(check_id, resource)
    assert result is not None
    return result[1]


# --- seeding ---------------------------------------------------------------------------------


def tls_only(bucket: str, *extra: dict[str, Any]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                *extra,
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def seed_buckets(moto: MotoServer) -> str:
    s3 = moto.client("s3", "us-east-1")
    key_arn = str(moto.client("kms", "us-east-1").create_key(Description="bucket key")["KeyMetadata"]["Arn"])

    # Log bucket: private, TLS-only, lets the logging service write; no encryption config, no
    # versioning and no logging of its own.
    s3.create_bucket(Bucket=LOG_BUCKET)
    s3.put_public_access_block(Bucket=LOG_BUCKET, PublicAccessBlockConfiguration=ALL_BLOCKED)
    delivery = {
        "Sid": "S3ServerAccessLogs",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": ["s3:PutObject"],
        "Resource": f"arn:aws:s3:::{LOG_BUCKET}/*",
    }
    s3.put_bucket_policy(Bucket=LOG_BUCKET, Policy=tls_only(LOG_BUCKET, delivery))

    # Good bucket: KMS default encryption, every block on, access logging, versioning, TLS only.
    s3.create_bucket(Bucket=GOOD_BUCKET)
    s3.put_bucket_encryption(
        Bucket=GOOD_BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(Bucket=GOOD_BUCKET, PublicAccessBlockConfiguration=ALL_BLOCKED)
    s3.put_bucket_logging(
        Bucket=GOOD_BUCKET,
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": LOG_BUCKET, "TargetPrefix": f"{GOOD_BUCKET}/"}},
    )
    s3.put_bucket_versioning(Bucket=GOOD_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket=GOOD_BUCKET, Policy=tls_only(GOOD_BUCKET))
    s3.put_bucket_tagging(Bucket=GOOD_BUCKET, Tagging={"TagSet": [{"Key": "owner", "Value": "audit"}]})

    # Bad bucket, in another region: no encryption config, public-read ACL without any block,
    # no logging, versioning suspended, no policy.
    eu = moto.client("s3", "eu-west-1")
    eu.create_bucket(Bucket=BAD_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    eu.put_bucket_acl(Bucket=BAD_BUCKET, ACL="public-read")
    eu.put_bucket_versioning(Bucket=BAD_BUCKET, VersioningConfiguration={"Status": "Suspended"})
    return key_arn


def seed_good_trail(moto: MotoServer, key_arn: str) -> None:
    trails = moto.client("cloudtrail", "us-east-1")
    trails.create_trail(
        Name=GOOD_TRAIL,
        S3BucketName=GOOD_BUCKET,
        IsMultiRegionTrail=True,
        IncludeGlobalServiceEvents=True,
        EnableLogFileValidation=True,
        KmsKeyId=key_arn,
        CloudWatchLogsLogGroupArn=LOG_GROUP,
        CloudWatchLogsRoleArn=CW_ROLE,
    )
    # moto keeps no default selector (AWS records all management events by default): set it, with
    # S3 object-level events (reads and writes) for every bucket.
    trails.put_event_selectors(
        TrailName=GOOD_TRAIL,
        EventSelectors=[
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
            }
        ],
    )
    trails.start_logging(Name=GOOD_TRAIL)


def seed_bad_trail(moto: MotoServer) -> None:
    trails = moto.client("cloudtrail", "eu-west-1")
    trails.create_trail(Name=BAD_TRAIL, S3BucketName=BAD_BUCKET, IsMultiRegionTrail=False)
    trails.put_event_selectors(
        TrailName=BAD_TRAIL,
        AdvancedEventSelectors=[
            {
                "Name": "management writes only",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Management"]},
                    {"Field": "readOnly", "Equals": ["false"]},
                ],
            }
        ],
    )


def block_account(moto: MotoServer) -> None:
    control = moto.client("s3control", "us-east-1")
    control.meta.events.register("before-send.s3-control.*", undo_s3control_host_prefix)
    control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=ALL_BLOCKED)


# --- expected verdicts -----------------------------------------------------------------------

BUCKET_CHECKS = (
    "s3_bucket_default_encryption",
    "s3_bucket_public_access_block",
    "s3_bucket_not_public",
    "s3_bucket_access_logging",
    "s3_bucket_versioning",
    "s3_bucket_secure_transport",
    "s3_bucket_mfa_delete",
)
TRAIL_CHECKS = (
    "cloudtrail_logging_enabled",
    "cloudtrail_log_file_validation",
    "cloudtrail_kms_encryption",
    "cloudtrail_cloudwatch_logs",
    "cloudtrail_bucket_not_public",
    "cloudtrail_bucket_access_logging",
)
ACCOUNT_CHECKS = (
    "s3_account_public_access_block",
    "cloudtrail_multi_region_enabled",
    "cloudtrail_s3_write_data_events",
    "cloudtrail_s3_read_data_events",
)


def row(checks: tuple[str, ...], *statuses: Status | None) -> dict[str, Status | None]:
    assert len(checks) == len(statuses)
    return dict(zip(checks, statuses, strict=True))


def regional_contexts() -> dict[str, dict[str, Status | None]]:
    return {f"{ACCOUNT} ({r})": row(ACCOUNT_CHECKS, None, None, None, None) for r in REGIONS}


# --- tests -----------------------------------------------------------------------------------


async def test_good_and_bad_resources(moto: MotoServer) -> None:
    key_arn = seed_buckets(moto)
    seed_good_trail(moto, key_arn)
    seed_bad_trail(moto)

    emitted, outcome = await collect(moto)

    assert all(status is UnitStatus.COMPLETE for status in units(outcome).values()), outcome.units
    assert verdicts(emitted) == {
        # moto drops MFADelete from PutBucketVersioning, so every bucket fails s3_bucket_mfa_delete here.
        GOOD_BUCKET: row(BUCKET_CHECKS, P, P, P, P, P, P, F),
        BAD_BUCKET: row(BUCKET_CHECKS, F, F, F, F, F, F, F),
        LOG_BUCKET: row(BUCKET_CHECKS, F, P, P, F, F, P, F),
        GOOD_TRAIL: row(TRAIL_CHECKS, P, P, P, P, P, P),
        BAD_TRAIL: row(TRAIL_CHECKS, F, F, F, F, F, F),
        ACCOUNT: row(ACCOUNT_CHECKS, F, P, P, P),
        **regional_contexts(),
    }

    resources = {r.name: r for r, _, _ in emitted}
    # Regions and emission: the bad bucket lives in eu-west-1, each trail only in its home region.
    assert resources[BAD_BUCKET].region == "eu-west-1"
    assert resources[GOOD_BUCKET].region == "us-east-1"
    assert [(r.region, unit) for r, unit, _ in emitted if r.name == GOOD_TRAIL] == [("us-east-1", "us-east-1")]
    assert [(r.region, unit) for r, unit, _ in emitted if r.name == BAD_TRAIL] == [("eu-west-1", "eu-west-1")]
    assert resources[GOOD_BUCKET].tags == {"owner": "audit"}

    good = resources[GOOD_BUCKET].configuration
    assert good["encryption"]["algorithm"] == "aws:kms"
    assert good["encryption"]["kms_key_id"] == key_arn
    assert "_errors" not in good
    # moto's "no encryption configuration" shape.
    assert resources[BAD_BUCKET].configuration["encryption"]["enabled"] is False
    assert resources[BAD_BUCKET].configuration["public_acl_grants"] == [{"grantee": "AllUsers", "permission": "READ"}]

    bad_trail = resources[BAD_TRAIL].configuration
    assert bad_trail["management_events"] == {"read": False, "write": True}
    assert bad_trail["bucket_exposure"]["is_public"] is True
    assert resources[GOOD_TRAIL].configuration["management_events"] == {"read": True, "write": True}
    assert resources[GOOD_TRAIL].configuration["s3_data_events"] == {"read": True, "write": True}
    assert resources[GOOD_TRAIL].configuration["bucket_logging"] == {"enabled": True, "target_bucket": LOG_BUCKET}
    assert bad_trail["s3_data_events"] == {"read": False, "write": False}
    assert bad_trail["bucket_logging"] == {"enabled": False, "target_bucket": None}

    account = resources[ACCOUNT].configuration
    assert sorted(t["name"] for t in account["cloudtrail_trails"]) == [BAD_TRAIL, GOOD_TRAIL]
    assert "_errors" not in account

    assert "AllUsers:READ" in reasons(emitted, BAD_BUCKET, "s3_bucket_not_public")
    assert "AllUsers:READ" in reasons(emitted, BAD_TRAIL, "cloudtrail_bucket_not_public")
    assert "suspended" in reasons(emitted, BAD_BUCKET, "s3_bucket_versioning")
    assert GOOD_TRAIL in reasons(emitted, ACCOUNT, "cloudtrail_multi_region_enabled")
    assert GOOD_TRAIL in reasons(emitted, ACCOUNT, "cloudtrail_s3_read_data_events")
    assert LOG_BUCKET in reasons(emitted, GOOD_TRAIL, "cloudtrail_bucket_access_logging")
    assert "MFA Delete" in reasons(emitted, GOOD_BUCKET, "s3_bucket_mfa_delete")


async def test_account_block_covers_buckets_and_missing_multi_region_trail_fails(moto: MotoServer) -> None:
    seed_buckets(moto)
    seed_bad_trail(moto)
    block_account(moto)

    emitted, outcome = await collect(moto)

    assert all(status is UnitStatus.COMPLETE for status in units(outcome).values()), outcome.units
    # The account-level block turns every setting on for every bucket and neutralises the public ACL
    # grant of the bad bucket; the bad trail's own exposure read (bucket level only) still sees it.
    assert verdicts(emitted) == {
        GOOD_BUCKET: row(BUCKET_CHECKS, P, P, P, P, P, P, F),
        BAD_BUCKET: row(BUCKET_CHECKS, F, P, P, F, F, F, F),
        LOG_BUCKET: row(BUCKET_CHECKS, F, P, P, F, F, P, F),
        BAD_TRAIL: row(TRAIL_CHECKS, F, F, F, F, F, F),
        # Only the single-region bad trail is left: no trail records S3 object-level events.
        ACCOUNT: row(ACCOUNT_CHECKS, P, F, F, F),
        **regional_contexts(),
    }
    assert BAD_TRAIL in reasons(emitted, ACCOUNT, "cloudtrail_multi_region_enabled")


async def test_denied_reads_become_errors_never_passes(moto: MotoServer) -> None:
    key_arn = seed_buckets(moto)
    seed_good_trail(moto, key_arn)
    seed_bad_trail(moto)

    def deny(service: str, operation: str, region: str, url: str) -> tuple[int, dict[str, Any]] | None:
        denied = (
            (operation == "GetBucketLogging" and GOOD_BUCKET in url)
            or (service == "s3control" and operation == "GetPublicAccessBlock")  # the account-level block
            or operation == "GetTrailStatus"
            # Only the home region of the good trail fails to list: no qualifying trail is visible.
            or (operation == "DescribeTrails" and region == "us-east-1")
        )
        return access_denied(operation) if denied else None

    emitted, outcome = await collect(moto, deny)

    assert units(outcome)[("s3", "global")] is UnitStatus.PARTIAL
    assert units(outcome)[("cloudtrail", "us-east-1")] is UnitStatus.FAILED
    assert units(outcome)[("cloudtrail", "eu-west-1")] is UnitStatus.PARTIAL
    assert verdicts(emitted) == {
        # Logging unreadable; every block on at bucket level, so the unreadable account block
        # changes nothing for it.
        GOOD_BUCKET: row(BUCKET_CHECKS, P, P, P, E, P, P, F),
        # The bad bucket's own block is known to be off but the account's is unknown: the
        # settings it lacks and the ACL exposure cannot be judged.
        BAD_BUCKET: row(BUCKET_CHECKS, F, E, E, F, F, F, F),
        LOG_BUCKET: row(BUCKET_CHECKS, F, P, P, F, F, P, F),
        BAD_TRAIL: row(TRAIL_CHECKS, E, F, F, F, F, F),
        # The good trail's home region could not be listed: its data events are unknown, never passed.
        ACCOUNT: row(ACCOUNT_CHECKS, E, E, E, E),
        **regional_contexts(),
    }
    errors = {r.name: r.configuration.get("_errors", {}) for r, _, _ in emitted}
    assert set(errors[GOOD_BUCKET]) == {"logging", "account_public_access_block"}
    assert errors[GOOD_BUCKET]["logging"].startswith("AccessDenied on get_bucket_logging")
    assert set(errors[BAD_TRAIL]) == {"is_logging"}
    assert "us-east-1" in errors[ACCOUNT]["cloudtrail_trails"]
    assert set(errors[ACCOUNT]) == {"cloudtrail_trails", "s3_account_public_access_block"}
    assert GOOD_TRAIL not in errors


async def test_real_aws_answers_moto_cannot_give(moto: MotoServer) -> None:
    """Shapes real AWS returns and moto does not: SSE-S3 by default on every bucket, an old Ireland
    bucket whose location is "EU", ListBuckets' BucketRegion, advanced event selectors that
    exclude a noisy event source and record S3 object writes, and a versioning answer with MFADelete
    (moto drops it). Each answer is validated against the botocore service model."""
    key_arn = seed_buckets(moto)
    seed_good_trail(moto, key_arn)

    sse_s3_default = model_checked(
        "s3",
        "GetBucketEncryption",
        {
            "ServerSideEncryptionConfiguration": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]
            }
        },
    )
    ireland = model_checked("s3", "GetBucketLocation", {"LocationConstraint": "EU"})
    selectors = model_checked(
        "cloudtrail",
        "GetEventSelectors",
        {
            "TrailARN": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{GOOD_TRAIL}",
            "AdvancedEventSelectors": [
                {
                    "Name": "management events without KMS",
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Management"]},
                        {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]},
                    ],
                },
                {
                    "Name": "S3 object writes on every bucket",
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Data"]},
                        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                        {"Field": "readOnly", "Equals": ["false"]},
                    ],
                },
            ],
        },
    )
    mfa_delete = model_checked("s3", "GetBucketVersioning", {"Status": "Enabled", "MFADelete": "Enabled"})
    listing = model_checked(
        "s3",
        "ListBuckets",
        {
            "Buckets": [
                {"Name": GOOD_BUCKET, "BucketRegion": "us-east-1"},
                {"Name": BAD_BUCKET},
                {"Name": LOG_BUCKET, "BucketRegion": "us-east-1"},
            ],
            "Owner": {"ID": "owner"},
        },
    )
    asked: list[tuple[str, str]] = []

    def real_aws(service: str, operation: str, region: str, url: str) -> tuple[int, dict[str, Any]] | None:
        asked.append((operation, url))
        if operation == "ListBuckets":
            return 200, listing
        if operation == "GetBucketEncryption" and BAD_BUCKET in url:
            return 200, sse_s3_default
        if operation == "GetBucketLocation" and BAD_BUCKET in url:
            return 200, ireland
        if operation == "GetEventSelectors":
            return 200, selectors
        if operation == "GetBucketVersioning" and GOOD_BUCKET in url:
            return 200, mfa_delete
        return None

    emitted, outcome = await collect(moto, real_aws)

    assert all(status is UnitStatus.COMPLETE for status in units(outcome).values()), outcome.units
    resources = {r.name: r for r, _, _ in emitted}
    bad = resources[BAD_BUCKET]
    assert bad.region == "eu-west-1"
    assert bad.configuration["encryption"] == {
        "enabled": True,
        "algorithm": "AES256",
        "kms_key_id": None,
        "bucket_key": False,
        "rules": [{"algorithm": "AES256", "kms_key_id": None, "bucket_key": False}],
    }
    assert verdicts(emitted)[BAD_BUCKET]["s3_bucket_default_encryption"] is Status.PASS
    assert "SSE-S3" in reasons(emitted, BAD_BUCKET, "s3_bucket_default_encryption")
    # Buckets whose region came with the listing are not asked for their location.
    located = [url for op, url in asked if op == "GetBucketLocation"]
    assert len(located) == 1
    assert BAD_BUCKET in located[0]
    assert resources[GOOD_TRAIL].configuration["management_events"] == {"read": True, "write": True}
    assert verdicts(emitted)[ACCOUNT]["cloudtrail_multi_region_enabled"] is Status.PASS
    assert resources[GOOD_TRAIL].configuration["s3_data_events"] == {"read": False, "write": True}
    assert verdicts(emitted)[ACCOUNT]["cloudtrail_s3_write_data_events"] is Status.PASS
    assert verdicts(emitted)[ACCOUNT]["cloudtrail_s3_read_data_events"] is Status.FAIL
    assert verdicts(emitted)[GOOD_BUCKET]["s3_bucket_mfa_delete"] is Status.PASS
    assert verdicts(emitted)[BAD_BUCKET]["s3_bucket_mfa_delete"] is Status.FAIL


# --- collector derivations on answers the seeded scans above do not produce -------------------

ERR = Read(error=CallError("get_bucket_acl", "AccessDenied", "denied"))
PRIVATE_ACL = Read(value={"Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "o"}, "Permission": "FULL_CONTROL"}]})
PUBLIC_ACL = Read(value={"Grants": [{"Grantee": {"Type": "Group", "URI": ALL_USERS_URI}, "Permission": "READ"}]})
PUBLIC_POLICY = Read(value={"PolicyStatus": {"IsPublic": True}})
NO_POLICY = Read(absent=True)
NO_BLOCK = Read(absent=True)
FULL_BLOCK = Read(value={"PublicAccessBlockConfiguration": ALL_BLOCKED})


@pytest.mark.parametrize(
    ("status", "acl", "block", "expected"),
    [
        (NO_POLICY, PRIVATE_ACL, NO_BLOCK, False),
        (PUBLIC_POLICY, PRIVATE_ACL, NO_BLOCK, True),
        (PUBLIC_POLICY, PUBLIC_ACL, FULL_BLOCK, False),
        # An unreadable ACL or policy status does not matter once the block neutralises it...
        (ERR, ERR, FULL_BLOCK, False),
        # ...but does otherwise; a known exposure stays a fact even beside an unknown one.
        (NO_POLICY, ERR, NO_BLOCK, None),
        (ERR, PUBLIC_ACL, NO_BLOCK, True),
        (NO_POLICY, PUBLIC_ACL, ERR, None),
        (NO_POLICY, PRIVATE_ACL, ERR, False),
    ],
)
def test_trail_bucket_exposure(status: Read, acl: Read, block: Read, expected: bool | None) -> None:
    result = bucket_exposure("trail-logs", status, acl, block)
    if expected is None:
        assert isinstance(result, CallError)
        assert result.code == "AccessDenied"
    else:
        assert isinstance(result, dict)
        assert result["is_public"] is expected
        assert bool(result["reasons"]) is expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]}, (True, True)),
        ({"EventSelectors": [{"ReadWriteType": "ReadOnly"}]}, (True, False)),
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}, (False, False)),
        (
            {"EventSelectors": [{"ReadWriteType": "ReadOnly"}, {"ReadWriteType": "WriteOnly"}]},
            (True, True),
        ),
        ({"EventSelectors": [], "AdvancedEventSelectors": []}, (False, False)),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "NotEquals": ["false"]},
                        ]
                    }
                ]
            },
            (True, False),
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "eventSource", "Equals": ["iam.amazonaws.com"]},
                        ]
                    }
                ]
            },
            (False, False),
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]},
                ]
            },
            (False, False),
        ),
    ],
)
def test_trail_management_events(answer: dict[str, Any], expected: tuple[bool, bool]) -> None:
    events = management_events(answer)
    assert (events["read"], events["write"]) == expected


@pytest.mark.parametrize(
    ("location", "region"), [(None, "us-east-1"), ("", "us-east-1"), ("EU", "eu-west-1"), ("ap-south-2", "ap-south-2")]
)
def test_bucket_region(location: str | None, region: str) -> None:
    assert bucket_region(location) == region


def test_unparsable_bucket_policy_is_an_error_not_a_missing_policy() -> None:
    with pytest.raises(PolicyParseError):
        policy_document({"Policy": "{not json"})
    assert policy_document({"Policy": '{"Statement": []}'}) == {"Statement": []}


MANAGEMENT = "999988887777"
ORG_TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{MANAGEMENT}:trail/acme-organisation"


async def test_an_organisation_trail_of_the_management_account_covers_a_member(moto: MotoServer) -> None:
    """Seen from a member account, DescribeTrails lists the organisation trail, whose ARN is in the
    management account (moto keeps trails per account, so that listing and the trail's status and
    selectors are answered in its place, validated against the CloudTrail model). The member's
    multi-region check passes on it; the trail itself (bucket, key, validation) is not emitted here:
    the management account's scan owns it."""
    seed_buckets(moto)
    listing = model_checked(
        "cloudtrail",
        "DescribeTrails",
        {
            "trailList": [
                {
                    "Name": "acme-organisation",
                    "TrailARN": ORG_TRAIL_ARN,
                    "HomeRegion": "us-east-1",
                    "S3BucketName": "acme-org-cloudtrail",
                    "IsMultiRegionTrail": True,
                    "IsOrganizationTrail": True,
                    "IncludeGlobalServiceEvents": True,
                    "LogFileValidationEnabled": True,
                }
            ]
        },
    )
    logging_on = model_checked("cloudtrail", "GetTrailStatus", {"IsLogging": True})
    all_management = model_checked(
        "cloudtrail",
        "GetEventSelectors",
        {
            "TrailARN": ORG_TRAIL_ARN,
            "EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}],
        },
    )
    asked: list[str] = []

    def organisation(service: str, operation: str, region: str, url: str) -> tuple[int, dict[str, Any]] | None:
        if service != "cloudtrail":
            return None
        asked.append(operation)
        answers = {"DescribeTrails": listing, "GetTrailStatus": logging_on, "GetEventSelectors": all_management}
        if operation == "DescribeTrails" and region != "us-east-1":
            return 200, model_checked("cloudtrail", "DescribeTrails", {"trailList": []})
        return (200, answers[operation]) if operation in answers else None

    emitted, outcome = await collect(moto, organisation)

    assert all(status is UnitStatus.COMPLETE for status in units(outcome).values()), outcome.units
    assert not [r for r, _, _ in emitted if r.arn == ORG_TRAIL_ARN], "the member must not emit the trail"
    assert "ListTags" not in asked  # nothing read of the trail beyond what the member's coverage needs
    assert verdicts(emitted)[ACCOUNT]["cloudtrail_multi_region_enabled"] is P
    context = next(r for r, _, _ in emitted if r.resource_type == "AWS::::Account" and r.region == "global")
    (trail,) = context.configuration["cloudtrail_trails"]
    assert trail["owner_account_id"] == MANAGEMENT
    assert trail["is_organization_trail"] is True


async def test_an_organisation_trail_whose_status_cannot_be_read_is_an_error_for_the_member(moto: MotoServer) -> None:
    seed_buckets(moto)
    listing = model_checked(
        "cloudtrail",
        "DescribeTrails",
        {
            "trailList": [
                {
                    "Name": "acme-organisation",
                    "TrailARN": ORG_TRAIL_ARN,
                    "HomeRegion": "us-east-1",
                    "IsMultiRegionTrail": True,
                    "IsOrganizationTrail": True,
                }
            ]
        },
    )

    def organisation(service: str, operation: str, region: str, url: str) -> tuple[int, dict[str, Any]] | None:
        if service != "cloudtrail":
            return None
        if operation == "DescribeTrails":
            return 200, listing if region == "us-east-1" else {"trailList": []}
        if operation in {"GetTrailStatus", "GetEventSelectors"}:
            return refusal("AccessDeniedException")
        return None

    emitted, _ = await collect(moto, organisation)

    assert verdicts(emitted)[ACCOUNT]["cloudtrail_multi_region_enabled"] is E
