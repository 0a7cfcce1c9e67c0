"""The bundled CIS AWS Foundations Benchmark framework and its mapping onto the control library."""

from __future__ import annotations

import re

from guardian_compliance.frameworks.model import (
    BUNDLED_FRAMEWORKS,
    ControlLibrary,
    ControlStatus,
    Framework,
    bundled_framework,
    bundled_library,
)
from guardian_compliance.posture.status import CatalogueEntry, CheckFacts, Facts, FrameworkPosture, compute
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY

load_all()

CIS_ID = re.compile(r"^CIS-\d+(\.\d+){1,2}$")
SECTIONS = {"1": "cis_iam", "2": "cis_storage", "3": "cis_logging", "4": "cis_monitoring", "5": "cis_networking"}


def _cis() -> Framework:
    return bundled_framework("cis_aws")


def _library() -> ControlLibrary:
    return bundled_library()


def _cis_controls() -> list[str]:
    ids = {r.id for r in _cis().requirements}
    return [c.id for c in _library().controls if any(m.id in ids for m in c.requirements)]


def _all_pass_facts(evidence_met: set[str] | None = None, failing: str | None = None) -> Facts:
    checks = {c for control in _library().controls for c in control.checks}
    catalogue = {
        chk.id: CatalogueEntry(title=chk.title, severity=chk.severity.value, service=chk.service, version=chk.version)
        for chk in REGISTRY
        if chk.id in checks
    }
    results = {c: CheckFacts(passed=2) for c in checks}
    if failing is not None:
        results[failing] = CheckFacts(passed=1, failed=1)
    return Facts(
        checks=results,
        catalogue=catalogue,
        collected_services={e.service for e in catalogue.values()},
        categories=set(),
        evidence_met=evidence_met or set(),
    )


def _posture(facts: Facts) -> FrameworkPosture:
    return compute(_cis(), _library(), facts)


def test_framework_is_bundled_and_loads() -> None:
    assert "cis_aws" in BUNDLED_FRAMEWORKS
    fw = _cis()
    assert fw.id == "cis_aws"
    assert [c.id for c in fw.categories] == list(SECTIONS.values())
    # Every CIS section applies to every account: no scope can drop one.
    assert fw.required_categories == set(SECTIONS.values())
    assert all(c.description.strip() for c in fw.categories)


def test_version_names_the_benchmark_version() -> None:
    fw = _cis()
    assert fw.version == "3.0.0"
    assert fw.title == f"CIS Amazon Web Services Foundations Benchmark v{fw.version}"


def test_requirement_ids_are_prefixed_numbered_by_section_and_distinct_from_soc2() -> None:
    fw = _cis()
    ids = [r.id for r in fw.requirements]
    assert len(ids) == 62
    assert [i for i in ids if not CIS_ID.match(i)] == []
    for req in fw.requirements:
        assert req.category == SECTIONS[req.id.removeprefix("CIS-").split(".")[0]], req.id
        assert req.title.strip(), req.id
        assert len(req.description.strip()) > 20, req.id
    assert set(ids).isdisjoint(r.id for r in bundled_framework("soc2").requirements)
    assert {c.id for c in fw.categories}.isdisjoint(c.id for c in bundled_framework("soc2").categories)


def test_every_recommendation_is_mapped_by_a_control_with_a_rationale() -> None:
    library = _library()
    unmapped = [r.id for r in _cis().requirements if not library.for_requirement(r.id)]
    assert unmapped == []
    for req in _cis().requirements:
        for control in library.for_requirement(req.id):
            mapping = next(m for m in control.requirements if m.id == req.id)
            assert mapping.rationale.strip(), f"{control.id} -> {req.id}"


def test_every_check_behind_the_framework_is_registered() -> None:
    library = {c.id: c for c in _library().controls}
    used = {check for cid in _cis_controls() for check in library[cid].checks}
    registered = {c.id for c in REGISTRY}
    assert used
    assert sorted(used - registered) == []


def test_recommendations_without_checks_name_their_evidence() -> None:
    library = _library()
    for req in _cis().requirements:
        controls = library.for_requirement(req.id)
        if not any(c.checks for c in controls):
            assert any(c.evidence for c in controls), req.id


def test_most_recommendations_are_automated() -> None:
    library = _library()
    automated = [r.id for r in _cis().requirements if any(c.checks for c in library.for_requirement(r.id))]
    assert len(automated) >= 45
    # The technical recommendations every scan can judge.
    for rid in ("CIS-1.4", "CIS-1.10", "CIS-2.1.4", "CIS-2.2.1", "CIS-3.1", "CIS-3.7", "CIS-4.3", "CIS-5.2", "CIS-5.6"):
        assert rid in automated, rid


