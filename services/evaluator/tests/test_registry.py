"""The check registry as a whole: every check is fully described, consistent with the collectors that
feed it and the control library that uses it, and tested; plus the registry's and engine's own rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from guardian_collector.collectors import all_collectors
from guardian_collector.collectors.base import COLLECTORS
from guardian_collector.policy import read_only_policy
from guardian_common.events import CheckCatalogue, ResourceSnapshot, Severity, Status
from guardian_compliance.frameworks.model import bundled_library
from guardian_evaluator.checks import load_all
from guardian_evaluator.engine import evaluate
from guardian_evaluator.registry import (
    REGISTRY,
    Check,
    CheckFn,
    DuplicateCheckError,
    Registry,
    Snapshot,
    Verdict,
    check,
    failed,
    passed,
)

load_all()
all_collectors()

ACCOUNT = "AWS::::Account"
HERE = Path(__file__).resolve()
UNIT_TESTS = HERE.parent
GOLDEN_TESTS = HERE.parents[3] / "tests" / "golden"
PERMISSION = re.compile(r"^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$")
CHECK_ID = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
ALL_CHECKS = sorted(REGISTRY, key=lambda c: c.id)
ALL_IDS = [c.id for c in ALL_CHECKS]


def collector_resource_types() -> set[str]:
    return {t for collector in COLLECTORS.values() for t in collector.resource_types} | {ACCOUNT}


def collector_permissions() -> set[str]:
    statements = read_only_policy()["Statement"]
    return {action for statement in statements for action in statement["Action"]}


@cache
def module_texts(folder: Path) -> dict[str, str]:
    """Every test module of ``folder`` but this one, by file name."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("test_*.py")) if p.resolve() != HERE}


def files_naming(check_id: str, folder: Path) -> dict[str, str]:
    quoted = re.compile(rf"""["']{re.escape(check_id)}["']""")
    return {name: text for name, text in module_texts(folder).items() if quoted.search(text)}


# --------------------------------------------------------------------------------------------- descriptions


def test_the_registry_holds_checks() -> None:
    assert len(REGISTRY) == len(ALL_IDS) >= 30
    assert len(set(ALL_IDS)) == len(ALL_IDS)


@pytest.mark.parametrize("chk", ALL_CHECKS, ids=ALL_IDS)
def test_check_is_fully_described(chk: Check) -> None:
    assert CHECK_ID.match(chk.id), chk.id
    assert chk.version >= 1
    assert chk.title.strip()
    assert chk.description.strip()
    assert chk.remediation.strip()
    assert isinstance(chk.severity, Severity)
    assert chk.permissions, "a check must say which IAM permissions its data needs"
    bad = [p for p in chk.permissions if not PERMISSION.match(p)]
    assert bad == [], f"permissions not of the form service:Action: {bad}"
    assert len(set(chk.permissions)) == len(chk.permissions)
    assert callable(chk.fn)


@pytest.mark.parametrize("chk", ALL_CHECKS, ids=ALL_IDS)
def test_check_resource_type_is_one_the_collectors_emit(chk: Check) -> None:
    assert chk.resource_type in collector_resource_types()


@pytest.mark.parametrize("chk", ALL_CHECKS, ids=ALL_IDS)
def test_check_service_is_a_collector_or_the_account_context(chk: Check) -> None:
    assert chk.service in set(COLLECTORS) | {"account"}
    if chk.service == "account":
        assert chk.resource_type == ACCOUNT
    else:
        # The service that supplies the data emits the resource type the check reads.
        assert chk.resource_type in COLLECTORS[chk.service].resource_types


@pytest.mark.parametrize("chk", ALL_CHECKS, ids=ALL_IDS)
def test_check_permissions_are_granted_by_the_collector_policy(chk: Check) -> None:
    missing = sorted(set(chk.permissions) - collector_permissions())
    assert missing == [], f"{chk.id} declares permissions the read-only policy does not grant: {missing}"


