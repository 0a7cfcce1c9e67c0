"""The pure rules behind scopes and risk acceptances: what is inside a boundary, what an acceptance covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guardian_compliance.acceptances.matching import Rule, coverage, in_force
from guardian_compliance.scope.model import Scope
from guardian_compliance.scope.schemas import Boundary

NOW = datetime(2026, 6, 1, tzinfo=UTC)
BUCKET = "arn:aws:s3:::prod-data"


def scope(**boundary: object) -> Scope:
    return Scope(
        id="s", name="s", version=1, categories=frozenset({"security"}), boundary=Boundary.model_validate(boundary)
    )


def inside(s: Scope, *, account: str = "111111111111", region: str = "us-east-1", **kw: object) -> bool:
    return s.contains(
        account_id=account,
        region=region,
        resource_type=str(kw.get("resource_type", "AWS::S3::Bucket")),
        arn=str(kw.get("arn", BUCKET)),
        tags=kw.get("tags", {"env": "prod"}),  # type: ignore[arg-type]
    )


def test_an_empty_boundary_takes_everything() -> None:
    assert inside(scope(), account="999999999999", region="ap-south-1", tags={})


def test_every_filter_must_match() -> None:
    s = scope(account_ids=["111111111111"], regions=["us-east-1"], tags={"env": ["prod", "staging"]})
    assert inside(s)
    assert inside(s, tags={"env": "staging", "team": "x"})
    assert not inside(s, account="222222222222")
    assert not inside(s, region="eu-west-1")
    assert not inside(s, tags={"env": "dev"})
    assert not inside(s, tags={})


def test_a_tag_filter_without_values_needs_only_the_key() -> None:
    s = scope(tags={"owner": []})
    assert inside(s, tags={"owner": "anyone"})
    assert not inside(s, tags={"env": "prod"})


def test_global_resources_account_context_gaps_and_unknown_tags_are_never_dropped_by_region_or_tags() -> None:
    s = scope(regions=["eu-west-1"], tags={"env": ["prod"]})
    assert inside(s, region="global", tags={"env": "prod"})
    assert inside(s, region="eu-west-1", resource_type="AWS::::Account", arn="arn:aws::111111111111:account", tags={})
    assert inside(s, region="eu-west-1", arn="guardian:collection:111111111111:eu-west-1:s3", tags={})
    assert inside(s, region="eu-west-1", tags=None)  # the inventory never saw it: it may hide an ERROR
    assert not inside(s, region="us-east-1", tags=None)


def rule(rule_id: str = "acc-1", **selectors: str) -> Rule:
    fields: dict[str, str | None] = {
        k: None for k in ("control_id", "check_id", "arn_pattern", "account_id", "region", "tag_key", "tag_value")
    }
    fields.update(selectors)
    return Rule(id=rule_id, approver="bob", starts_at=NOW, expires_at=NOW + timedelta(days=1), **fields)


def covered(rules: list[Rule], **kw: object) -> tuple[str | None, dict[str, str]]:
    c = coverage(
        rules,
        status=str(kw.get("status", "FAIL")),
        check_id=str(kw.get("check_id", "s3_enc")),
        arn=str(kw.get("arn", BUCKET)),
        account_id=str(kw.get("account", "111111111111")),
        region=str(kw.get("region", "us-east-1")),
        tags=kw.get("tags", {"env": "prod"}),  # type: ignore[arg-type]
    )
    return (c.everywhere.id if c.everywhere else None), {k: r.id for k, r in c.per_control.items()}


@pytest.mark.parametrize(
    ("selectors", "matching", "other"),
    [
        ({"check_id": "s3_enc"}, {}, {"check_id": "ebs_enc"}),
        ({"arn_pattern": "arn:aws:s3:::prod-*"}, {}, {"arn": "arn:aws:s3:::dev-data"}),
        ({"account_id": "111111111111"}, {}, {"account": "222222222222"}),
        ({"region": "us-east-1"}, {}, {"region": "eu-west-1"}),
        ({"tag_key": "env", "tag_value": "prod"}, {}, {"tags": {"env": "dev"}}),
        ({"tag_key": "env", "tag_value": "prod"}, {}, {"tags": None}),
    ],
)
def test_each_selector_covers_what_it_names_and_nothing_else(
    selectors: dict[str, str], matching: dict[str, object], other: dict[str, object]
) -> None:
    assert covered([rule(**selectors)], **matching) == ("acc-1", {})
    assert covered([rule(**selectors)], **other) == (None, {})


def test_selectors_combine_with_and() -> None:
    both = rule(check_id="s3_enc", region="eu-west-1")
    assert covered([both], region="eu-west-1") == ("acc-1", {})
    assert covered([both], region="us-east-1") == (None, {})


def test_a_control_selector_covers_the_finding_in_that_control_only() -> None:
    assert covered([rule(control_id="CTL-1", check_id="s3_enc")]) == (None, {"CTL-1": "acc-1"})


def test_only_failures_are_accepted_never_errors_or_passes() -> None:
    assert covered([rule(check_id="s3_enc")], status="ERROR") == (None, {})
    assert covered([rule(check_id="s3_enc")], status="PASS") == (None, {})


def test_in_force_means_started_and_not_yet_expired() -> None:
    r = rule(check_id="s3_enc")
    assert in_force([r], NOW) == [r]
    assert in_force([r], NOW - timedelta(seconds=1)) == []
    assert in_force([r], NOW + timedelta(days=1)) == []