def test_posture_when_every_check_passes_and_no_evidence_is_in() -> None:
    posture = _posture(_all_pass_facts())
    library = {c.id: c for c in _library().controls}

    assert [r.id for r in posture.requirements] == [r.id for r in _cis().requirements]
    assert sorted(c.id for c in posture.controls) == sorted(_cis_controls())
    for result in posture.controls:
        expected = ControlStatus.PASS if not library[result.id].evidence else ControlStatus.EVIDENCE_REQUIRED
        assert result.status is expected, result.id
        # A control's categories come from the CIS sections it serves, never from SOC 2.
        assert result.categories, result.id
        assert set(result.categories) <= set(SECTIONS.values()), result.id
    by_id = {r.id: r for r in posture.requirements}
    assert by_id["CIS-1.10"].status is ControlStatus.PASS
    assert by_id["CIS-1.1"].status is ControlStatus.EVIDENCE_REQUIRED
    assert by_id["CIS-1.12"].status is ControlStatus.EVIDENCE_REQUIRED  # threshold setting still to evidence
    assert {r.status for r in posture.requirements} <= {ControlStatus.PASS, ControlStatus.EVIDENCE_REQUIRED}
    readiness = posture.readiness
    assert readiness.not_applicable == 0
    assert readiness.in_scope == len(posture.controls)
    assert [c.category for c in readiness.by_category] == list(SECTIONS.values())


def test_posture_passes_everything_once_evidence_is_in() -> None:
    posture = _posture(_all_pass_facts(evidence_met=set(_cis_controls())))
    assert {r.status for r in posture.requirements} == {ControlStatus.PASS}
    assert posture.readiness.score == 100.0


def test_a_failing_check_fails_the_recommendation_it_implements() -> None:
    posture = _posture(_all_pass_facts(evidence_met=set(_cis_controls()), failing="ec2_instance_imdsv2_required"))
    failing = {r.id for r in posture.requirements if r.status is ControlStatus.FAIL}
    assert failing == {"CIS-5.6"}


def test_a_missing_check_result_is_an_error_not_a_pass() -> None:
    facts = _all_pass_facts(evidence_met=set(_cis_controls()))
    facts.checks = {k: v for k, v in facts.checks.items() if k != "s3_bucket_secure_transport"}
    facts.collected_services = facts.collected_services - {"s3"}
    by_id = {r.id: r for r in _posture(facts).requirements}
    assert by_id["CIS-2.1.1"].status is ControlStatus.ERROR


def test_soc2_posture_ignores_controls_that_serve_only_cis() -> None:
    soc2 = bundled_framework("soc2")
    facts = _all_pass_facts()
    facts.categories = {c.id for c in soc2.categories}
    posture = compute(soc2, _library(), facts)
    soc2_ids = {r.id for r in soc2.requirements}
    only_cis = {
        c.id
        for c in _library().controls
        if c.id in _cis_controls() and not any(m.id in soc2_ids for m in c.requirements)
    }
    assert only_cis
    shown = {c.id for c in posture.controls}
    assert shown.isdisjoint(only_cis)
    # Controls serving both frameworks appear with their SOC 2 categories only.
    iam_01 = next(c for c in posture.controls if c.id == "GRD-IAM-01")
    assert iam_01.categories == ["security"]
    assert [r.id for r in posture.requirements] == [r.id for r in soc2.requirements]


def test_full_admin_policies_of_both_kinds_decide_recommendation_1_16() -> None:
    [control] = _library().for_requirement("CIS-1.16")
    # Customer-managed "*:*" policies and the AWS managed AdministratorAccess are both checked on every
    # scan, so the recommendation needs no evidence item to pass.
    assert set(control.checks) == {"iam_policy_no_full_admin", "iam_admin_access_policy_not_attached"}
    assert control.evidence == []
    assert "CC6.3" in {m.id for m in control.requirements}
    posture = _posture(_all_pass_facts())
    assert {r.id: r for r in posture.requirements}["CIS-1.16"].status is ControlStatus.PASS
    failing = _posture(_all_pass_facts(failing="iam_admin_access_policy_not_attached"))
    assert {r.id for r in failing.requirements if r.status is ControlStatus.FAIL} == {"CIS-1.16"}


def test_macie_decides_recommendation_2_1_3_and_serves_confidentiality() -> None:
    controls = {c.id: c for c in _library().for_requirement("CIS-2.1.3")}
    assert controls["GRD-DATA-A7"].checks == ["macie_sensitive_data_discovery"]
    mapped = {m.id: m.rationale for m in controls["GRD-DATA-A7"].requirements}
    assert set(mapped) == {"CIS-2.1.3", "C1.1"}
    assert all(r.strip() for r in mapped.values())
    failing = _posture(_all_pass_facts(evidence_met=set(_cis_controls()), failing="macie_sensitive_data_discovery"))
    assert {r.id for r in failing.requirements if r.status is ControlStatus.FAIL} == {"CIS-2.1.3"}
