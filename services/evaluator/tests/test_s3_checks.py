"""Unit tests of the S3 checks on hand-built configurations shaped like the S3 collector's output."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

BUCKET = "AWS::S3::Bucket"
NAME = "audit-data"
ARN = f"arn:aws:s3:::{NAME}"
DENIED = "AccessDenied on GetBucketPolicy: Access Denied"

ALL_ON = {
    "block_public_acls": True,
    "ignore_public_acls": True,
    "block_public_policy": True,
    "restrict_public_buckets": True,
}
ALL_OFF = dict.fromkeys(ALL_ON, False)

TLS_ONLY_STATEMENT: dict[str, Any] = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [ARN, f"{ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
TLS_ONLY_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [TLS_ONLY_STATEMENT],
}

# Real AWS since 2023: every bucket reports SSE-S3 by default.
AWS_DEFAULT_ENCRYPTION: dict[str, Any] = {
    "enabled": True,
    "algorithm": "AES256",
    "kms_key_id": None,
    "bucket_key": False,
    "rules": [{"algorithm": "AES256", "kms_key_id": None, "bucket_key": False}],
}
KMS_ENCRYPTION: dict[str, Any] = {
    "enabled": True,
    "algorithm": "aws:kms",
    "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1111",
    "bucket_key": True,
    "rules": [
        {"algorithm": "aws:kms", "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1111", "bucket_key": True}
    ],
}
# moto (and old buckets): GetBucketEncryption answers ServerSideEncryptionConfigurationNotFoundError.
NO_ENCRYPTION_CONFIG: dict[str, Any] = {
    "enabled": False,
    "algorithm": None,
    "kms_key_id": None,
    "bucket_key": False,
    "rules": [],
}


def good_bucket() -> dict[str, Any]:
    return {
        "name": NAME,
        "arn": ARN,
        "creation_date": "2024-01-02T03:04:05+00:00",
        "region": "us-east-1",
        "encryption": copy.deepcopy(KMS_ENCRYPTION),
        "public_access_block": dict(ALL_ON),
        "account_public_access_block": dict(ALL_OFF),
        "policy_status": {"is_public": False},
        "policy": copy.deepcopy(TLS_ONLY_POLICY),
        "acl": {
            "owner_id": "owner",
            "grants": [
                {
                    "grantee_type": "CanonicalUser",
                    "grantee_id": "owner",
                    "grantee_uri": None,
                    "grantee_email": None,
                    "permission": "FULL_CONTROL",
                }
            ],
        },
        "public_acl_grants": [],
        "logging": {"enabled": True, "target_bucket": "log-bucket", "target_prefix": f"{NAME}/"},
        "versioning": {"status": "Enabled", "mfa_delete": False},
        "tags": {"env": "prod"},
    }


def snapshot(configuration: dict[str, Any], resource_type: str = BUCKET, **kwargs: Any) -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=kwargs.get("arn", ARN),
        name=kwargs.get("name", NAME),
        account_id="123456789012",
        region=kwargs.get("region", "us-east-1"),
        tags={},
        configuration=configuration,
    )


def run(check_id: str, configuration: dict[str, Any], **params: Any) -> tuple[Status, str]:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snapshot(configuration), {**chk.parameters, **params})
    assert verdict is not None
    return verdict.status, verdict.reason


def unreadable(configuration: dict[str, Any], *fields: str) -> dict[str, Any]:
    """The configuration as the collector builds it when ``fields`` could not be read."""
    out = dict(configuration)
    for name in fields:
        out[name] = None
    out["_errors"] = {name: DENIED for name in fields}
    return out


def without(configuration: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in configuration.items() if k not in fields}


BUCKET_CHECKS = (
    ("s3_bucket_default_encryption", ("encryption",)),
    ("s3_bucket_public_access_block", ("public_access_block",)),
    ("s3_bucket_not_public", ("policy_status",)),
    ("s3_bucket_access_logging", ("logging",)),
    ("s3_bucket_versioning", ("versioning",)),
    ("s3_bucket_secure_transport", ("policy",)),
)


def test_checks_are_registered_with_the_agreed_metadata() -> None:
    expected = {
        "s3_bucket_default_encryption": "high",
        "s3_bucket_public_access_block": "high",
        "s3_bucket_not_public": "critical",
        "s3_bucket_access_logging": "medium",
        "s3_bucket_versioning": "medium",
        "s3_bucket_secure_transport": "medium",
    }
    for check_id, severity in expected.items():
        chk = REGISTRY.get(check_id)
        assert (chk.resource_type, chk.service, chk.severity.value) == (BUCKET, "s3", severity)
        assert "aws " in chk.remediation
    account = REGISTRY.get("s3_account_public_access_block")
    assert (account.resource_type, account.service, account.severity.value) == ("AWS::::Account", "account", "high")


@pytest.mark.parametrize(("check_id", "fields"), BUCKET_CHECKS)
def test_good_bucket_passes(check_id: str, fields: tuple[str, ...]) -> None:
    status, reason = run(check_id, good_bucket())
    assert status is Status.PASS, reason
    assert NAME in reason


@pytest.mark.parametrize(("check_id", "fields"), BUCKET_CHECKS)
def test_unreadable_field_is_error(check_id: str, fields: tuple[str, ...]) -> None:
    config = good_bucket()
    if check_id == "s3_bucket_not_public":
        # The bucket's block is what could neutralise a public policy: make it unknown too.
        config = unreadable(config, "policy_status", "public_access_block")
    else:
        config = unreadable(config, *fields)
    status, reason = run(check_id, config)
    assert status is Status.ERROR, reason
    assert "AccessDenied" in reason or "unknown" in reason


@pytest.mark.parametrize(("check_id", "fields"), BUCKET_CHECKS)
def test_missing_field_is_error(check_id: str, fields: tuple[str, ...]) -> None:
    status, reason = run(check_id, without(good_bucket(), *fields))
    assert status is Status.ERROR, reason
    assert "no " in reason


# --- default encryption ---------------------------------------------------------------------


def test_encryption_passes_on_aws_default_sse_s3() -> None:
    config = good_bucket()
    config["encryption"] = copy.deepcopy(AWS_DEFAULT_ENCRYPTION)
    status, reason = run("s3_bucket_default_encryption", config)
    assert status is Status.PASS
    assert "SSE-S3 (AES256)" in reason


def test_encryption_passes_on_kms_and_names_the_key() -> None:
    status, reason = run("s3_bucket_default_encryption", good_bucket())
    assert status is Status.PASS
    assert "SSE-KMS" in reason
    assert "key/1111" in reason


def test_encryption_fails_without_configuration() -> None:
    config = good_bucket()
    config["encryption"] = copy.deepcopy(NO_ENCRYPTION_CONFIG)
    assert run("s3_bucket_default_encryption", config) == (
        Status.FAIL,
        f"Bucket {NAME} has no default encryption configuration",
    )


def test_encryption_require_kms_fails_sse_s3() -> None:
    config = good_bucket()
    config["encryption"] = copy.deepcopy(AWS_DEFAULT_ENCRYPTION)
    status, reason = run("s3_bucket_default_encryption", config, require_kms=True)
    assert status is Status.FAIL
    assert "KMS key is required" in reason
    assert run("s3_bucket_default_encryption", good_bucket(), require_kms=True)[0] is Status.PASS


def test_encryption_unknown_algorithm_fails() -> None:
    config = good_bucket()
    config["encryption"] = {**KMS_ENCRYPTION, "algorithm": "rot13"}
    status, reason = run("s3_bucket_default_encryption", config)
    assert status is Status.FAIL
    assert "rot13" in reason


def test_encryption_malformed_data_is_error() -> None:
    config = good_bucket()
    config["encryption"] = {"algorithm": "AES256"}
    assert run("s3_bucket_default_encryption", config)[0] is Status.ERROR


# --- public access block --------------------------------------------------------------------


def test_public_access_block_passes_through_account_level() -> None:
    config = good_bucket()
    config["public_access_block"] = dict(ALL_OFF)
    config["account_public_access_block"] = dict(ALL_ON)
    status, reason = run("s3_bucket_public_access_block", config)
    assert status is Status.PASS
    assert "account-level" in reason


def test_public_access_block_combines_bucket_and_account_settings() -> None:
    config = good_bucket()
    config["public_access_block"] = {**ALL_OFF, "block_public_acls": True, "ignore_public_acls": True}
    config["account_public_access_block"] = {**ALL_OFF, "block_public_policy": True, "restrict_public_buckets": True}
    assert run("s3_bucket_public_access_block", config)[0] is Status.PASS


def test_public_access_block_fails_naming_each_setting_off() -> None:
    config = good_bucket()
    config["public_access_block"] = {**ALL_ON, "ignore_public_acls": False, "restrict_public_buckets": False}
    status, reason = run("s3_bucket_public_access_block", config)
    assert status is Status.FAIL
    assert "IgnorePublicAcls" in reason
    assert "RestrictPublicBuckets" in reason
    assert "BlockPublicAcls" not in reason


def test_public_access_block_bucket_alone_suffices_when_account_unreadable() -> None:
    config = unreadable(good_bucket(), "account_public_access_block")
    assert run("s3_bucket_public_access_block", config)[0] is Status.PASS


def test_public_access_block_needs_account_when_bucket_partial() -> None:
    config = unreadable(good_bucket(), "account_public_access_block")
    config["public_access_block"] = {**ALL_ON, "block_public_policy": False}
    status, reason = run("s3_bucket_public_access_block", config)
    assert status is Status.ERROR
    assert "account_public_access_block" in reason


def test_public_access_block_missing_account_field_is_error() -> None:
    status, _ = run("s3_bucket_public_access_block", without(good_bucket(), "account_public_access_block"))
    assert status is Status.ERROR


# --- not public -----------------------------------------------------------------------------

PUBLIC_READ = [{"grantee": "AllUsers", "permission": "READ"}]


def exposed_bucket() -> dict[str, Any]:
    config = good_bucket()
    config["public_access_block"] = dict(ALL_OFF)
    config["account_public_access_block"] = dict(ALL_OFF)
    return config


def test_not_public_fails_on_public_acl_grant() -> None:
    config = exposed_bucket()
    config["public_acl_grants"] = PUBLIC_READ
    status, reason = run("s3_bucket_not_public", config)
    assert status is Status.FAIL
    assert "AllUsers:READ" in reason
    assert "IgnorePublicAcls is off" in reason


def test_not_public_fails_on_authenticated_users_grant() -> None:
    config = exposed_bucket()
    config["public_acl_grants"] = [{"grantee": "AuthenticatedUsers", "permission": "WRITE"}]
    status, reason = run("s3_bucket_not_public", config)
    assert status is Status.FAIL
    assert "AuthenticatedUsers:WRITE" in reason


def test_not_public_fails_on_public_policy() -> None:
    config = exposed_bucket()
    config["policy_status"] = {"is_public": True}
    status, reason = run("s3_bucket_not_public", config)
    assert status is Status.FAIL
    assert "bucket policy" in reason
    assert "RestrictPublicBuckets is off" in reason


def test_not_public_passes_when_account_block_neutralises_grants() -> None:
    config = exposed_bucket()
    config["public_acl_grants"] = PUBLIC_READ
    config["policy_status"] = {"is_public": True}
    config["account_public_access_block"] = {**ALL_OFF, "ignore_public_acls": True, "restrict_public_buckets": True}
    assert run("s3_bucket_not_public", config)[0] is Status.PASS


def test_not_public_passes_when_bucket_block_neutralises_grants() -> None:
    config = good_bucket()
    config["public_acl_grants"] = PUBLIC_READ
    assert run("s3_bucket_not_public", config)[0] is Status.PASS


def test_not_public_acl_unreadable_is_error_unless_neutralised() -> None:
    config = unreadable(exposed_bucket(), "acl", "public_acl_grants")
    status, reason = run("s3_bucket_not_public", config)
    assert status is Status.ERROR
    assert "ACL grants" in reason
    # IgnorePublicAcls on: whatever the ACL says, it cannot make the bucket public.
    neutralised = unreadable(good_bucket(), "acl", "public_acl_grants")
    assert run("s3_bucket_not_public", neutralised)[0] is Status.PASS


def test_not_public_grant_with_unknown_block_is_error() -> None:
    config = unreadable(exposed_bucket(), "public_access_block")
    config["public_acl_grants"] = PUBLIC_READ
    status, reason = run("s3_bucket_not_public", config)
    assert status is Status.ERROR
    assert "IgnorePublicAcls" in reason


def test_not_public_known_exposure_fails_even_if_other_data_unreadable() -> None:
    config = unreadable(exposed_bucket(), "policy_status")
    config["public_acl_grants"] = PUBLIC_READ
    assert run("s3_bucket_not_public", config)[0] is Status.FAIL


def test_not_public_passes_on_private_bucket_without_any_block() -> None:
    assert run("s3_bucket_not_public", exposed_bucket())[0] is Status.PASS


@pytest.mark.parametrize(
    "field", ["policy_status", "public_acl_grants", "public_access_block", "account_public_access_block"]
)
def test_not_public_missing_any_input_is_error(field: str) -> None:
    assert run("s3_bucket_not_public", without(good_bucket(), field))[0] is Status.ERROR


# --- logging, versioning --------------------------------------------------------------------


def test_logging_fails_when_disabled() -> None:
    config = good_bucket()
    config["logging"] = {"enabled": False, "target_bucket": None, "target_prefix": None}
    assert run("s3_bucket_access_logging", config) == (
        Status.FAIL,
        f"Bucket {NAME} has server access logging disabled",
    )


def test_logging_pass_names_target() -> None:
    assert "log-bucket" in run("s3_bucket_access_logging", good_bucket())[1]


@pytest.mark.parametrize(("status", "word"), [("Suspended", "suspended"), ("Disabled", "never enabled")])
def test_versioning_fails_unless_enabled(status: str, word: str) -> None:
    config = good_bucket()
    config["versioning"] = {"status": status, "mfa_delete": False}
    result, reason = run("s3_bucket_versioning", config)
    assert result is Status.FAIL
    assert word in reason


def test_versioning_without_status_is_error() -> None:
    config = good_bucket()
    config["versioning"] = {"mfa_delete": False}
    assert run("s3_bucket_versioning", config)[0] is Status.ERROR


# --- secure transport -----------------------------------------------------------------------


def test_secure_transport_fails_without_policy() -> None:
    config = good_bucket()
    config["policy"] = None
    status, reason = run("s3_bucket_secure_transport", config)
    assert status is Status.FAIL
    assert "no bucket policy" in reason


def tls_statement(**changes: Any) -> dict[str, Any]:
    statement = copy.deepcopy(TLS_ONLY_STATEMENT)
    statement.update(changes)
    return {k: v for k, v in statement.items() if v is not None}


@pytest.mark.parametrize(
    "statement",
    [
        tls_statement(Effect="Allow"),
        tls_statement(Principal={"AWS": "arn:aws:iam::123456789012:root"}),
        tls_statement(Action="s3:GetObject"),
        tls_statement(Condition={"Bool": {"aws:SecureTransport": "true"}}),
        tls_statement(Condition={"Bool": {"aws:SecureTransport": "false"}, "IpAddress": {"aws:SourceIp": "10/8"}}),
        tls_statement(Resource=ARN),
        tls_statement(Resource="arn:aws:s3:::another-bucket/*"),
        tls_statement(Condition=None),
    ],
)
def test_secure_transport_fails_on_statements_that_do_not_deny_all_plain_http(statement: dict[str, Any]) -> None:
    config = good_bucket()
    config["policy"] = {"Version": "2012-10-17", "Statement": [statement]}
    status, reason = run("s3_bucket_secure_transport", config)
    assert status is Status.FAIL, statement
    assert "aws:SecureTransport" in reason


@pytest.mark.parametrize(
    "statement",
    [
        tls_statement(Principal={"AWS": "*"}),
        tls_statement(Action=["*"]),
        tls_statement(Resource="*"),
        tls_statement(Resource=f"{ARN}/*"),
        tls_statement(Condition={"BoolIfExists": {"aws:SecureTransport": False}}),
    ],
)
def test_secure_transport_accepts_equivalent_statements(statement: dict[str, Any]) -> None:
    config = good_bucket()
    config["policy"] = {"Statement": statement}
    assert run("s3_bucket_secure_transport", config)[0] is Status.PASS


def test_secure_transport_malformed_policy_is_error() -> None:
    config = good_bucket()
    config["policy"] = "not a document"
    assert run("s3_bucket_secure_transport", config)[0] is Status.ERROR


# --- account-wide public access block -------------------------------------------------------


def account(configuration: dict[str, Any]) -> tuple[Status, str] | None:
    chk = REGISTRY.get("s3_account_public_access_block")
    snap = snapshot(
        configuration,
        resource_type="AWS::::Account",
        arn="arn:aws:::123456789012:account",
        name="123456789012",
        region="global",
    )
    verdict = chk.fn(snap, chk.parameters)
    return None if verdict is None else (verdict.status, verdict.reason)


def test_account_block_passes_when_all_on() -> None:
    result = account({"scope": "account", "s3_account_public_access_block": dict(ALL_ON)})
    assert result is not None
    assert result[0] is Status.PASS


def test_account_block_fails_naming_settings_off() -> None:
    result = account({"scope": "account", "s3_account_public_access_block": {**ALL_ON, "block_public_policy": False}})
    assert result is not None
    assert result[0] is Status.FAIL
    assert "BlockPublicPolicy" in result[1]
    assert "IgnorePublicAcls" not in result[1]


def test_account_block_unreadable_is_error() -> None:
    result = account(
        {
            "scope": "account",
            "s3_account_public_access_block": None,
            "_errors": {"s3_account_public_access_block": "AccessDenied on GetPublicAccessBlock: denied"},
        }
    )
    assert result is not None
    assert result[0] is Status.ERROR
    assert "AccessDenied" in result[1]


def test_account_block_missing_is_error() -> None:
    result = account({"scope": "account"})
    assert result is not None
    assert result[0] is Status.ERROR


def test_account_block_does_not_apply_to_regional_snapshots() -> None:
    assert account({"scope": "region", "s3_account_public_access_block": dict(ALL_OFF)}) is None
