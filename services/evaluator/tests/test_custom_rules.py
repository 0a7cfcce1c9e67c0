"""Custom checks from user rule files: validation with file, line and reason; PASS, FAIL, ERROR and not
applicable; registration, the catalogue and the evaluator's refusal to start on a bad rule."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from guardian_common.events import CheckCatalogue, ResourceSnapshot, Severity, Status
from guardian_evaluator.app import create_app
from guardian_evaluator.catalogue.service import catalogue
from guardian_evaluator.checks import load_all
from guardian_evaluator.custom_rules import (
    CustomCheck,
    RuleProblem,
    RulesRefused,
    catalogue_version_of,
    install,
    load_rule_files,
    load_rules_dir,
)
from guardian_evaluator.engine import evaluate
from guardian_evaluator.registry import REGISTRY, Registry, Snapshot
from guardian_evaluator.settings import EvaluatorSettings

load_all()

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR

OWNER_RULE = """\
rules:
  - id: custom_s3_bucket_owned_and_versioned
    title: Buckets name an owner and keep versions
    description: Every bucket outside the sandbox region names its owning team and keeps object versions.
    resource_type: AWS::S3::Bucket
    severity: medium
    applies_if: resource.region != "eu-north-1"
    condition: >-
      "owner" in resource.tags &&
      resource.configuration.versioning.status == "Enabled"
    reasons:
      pass: Bucket {name} in {region} names its owner and keeps versions
      fail: Bucket {name} in {region} lacks an owner tag or versioning
    remediation: >-
      Tag the bucket and enable versioning:
      aws s3api put-bucket-versioning --bucket BUCKET --versioning-configuration Status=Enabled
    controls: [GRD-DATA-02, GRD-BCP-03]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def bucket(tags: dict[str, str], configuration: dict[str, Any], region: str = "us-east-1") -> Snapshot:
    return Snapshot(
        resource_type="AWS::S3::Bucket",
        arn="arn:aws:s3:::team-data",
        name="team-data",
        account_id="123456789012",
        region=region,
        tags=tags,
        configuration=configuration,
    )


def refusal(tmp_path: Path, text: str) -> list[RuleProblem]:
    path = write(tmp_path, "rules.yaml", text)
    with pytest.raises(RulesRefused) as caught:
        load_rule_files([path])
    assert all(p.file == str(path) for p in caught.value.problems)
    return caught.value.problems


def one_rule(**fields: str) -> str:
    """A valid rule file with some fields replaced (values are YAML text)."""
    base = {
        "id": "custom_volume_tagged",
        "title": "Volumes are tagged",
        "description": "Every volume names its owner.",
        "resource_type": "AWS::EC2::Volume",
        "severity": "low",
        "condition": "'\"owner\" in resource.tags'",
        "reasons": "{pass: 'Volume {name} is tagged', fail: 'Volume {name} has no owner tag'}",
        "remediation": "aws ec2 create-tags --resources VOLUME --tags Key=owner,Value=TEAM",
    }
    base.update(fields)
    lines = "\n".join(f"    {k}: {v}" for k, v in base.items() if v != "")
    return f"rules:\n  - {lines.lstrip()}\n"


@pytest.fixture
def owner_check(tmp_path: Path) -> CustomCheck:
    [chk] = load_rule_files([write(tmp_path, "owner.yaml", OWNER_RULE)])
    return chk


