"""OpenSearch domain checks on configurations shaped as the opensearch collector emits them."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Severity, Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
DENIED = "AccessDeniedException on describe_domains: not authorized"


def domain(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "domain_name": "search",
        "engine_version": "OpenSearch_2.11",
        "node_to_node_encryption": True,
        "encryption_at_rest": True,
        "encryption_kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/4444",
        "enforce_https": True,
        "tls_security_policy": "Policy-Min-TLS-1-2-PFS-2023-10",
        "audit_logs": {"enabled": True, "destination": "arn:aws:logs:us-east-1:123456789012:log-group:audit"},
        "in_vpc": True,
        "vpc_id": "vpc-0search",
        "public_endpoint": None,
        "fine_grained_access_control": True,
    }
    config.update(overrides)
    return Snapshot(
        resource_type="AWS::OpenSearchService::Domain",
        arn=f"arn:aws:es:us-east-1:{ACCOUNT}:domain/search",
        name="search",
        account_id=ACCOUNT,
        region="us-east-1",
        tags={},
        configuration=config,
    )


def without(field: str) -> Snapshot:
    base = domain()
    config = dict(base.configuration)
    del config[field]
    return Snapshot(
        resource_type=base.resource_type,
        arn=base.arn,
        name=base.name,
        account_id=base.account_id,
        region=base.region,
        tags=base.tags,
        configuration=config,
    )


def run(check_id: str, snap: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snap, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snap: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snap, **params)
    return None if result is None else result[0]


# (check id, field, failing value, reason)
CASES = [
    (
        "opensearch_domain_node_to_node_encryption",
        "node_to_node_encryption",
        False,
        "OpenSearch domain search sends traffic between its nodes unencrypted",
    ),
    (
        "opensearch_domain_encrypted_at_rest",
        "encryption_at_rest",
        False,
        "OpenSearch domain search stores its data unencrypted",
    ),
    (
        "opensearch_domain_https_required",
        "enforce_https",
        False,
        "OpenSearch domain search accepts plain HTTP (EnforceHTTPS is off)",
    ),
    (
        "opensearch_domain_audit_logs",
        "audit_logs",
        {"enabled": False, "destination": None},
        "OpenSearch domain search does not publish audit logs",
    ),
    ("opensearch_domain_in_vpc", "in_vpc", False, "OpenSearch domain search has a public endpoint"),
    (
        "opensearch_domain_fine_grained_access",
        "fine_grained_access_control",
        False,
        "OpenSearch domain search does not use fine-grained access control",
    ),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("check_id", "field", "bad", "reason"), CASES, ids=IDS)
def test_pass_and_fail(check_id: str, field: str, bad: Any, reason: str) -> None:
    assert status(check_id, domain()) == PASS
    assert run(check_id, domain(**{field: bad})) == (FAIL, reason)


@pytest.mark.parametrize(("check_id", "field", "bad", "reason"), CASES, ids=IDS)
def test_unreadable_or_missing_is_error(check_id: str, field: str, bad: Any, reason: str) -> None:
    result = run(check_id, domain(**{field: None, "_errors": {field: DENIED}}))
    assert result is not None
    assert result[0] == ERROR
    assert "AccessDeniedException" in result[1]
    assert status(check_id, without(field)) == ERROR
    assert status(check_id, domain(**{field: None})) == ERROR


@pytest.mark.parametrize(
    ("check_id", "severity"),
    [
        ("opensearch_domain_node_to_node_encryption", Severity.MEDIUM),
        ("opensearch_domain_encrypted_at_rest", Severity.HIGH),
        ("opensearch_domain_https_required", Severity.MEDIUM),
        ("opensearch_domain_audit_logs", Severity.MEDIUM),
        ("opensearch_domain_in_vpc", Severity.HIGH),
        ("opensearch_domain_fine_grained_access", Severity.LOW),
    ],
)
def test_registered(check_id: str, severity: Severity) -> None:
    chk = REGISTRY.get(check_id)
    assert (chk.severity, chk.resource_type, chk.service) == (severity, "AWS::OpenSearchService::Domain", "opensearch")
    assert "CLI: aws opensearch " in chk.remediation
    assert "Terraform:" in chk.remediation


@pytest.mark.parametrize(
    ("policy", "https", "expected"),
    [
        ("Policy-Min-TLS-1-2-2019-07", True, PASS),
        ("Policy-Min-TLS-1-2-RFC9151-FIPS-2024-08", True, PASS),
        ("Policy-Min-TLS-1-0-2019-07", True, FAIL),
        ("Policy-Min-TLS-1-0-2019-07", False, FAIL),
        (None, False, FAIL),
        (None, True, ERROR),
        ("Custom-Policy", True, ERROR),
    ],
)
def test_tls_policy(policy: str | None, https: bool, expected: Status) -> None:
    assert (
        status("opensearch_domain_https_required", domain(tls_security_policy=policy, enforce_https=https)) == expected
    )


def test_tls_reasons_name_every_problem() -> None:
    both = run(
        "opensearch_domain_https_required",
        domain(enforce_https=False, tls_security_policy="Policy-Min-TLS-1-0-2019-07"),
    )
    assert both == (
        FAIL,
        "OpenSearch domain search accepts plain HTTP (EnforceHTTPS is off) and its TLS policy "
        "Policy-Min-TLS-1-0-2019-07 accepts TLS 1.0, older than 1.2",
    )
    assert run("opensearch_domain_https_required", domain()) == (
        PASS,
        "OpenSearch domain search requires HTTPS with policy Policy-Min-TLS-1-2-PFS-2023-10 (TLS 1.2 or later)",
    )
    assert status("opensearch_domain_https_required", domain(), min_tls_version="1.3") == FAIL
    assert status("opensearch_domain_https_required", domain(), min_tls_version="latest") == ERROR
    assert status("opensearch_domain_https_required", without("tls_security_policy")) == ERROR


def test_pass_reasons() -> None:
    assert run("opensearch_domain_in_vpc", domain()) == (PASS, "OpenSearch domain search is inside a VPC (vpc-0search)")
    assert run("opensearch_domain_encrypted_at_rest", domain()) == (
        PASS,
        "OpenSearch domain search encrypts its data at rest with KMS key arn:aws:kms:us-east-1:123456789012:key/4444",
    )
    public = run(
        "opensearch_domain_in_vpc", domain(in_vpc=False, public_endpoint="search-x.us-east-1.es.amazonaws.com")
    )
    assert public == (FAIL, "OpenSearch domain search has a public endpoint (search-x.us-east-1.es.amazonaws.com)")
