"""``guardian checks list|show|validate`` and ``guardian frameworks show``: offline, exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardian_cli.main import app
from guardian_compliance.frameworks.model import bundled_library
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY

load_all()

RULE = """\
rules:
  - id: custom_bucket_has_owner
    title: Buckets name an owner
    description: Every bucket carries an owner tag.
    resource_type: AWS::S3::Bucket
    severity: low
    condition: '"owner" in resource.tags'
    reasons:
      pass: Bucket {name} names its owner
      fail: Bucket {name} has no owner tag
    remediation: aws s3api put-bucket-tagging --bucket BUCKET --tagging 'TagSet=[{Key=owner,Value=TEAM}]'
    controls: [GRD-DATA-02]
"""


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("GUARDIAN_RULES_DIR", raising=False)
    return CliRunner()


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "owner.yaml").write_text(RULE, encoding="utf-8")
    return folder


# --------------------------------------------------------------------------------------------- checks list


def test_list_prints_every_check_one_per_line(cli: CliRunner) -> None:
    result = cli.invoke(app, ["checks", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith(f"{len(REGISTRY)} check(s) over ")
    ids = [line.split()[0] for line in lines[:-1]]
    assert ids == sorted(c.id for c in REGISTRY)


def test_list_filters_by_service_and_severity(cli: CliRunner) -> None:
    result = cli.invoke(app, ["checks", "list", "--service", "rds", "--severity", "critical", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = sorted(c.id for c in REGISTRY if c.service == "rds" and c.severity.value == "critical")
    assert [item["id"] for item in data["items"]] == expected
    assert "rds_instance_not_public" in expected
    assert data["total"] == len(expected)
    item = next(i for i in data["items"] if i["id"] == "rds_instance_not_public")
    assert item["controls"]
    assert set(item["controls"]) <= {c.id for c in bundled_library().controls}
    assert item["permissions"] == ["rds:DescribeDBInstances"]


def test_list_refuses_an_unknown_severity(cli: CliRunner) -> None:
    result = cli.invoke(app, ["checks", "list", "--severity", "urgent"])
    assert result.exit_code == 2
    assert "unknown severity 'urgent'" in result.stderr


def test_list_includes_custom_rules_from_the_rules_folder(cli: CliRunner, rules_dir: Path) -> None:
    result = cli.invoke(app, ["checks", "list", "--service", "s3", "--json", "--rules-dir", str(rules_dir)])
    assert result.exit_code == 0, result.output
    [custom] = [i for i in json.loads(result.stdout)["items"] if i["id"] == "custom_bucket_has_owner"]
    assert custom["controls"] == ["GRD-DATA-02"]
    assert custom["source"].endswith("owner.yaml:2")
    assert "custom_bucket_has_owner" not in REGISTRY  # listing never registers anything


# --------------------------------------------------------------------------------------------- checks show


def test_show_describes_one_check(cli: CliRunner) -> None:
    result = cli.invoke(app, ["checks", "show", "data_restricted_s3_bucket_customer_kms"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("data_restricted_s3_bucket_customer_kms (version 1)")
    assert "severity:      high" in text
    assert "controls:      GRD-DATA-60" in text
    assert "s3:GetBucketTagging" in text
    assert '"classification_tag_key": "data-classification"' in text
    assert "Terraform:" in text


def test_show_as_json_and_for_a_custom_rule(cli: CliRunner, rules_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDIAN_RULES_DIR", str(rules_dir))
    result = cli.invoke(app, ["checks", "show", "custom_bucket_has_owner", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["id"], data["service"], data["severity"]) == ("custom_bucket_has_owner", "s3", "low")
    assert data["controls"] == ["GRD-DATA-02"]


def test_show_an_unknown_id_exits_2_with_suggestions(cli: CliRunner) -> None:
    result = cli.invoke(app, ["checks", "show", "backups"])
    assert result.exit_code == 2
    assert "no check has the id 'backups'" in result.stderr
    assert "rds_instance_backups_enabled" in result.stderr


# --------------------------------------------------------------------------------------------- checks validate


def test_validate_accepts_a_good_file(cli: CliRunner, rules_dir: Path) -> None:
    result = cli.invoke(app, ["checks", "validate", str(rules_dir / "owner.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok  custom_bucket_has_owner  (AWS::S3::Bucket, low, service s3) -> GRD-DATA-02" in result.stdout
    assert "1 rule(s) in 1 file(s) are valid" in result.stdout
    assert result.stderr == ""


def test_validate_refuses_a_bad_file_with_file_line_and_reason(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULE.replace("AWS::S3::Bucket", "AWS::S3::Bukket").replace("severity: low", "severity: meh"))
    result = cli.invoke(app, ["checks", "validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:5: rule custom_bucket_has_owner: unknown resource type 'AWS::S3::Bukket'" in result.stderr
    assert f"{bad}:6: rule custom_bucket_has_owner: severity 'meh' is not one of" in result.stderr
    assert "2 problem(s) in the custom rules" in result.stderr


def test_validate_refuses_a_yaml_error_and_a_duplicate_across_files(cli: CliRunner, rules_dir: Path) -> None:
    (rules_dir / "copy.yaml").write_text(RULE, encoding="utf-8")
    (rules_dir / "broken.yml").write_text("rules:\n  - id: custom_x\n    title: 'unterminated\n", encoding="utf-8")
    result = cli.invoke(app, ["checks", "validate", str(rules_dir)])
    assert result.exit_code == 2
    assert f"{rules_dir / 'broken.yml'}:3: not valid YAML" in result.stderr
    assert (
        f"{rules_dir / 'owner.yaml'}:2: duplicate id custom_bucket_has_owner: already defined at "
        f"{rules_dir / 'copy.yaml'}:2"
    ) in result.stderr


def test_validate_refuses_a_rule_reusing_a_built_in_id(cli: CliRunner, tmp_path: Path) -> None:
    # Built-in ids never start with custom_, so the prefix rule already refuses them.
    clash = tmp_path / "clash.yaml"
    clash.write_text(RULE.replace("custom_bucket_has_owner", "s3_bucket_versioning"), encoding="utf-8")
    result = cli.invoke(app, ["checks", "validate", str(clash)])
    assert result.exit_code == 2
    assert "must start with 'custom_'" in result.stderr


def test_validate_refuses_controls_neither_bundled_nor_listed_as_the_company_s(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GUARDIAN_CONTROL_IDS", raising=False)
    path = tmp_path / "own.yaml"
    path.write_text(RULE.replace("[GRD-DATA-02]", "[ACME-7]"), encoding="utf-8")
    result = cli.invoke(app, ["checks", "validate", str(path)])
    assert result.exit_code == 2
    assert (
        f"{path}:12: rule custom_bucket_has_owner: control ACME-7 is neither in Guardian's bundled control "
        "library nor among the company's controls listed in GUARDIAN_CONTROL_IDS"
    ) in result.stderr
    # Listed as the company's own (option or environment, as the evaluator reads it), it is accepted.
    listed = cli.invoke(app, ["checks", "validate", str(path), "--control-id", "ACME-7"])
    assert listed.exit_code == 0, listed.output
    assert "-> ACME-7" in listed.stdout
    monkeypatch.setenv("GUARDIAN_CONTROL_IDS", "ACME-6,ACME-7")
    assert cli.invoke(app, ["checks", "validate", str(path)]).exit_code == 0
    bad = cli.invoke(app, ["checks", "validate", str(path), "--control-id", "acme 7"])
    assert bad.exit_code == 2
    assert "is not a control id" in bad.stderr


def test_validate_a_missing_file_exits_2(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["checks", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr


# --------------------------------------------------------------------------------------------- frameworks show


def test_frameworks_show_lists_criteria_with_controls_and_checks(cli: CliRunner) -> None:
    result = cli.invoke(app, ["frameworks", "show", "soc2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["framework"]["id"] == "soc2"
    assert len(data["criteria"]) == data["summary"]["criteria"] == 61
    c11 = next(c for c in data["criteria"] if c["id"] == "C1.1")
    restricted = next(c for c in c11["controls"] if c["id"] == "GRD-DATA-60")
    assert "data_restricted_s3_bucket_customer_kms" in restricted["checks"]
    assert restricted["kind"] == "automated"
    assert restricted["rationale"]
    assert "data_restricted_s3_bucket_customer_kms" in c11["checks"]
    automated = sum(1 for c in data["criteria"] if c["checks"])
    assert data["summary"]["with_automated_checks"] == automated >= 25


def test_frameworks_show_text_and_custom_checks_under_their_controls(cli: CliRunner, rules_dir: Path) -> None:
    result = cli.invoke(app, ["frameworks", "show", "--rules-dir", str(rules_dir)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("SOC 2:")
    assert "\nCC6.1  " in text
    assert "    GRD-DATA-02 [hybrid] Data classified and data stores inventoried" in text
    assert "custom_bucket_has_owner" in text
    assert "of 61 criteria have automated checks" in text


def test_frameworks_show_an_unknown_framework_exits_2(cli: CliRunner) -> None:
    result = cli.invoke(app, ["frameworks", "show", "iso27001"])
    assert result.exit_code == 2
    assert "unknown framework 'iso27001'" in result.stderr