@pytest.fixture
def restore_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that install into the global registry leave it as they found it."""
    monkeypatch.setattr(REGISTRY, "_checks", dict(REGISTRY._checks))
    monkeypatch.setattr(REGISTRY, "_by_type", {k: list(v) for k, v in REGISTRY._by_type.items()})


# --------------------------------------------------------------------------------------------- a valid rule


def test_a_valid_rule_becomes_a_described_check(owner_check: CustomCheck) -> None:
    assert owner_check.id == "custom_s3_bucket_owned_and_versioned"
    assert owner_check.severity is Severity.MEDIUM
    assert owner_check.resource_type == "AWS::S3::Bucket"
    # The service is the collector that provides the resource type, so compliance's gap logic works.
    assert owner_check.service == "s3"
    assert "s3:GetBucketVersioning" in owner_check.permissions
    assert owner_check.version == 1
    assert owner_check.controls == ("GRD-DATA-02", "GRD-BCP-03")
    assert owner_check.source.endswith("owner.yaml:2")
    info = owner_check.info()
    assert info.controls == ["GRD-DATA-02", "GRD-BCP-03"]
    assert info.service == "s3"


def test_the_rule_passes_a_compliant_resource(owner_check: CustomCheck) -> None:
    verdict = owner_check.fn(bucket({"owner": "payments"}, {"versioning": {"status": "Enabled"}}), {})
    assert verdict is not None
    assert verdict.status is PASS
    assert verdict.reason == "Bucket team-data in us-east-1 names its owner and keeps versions"
    assert verdict.evidence["fields"] == {"versioning": {"status": "Enabled"}}


def test_the_rule_fails_a_non_compliant_resource(owner_check: CustomCheck) -> None:
    verdict = owner_check.fn(bucket({}, {"versioning": {"status": "Enabled"}}), {})
    assert verdict is not None
    assert verdict.status is FAIL
    assert verdict.reason == "Bucket team-data in us-east-1 lacks an owner tag or versioning"
    suspended = owner_check.fn(bucket({"owner": "x"}, {"versioning": {"status": "Suspended"}}), {})
    assert suspended is not None
    assert suspended.status is FAIL


def test_applies_if_false_means_not_applicable(owner_check: CustomCheck) -> None:
    assert owner_check.fn(bucket({}, {"versioning": {"status": "Disabled"}}, region="eu-north-1"), {}) is None


def test_a_field_the_rule_reads_that_was_not_collected_is_an_error(owner_check: CustomCheck) -> None:
    snapshot = bucket(
        {"owner": "payments"},
        {"versioning": None, "_errors": {"versioning": "AccessDenied on GetBucketVersioning: denied"}},
    )
    verdict = owner_check.fn(snapshot, {})
    assert verdict is not None
    assert verdict.status is ERROR
    assert "versioning" in verdict.reason
    assert "AccessDenied" in verdict.reason


def test_an_unreadable_field_the_rule_does_not_read_does_not_matter(owner_check: CustomCheck) -> None:
    snapshot = bucket(
        {"owner": "payments"},
        {"versioning": {"status": "Enabled"}, "logging": None, "_errors": {"logging": "AccessDenied"}},
    )
    verdict = owner_check.fn(snapshot, {})
    assert verdict is not None
    assert verdict.status is PASS


def test_unreadable_tags_are_an_error_for_a_rule_reading_tags(tmp_path: Path) -> None:
    text = one_rule(
        resource_type="AWS::S3::Bucket",
        condition="""'!("public" in resource.tags)'""",
        reasons="{pass: 'Bucket {name} is not tagged public', fail: 'Bucket {name} is tagged public'}",
    )
    [chk] = load_rule_files([write(tmp_path, "tags.yaml", text)])
    denied = bucket({}, {"tags": None, "_errors": {"tags": "AccessDenied on GetBucketTagging: denied"}})
    verdict = chk.fn(denied, {})
    assert verdict is not None
    assert verdict.status is ERROR
    assert "tags" in verdict.reason
    readable = chk.fn(bucket({}, {"tags": {}}), {})
    assert readable is not None
    assert readable.status is PASS


def test_a_missing_key_is_an_error_never_a_pass(owner_check: CustomCheck) -> None:
    verdict = owner_check.fn(bucket({"owner": "payments"}, {}), {})
    assert verdict is not None
    assert verdict.status is ERROR
    assert "could not be evaluated on team-data" in verdict.reason
    assert "versioning" in verdict.reason


def test_a_rule_reading_the_configuration_as_a_whole_errors_on_any_unreadable_field(tmp_path: Path) -> None:
    text = one_rule(condition="'size(resource.configuration) > 0'")
    [chk] = load_rule_files([write(tmp_path, "whole.yaml", text)])
    snapshot = Snapshot(
        resource_type="AWS::EC2::Volume",
        arn="arn:aws:ec2:us-east-1:123456789012:volume/vol-1",
        name="vol-1",
        account_id="123456789012",
        region="us-east-1",
        tags={},
        configuration={"encrypted": True, "_errors": {"kms": "AccessDenied"}},
    )
    verdict = chk.fn(snapshot, {})
    assert verdict is not None
    assert verdict.status is ERROR
    clean = Snapshot(**{**snapshot.__dict__, "configuration": {"encrypted": True}})
    verdict = chk.fn(clean, {})
    assert verdict is not None
    assert verdict.status is PASS


def test_a_condition_that_yields_no_boolean_is_an_error(tmp_path: Path) -> None:
    text = one_rule(condition="resource.name")
    [chk] = load_rule_files([write(tmp_path, "name.yaml", text)])
    snapshot = bucket({}, {})
    verdict = chk.fn(Snapshot(**{**snapshot.__dict__, "resource_type": "AWS::EC2::Volume"}), {})
    assert verdict is not None
    assert verdict.status is ERROR
    assert "not true or false" in verdict.reason


def test_the_engine_runs_custom_checks_like_any_other(owner_check: CustomCheck) -> None:
    registry = Registry()
    install([owner_check], registry)
    snapshot = ResourceSnapshot(
        event_id=ResourceSnapshot.make_id("scan-9", 1),
        scan_id="scan-9",
        seq=1,
        account_id="123456789012",
        region="us-east-1",
        collection_region="global",
        service="s3",
        resource_type="AWS::S3::Bucket",
        arn="arn:aws:s3:::team-data",
        name="team-data",
        tags={"owner": "payments"},
        observed_at=datetime(2024, 5, 1, tzinfo=UTC),
        configuration={"versioning": {"status": "Enabled"}},
    )
    [result] = evaluate(snapshot, registry=registry)
    assert (result.check_id, result.status, result.severity) == (owner_check.id, PASS, Severity.MEDIUM)


def test_rules_may_target_the_account_context(tmp_path: Path) -> None:
    text = one_rule(
        resource_type="AWS::::Account",
        condition="resource.configuration.ebs_default_encryption == true",
        reasons="{pass: 'EBS default encryption is on in {region}', fail: 'EBS default encryption is off in {region}'}",
    )
    [chk] = load_rule_files([write(tmp_path, "account.yaml", text)])
    assert chk.service == "account"
    snapshot = Snapshot("AWS::::Account", "arn:aws::123456789012", "123456789012", "123456789012", "us-east-1", {}, {})
    on = chk.fn(Snapshot(**{**snapshot.__dict__, "configuration": {"ebs_default_encryption": True}}), {})
    assert on is not None
    assert (on.status, on.reason) == (PASS, "EBS default encryption is on in us-east-1")


def test_comprehension_variables_and_index_access_are_allowed(tmp_path: Path) -> None:
    condition = '\'resource.configuration["attachments"].all(i, i.startsWith("i-"))\''
    [chk] = load_rule_files([write(tmp_path, "macro.yaml", one_rule(condition=condition))])
    snapshot = Snapshot("AWS::EC2::Volume", "arn", "vol-1", "123456789012", "us-east-1", {}, {})
    good = chk.fn(Snapshot(**{**snapshot.__dict__, "configuration": {"attachments": ["i-1"]}}), {})
    bad = chk.fn(Snapshot(**{**snapshot.__dict__, "configuration": {"attachments": ["x"]}}), {})
    unread = chk.fn(
        Snapshot(**{**snapshot.__dict__, "configuration": {"attachments": None, "_errors": {"attachments": "Denied"}}}),
        {},
    )
    assert good is not None
    assert bad is not None
    assert unread is not None
    assert (good.status, bad.status, unread.status) == (PASS, FAIL, ERROR)


# --------------------------------------------------------------------------------------------- refusals


def test_a_yaml_syntax_error_is_refused_with_its_line(tmp_path: Path) -> None:
    text = OWNER_RULE.replace("severity: medium", "severity: [medium")
    [problem] = refusal(tmp_path, text)
    assert problem.line >= 7
    assert "not valid YAML" in problem.reason


def test_a_cel_syntax_error_is_refused_with_the_line_inside_the_expression(tmp_path: Path) -> None:
    text = OWNER_RULE.replace('resource.configuration.versioning.status == "Enabled"', "resource.configuration.(")
    [problem] = refusal(tmp_path, text)
    # The condition is a folded block starting on line 9; the error is on its second line.
    assert problem.line == 10
    assert "condition is not valid CEL" in problem.reason
    assert "custom_s3_bucket_owned_and_versioned" in problem.reason


def test_an_unknown_resource_type_is_refused(tmp_path: Path) -> None:
    [problem] = refusal(tmp_path, one_rule(resource_type="AWS::Nope::Thing"))
    assert problem.line == 5
    assert "unknown resource type 'AWS::Nope::Thing': no collector emits it" in problem.reason
    assert "AWS::S3::Bucket" in problem.reason


def test_an_id_without_the_custom_prefix_is_refused(tmp_path: Path) -> None:
    [problem] = refusal(tmp_path, one_rule(id="volume_tagged"))
    assert problem.line == 2
    assert "must start with 'custom_'" in problem.reason


def test_unknown_names_functions_and_resource_fields_are_refused(tmp_path: Path) -> None:
    problems = refusal(tmp_path, one_rule(condition="'resource.configurations.x && frobnicate(bucket)'"))
    reasons = " | ".join(p.reason for p in problems)
    assert "resource has no field 'configurations'" in reasons
    assert "unknown function frobnicate()" in reasons
    assert "unknown name 'bucket'" in reasons
    assert {p.line for p in problems} == {7}


def test_missing_and_unknown_keys_bad_severity_and_templates_are_all_reported(tmp_path: Path) -> None:
    text = one_rule(
        severity="urgent",
        title="",
        reasons="{pass: 'ok {name}', fail: 'bad {bucket_name}'}",
        colour="blue",
    )
    problems = refusal(tmp_path, text)
    reasons = [p.reason for p in problems]
    assert any("the required key 'title' is missing" in r for r in reasons)
    assert any("unknown key 'colour'" in r for r in reasons)
    assert any("severity 'urgent' is not one of critical, high, medium, low, info" in r for r in reasons)
    assert any("reasons.fail names {bucket_name}" in r for r in reasons)
    assert len(problems) == 4


def test_duplicate_ids_are_refused_within_and_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", one_rule())
    second = write(tmp_path, "b.yaml", one_rule(title="'Another'"))
    with pytest.raises(RulesRefused) as caught:
        load_rule_files([first, second])
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (str(second), 2)
    assert problem.reason == f"duplicate id custom_volume_tagged: already defined at {first}:2"
    twice = one_rule() + one_rule().removeprefix("rules:\n")
    problems = refusal(tmp_path, twice)
    assert [p.line for p in problems] == [10]


def test_a_built_in_id_cannot_be_reused(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", one_rule(id="custom_volume_tagged"))
    with pytest.raises(RulesRefused, match="a built-in check has it"):
        load_rule_files([path], existing={"custom_volume_tagged"})


def test_a_file_without_rules_and_a_missing_directory_are_refused(tmp_path: Path) -> None:
    [problem] = refusal(tmp_path, "checks: []\n")
    assert "a rule file is a mapping with a 'rules' list" in problem.reason
    with pytest.raises(RulesRefused, match="does not exist"):
        load_rules_dir(tmp_path / "nowhere")


def test_the_refusal_message_lists_each_problem_as_file_line_reason(tmp_path: Path) -> None:
    path = write(tmp_path, "rules.yaml", one_rule(resource_type="AWS::Nope::Thing"))
    with pytest.raises(RulesRefused) as caught:
        load_rules_dir(tmp_path)
    assert f"{path}:5: rule custom_volume_tagged: unknown resource type" in str(caught.value)


# --------------------------------------------------------------------------------------------- installing, start-up


def test_installing_the_same_rule_twice_is_harmless_but_a_different_one_is_refused(
    owner_check: CustomCheck, tmp_path: Path
) -> None:
    registry = Registry()
    assert install([owner_check], registry) == [owner_check]
    assert install([owner_check], registry) == []
    changed = OWNER_RULE.replace("severity: medium", "severity: high")
    [other] = load_rule_files([write(tmp_path, "changed.yaml", changed)])
    with pytest.raises(RulesRefused, match="a check with it is registered"):
        install([other], registry)
    assert registry.get(owner_check.id).severity is Severity.MEDIUM


@pytest.mark.usefixtures("restore_registry")
def test_the_evaluator_loads_rules_at_start_up_and_publishes_them(tmp_path: Path) -> None:
    write(tmp_path, "owner.yaml", OWNER_RULE)
    before = catalogue().catalogue_version
    create_app(EvaluatorSettings(rules_dir=tmp_path))
    assert "custom_s3_bucket_owned_and_versioned" in REGISTRY
    published = catalogue()
    assert published.catalogue_version != before
    [info] = [c for c in published.checks if c.id == "custom_s3_bucket_owned_and_versioned"]
    assert info.controls == ["GRD-DATA-02", "GRD-BCP-03"]
    assert all(c.controls == [] for c in published.checks if not c.id.startswith("custom_"))


def test_the_catalogue_version_follows_a_rule_s_content(tmp_path: Path) -> None:
    """Editing a rule's condition, severity or mapping without raising its version still changes the
    catalogue's version, so compliance re-reads what it depends on; the same content gives the same one."""
    builtin = [c for c in REGISTRY if not isinstance(c, CustomCheck)]
    plain = catalogue_version_of(builtin)

    def version_with(text: str, name: str) -> str:
        [chk] = load_rule_files([write(tmp_path, name, text)])
        return catalogue_version_of([*builtin, chk])

    original = version_with(OWNER_RULE, "a.yaml")
    assert original != plain
    assert version_with(OWNER_RULE, "again.yaml") == original
    edits = {
        "condition": OWNER_RULE.replace('status == "Enabled"', 'status != "Disabled"'),
        "severity": OWNER_RULE.replace("severity: medium", "severity: high"),
        "controls": OWNER_RULE.replace("[GRD-DATA-02, GRD-BCP-03]", "[GRD-DATA-02]"),
        "applies_if": OWNER_RULE.replace('"eu-north-1"', '"eu-west-3"'),
        "reasons": OWNER_RULE.replace("lacks an owner tag", "has no owner tag"),
    }
    versions = {field: version_with(text, f"{field}.yaml") for field, text in edits.items()}
    for field, changed in versions.items():
        assert changed not in (original, plain), field
    assert len(set(versions.values())) == len(versions)
    # The built-in part is untouched by custom rules: without them the version is the plain hash.
    assert plain == CheckCatalogue.version_of([c.info() for c in builtin])


