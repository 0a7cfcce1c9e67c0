"""Consistency of the bundled SOC 2 catalogue: the framework file and Guardian's default control library."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardian_compliance.frameworks.model import (
    BUNDLED_FRAMEWORKS,
    bundled_framework,
    bundled_library,
    library_documents,
    merge_library,
)

CRITERIA_TABLE = Path(__file__).parents[3] / ".." / "shared" / "SOC2_CRITERIA.md"

# The check ids agreed between collector, evaluator and compliance (briefs/common.md). The library must use
# every one of them and nothing else.
AGREED_CHECKS = frozenset(
    {
        "s3_bucket_default_encryption",
        "s3_bucket_public_access_block",
        "s3_bucket_not_public",
        "s3_bucket_access_logging",
        "s3_bucket_versioning",
        "s3_bucket_secure_transport",
        "s3_account_public_access_block",
        "cloudtrail_logging_enabled",
        "cloudtrail_log_file_validation",
        "cloudtrail_kms_encryption",
        "cloudtrail_cloudwatch_logs",
        "cloudtrail_bucket_not_public",
        "cloudtrail_multi_region_enabled",
        "ec2_ebs_volume_encrypted",
        "ec2_sg_no_open_admin_ports",
        "ec2_sg_no_open_database_ports",
        "ec2_sg_no_open_all_traffic",
        "ec2_default_sg_restricts_all",
        "ec2_vpc_flow_logs_enabled",
        "ec2_ebs_default_encryption",
        "rds_instance_storage_encrypted",
        "rds_instance_not_public",
        "rds_instance_multi_az",
        "rds_instance_backups_enabled",
        "rds_instance_deletion_protection",
        "rds_instance_minor_version_upgrade",
        "iam_user_console_mfa",
        "iam_user_access_key_rotated",
        "iam_user_unused_credentials",
        "iam_user_no_direct_policies",
        "iam_policy_no_full_admin",
        "iam_root_mfa",
        "iam_root_no_access_keys",
        "iam_password_policy_strong",
    }
)

CATEGORIES = {"security", "availability", "confidentiality", "processing_integrity", "privacy"}
FREQUENCIES = {"continuous", "daily", "weekly", "monthly", "quarterly", "annual"}
EVIDENCE_TYPES = {
    "policy",
    "procedure",
    "training_record",
    "vendor_assessment",
    "access_review",
    "screenshot",
    "minutes",
    "report",
    "other",
}
# Two digits, or "A" and a digit for the criteria-coverage and CIS extension files.
CONTROL_ID = re.compile(r"^GRD-(GOV|RISK|HR|IAM|NET|ENC|LOG|MON|VULN|CHG|BCP|VEND|DATA|PI|PRIV)-(\d{2}|A\d)$")
# Order matters: "PI" must be tried before "P".
CATEGORY_BY_PREFIX = (
    ("CC", "security"),
    ("A", "availability"),
    ("C", "confidentiality"),
    ("PI", "processing_integrity"),
    ("P", "privacy"),
)
MIN_AUTOMATED_CRITERIA = 40


def _load(*parts: str) -> dict[str, Any]:
    text = resources.files("guardian_compliance").joinpath("data", *parts).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict), f"{'/'.join(parts)} must be a YAML mapping"
    return data


@cache
def _framework() -> dict[str, Any]:
    return _load("frameworks", "soc2.yaml")


@cache
def _library() -> dict[str, Any]:
    # The bundled library is default.yaml plus its extension files, merged.
    return merge_library(library_documents())


def _controls() -> list[dict[str, Any]]:
    controls = _library()["controls"]
    assert isinstance(controls, list)
    return controls


def _mappings() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for control in _controls():
        for mapping in control["requirements"]:
            yield control, mapping


def _checks_for(criterion: str) -> set[str]:
    return {
        check for control, mapping in _mappings() if mapping["id"] == criterion for check in control.get("checks") or []
    }


def _expected_criteria() -> list[str]:
    rows = re.findall(r"^\|\s*((?:CC|PI|A|C|P)\d+\.\d+)\s*\|", CRITERIA_TABLE.read_text(encoding="utf-8"), re.M)
    assert len(rows) == 61, f"{CRITERIA_TABLE} lists {len(rows)} criteria, expected 61"
    return rows


def _category_of(criterion: str) -> str:
    prefix = re.match(r"^[A-Z]+", criterion)
    assert prefix is not None
    return dict(CATEGORY_BY_PREFIX)[prefix.group(0)]


def test_framework_lists_exactly_the_61_criteria_in_order() -> None:
    ids = [r["id"] for r in _framework()["requirements"]]
    assert ids == _expected_criteria()


def test_framework_header_and_categories() -> None:
    fw = _framework()
    assert fw["id"] == "soc2"
    assert isinstance(fw["version"], str)
    assert fw["version"]
    cats = {c["id"]: c for c in fw["categories"]}
    assert set(cats) == CATEGORIES
    assert len(cats) == len(fw["categories"])
    assert [c for c, v in cats.items() if v["required"]] == ["security"]
    for cat in cats.values():
        assert cat["name"].strip()
        assert cat["description"].strip()


def test_each_requirement_is_in_its_category_and_described() -> None:
    for req in _framework()["requirements"]:
        assert req["category"] == _category_of(req["id"]), req["id"]
        assert req["group"].split()[0] == req["id"].split(".")[0], req["id"]
        assert req["title"].strip(), req["id"]
        assert len(req["description"].strip()) > 40, req["id"]


def test_every_criterion_is_mapped_by_a_control() -> None:
    mapped = {mapping["id"] for _, mapping in _mappings()}
    missing = [c for c in _expected_criteria() if c not in mapped]
    assert missing == []


def test_mappings_name_known_criteria_once_with_a_rationale() -> None:
    # The library also maps the requirements of the other bundled frameworks (CIS ids carry a prefix).
    others = {r.id for fid in BUNDLED_FRAMEWORKS if fid != "soc2" for r in bundled_framework(fid).requirements}
    known = set(_expected_criteria()) | others
    for control in _controls():
        ids = [m["id"] for m in control["requirements"]]
        assert ids, f"{control['id']} maps no requirement"
        assert len(ids) == len(set(ids)), f"{control['id']} maps a requirement twice"
        for mapping in control["requirements"]:
            assert mapping["id"] in known, f"{control['id']} maps unknown {mapping['id']}"
            rationale = mapping.get("rationale")
            assert isinstance(rationale, str), f"{control['id']} -> {mapping['id']} has no rationale"
            assert rationale.strip(), f"{control['id']} -> {mapping['id']} has an empty rationale"


def test_control_ids_are_unique_and_well_formed() -> None:
    ids = [c["id"] for c in _controls()]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not CONTROL_ID.match(i)] == []
    assert _library()["library"] == "guardian-default"
    assert isinstance(_library()["version"], str)


def test_control_fields_are_valid() -> None:
    for control in _controls():
        cid = control["id"]
        assert control["title"].strip(), cid
        assert control["description"].strip(), cid
        assert control["owner"].strip(), cid
        assert control["frequency"] in FREQUENCIES, cid
        for item in control.get("evidence") or []:
            assert item["type"] in EVIDENCE_TYPES, f"{cid}: evidence type {item['type']}"
            assert item["description"].strip(), cid
        # A control with neither checks nor evidence could never be shown to operate.
        assert control.get("checks") or control.get("evidence"), f"{cid} has neither checks nor evidence"
        checks = control.get("checks") or []
        assert len(checks) == len(set(checks)), f"{cid} lists a check twice"


def test_checks_used_include_the_agreed_list() -> None:
    used = {check for control in _controls() for check in control.get("checks") or []}
    # Later checks are added by extension files; the registry test asserts every registered check is mapped.
    assert AGREED_CHECKS - used == set(), "agreed checks no control uses"


def test_enough_criteria_have_automated_checks() -> None:
    automated = {mapping["id"] for control, mapping in _mappings() if control.get("checks")}
    assert len(automated) >= MIN_AUTOMATED_CRITERIA


def test_criteria_without_checks_have_evidence() -> None:
    for criterion in _expected_criteria():
        if _checks_for(criterion):
            continue
        evidence = [
            item for control, mapping in _mappings() if mapping["id"] == criterion for item in control["evidence"]
        ]
        assert evidence, f"{criterion} has neither automated checks nor evidence requirements"


@pytest.mark.parametrize(
    ("criterion", "required"),
    [
        (
            "CC6.1",
            {
                "iam_user_console_mfa",
                "iam_root_mfa",
                "iam_password_policy_strong",
                "s3_bucket_default_encryption",
                "ec2_ebs_volume_encrypted",
                "ec2_ebs_default_encryption",
                "rds_instance_storage_encrypted",
                "s3_bucket_public_access_block",
                "ec2_sg_no_open_admin_ports",
            },
        ),
        ("CC6.2", {"iam_user_unused_credentials", "iam_user_access_key_rotated", "iam_user_console_mfa"}),
        ("CC6.3", {"iam_policy_no_full_admin", "iam_user_no_direct_policies"}),
        ("CC6.6", {"ec2_sg_no_open_admin_ports", "s3_bucket_not_public", "rds_instance_not_public"}),
        ("CC6.7", {"s3_bucket_secure_transport"}),
        ("CC7.2", {"cloudtrail_multi_region_enabled", "ec2_vpc_flow_logs_enabled", "s3_bucket_access_logging"}),
        ("CC8.1", {"cloudtrail_multi_region_enabled"}),
        ("A1.2", {"rds_instance_backups_enabled", "rds_instance_multi_az", "s3_bucket_versioning"}),
        ("PI1.5", {"s3_bucket_default_encryption", "rds_instance_backups_enabled", "s3_bucket_versioning"}),
    ],
)
def test_key_technical_criteria_carry_their_checks(criterion: str, required: set[str]) -> None:
    assert required <= _checks_for(criterion)


def test_access_criteria_are_not_copies_of_each_other() -> None:
    cc61, cc62, cc63 = _checks_for("CC6.1"), _checks_for("CC6.2"), _checks_for("CC6.3")
    assert len({frozenset(cc61), frozenset(cc62), frozenset(cc63)}) == 3
    assert not cc63 & {"iam_root_mfa", "s3_bucket_default_encryption", "ec2_sg_no_open_admin_ports"}


def test_change_management_needs_approval_evidence() -> None:
    evidence = [item for control, mapping in _mappings() if mapping["id"] == "CC8.1" for item in control["evidence"]]
    assert evidence


def test_physical_access_relies_on_the_subservice_report() -> None:
    controls = [c for c, m in _mappings() if m["id"] == "CC6.4"]
    assert controls
    assert all(not c["checks"] for c in controls)
    assert any(e["type"] == "report" for c in controls for e in c["evidence"])


def test_files_validate_against_the_product_models() -> None:
    framework = bundled_framework("soc2")
    library = bundled_library()
    assert len(framework.requirements) == 61
    assert len(library.controls) == len(_controls())
