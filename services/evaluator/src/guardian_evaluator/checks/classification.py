"""Data classification: stricter rules for data stores by the class and criticality their tags declare.

A data store names its class in a tag (``data-classification`` by default) with one of the
configured levels (public, internal, confidential, restricted) and may be marked critical by a
second tag (``criticality`` = ``critical``). The evaluator settings provide those keys and values to
every check here through its parameters (see ``EvaluatorSettings.classification_parameters``).

- Restricted data stores: S3 buckets encrypt with a customer-managed KMS key, are not public and
  log access; RDS instances are encrypted and not public; EBS volumes and EFS file systems are
  encrypted. (A restricted DynamoDB table's customer-managed key is judged by
  ``dynamodb_table_encrypted_kms``, which reads the key manager the collector joins in.)
- Critical data stores: RDS instances are Multi-AZ, keep backups and have deletion protection;
  DynamoDB tables keep point-in-time recovery and have deletion protection; EFS file systems have
  automatic backups.
- Untagged data stores FAIL only when ``fail_untagged`` is on (off by default); otherwise the
  ``*_classified`` checks do not apply.

A check that depends on the class returns ``None`` for a store of another class. The S3 collector
reads a bucket's tags with GetBucketTagging: when that read failed the class is unknown, and the
verdict is ERROR rather than "not applicable". Where a rule is the same test as a general check
(a bucket not public, a database Multi-AZ), the general check's logic decides and this check adds
the class to its reason, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.registry import REGISTRY, Snapshot, Verdict, check, errored, failed, passed, unreadable

BUCKET = "AWS::S3::Bucket"
DB_INSTANCE = "AWS::RDS::DBInstance"
VOLUME = "AWS::EC2::Volume"
TABLE = "AWS::DynamoDB::Table"
FILE_SYSTEM = "AWS::EFS::FileSystem"

DEFAULT_LEVELS = ("public", "internal", "confidential", "restricted")
CLASS_PARAMETERS: dict[str, Any] = {
    "classification_tag_key": "data-classification",
    "classification_levels": list(DEFAULT_LEVELS),
    "restricted_level": "restricted",
}
CRITICAL_PARAMETERS: dict[str, Any] = {"criticality_tag_key": "criticality", "critical_value": "critical"}
UNTAGGED_PARAMETERS: dict[str, Any] = {
    "classification_tag_key": "data-classification",
    "classification_levels": list(DEFAULT_LEVELS),
    "fail_untagged": False,
}
# KMS aliases of keys AWS manages on the customer's behalf (aws/s3, aws/rds, aws/ebs, ...).
AWS_MANAGED_ALIAS = "alias/aws/"
KIND = {
    BUCKET: "Bucket",
    DB_INSTANCE: "RDS instance",
    VOLUME: "EBS volume",
    TABLE: "DynamoDB table",
    FILE_SYSTEM: "EFS file system",
}


# --------------------------------------------------------------------------------------------- tags


def _tag(snap: Snapshot, key: str) -> str | None:
    """The value of tag ``key``; tag keys are matched exactly, as AWS does."""
    value = snap.tags.get(key)
    return value.strip() if isinstance(value, str) else None


def _tags_unreadable(snap: Snapshot) -> Verdict | None:
    """ERROR when the store's tags could not be read: its class is then unknown."""
    if (err := unreadable(snap, "tags")) is not None:
        return errored(
            f"The tags of {KIND.get(snap.resource_type, 'resource')} {snap.name} could not be read, so its "
            f"data classification is unknown ({snap.unreadable['tags']})",
            unreadable=dict(err.evidence.get("unreadable", {})),
        )
    return None


def _level(snap: Snapshot, params: Mapping[str, Any]) -> str | None:
    value = _tag(snap, str(params["classification_tag_key"]))
    return value.lower() if value else None


def _restricted(snap: Snapshot, params: Mapping[str, Any]) -> bool:
    return _level(snap, params) == str(params["restricted_level"]).lower()


