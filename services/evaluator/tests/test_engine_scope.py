"""Account-context checks run only for the services a scan collected."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from guardian_common.events import ResourceSnapshot
from guardian_evaluator.checks import load_all
from guardian_evaluator.engine import evaluate

load_all()


def account(configuration: dict[str, Any]) -> ResourceSnapshot:
    return ResourceSnapshot(
        event_id="snap:s:1",
        scan_id="s",
        seq=1,
        account_id="123456789012",
        region="global",
        collection_region="global",
        service="account",
        resource_type="AWS::::Account",
        arn="arn:aws:::123456789012:account",
        name="123456789012",
        observed_at=datetime.now(UTC),
        configuration={"scope": "account", **configuration},
    )


def test_a_scan_of_s3_alone_runs_no_iam_account_check() -> None:
    block = {
        k: True for k in ("block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets")
    }
    results = {
        r.check_id: r.status.value
        for r in evaluate(
            account(
                {
                    "_collected_services": ["s3"],
                    "s3_account_public_access_block": block,
                }
            )
        )
    }
    assert results == {"s3_account_public_access_block": "PASS"}


def test_a_check_of_a_collected_service_with_its_field_missing_is_error() -> None:
    results = {r.check_id: r.status.value for r in evaluate(account({"_collected_services": ["iam"]}))}
    assert results["iam_root_mfa"] == "ERROR"
    assert "s3_account_public_access_block" not in results


def test_snapshots_without_the_list_run_every_check() -> None:
    results = {r.check_id for r in evaluate(account({}))}
    assert {"iam_root_mfa", "s3_account_public_access_block", "cloudtrail_multi_region_enabled"} <= results
