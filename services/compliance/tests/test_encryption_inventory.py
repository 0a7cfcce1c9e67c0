"""The encryption inventory's building blocks: the deciding checks exist and states never flatter."""

from __future__ import annotations

from typing import Any

from guardian_compliance.inventory.encryption import ENCRYPTION_AT_REST_CHECKS, build, key_of
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY


def test_each_store_type_is_decided_by_a_registered_check_of_that_type() -> None:
    load_all()
    for resource_type, check_id in ENCRYPTION_AT_REST_CHECKS.items():
        assert check_id in REGISTRY, check_id
        assert REGISTRY.get(check_id).resource_type == resource_type


def row(name: str, status: str, configuration: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "resource_arn": f"arn:aws:s3:::{name}",
        "resource_type": "AWS::S3::Bucket",
        "resource_name": name,
        "account_id": "123456789012",
        "region": "us-east-1",
        "status": status,
        "reason": f"{name} {status}",
        "check_id": "s3_bucket_default_encryption",
        "configuration": configuration,
    }


def test_an_unreadable_store_is_unknown_never_encrypted_and_failures_come_first() -> None:
    inventory = build(
        [
            row("kms", "PASS", {"encryption": {"enabled": True, "kms_key_id": "arn:aws:kms:us-east-1:1:key/k"}}),
            row("denied", "ERROR", None),
            row("plain", "FAIL", {"encryption": {"enabled": False}}),
        ],
        None,
    )
    assert (inventory.total, inventory.encrypted, inventory.unencrypted, inventory.unknown) == (3, 1, 1, 1)
    assert [(s.resource_name, s.state) for s in inventory.items] == [
        ("plain", "unencrypted"),
        ("denied", "unknown"),
        ("kms", "encrypted"),
    ]
    assert inventory.items[2].kms_key_id == "arn:aws:kms:us-east-1:1:key/k"
    only_unknown = build([row("denied", "ERROR", None), row("plain", "FAIL", {})], "unknown")
    assert [s.resource_name for s in only_unknown.items] == ["denied"]
    assert only_unknown.total == 2


def test_keys_are_found_where_each_collector_keeps_them() -> None:
    assert key_of({"kms_key_id": "k1"}) == "k1"
    assert key_of({"kms_master_key_id": "alias/q"}) == "alias/q"
    assert key_of({"encryption": {"kms_key_id": None}, "kms_key_id": "k2"}) == "k2"
    assert key_of({"encryption": "not a mapping"}) is None
    assert key_of(None) is None
