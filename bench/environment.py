"""The bundled benchmark environment: one account, one region, resources both scanners read.

``seed(url, scale=1.0)`` fills a moto server with about 2,200 resources at scale 1 (counts are
multiplied by ``scale``, so the collection benchmark can grow the account). Every second resource of
a kind is configured well and the other badly, so both tools have passes and failures to agree on.
The services are the ones Guardian and Prowler both check: S3, EC2 (volumes, security groups), IAM
(users, customer policies), KMS, SQS, SNS, CloudWatch Logs, DynamoDB, Secrets Manager, ECR, RDS and
CloudTrail. Seeding runs in a small thread pool against the moto server (loopback only).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"
ACCOUNT = "123456789012"

# Resources per kind at scale 1.
BASE_COUNTS: dict[str, int] = {
    "s3_bucket": 300,
    "ebs_volume": 400,
    "security_group": 200,
    "iam_user": 200,
    "iam_policy": 100,
    "kms_key": 100,
    "sqs_queue": 200,
    "sns_topic": 200,
    "log_group": 200,
    "dynamodb_table": 100,
    "secret": 100,
    "ecr_repository": 50,
    "rds_instance": 30,
    "cloudtrail_trail": 1,
}

# The Guardian collectors (and so `guardian scan --service`) these kinds need.
GUARDIAN_SERVICES = [
    "cloudtrail",
    "dynamodb",
    "ec2",
    "ecr",
    "iam",
    "kms",
    "logs",
    "rds",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
]


def counts_for(scale: float) -> dict[str, int]:
    return {kind: max(1, round(n * scale)) if n > 1 else n for kind, n in BASE_COUNTS.items()}


def _client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}, max_pool_connections=16),
    )


def _s3_bucket(c: dict[str, Any], i: int) -> None:
    s3 = c["s3"]
    name = f"bench-bucket-{i:05d}"
    s3.create_bucket(Bucket=name)
    if i % 2 == 0:
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
            },
        )
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))


def _ebs_volume(c: dict[str, Any], i: int) -> None:
    c["ec2"].create_volume(AvailabilityZone=f"{REGION}a", Size=8, Encrypted=i % 2 == 0)


def _security_group(c: dict[str, Any], i: int) -> None:
    ec2 = c["ec2"]
    group = ec2.create_security_group(GroupName=f"bench-sg-{i:05d}", Description="bench")["GroupId"]
    cidr = "10.0.0.0/8" if i % 2 == 0 else "0.0.0.0/0"
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]}],
    )


def _iam_user(c: dict[str, Any], i: int) -> None:
    iam = c["iam"]
    name = f"bench-user-{i:05d}"
    iam.create_user(UserName=name)
    if i % 2 == 1:
        iam.create_login_profile(UserName=name, Password=f"A-long-passphrase-{i}!")


def _iam_policy(c: dict[str, Any], i: int) -> None:
    action = "s3:GetObject" if i % 2 == 0 else "*"
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}
    c["iam"].create_policy(PolicyName=f"bench-policy-{i:05d}", PolicyDocument=json.dumps(document))


def _kms_key(c: dict[str, Any], i: int) -> None:
    kms = c["kms"]
    key = kms.create_key(Description=f"bench key {i}")["KeyMetadata"]["KeyId"]
    if i % 2 == 0:
        kms.enable_key_rotation(KeyId=key)


def _sqs_queue(c: dict[str, Any], i: int) -> None:
    attributes = {"KmsMasterKeyId": "alias/aws/sqs"} if i % 2 == 0 else {"SqsManagedSseEnabled": "false"}
    c["sqs"].create_queue(QueueName=f"bench-queue-{i:05d}", Attributes=attributes)


def _sns_topic(c: dict[str, Any], i: int) -> None:
    attributes = {"KmsMasterKeyId": "alias/aws/sns"} if i % 2 == 0 else {}
    c["sns"].create_topic(Name=f"bench-topic-{i:05d}", Attributes=attributes)


def _log_group(c: dict[str, Any], i: int) -> None:
    logs = c["logs"]
    name = f"/bench/group-{i:05d}"
    logs.create_log_group(logGroupName=name)
    if i % 2 == 0:
        logs.put_retention_policy(logGroupName=name, retentionInDays=365)


def _dynamodb_table(c: dict[str, Any], i: int) -> None:
    ddb = c["dynamodb"]
    name = f"bench-table-{i:05d}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    if i % 2 == 0:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


def _secret(c: dict[str, Any], i: int) -> None:
    c["secretsmanager"].create_secret(Name=f"bench-secret-{i:05d}", SecretString="not-a-real-secret")


def _ecr_repository(c: dict[str, Any], i: int) -> None:
    c["ecr"].create_repository(
        repositoryName=f"bench-repo-{i:05d}",
        imageScanningConfiguration={"scanOnPush": i % 2 == 0},
        imageTagMutability="IMMUTABLE" if i % 2 == 0 else "MUTABLE",
    )


def _rds_instance(c: dict[str, Any], i: int) -> None:
    good = i % 2 == 0
    c["rds"].create_db_instance(
        DBInstanceIdentifier=f"bench-db-{i:04d}",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="app",
        MasterUserPassword="bench-password-1",
        AllocatedStorage=20,
        StorageEncrypted=good,
        MultiAZ=good,
        BackupRetentionPeriod=14 if good else 0,
        DeletionProtection=good,
        PubliclyAccessible=not good,
    )


def _cloudtrail_trail(c: dict[str, Any], i: int) -> None:
    bucket = "bench-trail-logs"
    c["s3"].create_bucket(Bucket=bucket)
    c["cloudtrail"].create_trail(Name=f"bench-trail-{i}", S3BucketName=bucket, IsMultiRegionTrail=True)
    c["cloudtrail"].start_logging(Name=f"bench-trail-{i}")


MAKERS: dict[str, Callable[[dict[str, Any], int], None]] = {
    "s3_bucket": _s3_bucket,
    "ebs_volume": _ebs_volume,
    "security_group": _security_group,
    "iam_user": _iam_user,
    "iam_policy": _iam_policy,
    "kms_key": _kms_key,
    "sqs_queue": _sqs_queue,
    "sns_topic": _sns_topic,
    "log_group": _log_group,
    "dynamodb_table": _dynamodb_table,
    "secret": _secret,
    "ecr_repository": _ecr_repository,
    "rds_instance": _rds_instance,
    "cloudtrail_trail": _cloudtrail_trail,
}

_CLIENTS = ["s3", "ec2", "iam", "kms", "sqs", "sns", "logs", "dynamodb", "secretsmanager", "ecr", "rds", "cloudtrail"]


def seed(url: str, scale: float = 1.0, workers: int = 8) -> dict[str, int]:
    """Create the environment in the moto server at ``url``; returns the count made per kind."""
    clients = {name: _client(url, name) for name in _CLIENTS}
    counts = counts_for(scale)
    jobs = [(kind, i) for kind, n in counts.items() for i in range(n)]
    made: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for kind, _ in zip(
            (k for k, _ in jobs), pool.map(lambda job: MAKERS[job[0]](clients, job[1]), jobs), strict=True
        ):
            made[kind] += 1
    return dict(made)


def total(counts: dict[str, int]) -> int:
    return sum(counts.values())
