"""Golden test: data classification rules on buckets, databases, volumes, tables and file systems that moto
holds and the real S3, RDS, EC2, DynamoDB and EFS collectors read.

Each classification check is shown PASS on a store configured as its class requires and FAIL on one
that is not, with the class coming from tags the collectors read. A denied GetBucketTagging leaves
a bucket's class unknown, and the class rules turn ERROR for it, never PASS or "not applicable".

What moto lacks: ``GetEbsDefaultKmsKeyId`` and EFS's backup policy calls (moto answers an HTML 500
page). ``before-call`` handlers answer ``GetEbsDefaultKmsKeyId`` and ``DescribeBackupPolicy`` with
responses validated against botocore's service models first, as botocore's Stubber does, so the EC2
and EFS units complete. The AccessDenied fault is injected the same way.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.session import get_session as get_botocore_session
from botocore.validate import validate_parameters
from golden_support import (
    ACCOUNT,
    Handler,
    by_type,
    collector,
    fixed,
    model_checked,
    refusal,
    status,
    unit_status,
    verdict,
    with_metadata,
)
from golden_support import moto_fixture as moto_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import load_all
from guardian_testkit.moto import MotoServer

EAST = "us-east-1"
BUCKET = "AWS::S3::Bucket"
DB_INSTANCE = "AWS::RDS::DBInstance"
VOLUME = "AWS::EC2::Volume"
TABLE = "AWS::DynamoDB::Table"
FILE_SYSTEM = "AWS::EFS::FileSystem"

RESTRICTED = [{"Key": "data-classification", "Value": "restricted"}]
CRITICAL = [{"Key": "criticality", "Value": "critical"}]
ALL_BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR

load_all()


def model_validated(operation: str, response: dict[str, Any]) -> Handler:
    """A ``before-call`` handler answering an EC2 ``operation`` with ``response``, checked against the model."""
    return fixed((200, with_metadata(model_checked("ec2", operation, response))))


denied = fixed(refusal("AccessDenied", metadata=True))
"""A ``before-call`` handler refusing every call it is registered for with AccessDenied."""

EBS_DEFAULT_KEY = f"arn:aws:kms:{EAST}:{ACCOUNT}:key/0b5e7f00-aaaa-4bbb-8ccc-123456789abc"
STUBS = {
    "before-call.ec2.GetEbsDefaultKmsKeyId": model_validated("GetEbsDefaultKmsKeyId", {"KmsKeyId": EBS_DEFAULT_KEY})
}


collect = collector(regions=[EAST], stubs=STUBS)
"""The real collectors against moto; ``handlers`` answer chosen operations instead of moto."""


# --- seeding -------------------------------------------------------------------------------


def default_rule(algorithm: str) -> dict[str, Any]:
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}]}


def seed_buckets(moto: MotoServer) -> str:
    s3 = moto.client("s3", EAST)
    key_arn = str(moto.client("kms", EAST).create_key(Description="restricted data")["KeyMetadata"]["Arn"])
    s3.create_bucket(Bucket="access-logs")
    # The logging service may write to the log bucket (moto refuses a logging target without this).
    delivery = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": ["s3:PutObject"],
                "Resource": "arn:aws:s3:::access-logs/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket="access-logs", Policy=json.dumps(delivery))
    internal = [{"Key": "data-classification", "Value": "internal"}]
    s3.put_bucket_tagging(Bucket="access-logs", Tagging={"TagSet": internal})

    # Restricted, done right: customer key, blocked, logged.
    s3.create_bucket(Bucket="vault")
    s3.put_bucket_encryption(
        Bucket="vault",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}]
        },
    )
    s3.put_public_access_block(Bucket="vault", PublicAccessBlockConfiguration=ALL_BLOCKED)
    s3.put_bucket_logging(
        Bucket="vault", BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "access-logs", "TargetPrefix": "v/"}}
    )
    s3.put_bucket_tagging(Bucket="vault", Tagging={"TagSet": RESTRICTED})

    # Restricted, done wrong: SSE-S3 only, a public-read ACL with no block, no logging.
    s3.create_bucket(Bucket="leaky")
    s3.put_bucket_encryption(
        Bucket="leaky",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_acl(Bucket="leaky", ACL="public-read")
    s3.put_bucket_tagging(Bucket="leaky", Tagging={"TagSet": RESTRICTED})

    # Restricted, encrypted with the AWS-managed key (no key id of its own).
    s3.create_bucket(Bucket="aws-keyed")
    s3.put_bucket_encryption(
        Bucket="aws-keyed",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    s3.put_bucket_tagging(Bucket="aws-keyed", Tagging={"TagSet": RESTRICTED})

    # Restricted and not encrypted by any rule (moto's shape when no configuration exists).
    s3.create_bucket(Bucket="plain")
    s3.put_bucket_tagging(Bucket="plain", Tagging={"TagSet": RESTRICTED})

    s3.create_bucket(Bucket="untagged")
    return key_arn


def seed_databases(moto: MotoServer, key_arn: str) -> None:
    rds = moto.client("rds", EAST)
    rds.create_db_instance(
        DBInstanceIdentifier="ledger",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="correct-horse-battery",
        AllocatedStorage=20,
        StorageEncrypted=True,
        KmsKeyId=key_arn,
        PubliclyAccessible=False,
        MultiAZ=True,
        BackupRetentionPeriod=14,
        DeletionProtection=True,
        Tags=RESTRICTED + CRITICAL,
    )
    rds.create_db_instance(
        DBInstanceIdentifier="scratch",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="correct-horse-battery",
        AllocatedStorage=20,
        StorageEncrypted=False,
        PubliclyAccessible=True,
        MultiAZ=False,
        BackupRetentionPeriod=0,
        DeletionProtection=False,
        Tags=RESTRICTED + CRITICAL,
    )
    rds.create_db_instance(
        DBInstanceIdentifier="untagged-db",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="correct-horse-battery",
        AllocatedStorage=20,
    )


def seed_volumes(moto: MotoServer, key_arn: str) -> dict[str, str]:
    ec2 = moto.client("ec2", EAST)

    def volume(encrypted: bool, tags: list[dict[str, str]]) -> str:
        extra: dict[str, Any] = {"KmsKeyId": key_arn} if encrypted else {}
        if tags:
            extra["TagSpecifications"] = [{"ResourceType": "volume", "Tags": tags}]
        return str(ec2.create_volume(AvailabilityZone=f"{EAST}a", Size=8, Encrypted=encrypted, **extra)["VolumeId"])

    return {
        "sealed": volume(True, RESTRICTED),
        "open": volume(False, RESTRICTED),
        "untagged": volume(False, []),
    }


# --- the tests -------------------------------------------------------------------------------


async def test_restricted_buckets_against_their_rules(moto: MotoServer) -> None:
    key_arn = seed_buckets(moto)
    emitted, outcome = await collect(moto, ["s3"])
    assert unit_status(outcome, "s3") is UnitStatus.COMPLETE
    buckets = by_type(emitted, BUCKET)

    # A tagged restricted bucket with a customer KMS key PASSes; without one it FAILs.
    assert verdict("data_restricted_s3_bucket_customer_kms", buckets["vault"]) == (
        PASS,
        f"Bucket vault holds restricted data and encrypts by default with KMS key {key_arn}",
    )
    leaky = verdict("data_restricted_s3_bucket_customer_kms", buckets["leaky"])
    assert leaky is not None
    assert leaky[0] is FAIL
    assert "SSE-S3 (AES256" in leaky[1]
    aws_keyed = verdict("data_restricted_s3_bucket_customer_kms", buckets["aws-keyed"])
    assert aws_keyed is not None
    assert aws_keyed[0] is FAIL
    assert "AWS-managed key aws/s3" in aws_keyed[1]
    assert verdict("data_restricted_s3_bucket_customer_kms", buckets["plain"]) == (
        FAIL,
        "Bucket plain holds restricted data but has no default encryption",
    )

    assert status("data_restricted_s3_bucket_not_public", buckets["vault"]) is PASS
    exposed = verdict("data_restricted_s3_bucket_not_public", buckets["leaky"])
    assert exposed is not None
    assert exposed[0] is FAIL
    assert "AllUsers:READ" in exposed[1]

    assert status("data_restricted_s3_bucket_access_logging", buckets["vault"]) is PASS
    assert status("data_restricted_s3_bucket_access_logging", buckets["leaky"]) is FAIL

    # Buckets of another class, or none, are not judged by the restricted rules.
    for name in ("access-logs", "untagged"):
        for check_id in (
            "data_restricted_s3_bucket_customer_kms",
            "data_restricted_s3_bucket_not_public",
            "data_restricted_s3_bucket_access_logging",
        ):
            assert verdict(check_id, buckets[name]) is None

    # Untagged stores: not judged by default, FAIL when the setting is on.
    assert verdict("data_s3_bucket_classified", buckets["untagged"]) is None
    assert status("data_s3_bucket_classified", buckets["untagged"], fail_untagged=True) is FAIL
    assert status("data_s3_bucket_classified", buckets["access-logs"], fail_untagged=True) is PASS


async def test_restricted_and_critical_databases(moto: MotoServer) -> None:
    key_arn = moto.client("kms", EAST).create_key(Description="db")["KeyMetadata"]["Arn"]
    seed_databases(moto, str(key_arn))
    emitted, outcome = await collect(moto, ["rds"])
    assert unit_status(outcome, "rds") is UnitStatus.COMPLETE
    dbs = by_type(emitted, DB_INSTANCE)

    for check_id in (
        "data_restricted_rds_instance_encrypted",
        "data_restricted_rds_instance_not_public",
        "data_critical_rds_instance_multi_az",
        "data_critical_rds_instance_backups",
        "data_critical_rds_instance_deletion_protection",
    ):
        assert status(check_id, dbs["ledger"]) is PASS, check_id
        assert status(check_id, dbs["scratch"]) is FAIL, check_id
        assert verdict(check_id, dbs["untagged-db"]) is None, check_id

    backups = verdict("data_critical_rds_instance_backups", dbs["scratch"])
    assert backups is not None
    assert "automated backups disabled" in backups[1]
    assert backups[1].endswith("(the RDS instance is marked critical)")

    assert verdict("data_rds_instance_classified", dbs["untagged-db"]) is None
    assert status("data_rds_instance_classified", dbs["untagged-db"], fail_untagged=True) is FAIL
    assert status("data_rds_instance_classified", dbs["ledger"], fail_untagged=True) is PASS


async def test_restricted_volumes(moto: MotoServer) -> None:
    key_arn = str(moto.client("kms", EAST).create_key(Description="ebs")["KeyMetadata"]["Arn"])
    ids = seed_volumes(moto, key_arn)
    emitted, outcome = await collect(moto, ["ec2"])
    assert unit_status(outcome, "ec2") is UnitStatus.COMPLETE
    volumes = by_type(emitted, VOLUME)

    sealed = verdict("data_restricted_ebs_volume_encrypted", volumes[ids["sealed"]])
    assert sealed is not None
    assert sealed[0] is PASS
    assert key_arn in sealed[1]
    assert status("data_restricted_ebs_volume_encrypted", volumes[ids["open"]]) is FAIL
    assert verdict("data_restricted_ebs_volume_encrypted", volumes[ids["untagged"]]) is None

    assert verdict("data_ebs_volume_classified", volumes[ids["untagged"]]) is None
    assert status("data_ebs_volume_classified", volumes[ids["untagged"]], fail_untagged=True) is FAIL
    assert status("data_ebs_volume_classified", volumes[ids["sealed"]], fail_untagged=True) is PASS


async def test_denied_bucket_tags_make_the_class_rules_errors(moto: MotoServer) -> None:
    seed_buckets(moto)
    emitted, outcome = await collect(moto, ["s3"], {"before-call.s3.GetBucketTagging": denied})
    assert unit_status(outcome, "s3") is UnitStatus.PARTIAL
    buckets = by_type(emitted, BUCKET)
    for name in ("vault", "leaky", "untagged"):
        assert buckets[name].configuration["_errors"]["tags"].startswith("AccessDenied")
        for check_id in (
            "data_restricted_s3_bucket_customer_kms",
            "data_restricted_s3_bucket_not_public",
            "data_restricted_s3_bucket_access_logging",
        ):
            result = verdict(check_id, buckets[name])
            assert result is not None
            assert result[0] is ERROR, (check_id, name)
            assert "data classification is unknown" in result[1]
        assert status("data_s3_bucket_classified", buckets[name], fail_untagged=True) is ERROR


def seed_tables(moto: MotoServer, key_arn: str) -> None:
    dynamodb = moto.client("dynamodb", EAST)
    shape: dict[str, Any] = {
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    dynamodb.create_table(
        TableName="orders",
        DeletionProtectionEnabled=True,
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn},
        Tags=CRITICAL,
        **shape,
    )
    dynamodb.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    dynamodb.create_table(TableName="cache", DeletionProtectionEnabled=False, Tags=CRITICAL, **shape)
    dynamodb.create_table(TableName="untagged-table", **shape)


def seed_file_systems(moto: MotoServer, key_arn: str) -> dict[str, str]:
    efs = moto.client("efs", EAST)

    def file_system(token: str, tags: list[dict[str, str]], **extra: Any) -> str:
        return str(efs.create_file_system(CreationToken=token, Tags=tags, **extra)["FileSystemId"])

    ids = {
        "sealed": file_system("sealed", RESTRICTED + CRITICAL, Encrypted=True, KmsKeyId=key_arn),
        "open": file_system("open", RESTRICTED + CRITICAL, Encrypted=False),
        "untagged": file_system("untagged", []),
    }
    return ids


def backup_policies(enabled: set[str]) -> Handler:
    """DescribeBackupPolicy, which moto lacks (it answers 500, as it does for PutBackupPolicy): ENABLED for
    the file systems in ``enabled``, PolicyNotFound (no policy) for the others. The answer is validated
    against botocore's EFS model first, as botocore's Stubber does."""
    shape = get_botocore_session().get_service_model("efs").operation_model("DescribeBackupPolicy").output_shape
    found = {"BackupPolicy": {"Status": "ENABLED"}}
    validate_parameters(found, shape)

    def answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        fs_id = str(params.get("url_path", "")).split("/file-systems/")[-1].split("/")[0]
        if fs_id in enabled:
            return AWSResponse(None, 200, {}, None), {**found, "ResponseMetadata": {"HTTPStatusCode": 200}}
        return AWSResponse(None, 404, {}, None), {
            "Error": {"Code": "PolicyNotFound", "Message": "no backup policy"},
            "ResponseMetadata": {"HTTPStatusCode": 404},
        }

    return answer


async def test_critical_tables(moto: MotoServer) -> None:
    key_arn = str(moto.client("kms", EAST).create_key(Description="tables")["KeyMetadata"]["Arn"])
    seed_tables(moto, key_arn)
    emitted, outcome = await collect(moto, ["dynamodb"])
    assert unit_status(outcome, "dynamodb") is UnitStatus.COMPLETE
    tables = by_type(emitted, TABLE)

    assert verdict("data_critical_dynamodb_table_backups", tables["orders"]) is not None
    assert status("data_critical_dynamodb_table_backups", tables["orders"]) is PASS
    assert verdict("data_critical_dynamodb_table_backups", tables["cache"]) == (
        FAIL,
        "DynamoDB table cache is marked critical but point-in-time recovery is off",
    )
    assert status("data_critical_dynamodb_table_deletion_protection", tables["orders"]) is PASS
    assert status("data_critical_dynamodb_table_deletion_protection", tables["cache"]) is FAIL
    for check_id in ("data_critical_dynamodb_table_backups", "data_critical_dynamodb_table_deletion_protection"):
        assert verdict(check_id, tables["untagged-table"]) is None

    assert verdict("data_dynamodb_table_classified", tables["untagged-table"]) is None
    assert status("data_dynamodb_table_classified", tables["untagged-table"], fail_untagged=True) is FAIL
    tagged = verdict("data_dynamodb_table_classified", tables["orders"], fail_untagged=True)
    assert tagged is not None
    assert tagged[0] is FAIL  # tagged critical, but with no data-classification tag


async def test_restricted_and_critical_file_systems(moto: MotoServer) -> None:
    key_arn = str(moto.client("kms", EAST).create_key(Description="files")["KeyMetadata"]["Arn"])
    ids = seed_file_systems(moto, key_arn)
    handlers = {"before-call.efs.DescribeBackupPolicy": backup_policies({ids["sealed"]})}
    emitted, outcome = await collect(moto, ["efs"], handlers)
    assert unit_status(outcome, "efs") is UnitStatus.COMPLETE
    systems = by_type(emitted, FILE_SYSTEM)

    assert status("data_restricted_efs_file_system_encrypted", systems[ids["sealed"]]) is PASS
    assert status("data_restricted_efs_file_system_encrypted", systems[ids["open"]]) is FAIL
    assert status("data_critical_efs_file_system_backups", systems[ids["sealed"]]) is PASS
    assert verdict("data_critical_efs_file_system_backups", systems[ids["open"]]) == (
        FAIL,
        f"EFS file system {ids['open']} is marked critical but its automatic backup policy is DISABLED",
    )
    for check_id in ("data_restricted_efs_file_system_encrypted", "data_critical_efs_file_system_backups"):
        assert verdict(check_id, systems[ids["untagged"]]) is None

    assert status("data_efs_file_system_classified", systems[ids["untagged"]], fail_untagged=True) is FAIL
    assert status("data_efs_file_system_classified", systems[ids["sealed"]], fail_untagged=True) is PASS


async def test_critical_buckets_replicate(moto: MotoServer) -> None:
    """moto stores and returns replication configurations; a denied read is an ERROR, never a PASS."""
    s3 = moto.client("s3", EAST)
    iam_role = f"arn:aws:iam::{ACCOUNT}:role/s3-replication"
    for name in ("ledger", "ledger-dr", "scratch", "paused"):
        s3.create_bucket(Bucket=name)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for name in ("ledger", "scratch", "paused"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": CRITICAL})

    def rule(status: str) -> dict[str, Any]:
        return {
            "Role": iam_role,
            "Rules": [
                {
                    "ID": "dr",
                    "Priority": 1,
                    "Status": status,
                    "Filter": {"Prefix": ""},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": "arn:aws:s3:::ledger-dr"},
                }
            ],
        }

    s3.put_bucket_replication(Bucket="ledger", ReplicationConfiguration=rule("Enabled"))
    s3.put_bucket_replication(Bucket="paused", ReplicationConfiguration=rule("Disabled"))

    emitted, outcome = await collect(moto, ["s3"])
    assert unit_status(outcome, "s3") is UnitStatus.COMPLETE
    buckets = by_type(emitted, BUCKET)
    assert verdict("data_critical_s3_bucket_replication", buckets["ledger"]) == (
        PASS,
        "Bucket ledger is marked critical and replicates to arn:aws:s3:::ledger-dr",
    )
    assert verdict("data_critical_s3_bucket_replication", buckets["scratch"]) == (
        FAIL,
        "Bucket scratch is marked critical but has no replication rule",
    )
    assert status("data_critical_s3_bucket_replication", buckets["paused"]) is FAIL
    assert verdict("data_critical_s3_bucket_replication", buckets["ledger-dr"]) is None  # not critical

    emitted, outcome = await collect(moto, ["s3"], {"before-call.s3.GetBucketReplication": denied})
    assert unit_status(outcome, "s3") is UnitStatus.PARTIAL
    assert status("data_critical_s3_bucket_replication", by_type(emitted, BUCKET)["ledger"]) is ERROR
