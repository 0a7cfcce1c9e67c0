"""What the remediation tests share: one failing resource per catalogue action, seeded into moto.

Used by the service's own tests (each action against moto) and by the end-to-end test (each action
through the whole stack, verified by a targeted scan).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from guardian_testkit.moto import MotoServer

EAST = "us-east-1"
ACCOUNT = "123456789012"
ACCOUNT_CONTEXT = f"arn:aws:::{ACCOUNT}:account"
EAST_CONTEXT = f"arn:aws::{EAST}:{ACCOUNT}:account"


@dataclass
class Case:
    action_id: str
    check_id: str
    arn: Callable[[dict[str, str]], str]
    params: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("s3_bucket_default_encryption", "s3_bucket_default_encryption", lambda ids: "arn:aws:s3:::rem-plain"),
    Case("s3_bucket_public_access_block", "s3_bucket_public_access_block", lambda ids: "arn:aws:s3:::rem-open"),
    Case("s3_account_public_access_block", "s3_account_public_access_block", lambda ids: ACCOUNT_CONTEXT),
    Case("ec2_ebs_default_encryption", "ec2_ebs_default_encryption", lambda ids: EAST_CONTEXT),
    Case("kms_key_rotation", "kms_key_rotation_enabled", lambda ids: ids["key"]),
    Case("cloudtrail_log_file_validation", "cloudtrail_log_file_validation", lambda ids: ids["trail"]),
    Case("iam_password_policy", "iam_password_policy_strong", lambda ids: ACCOUNT_CONTEXT),
    Case("rds_instance_backup_retention", "rds_instance_backups_enabled", lambda ids: ids["db"]),
    Case("rds_instance_deletion_protection", "rds_instance_deletion_protection", lambda ids: ids["db"]),
    Case("sqs_queue_encryption", "sqs_queue_encrypted", lambda ids: ids["queue"]),
    Case("sns_topic_encryption", "sns_topic_encrypted_kms", lambda ids: ids["topic"]),
    Case("logs_log_group_retention", "logs_log_group_retention", lambda ids: ids["log_group"]),
    Case(
        "ec2_vpc_flow_logs",
        "ec2_vpc_flow_logs_enabled",
        lambda ids: ids["vpc"],
        {"destination_type": "s3", "destination": "arn:aws:s3:::rem-flow-logs"},
    ),
    Case("dynamodb_table_pitr", "dynamodb_table_pitr_enabled", lambda ids: ids["table"]),
    Case("dynamodb_table_deletion_protection", "dynamodb_table_deletion_protection", lambda ids: ids["table"]),
    Case("elbv2_deletion_protection", "elbv2_deletion_protection", lambda ids: ids["alb"]),
    Case("opensearch_domain_encryption", "opensearch_domain_encrypted_at_rest", lambda ids: ids["domain"]),
]
MANUAL = [
    Case("ec2_ebs_volume_encryption", "ec2_ebs_volume_encrypted", lambda ids: ids["volume"]),
    Case("rds_instance_storage_encryption", "rds_instance_storage_encrypted", lambda ids: ids["db"]),
]


def seed(moto: MotoServer) -> dict[str, str]:
    """One failing resource per action (and a second unencrypted bucket no plan touches)."""
    ids: dict[str, str] = {}
    s3 = moto.client("s3", EAST)
    for bucket in ("rem-plain", "rem-open", "rem-untouched", "rem-flow-logs", "rem-trail-logs"):
        s3.create_bucket(Bucket=bucket)
    ec2 = moto.client("ec2", EAST)
    ids["vpc"] = f"arn:aws:ec2:{EAST}:{ACCOUNT}:vpc/" + ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    volume = ec2.create_volume(AvailabilityZone=f"{EAST}a", Size=8, Encrypted=False)["VolumeId"]
    ids["volume"] = f"arn:aws:ec2:{EAST}:{ACCOUNT}:volume/{volume}"
    ids["key"] = moto.client("kms", EAST).create_key(Description="rem")["KeyMetadata"]["Arn"]
    ids["trail"] = moto.client("cloudtrail", EAST).create_trail(Name="rem-trail", S3BucketName="rem-trail-logs")[
        "TrailARN"
    ]
    ids["db"] = moto.client("rds", EAST).create_db_instance(
        DBInstanceIdentifier="rem-db",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        BackupRetentionPeriod=0,
        StorageEncrypted=False,
    )["DBInstance"]["DBInstanceArn"]
    sqs = moto.client("sqs", EAST)
    sqs.create_queue(QueueName="rem-queue", Attributes={"SqsManagedSseEnabled": "false"})
    ids["queue"] = f"arn:aws:sqs:{EAST}:{ACCOUNT}:rem-queue"
    ids["topic"] = moto.client("sns", EAST).create_topic(Name="rem-topic")["TopicArn"]
    logs = moto.client("logs", EAST)
    logs.create_log_group(logGroupName="/rem/app")
    logs.put_retention_policy(logGroupName="/rem/app", retentionInDays=7)
    ids["log_group"] = f"arn:aws:logs:{EAST}:{ACCOUNT}:log-group:/rem/app"
    ids["table"] = moto.client("dynamodb", EAST).create_table(
        TableName="rem-table",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"] for s in subnets}
    ids["alb"] = moto.client("elbv2", EAST).create_load_balancer(
        Name="rem-alb", Subnets=[by_zone[f"{EAST}a"], by_zone[f"{EAST}b"]], Scheme="internal", Type="application"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    ids["domain"] = moto.client("opensearch", EAST).create_domain(
        DomainName="rem-search", EngineVersion="OpenSearch_2.11"
    )["DomainStatus"]["ARN"]
    return ids