def test_the_catalogue_event_describes_every_check() -> None:
    infos = [c.info() for c in REGISTRY]
    catalogue = CheckCatalogue(
        event_id=CheckCatalogue.make_id(CheckCatalogue.version_of(infos)),
        catalogue_version=CheckCatalogue.version_of(infos),
        published_at=datetime(2024, 5, 1, tzinfo=UTC),
        checks=infos,
    )
    decoded = CheckCatalogue.model_validate_json(catalogue.to_bytes())
    assert [c.id for c in decoded.checks] == ALL_IDS
    assert all(c.permissions for c in decoded.checks)


# --------------------------------------------------------------------------------------------- tested


def test_the_test_folders_exist() -> None:
    assert module_texts(UNIT_TESTS), UNIT_TESTS
    assert module_texts(GOLDEN_TESTS), GOLDEN_TESTS


@pytest.mark.parametrize("check_id", ALL_IDS)
def test_every_check_has_unit_tests(check_id: str) -> None:
    assert files_naming(check_id, UNIT_TESTS), f"no test under {UNIT_TESTS} names {check_id!r}"


@pytest.mark.parametrize("check_id", ALL_IDS)
def test_every_check_has_golden_tests(check_id: str) -> None:
    assert files_naming(check_id, GOLDEN_TESTS), f"no golden test under {GOLDEN_TESTS} names {check_id!r}"


@pytest.mark.parametrize("check_id", ALL_IDS)
def test_every_check_is_tested_for_pass_and_fail(check_id: str) -> None:
    # A text scan, not a proof: the modules naming the check must assert both outcomes somewhere.
    for folder in (UNIT_TESTS, GOLDEN_TESTS):
        texts = files_naming(check_id, folder).values()
        assert any(re.search(r"\bPASS\b", t) for t in texts), f"{check_id}: no PASS case under {folder}"
        assert any(re.search(r"\bFAIL\b", t) for t in texts), f"{check_id}: no FAIL case under {folder}"


def test_every_check_the_control_library_names_is_registered() -> None:
    named = {c for control in bundled_library().controls for c in control.checks}
    assert named
    assert sorted(named - set(ALL_IDS)) == []


# --------------------------------------------------------------------------------------------- registry rules