def _critical(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | bool:
    """ERROR if the tags could not be read, else whether the store is marked critical."""
    if (err := _tags_unreadable(snap)) is not None:
        return err
    value = _tag(snap, str(params["criticality_tag_key"]))
    return value is not None and value.lower() == str(params["critical_value"]).lower()


def _restricted_only(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | bool:
    """ERROR if the class cannot be known, False when the store is not restricted, else True."""
    if (err := _tags_unreadable(snap)) is not None:
        return err
    return _restricted(snap, params)


def _as_class_rule(base_check: str, snap: Snapshot, params: Mapping[str, Any], label: str) -> Verdict | None:
    """The verdict of the general check ``base_check``, restated for a store of class ``label``."""
    chk = REGISTRY.get(base_check)
    verdict = chk.fn(snap, {**chk.parameters, **{k: v for k, v in params.items() if k in chk.parameters}})
    if verdict is None:
        return None
    reason = f"{verdict.reason} (the {KIND.get(snap.resource_type, 'resource')} is {label})"
    return Verdict(verdict.status, reason, {**verdict.evidence, "classification": label})


# --------------------------------------------------------------------------------------------- restricted: S3


@check(
    id="data_restricted_s3_bucket_customer_kms",
    title="Restricted S3 buckets encrypt with a customer-managed KMS key",
    description=(
        "A bucket tagged with the restricted data class encrypts new objects by default with SSE-KMS or "
        "DSSE-KMS under a key the company manages, so access to the data also depends on the key policy and "
        "key use is logged in CloudTrail. SSE-S3 and the AWS-managed aws/s3 key do not qualify; who manages the "
        "key is asked of KMS, as an ARN alone does not tell."
    ),
    severity=Severity.HIGH,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "Create a customer-managed KMS key and make it the bucket's default encryption key.\n"
        "CLI: aws s3api put-bucket-encryption --bucket BUCKET --server-side-encryption-configuration "
        '\'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms",'
        '"KMSMasterKeyID":"arn:aws:kms:REGION:ACCOUNT:key/KEY-ID"},"BucketKeyEnabled":true}]}\'\n'
        'Terraform: resource "aws_s3_bucket_server_side_encryption_configuration" "b" { bucket = BUCKET '
        'rule { apply_server_side_encryption_by_default { sse_algorithm = "aws:kms" '
        "kms_master_key_id = aws_kms_key.restricted.arn } bucket_key_enabled = true } }"
    ),
    permissions=("s3:GetBucketTagging", "s3:GetEncryptionConfiguration", "kms:DescribeKey"),
    parameters=CLASS_PARAMETERS,
)
def restricted_s3_customer_kms(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _restricted_only(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    if (err := unreadable(snap, "encryption")) is not None:
        return err
    enc = snap.configuration.get("encryption")
    if not isinstance(enc, Mapping) or not isinstance(enc.get("enabled"), bool):
        return errored(f"The collected configuration of bucket {snap.name} has no usable encryption data")
    label = str(params["restricted_level"])
    if not enc["enabled"]:
        return failed(f"Bucket {snap.name} holds {label} data but has no default encryption", encryption=dict(enc))
    algorithm = str(enc.get("algorithm") or "")
    key = str(enc.get("kms_key_id") or "")
    if algorithm == "AES256":
        return failed(
            f"Bucket {snap.name} holds {label} data but encrypts with SSE-S3 (AES256, keys managed by S3), "
            "not a customer-managed KMS key",
            encryption=dict(enc),
        )
    if algorithm not in ("aws:kms", "aws:kms:dsse"):
        return failed(
            f"Bucket {snap.name} holds {label} data and encrypts with an unrecognised algorithm {algorithm!r}",
            encryption=dict(enc),
        )
    if not key:
        return failed(
            f"Bucket {snap.name} holds {label} data but encrypts with the AWS-managed key aws/s3 "
            "(no key of its own is configured)",
            encryption=dict(enc),
        )
    if key.startswith(AWS_MANAGED_ALIAS) or f":{AWS_MANAGED_ALIAS}" in key:
        return failed(
            f"Bucket {snap.name} holds {label} data but encrypts with the AWS-managed key {key}",
            encryption=dict(enc),
        )
    # An ARN does not say who manages the key (the aws/s3 key has one too): the collector asks KMS.
    if (err := unreadable(snap, "encryption_key_manager")) is not None:
        return err
    manager = snap.configuration.get("encryption_key_manager")
    if manager == "AWS":
        return failed(
            f"Bucket {snap.name} holds {label} data but its KMS key {key} is managed by AWS, not by you",
            encryption=dict(enc),
        )
    if manager != "CUSTOMER":
        return errored(f"Could not tell who manages KMS key {key} of bucket {snap.name}")
    return passed(
        f"Bucket {snap.name} holds {label} data and encrypts by default with KMS key {key}",
        kms_key_id=key,
        algorithm=algorithm,
    )


@check(
    id="data_restricted_s3_bucket_not_public",
    title="Restricted S3 buckets are not publicly accessible",
    description=(
        "A bucket tagged with the restricted data class grants no public access through its policy or ACL "
        "(or the effective public access block neutralises it). The test is s3_bucket_not_public's; for "
        "restricted data an exposure is always critical."
    ),
    severity=Severity.CRITICAL,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "Remove public statements and ACL grants and block public access on the bucket.\n"
        "CLI: aws s3api put-public-access-block --bucket BUCKET --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true\n"
        'Terraform: resource "aws_s3_bucket_public_access_block" "b" { bucket = BUCKET block_public_acls = true '
        "ignore_public_acls = true block_public_policy = true restrict_public_buckets = true }"
    ),
    permissions=(
        "s3:GetBucketTagging",
        "s3:GetBucketPolicyStatus",
        "s3:GetBucketAcl",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetAccountPublicAccessBlock",
    ),
    parameters=CLASS_PARAMETERS,
)
def restricted_s3_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _restricted_only(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    return _as_class_rule("s3_bucket_not_public", snap, params, f"classified {params['restricted_level']}")


@check(
    id="data_restricted_s3_bucket_access_logging",
    title="Restricted S3 buckets log every request",
    description=(
        "A bucket tagged with the restricted data class has server access logging on, so each request "
        "for its data can be traced. The test is s3_bucket_access_logging's, at a higher severity."
    ),
    severity=Severity.HIGH,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "Enable server access logging to a dedicated log bucket.\n"
        "CLI: aws s3api put-bucket-logging --bucket BUCKET --bucket-logging-status "
        '\'{"LoggingEnabled":{"TargetBucket":"LOG-BUCKET","TargetPrefix":"BUCKET/"}}\'\n'
        'Terraform: resource "aws_s3_bucket_logging" "b" { bucket = BUCKET target_bucket = LOG-BUCKET '
        'target_prefix = "BUCKET/" }'
    ),
    permissions=("s3:GetBucketTagging", "s3:GetBucketLogging"),
    parameters=CLASS_PARAMETERS,
)
def restricted_s3_access_logging(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _restricted_only(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    return _as_class_rule("s3_bucket_access_logging", snap, params, f"classified {params['restricted_level']}")


# --------------------------------------------------------------------------------------------- restricted: RDS, EBS


def _kms_encrypted(snap: Snapshot, flag: str, label: str) -> Verdict:
    """PASS when boolean ``flag`` is true (naming the key), FAIL when false, ERROR otherwise."""
    kind = KIND[snap.resource_type]
    if (err := unreadable(snap, flag)) is not None:
        return err
    value = snap.configuration.get(flag)
    if not isinstance(value, bool):
        return errored(f"The collected configuration of {kind} {snap.name} has no usable {flag} ({value!r})")
    if not value:
        return failed(f"{kind} {snap.name} holds {label} data but is not encrypted at rest", **{flag: False})
    key = snap.configuration.get("kms_key_id")
    with_key = f" with KMS key {key}" if key else ""
    return passed(f"{kind} {snap.name} holds {label} data and is encrypted at rest{with_key}", kms_key_id=key)


@check(
    id="data_restricted_rds_instance_encrypted",
    title="Restricted RDS instances encrypt their storage",
    description=(
        "An RDS instance tagged with the restricted data class has storage encryption on, which covers its "
        "automated backups, snapshots and read replicas."
    ),
    severity=Severity.HIGH,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Encryption cannot be turned on in place: copy a snapshot with a customer-managed KMS key and restore it.\n"
        "CLI: aws rds copy-db-snapshot --source-db-snapshot-identifier SNAP --target-db-snapshot-identifier "
        "SNAP-enc --kms-key-id KEY-ARN\n"
        'Terraform: resource "aws_db_instance" "db" { storage_encrypted = true '
        "kms_key_id = aws_kms_key.restricted.arn }"
    ),
    permissions=("rds:DescribeDBInstances",),
    parameters=CLASS_PARAMETERS,
)
def restricted_rds_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _restricted_only(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    return _kms_encrypted(snap, "storage_encrypted", f"classified {params['restricted_level']}")


@check(
    id="data_restricted_rds_instance_not_public",
    title="Restricted RDS instances are not publicly accessible",
    description=(
        "An RDS instance tagged with the restricted data class is not marked publicly accessible. The test "
        "is rds_instance_not_public's."
    ),
    severity=Severity.CRITICAL,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Turn off public accessibility and reach the database from inside the VPC.\n"
        "CLI: aws rds modify-db-instance --db-instance-identifier ID --no-publicly-accessible --apply-immediately\n"
        'Terraform: resource "aws_db_instance" "db" { publicly_accessible = false }'
    ),
    permissions=("rds:DescribeDBInstances",),
    parameters=CLASS_PARAMETERS,
)
def restricted_rds_not_public(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _restricted_only(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    return _as_class_rule("rds_instance_not_public", snap, params, f"classified {params['restricted_level']}")


@check(
    id="data_restricted_ebs_volume_encrypted",
    title="Restricted EBS volumes are encrypted",
    description="An EBS volume tagged with the restricted data class is encrypted at rest with KMS.",
    severity=Severity.HIGH,
    resource_type=VOLUME,
    service="ec2",
    remediation=(
        "Snapshot the volume, copy the snapshot with encryption under a customer-managed key, create a volume "
        "from the copy and swap it in.\n"
        "CLI: aws ec2 copy-snapshot --source-region REGION --source-snapshot-id SNAP --encrypted --kms-key-id KEY-ARN\n"
        'Terraform: resource "aws_ebs_volume" "v" { encrypted = true kms_key_id = aws_kms_key.restricted.arn }'
    ),
    permissions=("ec2:DescribeVolumes",),
    parameters=CLASS_PARAMETERS,
)
def restricted_ebs_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _restricted_only(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    return _kms_encrypted(snap, "encrypted", f"classified {params['restricted_level']}")


# --------------------------------------------------------------------------------------------- critical databases


@check(
    id="data_critical_rds_instance_multi_az",
    title="Critical databases run Multi-AZ",
    description=(
        "An RDS instance tagged critical has a standby in another availability zone. The test is "
        "rds_instance_multi_az's; for a critical database a single-zone deployment is a high-severity gap."
    ),
    severity=Severity.HIGH,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Convert the instance to a Multi-AZ deployment.\n"
        "CLI: aws rds modify-db-instance --db-instance-identifier ID --multi-az --apply-immediately\n"
        'Terraform: resource "aws_db_instance" "db" { multi_az = true }'
    ),
    permissions=("rds:DescribeDBInstances",),
    parameters=CRITICAL_PARAMETERS,
)
def critical_rds_multi_az(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _critical(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    return _as_class_rule("rds_instance_multi_az", snap, params, f"marked {params['critical_value']}")


@check(
    id="data_critical_rds_instance_backups",
    title="Critical databases keep automated backups",
    description=(
        "An RDS instance tagged critical keeps automated backups for at least min_retention_days days. The "
        "test is rds_instance_backups_enabled's."
    ),
    severity=Severity.HIGH,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Set a backup retention period of at least the required number of days.\n"
        "CLI: aws rds modify-db-instance --db-instance-identifier ID --backup-retention-period 14 --apply-immediately\n"
        'Terraform: resource "aws_db_instance" "db" { backup_retention_period = 14 }'
    ),
    permissions=("rds:DescribeDBInstances",),
    parameters={**CRITICAL_PARAMETERS, "min_retention_days": 7},
)
def critical_rds_backups(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _critical(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    return _as_class_rule("rds_instance_backups_enabled", snap, params, f"marked {params['critical_value']}")


@check(
    id="data_critical_rds_instance_deletion_protection",
    title="Critical databases are protected from deletion",
    description=(
        "An RDS instance tagged critical has deletion protection on. The test is "
        "rds_instance_deletion_protection's, at a higher severity."
    ),
    severity=Severity.HIGH,
    resource_type=DB_INSTANCE,
    service="rds",
    remediation=(
        "Enable deletion protection.\n"
        "CLI: aws rds modify-db-instance --db-instance-identifier ID --deletion-protection --apply-immediately\n"
        'Terraform: resource "aws_db_instance" "db" { deletion_protection = true }'
    ),
    permissions=("rds:DescribeDBInstances",),
    parameters=CRITICAL_PARAMETERS,
)
def critical_rds_deletion_protection(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _critical(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    return _as_class_rule("rds_instance_deletion_protection", snap, params, f"marked {params['critical_value']}")


# --------------------------------------------------------------------------------------------- DynamoDB, EFS


def _flag(snap: Snapshot, field: str, expected: Any, label: str, good: str, bad: str) -> Verdict:
    """PASS (``good``) when configuration ``field`` equals ``expected``, FAIL (``bad``) on another value."""
    kind = KIND[snap.resource_type]
    if (err := unreadable(snap, field)) is not None:
        return err
    if field not in snap.configuration:
        return errored(f"The collected configuration of {kind} {snap.name} has no {field}; it cannot be evaluated")
    value = snap.configuration[field]
    if value is None:
        return errored(f"AWS did not report {field} for {kind} {snap.name}")
    if value == expected:
        return passed(f"{kind} {snap.name} is {label} and {good}", **{field: value})
    return failed(f"{kind} {snap.name} is {label} but {bad}", **{field: value})


@check(
    id="data_critical_dynamodb_table_backups",
    title="Critical DynamoDB tables keep point-in-time recovery",
    description=(
        "A DynamoDB table tagged critical has point-in-time recovery on, so it can be restored to any second "
        "of the recovery window after a bad write or deletion."
    ),
    severity=Severity.HIGH,
    resource_type=TABLE,
    service="dynamodb",
    remediation=(
        "Turn on point-in-time recovery.\n"
        "CLI: aws dynamodb update-continuous-backups --table-name NAME "
        "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true\n"
        'Terraform: resource "aws_dynamodb_table" "t" { point_in_time_recovery { enabled = true } }'
    ),
    permissions=("dynamodb:ListTagsOfResource", "dynamodb:DescribeContinuousBackups"),
    parameters=CRITICAL_PARAMETERS,
)
def critical_dynamodb_backups(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _critical(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    if (err := unreadable(snap, "point_in_time_recovery")) is not None:
        return err
    pitr = snap.configuration.get("point_in_time_recovery")
    status = pitr.get("status") if isinstance(pitr, Mapping) else None
    label = f"marked {params['critical_value']}"
    if status == "ENABLED":
        days = pitr.get("recovery_period_days") if isinstance(pitr, Mapping) else None
        window = f" ({days}-day window)" if days else ""
        return passed(f"DynamoDB table {snap.name} is {label} and keeps point-in-time recovery{window}", status=status)
    if status in ("DISABLED", "DISABLING"):
        return failed(f"DynamoDB table {snap.name} is {label} but point-in-time recovery is off", status=status)
    return errored(f"DynamoDB did not report a usable point-in-time recovery status for {snap.name} ({status!r})")


@check(
    id="data_critical_dynamodb_table_deletion_protection",
    title="Critical DynamoDB tables are protected from deletion",
    description="A DynamoDB table tagged critical has deletion protection on, so it cannot be dropped by mistake.",
    severity=Severity.HIGH,
    resource_type=TABLE,
    service="dynamodb",
    remediation=(
        "Enable deletion protection.\n"
        "CLI: aws dynamodb update-table --table-name NAME --deletion-protection-enabled\n"
        'Terraform: resource "aws_dynamodb_table" "t" { deletion_protection_enabled = true }'
    ),
    permissions=("dynamodb:ListTagsOfResource", "dynamodb:DescribeTable"),
    parameters=CRITICAL_PARAMETERS,
)
def critical_dynamodb_deletion_protection(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _critical(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    label = f"marked {params['critical_value']}"
    return _flag(
        snap, "deletion_protection", True, label, "has deletion protection enabled", "has deletion protection disabled"
    )


@check(
    id="data_restricted_efs_file_system_encrypted",
    title="Restricted EFS file systems are encrypted",
    description="An EFS file system tagged with the restricted data class is encrypted at rest with KMS.",
    severity=Severity.HIGH,
    resource_type=FILE_SYSTEM,
    service="efs",
    remediation=(
        "Encryption is chosen at creation: create an encrypted file system with a customer-managed key and copy "
        "the data across (for example with AWS DataSync).\n"
        "CLI: aws efs create-file-system --encrypted --kms-key-id KEY-ARN --tags Key=data-classification,"
        "Value=restricted\n"
        'Terraform: resource "aws_efs_file_system" "fs" { encrypted = true kms_key_id = aws_kms_key.restricted.arn }'
    ),
    permissions=("elasticfilesystem:DescribeFileSystems",),
    parameters=CLASS_PARAMETERS,
)
def restricted_efs_encrypted(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _restricted_only(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    return _kms_encrypted(snap, "encrypted", f"classified {params['restricted_level']}")


@check(
    id="data_critical_efs_file_system_backups",
    title="Critical EFS file systems are backed up automatically",
    description=(
        "An EFS file system tagged critical has its automatic backup policy enabled, so AWS Backup takes daily "
        "backups of it."
    ),
    severity=Severity.HIGH,
    resource_type=FILE_SYSTEM,
    service="efs",
    remediation=(
        "Enable automatic backups.\n"
        "CLI: aws efs put-backup-policy --file-system-id FS-ID --backup-policy Status=ENABLED\n"
        'Terraform: resource "aws_efs_backup_policy" "p" { file_system_id = FS-ID backup_policy { status = '
        '"ENABLED" } }'
    ),
    permissions=("elasticfilesystem:DescribeFileSystems", "elasticfilesystem:DescribeBackupPolicy"),
    parameters=CRITICAL_PARAMETERS,
)
def critical_efs_backups(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _critical(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    label = f"marked {params['critical_value']}"
    status = snap.configuration.get("backup_policy")
    return _flag(
        snap,
        "backup_policy",
        "ENABLED",
        label,
        "has automatic backups enabled",
        f"its automatic backup policy is {status}",
    )


@check(
    id="data_critical_s3_bucket_replication",
    title="Critical S3 buckets are replicated",
    description=(
        "An S3 bucket tagged critical has at least one enabled replication rule, so its objects are copied to "
        "another bucket (in another region or account for a regional outage or a compromised account) as they "
        "are written. Replication needs versioning on, which the rule's presence implies."
    ),
    severity=Severity.HIGH,
    resource_type=BUCKET,
    service="s3",
    remediation=(
        "Turn on versioning on both buckets and add a replication rule to a bucket in another region.\n"
        "CLI: aws s3api put-bucket-replication --bucket NAME --replication-configuration file://replication.json\n"
        'Terraform: resource "aws_s3_bucket_replication_configuration" "r" { bucket = NAME role = ROLE-ARN '
        'rule { status = "Enabled" destination { bucket = DEST-ARN } } }'
    ),
    permissions=("s3:GetBucketTagging", "s3:GetReplicationConfiguration"),
    parameters=CRITICAL_PARAMETERS,
)
def critical_s3_replication(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    applies = _critical(snap, params)
    if applies is not True:
        return applies if isinstance(applies, Verdict) else None
    if (err := unreadable(snap, "replication")) is not None:
        return err
    config = snap.configuration.get("replication")
    if not isinstance(config, Mapping) or not isinstance(config.get("rules"), list):
        return errored(f"The collected configuration of bucket {snap.name} has no replication settings")
    label = f"marked {params['critical_value']}"
    enabled = [r for r in config["rules"] if isinstance(r, Mapping) and r.get("status") == "Enabled"]
    if enabled:
        destinations = sorted({str(r.get("destination_bucket")) for r in enabled})
        return passed(
            f"Bucket {snap.name} is {label} and replicates to {', '.join(destinations)}",
            destinations=destinations,
        )
    if config["rules"]:
        return failed(f"Bucket {snap.name} is {label} but every replication rule is disabled", rules=config["rules"])
    return failed(f"Bucket {snap.name} is {label} but has no replication rule", rules=[])


# --------------------------------------------------------------------------------------------- classified at all


def _classified(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if not params.get("fail_untagged"):
        return None
    if (err := _tags_unreadable(snap)) is not None:
        return err
    kind = KIND[snap.resource_type]
    key = str(params["classification_tag_key"])
    levels = [str(level).lower() for level in params["classification_levels"]]
    value = _tag(snap, key)
    if not value:
        return failed(f"{kind} {snap.name} has no {key} tag, so its data class is not declared", tag_key=key)
    if value.lower() not in levels:
        return failed(
            f"{kind} {snap.name} is tagged {key}={value}, which is not one of the levels {', '.join(levels)}",
            tag_key=key,
            value=value,
        )
    return passed(f"{kind} {snap.name} is classified {value.lower()} ({key} tag)", tag_key=key, level=value.lower())


def _classified_check(check_id: str, resource_type: str, service: str, permission: str, remediation: str) -> None:
    kind = KIND[resource_type]
    check(
        id=check_id,
        title=f"{kind}s declare their data classification",
        description=(
            f"Every {kind} carries the classification tag with one of the configured levels, so the rules "
            "for its class can apply. Judged only when fail_untagged (GUARDIAN_FAIL_UNTAGGED_DATA_STORES) is "
            "on; otherwise this check does not apply."
        ),
        severity=Severity.MEDIUM,
        resource_type=resource_type,
        service=service,
        remediation=remediation,
        permissions=(permission,),
        parameters=UNTAGGED_PARAMETERS,
    )(_classified)


_classified_check(
    "data_s3_bucket_classified",
    BUCKET,
    "s3",
    "s3:GetBucketTagging",
    "Tag the bucket with its data class.\n"
    "CLI: aws s3api put-bucket-tagging --bucket BUCKET --tagging "
    "'TagSet=[{Key=data-classification,Value=internal}]' (put-bucket-tagging replaces all tags: include the "
    "existing ones)\n"
    'Terraform: resource "aws_s3_bucket" "b" { tags = { "data-classification" = "internal" } }',
)
_classified_check(
    "data_rds_instance_classified",
    DB_INSTANCE,
    "rds",
    "rds:DescribeDBInstances",
    "Tag the instance with its data class.\n"
    "CLI: aws rds add-tags-to-resource --resource-name DB-ARN --tags Key=data-classification,Value=confidential\n"
    'Terraform: resource "aws_db_instance" "db" { tags = { "data-classification" = "confidential" } }',
)
_classified_check(
    "data_ebs_volume_classified",
    VOLUME,
    "ec2",
    "ec2:DescribeVolumes",
    "Tag the volume with its data class.\n"
    "CLI: aws ec2 create-tags --resources VOLUME-ID --tags Key=data-classification,Value=internal\n"
    'Terraform: resource "aws_ebs_volume" "v" { tags = { "data-classification" = "internal" } }',
)
_classified_check(
    "data_dynamodb_table_classified",
    TABLE,
    "dynamodb",
    "dynamodb:ListTagsOfResource",
    "Tag the table with its data class.\n"
    "CLI: aws dynamodb tag-resource --resource-arn TABLE-ARN --tags Key=data-classification,Value=confidential\n"
    'Terraform: resource "aws_dynamodb_table" "t" { tags = { "data-classification" = "confidential" } }',
)
_classified_check(
    "data_efs_file_system_classified",
    FILE_SYSTEM,
    "efs",
    "elasticfilesystem:DescribeFileSystems",
    "Tag the file system with its data class.\n"
    "CLI: aws efs tag-resource --resource-id FS-ID --tags Key=data-classification,Value=internal\n"
    'Terraform: resource "aws_efs_file_system" "fs" { tags = { "data-classification" = "internal" } }',
)
