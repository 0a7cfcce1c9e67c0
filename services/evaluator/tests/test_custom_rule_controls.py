"""A custom rule may map only to controls that exist: the bundled library's, or the company's own listed in
GUARDIAN_CONTROL_IDS. Anything else is refused at start-up with file, line and reason, never ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardian_compliance.frameworks.model import bundled_library
from guardian_evaluator.app import create_app
from guardian_evaluator.checks import load_all
from guardian_evaluator.control_ids import current_library_file, known_control_ids, library_control_ids
from guardian_evaluator.custom_rules import RulesRefused, load_rule_files
from guardian_evaluator.registry import REGISTRY
from guardian_evaluator.settings import EvaluatorSettings

load_all()

RULE = """\
rules:
  - id: custom_bucket_names_owner
    title: Buckets name an owner
    description: Every bucket carries an owner tag.
    resource_type: AWS::S3::Bucket
    severity: low
    condition: '"owner" in resource.tags'
    reasons:
      pass: Bucket {name} names its owner
      fail: Bucket {name} has no owner tag
    remediation: aws s3api put-bucket-tagging --bucket BUCKET --tagging 'TagSet=[{Key=owner,Value=TEAM}]'
    controls: CONTROLS
"""
CONTROLS_LINE = 12


def rule_file(folder: Path, controls: str, name: str = "owner.yaml") -> Path:
    path = folder / name
    path.write_text(RULE.replace("CONTROLS", controls), encoding="utf-8")
    return path


@pytest.fixture
def restore_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that start the evaluator (which installs into the global registry) leave it as they found it."""
    monkeypatch.setattr(REGISTRY, "_checks", dict(REGISTRY._checks))
    monkeypatch.setattr(REGISTRY, "_by_type", {k: list(v) for k, v in REGISTRY._by_type.items()})


def test_the_shipped_library_control_ids_are_current() -> None:
    expected = current_library_file()
    shipped = Path(__file__).resolve().parents[1] / "src" / "guardian_evaluator" / "library_controls.txt"
    assert shipped.read_text(encoding="utf-8") == expected, "stale: run python -m guardian_evaluator.control_ids"
    assert library_control_ids() == {c.id for c in bundled_library().controls}


def test_a_rule_naming_an_unknown_control_is_refused_with_file_line_and_reason(tmp_path: Path) -> None:
    path = rule_file(tmp_path, "[GRD-DATA-02, ACME-GHOST]")
    with pytest.raises(RulesRefused) as caught:
        load_rule_files([path], known_controls=known_control_ids())
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (str(path), CONTROLS_LINE)
    assert problem.reason.startswith("rule custom_bucket_names_owner: control ACME-GHOST is neither in Guardian's")
    assert "GUARDIAN_CONTROL_IDS" in problem.reason
    # The bundled control alone is fine, and so is a company control once listed.
    assert load_rule_files([rule_file(tmp_path, "[GRD-DATA-02]", "ok.yaml")], known_controls=known_control_ids())
    [chk] = load_rule_files([path], known_controls=known_control_ids(["ACME-GHOST"]))
    assert chk.controls == ("GRD-DATA-02", "ACME-GHOST")


def test_a_malformed_control_id_is_refused_even_where_the_controls_are_not_known(tmp_path: Path) -> None:
    path = rule_file(tmp_path, "[grd data 02]")
    with pytest.raises(RulesRefused) as caught:
        load_rule_files([path])
    [problem] = caught.value.problems
    assert problem.line == CONTROLS_LINE
    assert "control id 'grd data 02' is malformed" in problem.reason


@pytest.mark.usefixtures("restore_registry")
def test_the_evaluator_refuses_to_start_on_a_rule_naming_an_unknown_control(tmp_path: Path) -> None:
    path = rule_file(tmp_path, "[ACME-01]")
    count = len(REGISTRY)
    with pytest.raises(RulesRefused) as caught:
        create_app(EvaluatorSettings(rules_dir=tmp_path))
    assert f"{path}:{CONTROLS_LINE}: rule custom_bucket_names_owner: control ACME-01 is neither" in str(caught.value)
    assert len(REGISTRY) == count
    # Declared as one of the company's own controls, the same file starts.
    create_app(EvaluatorSettings(rules_dir=tmp_path, control_ids=["ACME-01"]))
    assert REGISTRY.get("custom_bucket_names_owner").info().controls == ["ACME-01"]


def test_company_control_ids_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDIAN_CONTROL_IDS", "ACME-01, ACME-02")
    assert EvaluatorSettings().control_ids == ["ACME-01", "ACME-02"]
    monkeypatch.setenv("GUARDIAN_CONTROL_IDS", '["ACME-03"]')
    assert EvaluatorSettings().control_ids == ["ACME-03"]
    monkeypatch.setenv("GUARDIAN_CONTROL_IDS", "acme one")
    with pytest.raises(ValueError, match="'acme one' is not a control id"):
        EvaluatorSettings()
    monkeypatch.delenv("GUARDIAN_CONTROL_IDS")
    assert EvaluatorSettings().control_ids == []
