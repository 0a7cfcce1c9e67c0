"""Data classification checks on configurations shaped as the S3, RDS and EC2 collectors emit them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from guardian_common.events import Severity, Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Registry, Snapshot, Verdict, check
from guardian_evaluator.settings import EvaluatorSettings

load_all()

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
ACCOUNT = "123456789012"
CUSTOMER_KEY = "arn:aws:kms:us-east-1:123456789012:key/1111aaaa-2222-3333-4444-555566667777"
RESTRICTED = {"data-classification": "restricted"}
CRITICAL = {"criticality": "critical"}
DENIED_TAGS = "AccessDenied on GetBucketTagging: Access Denied"


def _snap(resource_type: str, name: str, tags: dict[str, str], config: dict[str, Any]) -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:test:us-east-1:{ACCOUNT}:{name}",
        name=name,
        account_id=ACCOUNT,
        region="us-east-1",
        tags=tags,
        configuration=config,
    )


def bucket(tags: dict[str, str] | None = None, **overrides: Any) -> Snapshot:
    block = {
        "block_public_acls": True,
        "ignore_public_acls": True,
        "block_public_policy": True,
        "restrict_public_buckets": True,
    }
    config: dict[str, Any] = {
        "encryption": {"enabled": True, "algorithm": "aws:kms", "kms_key_id": CUSTOMER_KEY, "bucket_key": True},
        "encryption_key_manager": "CUSTOMER",
        "public_access_block": block,
        "account_public_access_block": dict.fromkeys(block, False),
        "policy_status": {"is_public": False},
        "public_acl_grants": [],
        "logging": {"enabled": True, "target_bucket": "logs", "target_prefix": "vault/"},
        "tags": dict(RESTRICTED if tags is None else tags),
    }
    config.update(overrides)
    return _snap("AWS::S3::Bucket", "vault", dict(config["tags"] or {}), config)


def database(tags: dict[str, str] | None = None, **overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "identifier": "ledger",
        "storage_encrypted": True,
        "kms_key_id": CUSTOMER_KEY,
        "publicly_accessible": False,
        "multi_az": True,
        "backup_retention_period": 14,
        "deletion_protection": True,
    }
    config.update(overrides)
    return _snap("AWS::RDS::DBInstance", "ledger", {**RESTRICTED, **CRITICAL} if tags is None else tags, config)


def volume(tags: dict[str, str] | None = None, **overrides: Any) -> Snapshot:
    config: dict[str, Any] = {"volume_id": "vol-1", "encrypted": True, "kms_key_id": CUSTOMER_KEY}
    config.update(overrides)
    return _snap("AWS::EC2::Volume", "vol-1", dict(RESTRICTED) if tags is None else tags, config)


def run(check_id: str, snapshot: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snapshot, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snapshot: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snapshot, **params)
    return None if result is None else result[0]


# --------------------------------------------------------------------------------------------- restricted S3 key


def test_restricted_bucket_with_a_customer_key_passes() -> None:
    assert run("data_restricted_s3_bucket_customer_kms", bucket()) == (
        PASS,
        f"Bucket vault holds restricted data and encrypts by default with KMS key {CUSTOMER_KEY}",
    )


@pytest.mark.parametrize(
    ("encryption", "words"),
    [
        ({"enabled": False, "algorithm": None, "kms_key_id": None}, "has no default encryption"),
        ({"enabled": True, "algorithm": "AES256", "kms_key_id": None}, "SSE-S3 (AES256"),
        ({"enabled": True, "algorithm": "aws:kms", "kms_key_id": None}, "AWS-managed key aws/s3"),
        ({"enabled": True, "algorithm": "aws:kms", "kms_key_id": "alias/aws/s3"}, "AWS-managed key alias/aws/s3"),
        (
            {"enabled": True, "algorithm": "aws:kms", "kms_key_id": "arn:aws:kms:us-east-1:1:alias/aws/s3"},
            "AWS-managed key arn:aws:kms:us-east-1:1:alias/aws/s3",
        ),
        ({"enabled": True, "algorithm": "rot13", "kms_key_id": None}, "unrecognised algorithm 'rot13'"),
    ],
)
def test_restricted_bucket_without_a_customer_key_fails(encryption: dict[str, Any], words: str) -> None:
    result = run("data_restricted_s3_bucket_customer_kms", bucket(encryption=encryption))
    assert result is not None
    assert result[0] is FAIL
    assert words in result[1]
    assert "vault" in result[1]


def test_real_aws_default_sse_s3_on_a_restricted_bucket_fails() -> None:
    # Real AWS reports SSE-S3 on every bucket without a rule of its own; moto reports no configuration.
    real_default = {"enabled": True, "algorithm": "AES256", "kms_key_id": None, "bucket_key": False, "rules": []}
    assert status("data_restricted_s3_bucket_customer_kms", bucket(encryption=real_default)) is FAIL


def test_a_dsse_kms_customer_key_passes() -> None:
    enc = {"enabled": True, "algorithm": "aws:kms:dsse", "kms_key_id": "alias/vault-key"}
    assert status("data_restricted_s3_bucket_customer_kms", bucket(encryption=enc)) is PASS


def test_the_aws_managed_key_named_by_its_arn_fails() -> None:
    # The aws/s3 key has an ARN like any other: only KMS's answer tells who manages it.
    snapshot = bucket(encryption_key_manager="AWS")
    assert status("data_restricted_s3_bucket_customer_kms", snapshot) is FAIL


def test_an_unknown_key_manager_is_an_error_never_a_pass() -> None:
    unreadable = bucket(
        encryption_key_manager=None,
        _errors={"encryption_key_manager": "AccessDeniedException on describe_key: denied"},
    )
    assert status("data_restricted_s3_bucket_customer_kms", unreadable) is ERROR
    config = dict(bucket().configuration)
    del config["encryption_key_manager"]
    missing = _snap("AWS::S3::Bucket", "vault", dict(config["tags"]), config)
    assert status("data_restricted_s3_bucket_customer_kms", missing) is ERROR


@pytest.mark.parametrize("tags", [{}, {"data-classification": "internal"}, {"classification": "restricted"}])
def test_bucket_that_is_not_restricted_is_not_judged(tags: dict[str, str]) -> None:
    snapshot = bucket(tags=tags, encryption={"enabled": False})
    for check_id in (
        "data_restricted_s3_bucket_customer_kms",
        "data_restricted_s3_bucket_not_public",
        "data_restricted_s3_bucket_access_logging",
    ):
        assert run(check_id, snapshot) is None


def test_the_level_is_matched_without_regard_to_case_and_spaces() -> None:
    snapshot = bucket(tags={"data-classification": " Restricted "}, encryption={"enabled": False})
    assert status("data_restricted_s3_bucket_customer_kms", snapshot) is FAIL


def test_unreadable_encryption_of_a_restricted_bucket_is_an_error() -> None:
    snapshot = bucket(encryption=None, _errors={"encryption": "AccessDenied on GetBucketEncryption: denied"})
    result = run("data_restricted_s3_bucket_customer_kms", snapshot)
    assert result is not None
    assert result[0] is ERROR
    assert "encryption" in result[1]


def test_encryption_missing_from_the_configuration_is_an_error() -> None:
    config = {k: v for k, v in bucket().configuration.items() if k != "encryption"}
    missing = _snap("AWS::S3::Bucket", "vault", dict(RESTRICTED), config)
    assert status("data_restricted_s3_bucket_customer_kms", missing) is ERROR


@pytest.mark.parametrize(
    "check_id",
    [
        "data_restricted_s3_bucket_customer_kms",
        "data_restricted_s3_bucket_not_public",
        "data_restricted_s3_bucket_access_logging",
        "data_s3_bucket_classified",
    ],
)
def test_unreadable_bucket_tags_make_the_class_unknown_and_the_verdict_an_error(check_id: str) -> None:
    snapshot = bucket(tags={}, _errors={"tags": DENIED_TAGS})
    result = run(check_id, snapshot, fail_untagged=True)
    assert result is not None
    assert result[0] is ERROR
    assert "data classification is unknown" in result[1]


# ----------------------------------------------------------------------------- restricted S3 exposure, logging


def test_restricted_private_bucket_passes_and_public_one_fails() -> None:
    assert status("data_restricted_s3_bucket_not_public", bucket()) is PASS
    public = bucket(
        public_access_block=dict.fromkeys(
            ("block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets"), False
        ),
        policy_status={"is_public": True},
    )
    result = run("data_restricted_s3_bucket_not_public", public)
    assert result is not None
    assert result[0] is FAIL
    assert "bucket policy grants public access" in result[1]
    assert result[1].endswith("(the Bucket is classified restricted)")


def test_restricted_bucket_exposure_unknown_is_an_error() -> None:
    snapshot = bucket(
        public_access_block=None,
        policy_status=None,
        _errors={
            "public_access_block": "AccessDenied on GetPublicAccessBlock: denied",
            "policy_status": "AccessDenied on GetBucketPolicyStatus: denied",
        },
    )
    assert status("data_restricted_s3_bucket_not_public", snapshot) is ERROR


def test_restricted_bucket_access_logging() -> None:
    assert status("data_restricted_s3_bucket_access_logging", bucket()) is PASS
    off = bucket(logging={"enabled": False, "target_bucket": None, "target_prefix": None})
    result = run("data_restricted_s3_bucket_access_logging", off)
    assert result == (FAIL, "Bucket vault has server access logging disabled (the Bucket is classified restricted)")
    denied = bucket(logging=None, _errors={"logging": "AccessDenied on GetBucketLogging: denied"})
    assert status("data_restricted_s3_bucket_access_logging", denied) is ERROR


def test_a_class_rule_never_disagrees_with_its_general_check() -> None:
    for snapshot in (bucket(), bucket(logging={"enabled": False}), bucket(policy_status={"is_public": True})):
        assert status("data_restricted_s3_bucket_access_logging", snapshot) == status(
            "s3_bucket_access_logging", snapshot
        )
        assert status("data_restricted_s3_bucket_not_public", snapshot) == status("s3_bucket_not_public", snapshot)


# --------------------------------------------------------------------------------------------- restricted RDS, EBS


def test_restricted_database_encryption() -> None:
    assert run("data_restricted_rds_instance_encrypted", database()) == (
        PASS,
        f"RDS instance ledger holds classified restricted data and is encrypted at rest with KMS key {CUSTOMER_KEY}",
    )
    assert run("data_restricted_rds_instance_encrypted", database(storage_encrypted=False, kms_key_id=None)) == (
        FAIL,
        "RDS instance ledger holds classified restricted data but is not encrypted at rest",
    )
    assert status("data_restricted_rds_instance_encrypted", database(storage_encrypted=None)) is ERROR
    assert run("data_restricted_rds_instance_encrypted", database(tags={})) is None


def test_restricted_database_exposure() -> None:
    assert status("data_restricted_rds_instance_not_public", database()) is PASS
    result = run("data_restricted_rds_instance_not_public", database(publicly_accessible=True))
    assert result is not None
    assert result[0] is FAIL
    assert "publicly accessible" in result[1]
    assert status("data_restricted_rds_instance_not_public", database(publicly_accessible=None)) is ERROR
    assert run("data_restricted_rds_instance_not_public", database(tags=CRITICAL)) is None


def test_restricted_volume_encryption() -> None:
    assert status("data_restricted_ebs_volume_encrypted", volume()) is PASS
    result = run("data_restricted_ebs_volume_encrypted", volume(encrypted=False, kms_key_id=None))
    assert result == (FAIL, "EBS volume vol-1 holds classified restricted data but is not encrypted at rest")
    missing = _snap("AWS::EC2::Volume", "vol-1", dict(RESTRICTED), {"volume_id": "vol-1"})
    assert status("data_restricted_ebs_volume_encrypted", missing) is ERROR
    assert run("data_restricted_ebs_volume_encrypted", volume(tags={"data-classification": "public"})) is None


def test_a_custom_tag_key_and_level_are_honoured() -> None:
    snapshot = volume(tags={"dc": "secret"}, encrypted=False)
    assert run("data_restricted_ebs_volume_encrypted", snapshot) is None
    params = {"classification_tag_key": "dc", "restricted_level": "secret"}
    assert status("data_restricted_ebs_volume_encrypted", snapshot, **params) is FAIL


# --------------------------------------------------------------------------------------------- critical databases


@pytest.mark.parametrize(
    ("check_id", "bad", "words"),
    [
        ("data_critical_rds_instance_multi_az", {"multi_az": False}, "single availability zone"),
        ("data_critical_rds_instance_backups", {"backup_retention_period": 0}, "automated backups disabled"),
        ("data_critical_rds_instance_backups", {"backup_retention_period": 3}, "fewer than the required 7"),
        ("data_critical_rds_instance_deletion_protection", {"deletion_protection": False}, "deletion protection"),
    ],
)
def test_critical_database_rules(check_id: str, bad: dict[str, Any], words: str) -> None:
    assert status(check_id, database()) is PASS
    result = run(check_id, database(**bad))
    assert result is not None
    assert result[0] is FAIL
    assert words in result[1]
    assert result[1].endswith("(the RDS instance is marked critical)")
    field = next(iter(bad))
    assert status(check_id, database(**{field: None})) is ERROR
    assert run(check_id, database(tags=RESTRICTED, **bad)) is None
    assert run(check_id, database(tags={"criticality": "low"}, **bad)) is None


def test_critical_backups_take_their_own_minimum() -> None:
    assert status("data_critical_rds_instance_backups", database(), min_retention_days=30) is FAIL


def test_critical_value_and_tag_are_configurable() -> None:
    snapshot = database(tags={"tier": "Tier-1"}, multi_az=False)
    assert run("data_critical_rds_instance_multi_az", snapshot) is None
    params = {"criticality_tag_key": "tier", "critical_value": "tier-1"}
    assert status("data_critical_rds_instance_multi_az", snapshot, **params) is FAIL


# --------------------------------------------------------------------------------------------- untagged stores


@pytest.mark.parametrize(
    ("check_id", "factory"),
    [
        ("data_s3_bucket_classified", bucket),
        ("data_rds_instance_classified", database),
        ("data_ebs_volume_classified", volume),
    ],
)
def test_untagged_stores_fail_only_when_the_setting_is_on(check_id: str, factory: Any) -> None:
    untagged = factory(tags={})
    assert run(check_id, untagged) is None  # the default: not judged
    result = run(check_id, untagged, fail_untagged=True)
    assert result is not None
    assert result[0] is FAIL
    assert "has no data-classification tag" in result[1]
    tagged = factory(tags={"data-classification": "Confidential"})
    assert run(check_id, tagged) is None
    assert status(check_id, tagged, fail_untagged=True) is PASS
    unknown = factory(tags={"data-classification": "top-secret"})
    result = run(check_id, unknown, fail_untagged=True)
    assert result is not None
    assert result[0] is FAIL
    assert "not one of the levels public, internal, confidential, restricted" in result[1]


# --------------------------------------------------------------------------------------------- settings -> parameters


def test_settings_feed_the_classification_parameters_to_every_check_taking_them() -> None:
    settings = EvaluatorSettings(
        classification_tag_key="dc",
        classification_levels=["open", "secret"],
        classification_restricted_level="secret",
        fail_untagged_data_stores=True,
        check_parameters={"data_critical_rds_instance_backups": {"min_retention_days": 30}},
    )
    overrides = settings.check_overrides(REGISTRY)
    assert overrides["data_s3_bucket_classified"] == {
        "classification_tag_key": "dc",
        "classification_levels": ["open", "secret"],
        "fail_untagged": True,
    }
    assert overrides["data_restricted_s3_bucket_customer_kms"]["restricted_level"] == "secret"
    assert overrides["data_critical_rds_instance_backups"] == {
        "criticality_tag_key": "criticality",
        "critical_value": "critical",
        "min_retention_days": 30,
    }
    assert "s3_bucket_versioning" not in overrides


def test_settings_refuse_unknown_checks_and_parameters() -> None:
    with pytest.raises(ValueError, match="unknown check 'no_such_check'"):
        EvaluatorSettings(check_parameters={"no_such_check": {"x": 1}}).check_overrides(REGISTRY)
    with pytest.raises(ValueError, match="has no parameter min_days"):
        EvaluatorSettings(check_parameters={"rds_instance_backups_enabled": {"min_days": 1}}).check_overrides(REGISTRY)
    with pytest.raises(ValueError, match="is not one of GUARDIAN_CLASSIFICATION_LEVELS"):
        EvaluatorSettings(classification_levels=["a", "b"])


def test_check_parameters_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDIAN_CHECK_PARAMETERS", '{"rds_instance_backups_enabled": {"min_retention_days": 21}}')
    monkeypatch.setenv("GUARDIAN_FAIL_UNTAGGED_DATA_STORES", "true")
    settings = EvaluatorSettings()
    assert settings.fail_untagged_data_stores is True
    assert settings.check_overrides(REGISTRY)["data_ebs_volume_classified"]["fail_untagged"] is True
    assert settings.check_overrides(REGISTRY)["rds_instance_backups_enabled"] == {"min_retention_days": 21}


# --------------------------------------------------------------------------------------------- DynamoDB, EFS


def table(tags: dict[str, str] | None = None, **overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "table_name": "orders",
        "status": "ACTIVE",
        "deletion_protection": True,
        "encryption": {"key_type": "KMS", "kms_key_arn": CUSTOMER_KEY, "key_manager": "CUSTOMER"},
        "point_in_time_recovery": {"status": "ENABLED", "recovery_period_days": 35},
    }
    config.update(overrides)
    return _snap("AWS::DynamoDB::Table", "orders", dict(CRITICAL) if tags is None else tags, config)


def file_system(tags: dict[str, str] | None = None, **overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "file_system_id": "fs-1",
        "encrypted": True,
        "kms_key_id": CUSTOMER_KEY,
        "backup_policy": "ENABLED",
    }
    config.update(overrides)
    return _snap("AWS::EFS::FileSystem", "fs-1", {**RESTRICTED, **CRITICAL} if tags is None else tags, config)


def test_critical_table_point_in_time_recovery() -> None:
    assert run("data_critical_dynamodb_table_backups", table()) == (
        PASS,
        "DynamoDB table orders is marked critical and keeps point-in-time recovery (35-day window)",
    )
    off = table(point_in_time_recovery={"status": "DISABLED", "recovery_period_days": None})
    assert run("data_critical_dynamodb_table_backups", off) == (
        FAIL,
        "DynamoDB table orders is marked critical but point-in-time recovery is off",
    )
    denied = table(
        point_in_time_recovery=None,
        _errors={"point_in_time_recovery": "AccessDenied on DescribeContinuousBackups: denied"},
    )
    assert status("data_critical_dynamodb_table_backups", denied) is ERROR
    assert status("data_critical_dynamodb_table_backups", table(point_in_time_recovery={})) is ERROR
    assert run("data_critical_dynamodb_table_backups", table(tags={}, point_in_time_recovery={})) is None


def test_critical_table_deletion_protection() -> None:
    assert status("data_critical_dynamodb_table_deletion_protection", table()) is PASS
    assert run("data_critical_dynamodb_table_deletion_protection", table(deletion_protection=False)) == (
        FAIL,
        "DynamoDB table orders is marked critical but has deletion protection disabled",
    )
    denied = table(deletion_protection=None, _errors={"deletion_protection": "AccessDenied on DescribeTable: x"})
    assert status("data_critical_dynamodb_table_deletion_protection", denied) is ERROR
    missing = _snap("AWS::DynamoDB::Table", "orders", dict(CRITICAL), {"table_name": "orders"})
    assert status("data_critical_dynamodb_table_deletion_protection", missing) is ERROR
    tags_denied = table(tags={}, _errors={"tags": "AccessDenied on ListTagsOfResource: x"})
    assert status("data_critical_dynamodb_table_deletion_protection", tags_denied) is ERROR


def test_restricted_file_system_encryption() -> None:
    assert status("data_restricted_efs_file_system_encrypted", file_system()) is PASS
    assert run("data_restricted_efs_file_system_encrypted", file_system(encrypted=False, kms_key_id=None)) == (
        FAIL,
        "EFS file system fs-1 holds classified restricted data but is not encrypted at rest",
    )
    assert status("data_restricted_efs_file_system_encrypted", file_system(encrypted=None)) is ERROR
    assert run("data_restricted_efs_file_system_encrypted", file_system(tags=CRITICAL, encrypted=False)) is None


def test_critical_file_system_backups() -> None:
    assert run("data_critical_efs_file_system_backups", file_system()) == (
        PASS,
        "EFS file system fs-1 is marked critical and has automatic backups enabled",
    )
    assert run("data_critical_efs_file_system_backups", file_system(backup_policy="DISABLED")) == (
        FAIL,
        "EFS file system fs-1 is marked critical but its automatic backup policy is DISABLED",
    )
    denied = file_system(backup_policy=None, _errors={"backup_policy": "AccessDenied on DescribeBackupPolicy: x"})
    assert status("data_critical_efs_file_system_backups", denied) is ERROR
    assert run("data_critical_efs_file_system_backups", file_system(tags=RESTRICTED, backup_policy="DISABLED")) is None


def test_critical_bucket_replication() -> None:
    rule = {"id": "dr", "status": "Enabled", "destination_bucket": "arn:aws:s3:::vault-dr", "storage_class": None}
    replicated = bucket(tags=CRITICAL, replication={"enabled": True, "rules": [rule]})
    assert run("data_critical_s3_bucket_replication", replicated) == (
        PASS,
        "Bucket vault is marked critical and replicates to arn:aws:s3:::vault-dr",
    )
    paused = bucket(tags=CRITICAL, replication={"enabled": False, "rules": [{**rule, "status": "Disabled"}]})
    assert run("data_critical_s3_bucket_replication", paused) == (
        FAIL,
        "Bucket vault is marked critical but every replication rule is disabled",
    )
    none = bucket(tags=CRITICAL, replication={"enabled": False, "rules": []})
    assert run("data_critical_s3_bucket_replication", none) == (
        FAIL,
        "Bucket vault is marked critical but has no replication rule",
    )
    denied = bucket(tags=CRITICAL, replication=None, _errors={"replication": "AccessDenied on GetBucketReplication: x"})
    assert status("data_critical_s3_bucket_replication", denied) is ERROR
    assert status("data_critical_s3_bucket_replication", bucket(tags=CRITICAL)) is ERROR  # never collected
    tags_denied = bucket(tags={}, _errors={"tags": "AccessDenied on GetBucketTagging: x"})
    assert status("data_critical_s3_bucket_replication", tags_denied) is ERROR
    assert run("data_critical_s3_bucket_replication", bucket(tags=RESTRICTED, replication=None)) is None


@pytest.mark.parametrize(
    ("check_id", "factory"),
    [("data_dynamodb_table_classified", table), ("data_efs_file_system_classified", file_system)],
)
def test_untagged_tables_and_file_systems(check_id: str, factory: Any) -> None:
    assert run(check_id, factory(tags={})) is None
    assert status(check_id, factory(tags={}), fail_untagged=True) is FAIL
    assert status(check_id, factory(tags={"data-classification": "internal"}), fail_untagged=True) is PASS


def test_any_check_declaring_a_classification_parameter_receives_the_setting() -> None:
    registry = Registry()

    @check(
        id="demo_table_key",
        title="Demo",
        description="Takes the class settings under their shared parameter names.",
        severity=Severity.LOW,
        resource_type="AWS::DynamoDB::Table",
        service="dynamodb",
        remediation="None needed: aws dynamodb describe-table --table-name NAME",
        permissions=("dynamodb:DescribeTable",),
        parameters={"classification_tag_key": "data-classification", "customer_key_levels": ["restricted"]},
        registry=registry,
    )
    def demo(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
        return None

    settings = EvaluatorSettings(
        classification_tag_key="dc", classification_levels=["low", "secret"], classification_restricted_level="secret"
    )
    assert settings.check_overrides(registry) == {
        "demo_table_key": {"classification_tag_key": "dc", "customer_key_levels": ["secret"]}
    }
