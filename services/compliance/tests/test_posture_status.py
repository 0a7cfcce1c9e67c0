"""Control, requirement and readiness status: the pure function behind every posture report.

The small framework below has three categories (security is required), a handful of criteria and
automated, procedural and hybrid controls, so each rule of DESIGN.md ("Control status", "Readiness
score") can be shown on its own. The last tests run the bundled SOC 2 framework and control library.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest

from guardian_compliance.frameworks.model import (
    Category,
    Control,
    ControlLibrary,
    ControlStatus,
    EvidenceRequirement,
    Framework,
    Requirement,
    bundled_framework,
    bundled_library,
)
from guardian_compliance.frameworks.model import Mapping as RequirementMapping
from guardian_compliance.posture.status import (
    FORMULA,
    PRECEDENCE,
    CatalogueEntry,
    CheckFacts,
    ControlResult,
    Facts,
    FrameworkPosture,
    check_outcome,
    compute,
    control_result,
    readiness,
    worst,
)

FAIL = ControlStatus.FAIL
ERROR = ControlStatus.ERROR
EVIDENCE_REQUIRED = ControlStatus.EVIDENCE_REQUIRED
PASS = ControlStatus.PASS
NOT_APPLICABLE = ControlStatus.NOT_APPLICABLE

# --------------------------------------------------------------------------------------------- fixtures

FRAMEWORK = Framework(
    id="mini",
    name="Mini",
    title="A three-category framework for the status tests",
    version="1",
    categories=[
        Category(id="security", name="Security", required=True),
        Category(id="availability", name="Availability"),
        Category(id="confidentiality", name="Confidentiality"),
    ],
    requirements=[
        Requirement(id="CC1.1", category="security", title="Ethics", description="Conduct is set and enforced."),
        Requirement(id="CC6.1", category="security", title="Logical access", description="Data is encrypted."),
        Requirement(id="CC6.6", category="security", title="Boundaries", description="Admin ports are closed."),
        Requirement(id="CC9.9", category="security", title="Orphan", description="No control maps to this one."),
        Requirement(id="A1.2", category="availability", title="Recovery", description="Backups are taken."),
        Requirement(id="C1.1", category="confidentiality", title="Protection", description="Secrets stay secret."),
    ],
)


def _maps(*requirement_ids: str) -> list[RequirementMapping]:
    return [RequirementMapping(id=r, rationale=f"supports {r}") for r in requirement_ids]


def _control(
    control_id: str,
    requirements: Iterable[str],
    checks: Iterable[str] = (),
    evidence: Iterable[str] = (),
) -> Control:
    return Control(
        id=control_id,
        title=f"Control {control_id}",
        description=f"What {control_id} does.",
        owner="Security",
        frequency="continuous" if checks else "annual",
        requirements=_maps(*requirements),
        checks=list(checks),
        evidence=[EvidenceRequirement(type="policy", description=d) for d in evidence],
    )


ENCRYPTION = _control("AUTO-ENC", ["CC6.1"], checks=["s3_enc", "ebs_enc"])
NETWORK = _control("AUTO-NET", ["CC6.6"], checks=["sg_admin"])
CONDUCT = _control("PROC-GOV", ["CC1.1"], evidence=["Signed code of conduct"])
BACKUPS = _control("HYB-BKP", ["A1.2"], checks=["rds_backup"], evidence=["Restore test report"])
SECRETS = _control("AUTO-CONF", ["C1.1"], checks=["s3_enc"])
# Mapped to a security criterion and an availability one: in scope whenever security is.
SPANNING = _control("AUTO-SPAN", ["CC6.1", "A1.2"], checks=["ebs_enc"])

LIBRARY = ControlLibrary(
    library="mini", version="1", controls=[ENCRYPTION, NETWORK, CONDUCT, BACKUPS, SECRETS, SPANNING]
)

CATALOGUE = {
    "s3_enc": CatalogueEntry(title="Bucket encryption", severity="high", service="s3", version=1),
    "ebs_enc": CatalogueEntry(title="Volume encryption", severity="high", service="ec2", version=1),
    "sg_admin": CatalogueEntry(title="Admin ports", severity="high", service="ec2", version=1),
    "rds_backup": CatalogueEntry(title="Backups", severity="high", service="rds", version=2),
}
ALL_SERVICES = {"s3", "ec2", "rds"}
ALL_CATEGORIES = {"security", "availability", "confidentiality"}


def facts(
    checks: dict[str, CheckFacts] | None = None,
    *,
    collected: set[str] | None = None,
    categories: set[str] | None = None,
    evidence_met: set[str] | None = None,
) -> Facts:
    """Every known check passes on one resource and every service was collected, unless overridden."""
    base = {check_id: CheckFacts(passed=1) for check_id in CATALOGUE}
    base.update(checks or {})
    return Facts(
        checks=base,
        catalogue=CATALOGUE,
        collected_services=ALL_SERVICES if collected is None else collected,
        categories=ALL_CATEGORIES if categories is None else categories,
        evidence_met=evidence_met or set(),
    )


def status_of(control: Control, f: Facts) -> ControlStatus:
    return control_result(control, FRAMEWORK, f).status


def by_id(posture: FrameworkPosture) -> tuple[dict[str, ControlStatus], dict[str, ControlStatus]]:
    return (
        {c.id: c.status for c in posture.controls},
        {r.id: r.status for r in posture.requirements},
    )


# --------------------------------------------------------------------------------------------- worst


def test_precedence_is_fail_error_evidence_required_pass() -> None:
    assert PRECEDENCE == (FAIL, ERROR, EVIDENCE_REQUIRED, PASS)


@pytest.mark.parametrize(("better", "worse"), [(b, w) for w, b in itertools.combinations(PRECEDENCE, 2)])
def test_worst_picks_the_status_earlier_in_the_precedence(better: ControlStatus, worse: ControlStatus) -> None:
    assert worst([better, worse]) is worse
    assert worst([worse, better, better]) is worse
    assert worst([NOT_APPLICABLE, better, worse]) is worse


def test_not_applicable_never_hides_another_status() -> None:
    for status in PRECEDENCE:
        assert worst([NOT_APPLICABLE, status, NOT_APPLICABLE]) is status


def test_worst_of_nothing_or_only_not_applicable_is_not_applicable() -> None:
    assert worst([]) is NOT_APPLICABLE
    assert worst([NOT_APPLICABLE, NOT_APPLICABLE]) is NOT_APPLICABLE


def test_worst_accepts_a_generator() -> None:
    assert worst(s for s in (PASS, ERROR)) is ERROR


# --------------------------------------------------------------------------------------------- one check


def test_a_failing_finding_makes_the_check_fail_whatever_else_it_has() -> None:
    outcome = check_outcome("s3_enc", facts({"s3_enc": CheckFacts(passed=7, failed=1, errored=3, accepted=2)}))
    assert outcome.status is FAIL
    assert (outcome.passed, outcome.failed, outcome.errored, outcome.accepted) == (7, 1, 3, 2)
    assert outcome.title == "Bucket encryption"
    assert outcome.severity == "high"


def test_an_errored_finding_without_failures_makes_the_check_error() -> None:
    assert check_outcome("s3_enc", facts({"s3_enc": CheckFacts(passed=9, errored=1)})).status is ERROR


def test_passing_findings_alone_make_the_check_pass() -> None:
    assert check_outcome("s3_enc", facts({"s3_enc": CheckFacts(passed=2)})).status is PASS


def test_accepted_findings_count_as_passing() -> None:
    assert check_outcome("s3_enc", facts({"s3_enc": CheckFacts(accepted=1)})).status is PASS


def test_an_accepted_finding_does_not_excuse_another_failing_one() -> None:
    assert check_outcome("s3_enc", facts({"s3_enc": CheckFacts(accepted=1, failed=1)})).status is FAIL


def test_no_findings_on_a_collected_service_is_not_applicable() -> None:
    outcome = check_outcome("s3_enc", facts({"s3_enc": CheckFacts()}, collected={"s3"}))
    assert outcome.status is NOT_APPLICABLE


def test_no_findings_entry_at_all_on_a_collected_service_is_not_applicable() -> None:
    f = facts(collected={"s3"})
    f.checks = {}
    assert check_outcome("s3_enc", f).status is NOT_APPLICABLE


def test_a_never_collected_check_is_error_never_pass() -> None:
    outcome = check_outcome("s3_enc", facts({"s3_enc": CheckFacts()}, collected={"ec2", "rds"}))
    assert outcome.status is ERROR


def test_another_service_being_collected_does_not_make_a_check_not_applicable() -> None:
    # rds_backup belongs to rds; only s3 and ec2 were collected.
    assert check_outcome("rds_backup", facts({"rds_backup": CheckFacts()}, collected={"s3", "ec2"})).status is ERROR


def test_a_check_missing_from_the_catalogue_is_error() -> None:
    outcome = check_outcome("ghost_check", facts({"ghost_check": CheckFacts(passed=3)}))
    assert outcome.status is ERROR
    assert outcome.title == "Unknown check ghost_check"


# --------------------------------------------------------------------------------------------- one control


def test_any_failing_finding_makes_the_control_fail_even_with_errors() -> None:
    f = facts({"s3_enc": CheckFacts(passed=4, failed=2), "ebs_enc": CheckFacts(errored=5)})
    result = control_result(ENCRYPTION, FRAMEWORK, f)
    assert result.status is FAIL
    assert result.reason == "2 resource(s) fail: s3_enc (2)"


def test_an_error_outranks_missing_evidence() -> None:
    f = facts({"rds_backup": CheckFacts(passed=1, errored=1)})
    result = control_result(BACKUPS, FRAMEWORK, f)
    assert result.status is ERROR
    assert result.reason == "Not evaluable: rds_backup could not evaluate 1 resource(s)"


def test_missing_evidence_outranks_passing_checks_on_a_hybrid_control() -> None:
    result = control_result(BACKUPS, FRAMEWORK, facts())
    assert result.kind == "hybrid"
    assert result.status is EVIDENCE_REQUIRED
    assert result.evidence_required == ["Restore test report"]
    assert result.reason == "Evidence required: Restore test report"


def test_a_hybrid_control_with_passing_checks_and_evidence_met_passes() -> None:
    result = control_result(BACKUPS, FRAMEWORK, facts(evidence_met={"HYB-BKP"}))
    assert result.status is PASS
    assert result.evidence_required == []


def test_met_evidence_does_not_rescue_a_failing_hybrid_control() -> None:
    f = facts({"rds_backup": CheckFacts(failed=1)}, evidence_met={"HYB-BKP"})
    assert status_of(BACKUPS, f) is FAIL


def test_met_evidence_does_not_rescue_a_never_collected_hybrid_control() -> None:
    f = facts({"rds_backup": CheckFacts()}, collected={"s3", "ec2"}, evidence_met={"HYB-BKP"})
    assert status_of(BACKUPS, f) is ERROR


def test_a_procedural_control_needs_its_evidence() -> None:
    result = control_result(CONDUCT, FRAMEWORK, facts())
    assert result.kind == "procedural"
    assert result.checks == []
    assert result.status is EVIDENCE_REQUIRED
    assert result.evidence_required == ["Signed code of conduct"]


def test_a_procedural_control_passes_once_its_evidence_is_met() -> None:
    result = control_result(CONDUCT, FRAMEWORK, facts(evidence_met={"PROC-GOV"}))
    assert result.status is PASS
    assert result.reason == "Required evidence is current and accepted."


def test_evidence_met_for_another_control_does_not_count() -> None:
    assert status_of(CONDUCT, facts(evidence_met={"HYB-BKP"})) is EVIDENCE_REQUIRED


def test_an_automated_control_with_all_checks_passing_passes() -> None:
    f = facts({"s3_enc": CheckFacts(passed=3), "ebs_enc": CheckFacts(passed=2, accepted=1)})
    result = control_result(ENCRYPTION, FRAMEWORK, f)
    assert result.kind == "automated"
    assert result.status is PASS
    assert result.reason == "All 5 evaluated resource(s) pass."
    assert result.evidence_required == []


def test_an_automated_control_with_no_resources_anywhere_is_not_applicable() -> None:
    f = facts({"s3_enc": CheckFacts(), "ebs_enc": CheckFacts()})
    result = control_result(ENCRYPTION, FRAMEWORK, f)
    assert result.status is NOT_APPLICABLE
    assert "collection succeeded" in result.reason


def test_one_not_applicable_check_does_not_stop_the_others_passing() -> None:
    f = facts({"s3_enc": CheckFacts(), "ebs_enc": CheckFacts(passed=1)})
    assert status_of(ENCRYPTION, f) is PASS


def test_a_never_collected_check_makes_the_control_error_and_says_so() -> None:
    f = facts({"ebs_enc": CheckFacts()}, collected={"s3", "rds"})
    result = control_result(ENCRYPTION, FRAMEWORK, f)
    assert result.status is ERROR
    assert result.reason == "Not evaluable: ebs_enc has never been collected"


def test_a_check_missing_from_the_catalogue_makes_the_control_error_naming_it() -> None:
    control = _control("AUTO-GHOST", ["CC6.1"], checks=["s3_enc", "ghost_check"])
    result = control_result(control, FRAMEWORK, facts())
    assert result.status is ERROR
    assert "ghost_check" in result.reason
    assert result.reason == "Not evaluable: ghost_check is not in the evaluator's catalogue"
    assert [c.status for c in result.checks] == [PASS, ERROR]


def test_control_result_lists_its_requirements_and_their_categories() -> None:
    result = control_result(SPANNING, FRAMEWORK, facts())
    assert result.requirements == ["CC6.1", "A1.2"]
    assert result.categories == ["availability", "security"]
    assert [c.check_id for c in result.checks] == ["ebs_enc"]
    assert (result.owner, result.frequency, result.title) == ("Security", "continuous", "Control AUTO-SPAN")


# --------------------------------------------------------------------------------------------- requirements


def test_requirement_status_is_the_worst_of_its_controls() -> None:
    # CC6.1 is served by AUTO-ENC (fails) and AUTO-SPAN (passes through ebs_enc).
    posture = compute(FRAMEWORK, LIBRARY, facts({"s3_enc": CheckFacts(failed=1)}))
    controls, requirements = by_id(posture)
    assert controls["AUTO-ENC"] is FAIL
    assert controls["AUTO-SPAN"] is PASS
    assert requirements["CC6.1"] is FAIL
    cc61 = next(r for r in posture.requirements if r.id == "CC6.1")
    assert cc61.controls == ["AUTO-ENC", "AUTO-SPAN"]
    assert cc61.reason == "AUTO-ENC: FAIL, AUTO-SPAN: PASS"


def test_requirement_passes_only_when_every_control_passes() -> None:
    _, requirements = by_id(compute(FRAMEWORK, LIBRARY, facts(evidence_met={"HYB-BKP", "PROC-GOV"})))
    assert requirements["CC6.1"] is PASS
    assert requirements["CC1.1"] is PASS
    assert requirements["A1.2"] is PASS


def test_requirement_with_evidence_missing_on_one_control_is_evidence_required() -> None:
    # A1.2 is served by HYB-BKP (evidence missing) and AUTO-SPAN (passes).
    _, requirements = by_id(compute(FRAMEWORK, LIBRARY, facts()))
    assert requirements["A1.2"] is EVIDENCE_REQUIRED


def test_requirement_whose_controls_are_all_not_applicable_is_not_applicable() -> None:
    _, requirements = by_id(compute(FRAMEWORK, LIBRARY, facts({"sg_admin": CheckFacts()})))
    assert requirements["CC6.6"] is NOT_APPLICABLE


def test_a_requirement_with_no_control_is_error() -> None:
    posture = compute(FRAMEWORK, LIBRARY, facts(evidence_met={"HYB-BKP", "PROC-GOV"}))
    orphan = next(r for r in posture.requirements if r.id == "CC9.9")
    assert orphan.status is ERROR
    assert orphan.controls == []
    assert orphan.reason == "No control is mapped to this criterion."


def test_requirements_keep_the_framework_order_and_describe_themselves() -> None:
    posture = compute(FRAMEWORK, LIBRARY, facts())
    assert [r.id for r in posture.requirements] == [r.id for r in FRAMEWORK.requirements]
    cc11 = posture.requirements[0]
    assert (cc11.category, cc11.title, cc11.description) == ("security", "Ethics", "Conduct is set and enforced.")


# --------------------------------------------------------------------------------------------- scope


def test_categories_out_of_scope_drop_their_requirements_and_controls() -> None:
    posture = compute(FRAMEWORK, LIBRARY, facts(categories={"security", "availability"}))
    controls, requirements = by_id(posture)
    assert "C1.1" not in requirements
    assert "AUTO-CONF" not in controls
    assert set(requirements) == {"CC1.1", "CC6.1", "CC6.6", "CC9.9", "A1.2"}
    assert [c.category for c in posture.readiness.by_category] == ["security", "availability"]


def test_the_required_category_is_in_scope_even_when_facts_omit_it() -> None:
    posture = compute(FRAMEWORK, LIBRARY, facts(categories={"confidentiality"}))
    controls, requirements = by_id(posture)
    assert set(requirements) == {"CC1.1", "CC6.1", "CC6.6", "CC9.9", "C1.1"}
    assert "A1.2" not in requirements
    assert "HYB-BKP" not in controls
    assert {"AUTO-ENC", "AUTO-NET", "PROC-GOV", "AUTO-CONF"} <= set(controls)
    assert [c.category for c in posture.readiness.by_category] == ["security", "confidentiality"]


def test_with_no_optional_category_only_security_remains() -> None:
    posture = compute(FRAMEWORK, LIBRARY, facts(categories=set()))
    controls, requirements = by_id(posture)
    assert set(requirements) == {"CC1.1", "CC6.1", "CC6.6", "CC9.9"}
    assert set(controls) == {"AUTO-ENC", "AUTO-NET", "PROC-GOV", "AUTO-SPAN"}


def test_a_control_spanning_scoped_and_unscoped_criteria_stays_in_scope() -> None:
    controls, _ = by_id(compute(FRAMEWORK, LIBRARY, facts(categories=set())))
    assert controls["AUTO-SPAN"] is PASS


def test_a_failure_in_an_out_of_scope_control_does_not_reach_the_posture() -> None:
    posture = compute(FRAMEWORK, LIBRARY, facts({"rds_backup": CheckFacts(failed=3)}, categories=set()))
    assert all(c.status is not FAIL for c in posture.controls)
    assert posture.readiness.by_status["FAIL"] == 0


# --------------------------------------------------------------------------------------------- readiness


def test_readiness_is_pass_over_in_scope_controls_that_are_not_not_applicable() -> None:
    f = facts(
        {
            "s3_enc": CheckFacts(failed=1),  # AUTO-ENC FAIL, AUTO-CONF FAIL
            "sg_admin": CheckFacts(),  # AUTO-NET NOT_APPLICABLE
            "rds_backup": CheckFacts(errored=1),  # HYB-BKP ERROR
        }
    )
    posture = compute(FRAMEWORK, LIBRARY, f)
    controls, _ = by_id(posture)
    assert controls == {
        "AUTO-ENC": FAIL,
        "AUTO-NET": NOT_APPLICABLE,
        "PROC-GOV": EVIDENCE_REQUIRED,
        "HYB-BKP": ERROR,
        "AUTO-CONF": FAIL,
        "AUTO-SPAN": PASS,
    }
    r = posture.readiness
    assert (r.in_scope, r.not_applicable, r.applicable, r.passing) == (6, 1, 5, 1)
    assert r.score == 20.0
    assert r.by_status == {"FAIL": 2, "ERROR": 1, "EVIDENCE_REQUIRED": 1, "PASS": 1, "NOT_APPLICABLE": 1}
    assert r.formula == FORMULA


def test_error_and_evidence_required_count_as_not_passing() -> None:
    # Four PASS, one EVIDENCE_REQUIRED (PROC-GOV), one ERROR (HYB-BKP never collected).
    f = facts({"rds_backup": CheckFacts()}, collected={"s3", "ec2"})
    r = compute(FRAMEWORK, LIBRARY, f).readiness
    assert (r.passing, r.applicable) == (4, 6)
    assert r.score == round(100 * 4 / 6, 1)


def test_readiness_is_100_when_every_applicable_control_passes() -> None:
    r = compute(FRAMEWORK, LIBRARY, facts(evidence_met={"PROC-GOV", "HYB-BKP"})).readiness
    assert r.score == 100.0
    assert r.passing == r.applicable == r.in_scope == 6


def test_readiness_score_is_none_when_nothing_is_applicable() -> None:
    library = ControlLibrary(library="mini", version="1", controls=[ENCRYPTION, NETWORK, SECRETS])
    f = facts({c: CheckFacts() for c in CATALOGUE})
    r = compute(FRAMEWORK, library, f).readiness
    assert r.score is None
    assert (r.applicable, r.passing, r.in_scope, r.not_applicable) == (0, 0, 3, 3)
    assert all(c.score is None and c.applicable == 0 for c in r.by_category)


def test_readiness_by_category_scores_each_category_on_its_own_controls() -> None:
    # Security: AUTO-ENC FAIL, AUTO-NET PASS, PROC-GOV EVIDENCE_REQUIRED, AUTO-SPAN PASS -> 2 / 4.
    # Availability: HYB-BKP EVIDENCE_REQUIRED, AUTO-SPAN PASS -> 1 / 2.
    # Confidentiality: AUTO-CONF FAIL -> 0 / 1.
    f = facts({"s3_enc": CheckFacts(failed=1)})
    r = compute(FRAMEWORK, LIBRARY, f).readiness
    scores = {c.category: (c.passing, c.applicable, c.score) for c in r.by_category}
    assert scores == {
        "security": (2, 4, 50.0),
        "availability": (1, 2, 50.0),
        "confidentiality": (0, 1, 0.0),
    }
    assert {c.category: c.name for c in r.by_category}["security"] == "Security"
    # The overall score counts each control once even when it serves two categories (AUTO-SPAN).
    assert (r.passing, r.applicable) == (2, 6)
    assert r.score == 33.3


def test_category_score_leaves_out_not_applicable_controls() -> None:
    f = facts({"sg_admin": CheckFacts()}, evidence_met={"PROC-GOV"})
    security = next(c for c in compute(FRAMEWORK, LIBRARY, f).readiness.by_category if c.category == "security")
    assert (security.passing, security.applicable, security.score) == (3, 3, 100.0)


def test_readiness_called_directly_only_reports_the_given_categories() -> None:
    controls: list[ControlResult] = [control_result(c, FRAMEWORK, facts()) for c in (ENCRYPTION, BACKUPS)]
    r = readiness(FRAMEWORK, controls, {"availability"})
    assert [c.category for c in r.by_category] == ["availability"]
    assert (r.passing, r.applicable, r.score) == (1, 2, 50.0)


def test_score_is_rounded_to_one_decimal() -> None:
    # Two of three in-scope security controls pass (PROC-GOV lacks evidence).
    library = ControlLibrary(library="mini", version="1", controls=[ENCRYPTION, NETWORK, CONDUCT])
    r = compute(FRAMEWORK, library, facts(categories=set())).readiness
    assert r.score == 66.7


# --------------------------------------------------------------------------------------------- bundled SOC 2


def test_bundled_soc2_posture_when_every_check_passes() -> None:
    framework = bundled_framework("soc2")
    library = bundled_library()
    check_ids = sorted({c for control in library.controls for c in control.checks})
    catalogue = {
        c: CatalogueEntry(title=c.replace("_", " "), severity="high", service=c.split("_")[0], version=1)
        for c in check_ids
    }
    f = Facts(
        checks={c: CheckFacts(passed=3) for c in check_ids},
        catalogue=catalogue,
        collected_services={entry.service for entry in catalogue.values()},
        categories={c.id for c in framework.categories},
    )
    posture = compute(framework, library, f)

    assert len(posture.requirements) == 61
    soc2_ids = {r.id for r in framework.requirements}
    serving = [c for c in library.controls if any(m.id in soc2_ids for m in c.requirements)]
    assert len(posture.controls) == len(serving)
    kinds = {c.id: c.kind for c in library.controls}
    automated = [c for c in posture.controls if kinds[c.id] == "automated"]
    with_evidence = [c for c in posture.controls if kinds[c.id] != "automated"]
    assert automated
    assert any(kinds[c.id] == "procedural" for c in with_evidence)
    assert [c.id for c in automated if c.status is not PASS] == []
    assert [c.id for c in with_evidence if c.status is not EVIDENCE_REQUIRED] == []
    # Every criterion is mapped, so none is ERROR; each is PASS or waiting for evidence.
    assert {r.status for r in posture.requirements} <= {PASS, EVIDENCE_REQUIRED}

    r = posture.readiness
    assert r.in_scope == len(serving)
    assert r.not_applicable == 0
    assert r.passing == len(automated)
    assert r.score == round(100.0 * len(automated) / len(posture.controls), 1)
    assert [c.category for c in r.by_category] == [c.id for c in framework.categories]


def test_bundled_soc2_with_no_optional_category_keeps_only_the_common_criteria() -> None:
    framework = bundled_framework("soc2")
    library = bundled_library()
    f = Facts(checks={}, catalogue={}, collected_services=set(), categories=set())
    posture = compute(framework, library, f)
    security = [r.id for r in framework.requirements if r.category == "security"]
    assert [r.id for r in posture.requirements] == security
    assert all(r.id.startswith("CC") for r in posture.requirements)
    # With nothing collected and no evidence, nothing at all may pass.
    assert posture.readiness.passing == 0
    assert {c.status for c in posture.controls} <= {ERROR, EVIDENCE_REQUIRED}
