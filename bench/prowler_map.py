"""The checks Guardian and Prowler both run on the benchmark environment's services, paired.

Each Guardian check is paired with the Prowler check(s) that judge the same setting of the same
resource. ``NOTES`` says where the two are known to differ in scope, so that a disagreement can be
explained by the rule rather than by the data.
"""

from __future__ import annotations

# Guardian check id -> Prowler check ids judging the same thing on the same resource.
PAIRS: dict[str, tuple[str, ...]] = {
    "s3_bucket_default_encryption": ("s3_bucket_default_encryption",),
    "s3_bucket_public_access_block": ("s3_bucket_level_public_access_block",),
    "s3_bucket_secure_transport": ("s3_bucket_secure_transport_policy",),
    "s3_bucket_versioning": ("s3_bucket_object_versioning",),
    "s3_bucket_access_logging": ("s3_bucket_server_access_logging_enabled",),
    "s3_bucket_not_public": ("s3_bucket_public_access",),
    "ec2_ebs_volume_encrypted": ("ec2_ebs_volume_encryption",),
    "ec2_sg_no_open_admin_ports": ("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22",),
    "ec2_sg_no_open_all_traffic": ("ec2_securitygroup_allow_ingress_from_internet_to_all_ports",),
    "ec2_default_sg_restricts_all": ("ec2_securitygroup_default_restrict_traffic",),
    "ec2_vpc_flow_logs_enabled": ("vpc_flow_logs_enabled",),
    "iam_user_console_mfa": ("iam_user_mfa_enabled_console_access",),
    "iam_policy_no_full_admin": (
        "iam_customer_attached_policy_no_administrative_privileges",
        "iam_customer_unattached_policy_no_administrative_privileges",
    ),
    "iam_user_no_direct_policies": ("iam_policy_attached_only_to_group_or_roles",),
    "iam_user_access_key_rotated": ("iam_rotate_access_key_90_days",),
    "iam_user_unused_credentials": ("iam_user_console_access_unused", "iam_user_accesskey_unused"),
    "kms_key_rotation_enabled": ("kms_cmk_rotation_enabled",),
    "kms_key_policy_no_public_principal": ("kms_key_not_publicly_accessible",),
    "kms_key_not_pending_deletion": ("kms_cmk_not_deleted_unintentionally",),
    "sqs_queue_encrypted": ("sqs_queues_server_side_encryption_enabled",),
    "sqs_queue_not_public": ("sqs_queues_not_publicly_accessible",),
    "sns_topic_encrypted_kms": ("sns_topics_kms_encryption_at_rest_enabled",),
    "sns_topic_not_public": ("sns_topics_not_publicly_accessible",),
    "logs_log_group_retention": ("cloudwatch_log_group_retention_policy_specific_days_enabled",),
    "logs_log_group_kms_encryption": ("cloudwatch_log_group_kms_encryption_enabled",),
    "dynamodb_table_pitr_enabled": ("dynamodb_tables_pitr_enabled",),
    "dynamodb_table_encrypted_kms": ("dynamodb_tables_kms_cmk_encryption_enabled",),
    "dynamodb_table_deletion_protection": ("dynamodb_table_deletion_protection_enabled",),
    "secretsmanager_secret_rotation_enabled": ("secretsmanager_automatic_rotation_enabled",),
    "secretsmanager_secret_rotated_recently": ("secretsmanager_secret_rotated_periodically",),
    "ecr_repository_scan_on_push": ("ecr_repositories_scan_images_on_push_enabled",),
    "ecr_repository_not_public": ("ecr_repositories_not_publicly_accessible",),
    "ecr_repository_tag_immutability": ("ecr_repositories_tag_immutability",),
    "rds_instance_storage_encrypted": ("rds_instance_storage_encrypted",),
    "rds_instance_not_public": ("rds_instance_no_public_access",),
    "rds_instance_multi_az": ("rds_instance_multi_az",),
    "rds_instance_deletion_protection": ("rds_instance_deletion_protection",),
    "rds_instance_backups_enabled": ("rds_instance_backup_enabled",),
    "rds_instance_minor_version_upgrade": ("rds_instance_minor_version_upgrade_enabled",),
    "rds_instance_log_exports": ("rds_instance_integration_cloudwatch_logs",),
    "cloudtrail_log_file_validation": ("cloudtrail_log_file_validation_enabled",),
    "cloudtrail_kms_encryption": ("cloudtrail_kms_encryption_enabled",),
    "cloudtrail_cloudwatch_logs": ("cloudtrail_cloudwatch_logging_enabled",),
    "cloudtrail_bucket_not_public": ("cloudtrail_logs_s3_bucket_is_not_publicly_accessible",),
}

# Known differences of rule (not of data) between paired checks.
NOTES: dict[str, str] = {
    "ec2_sg_no_open_admin_ports": "Guardian covers every remote-administration port (22, 3389, ...); this Prowler "
    "check covers port 22 only",
    "iam_user_unused_credentials": "Prowler judges console passwords and access keys in two checks; a FAIL of either "
    "is a FAIL of Guardian's single check",
    "logs_log_group_retention": "Prowler's default minimum is 365 days; Guardian's parameter decides here",
    "secretsmanager_secret_rotated_recently": "Both depend on a rotation age threshold set by parameter",
    "kms_key_rotation_enabled": "Prowler judges only customer-managed keys that are enabled; Guardian skips "
    "AWS-managed keys too, but judges disabled keys",
}

REVERSE: dict[str, str] = {prowler: guardian for guardian, ps in PAIRS.items() for prowler in ps}


def normalise_arn(arn: str) -> str:
    """One spelling of an ARN for both tools (log groups end in ``:*`` in some APIs)."""
    return arn[:-2] if arn.endswith(":*") else arn


# Guardian collector -> the service prefix of Prowler's check ids that reads the same AWS service
# (only where the names differ; every other collector's name is Prowler's prefix too).
PROWLER_SERVICE: dict[str, str] = {
    "iamadmin": "iam",
    "iamextra": "iam",
    "rdsextra": "rds",
    "ec2fleet": "ec2",
    "lambda": "awslambda",
    "monitoring": "cloudwatch",  # metric filters and alarms
    "logs": "cloudwatch",  # Prowler's log-group checks are cloudwatch_log_group_*
}


def shared_collectors(collectors: list[str], prowler_checks: list[str]) -> list[str]:
    """The collectors whose AWS service Prowler's framework also checks."""
    prowler_services = {check.split("_", 1)[0] for check in prowler_checks}
    return sorted(c for c in collectors if PROWLER_SERVICE.get(c, c) in prowler_services)