@pytest.mark.usefixtures("restore_registry")
def test_the_published_catalogue_version_changes_when_a_rule_is_edited(tmp_path: Path) -> None:
    write(tmp_path, "owner.yaml", OWNER_RULE)
    create_app(EvaluatorSettings(rules_dir=tmp_path))
    first = catalogue().catalogue_version
    # A fresh registry as a restarted evaluator would have: built-ins, then the edited rule.
    for chk in [c for c in REGISTRY if isinstance(c, CustomCheck)]:
        del REGISTRY._checks[chk.id]
        REGISTRY._by_type[chk.resource_type].remove(chk)
    write(tmp_path, "owner.yaml", OWNER_RULE.replace("severity: medium", "severity: low"))
    create_app(EvaluatorSettings(rules_dir=tmp_path))
    assert REGISTRY.get("custom_s3_bucket_owned_and_versioned").version == 1
    assert catalogue().catalogue_version != first


@pytest.mark.usefixtures("restore_registry")
def test_the_evaluator_refuses_to_start_on_a_bad_rule(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", OWNER_RULE)
    bad = write(tmp_path, "bad.yaml", one_rule(condition="'resource.tags.owner =='"))
    count = len(REGISTRY)
    with pytest.raises(RulesRefused) as caught:
        create_app(EvaluatorSettings(rules_dir=tmp_path))
    assert f"{bad}:7: rule custom_volume_tagged: condition is not valid CEL" in str(caught.value)
    # Nothing of a refused set is installed, not even the valid file.
    assert len(REGISTRY) == count
    assert "custom_s3_bucket_owned_and_versioned" not in REGISTRY


@pytest.mark.usefixtures("restore_registry")
def test_the_evaluator_refuses_a_rule_reusing_a_built_in_id(tmp_path: Path) -> None:
    write(tmp_path, "clash.yaml", one_rule(id="custom_volume_tagged"))
    create_app(EvaluatorSettings(rules_dir=tmp_path))
    changed = tmp_path / "clash.yaml"
    changed.write_text(one_rule(id="custom_volume_tagged", severity="high"), encoding="utf-8")
    with pytest.raises(RulesRefused, match="duplicate id custom_volume_tagged"):
        create_app(EvaluatorSettings(rules_dir=tmp_path))


def test_without_a_rules_directory_nothing_is_loaded() -> None:
    count = len(REGISTRY)
    create_app(EvaluatorSettings())
    assert len(REGISTRY) == count