def _pass(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    return passed(f"{snap.name} is fine")


def _describe(
    registry: Registry, check_id: str, resource_type: str = "AWS::S3::Bucket", **extra: Any
) -> Callable[[CheckFn], CheckFn]:
    return check(
        id=check_id,
        title=f"Title of {check_id}",
        description="What it checks.",
        severity=Severity.HIGH,
        resource_type=resource_type,
        service="s3",
        remediation="Fix it: aws s3api put-bucket-versioning --bucket NAME --versioning-configuration Status=Enabled",
        permissions=("s3:GetBucketVersioning",),
        registry=registry,
        **extra,
    )


def test_a_duplicate_registration_raises() -> None:
    registry = Registry()
    _describe(registry, "demo_check")(_pass)
    with pytest.raises(DuplicateCheckError, match="demo_check"):
        _describe(registry, "demo_check")(_pass)
    assert len(registry) == 1


def test_a_duplicate_of_a_real_check_id_is_refused_by_the_global_registry() -> None:
    with pytest.raises(DuplicateCheckError):
        _describe(REGISTRY, ALL_IDS[0])(_pass)
    assert len(REGISTRY) == len(ALL_IDS)


def test_a_fresh_registry_is_independent_of_the_global_one() -> None:
    registry = Registry()
    _describe(registry, "demo_check")(_pass)
    assert "demo_check" in registry
    assert "demo_check" not in REGISTRY
    assert registry.get("demo_check").parameters == {}
    assert registry.resource_types() == {"AWS::S3::Bucket"}


# --------------------------------------------------------------------------------------------- engine


def _snapshot(configuration: dict[str, Any], resource_type: str = "AWS::S3::Bucket") -> ResourceSnapshot:
    return ResourceSnapshot(
        event_id=ResourceSnapshot.make_id("scan-1", 7),
        scan_id="scan-1",
        seq=7,
        account_id="123456789012",
        region="us-east-1",
        collection_region="global",
        service="s3",
        resource_type=resource_type,
        arn="arn:aws:s3:::audit-logs",
        name="audit-logs",
        tags={"env": "prod"},
        observed_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        configuration=configuration,
    )


def test_the_engine_turns_a_crashing_check_into_an_error_result() -> None:
    registry = Registry()

    @_describe(registry, "demo_crash")
    def crash(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
        return passed("never reached") if snap.configuration["versioning"]["status"] else None

    [result] = evaluate(_snapshot({}), registry=registry)
    assert result.check_id == "demo_crash"
    assert result.status is Status.ERROR
    assert result.severity is Severity.HIGH
    assert result.check_version == 1
    assert result.reason.startswith("The check could not evaluate this resource: KeyError")
    assert "versioning" in result.reason


def test_a_crash_does_not_stop_the_other_checks() -> None:
    registry = Registry()

    @_describe(registry, "demo_crash")
    def crash(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
        raise RuntimeError("boom")

    _describe(registry, "demo_fine")(_pass)
    results = {r.check_id: r for r in evaluate(_snapshot({}), registry=registry)}
    assert results["demo_crash"].status is Status.ERROR
    assert results["demo_fine"].status is Status.PASS
    assert results["demo_fine"].reason == "audit-logs is fine"


def test_a_check_returning_none_yields_no_result() -> None:
    registry = Registry()

    @_describe(registry, "demo_not_applicable")
    def not_applicable(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
        return None

    assert evaluate(_snapshot({"versioning": {"status": "Enabled"}}), registry=registry) == []


def test_the_engine_runs_only_checks_for_the_snapshot_resource_type() -> None:
    registry = Registry()
    _describe(registry, "demo_bucket")(_pass)
    _describe(registry, "demo_volume", resource_type="AWS::EC2::Volume")(_pass)
    results = evaluate(_snapshot({}), registry=registry)
    assert [r.check_id for r in results] == ["demo_bucket"]


def test_the_engine_passes_verdict_evidence_and_merged_parameters() -> None:
    registry = Registry()

    @_describe(registry, "demo_threshold", version=3, parameters={"min_days": 7, "strict": True})
    def threshold(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
        days = snap.configuration["retention_days"]
        if days >= params["min_days"]:
            return passed(f"retention {days} >= {params['min_days']}", days=days, strict=params["strict"])
        return failed(f"retention {days} < {params['min_days']}", days=days)

    snapshot = _snapshot({"retention_days": 10})
    [default] = evaluate(snapshot, registry=registry)
    assert (default.status, default.check_version) == (Status.PASS, 3)
    assert default.evidence == {"days": 10, "strict": True}
    [stricter] = evaluate(snapshot, registry=registry, overrides={"demo_threshold": {"min_days": 30}})
    assert stricter.status is Status.FAIL
    assert stricter.reason == "retention 10 < 30"


def test_the_engine_shows_checks_the_snapshot_as_collected() -> None:
    seen: list[Snapshot] = []
    registry = Registry()

    @_describe(registry, "demo_view")
    def view(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
        seen.append(snap)
        return None

    configuration = {"versioning": {"status": "Enabled"}, "_errors": {"logging": "AccessDenied on GetBucketLogging"}}
    evaluate(_snapshot(configuration), registry=registry)
    [snap] = seen
    assert (snap.arn, snap.name, snap.account_id, snap.region) == (
        "arn:aws:s3:::audit-logs",
        "audit-logs",
        "123456789012",
        "us-east-1",
    )
    assert snap.tags == {"env": "prod"}
    assert snap.configuration == configuration
    assert snap.unreadable == {"logging": "AccessDenied on GetBucketLogging"}


def test_every_registered_check_serves_at_least_one_control() -> None:
    used = {check for control in bundled_library().controls for check in control.checks}
    unmapped = sorted(c.id for c in REGISTRY if c.id not in used)
    assert unmapped == [], f"checks no control maps (add them to a control library file): {unmapped}"
