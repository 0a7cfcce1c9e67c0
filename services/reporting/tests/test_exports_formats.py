"""Every export rendered from one report: the PDF read back with pypdf, the CSVs and JSON parsed, the
OCSF events re-validated by py_ocsf_models, and the JSON checked against the published schema."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import jsonschema
import pytest
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding  # type: ignore[import-untyped]
from pypdf import PdfReader

from guardian_common.errors import Conflict
from guardian_reporting.report.exports import render
from guardian_reporting.report.model import (
    NOT_ASSESSED,
    AcceptanceRow,
    Basis,
    CarveOut,
    CategoryScore,
    CheckRow,
    ControlDeviationSummary,
    ControlRow,
    CoverageRow,
    CoverageSection,
    DeviationRow,
    DeviationSection,
    EvidenceRow,
    EvidenceSection,
    FindingRow,
    Generator,
    PopulationRow,
    PopulationSection,
    ReadinessSection,
    Report,
    RequirementRow,
    ResourceRow,
    ScopeInfo,
    TrendPointRow,
    TrendSection,
    Versions,
    Window,
    report_schema,
)
from guardian_reporting.report.ocsf import to_ocsf
from guardian_reporting.report.pdf import SECTIONS
from guardian_reporting.report.tables import COLUMNS, TABLES, cell, to_csv

AT = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
BUCKET = "arn:aws:s3:::acme-legacy-exports"
VOLUME = "arn:aws:ec2:us-east-1:123456789012:volume/vol-0abc"
FORMULA = "readiness = PASS controls / in-scope controls that are not NOT_APPLICABLE"
FORMULA_NAME = '=HYPERLINK("http://x")'


def finding(check: str, arn: str, status: str, controls: list[str], **extra: object) -> FindingRow:
    values: dict[str, object] = {
        "check_id": check,
        "resource_arn": arn,
        "resource_type": "AWS::S3::Bucket" if ":s3:" in arn else "AWS::EC2::Volume",
        "resource_name": arn.rsplit(":", 1)[-1].split("/")[-1],
        "account_id": "123456789012",
        "region": "us-east-1",
        "status": status,
        "evaluated_status": "FAIL" if status == "ACCEPTED" else status,
        "severity": "high",
        "reason": f"{check} says {status.lower()}",
        "observed_at": AT,
        "controls": controls,
        **extra,
    }
    return FindingRow.model_validate(values)


def make_report() -> Report:
    findings = [
        finding("s3_bucket_default_encryption", BUCKET, "FAIL", ["GRD-ENC-01"]),
        finding("ec2_ebs_volume_encrypted", VOLUME, "ACCEPTED", ["GRD-ENC-01"], acceptance_id="acc-1"),
        finding(
            "s3_bucket_default_encryption",
            "arn:aws:s3:::acme-customer-data",
            "PASS",
            ["GRD-ENC-01"],
            resource_name=FORMULA_NAME,
        ),
    ]
    enc = ControlRow(
        id="GRD-ENC-01",
        title="Data stores are encrypted at rest",
        owner="Platform",
        kind="automated",
        status="FAIL",
        reason="1 resource fails s3_bucket_default_encryption",
        requirements=["CC6.1", "C1.1"],
        categories=["security", "confidentiality"],
        checks=[
            CheckRow(
                check_id="s3_bucket_default_encryption",
                title="Bucket default encryption",
                severity="high",
                status="FAIL",
                passed=1,
                failed=1,
                errored=0,
                accepted=0,
            ),
            CheckRow(
                check_id="ec2_ebs_volume_encrypted",
                title="EBS volume encrypted",
                severity="high",
                status="PASS",
                passed=0,
                failed=0,
                errored=0,
                accepted=1,
            ),
        ],
        evidence_required=[],
        failing_resources=[
            ResourceRow(
                check_id="s3_bucket_default_encryption",
                resource_arn=BUCKET,
                resource_type="AWS::S3::Bucket",
                resource_name="acme-legacy-exports",
                account_id="123456789012",
                region="us-east-1",
                status="FAIL",
                severity="high",
                reason="No default encryption rule",
            ),
            ResourceRow(
                check_id="ec2_ebs_volume_encrypted",
                resource_arn=VOLUME,
                resource_type="AWS::EC2::Volume",
                resource_name="vol-0abc",
                account_id="123456789012",
                region="us-east-1",
                status="ACCEPTED",
                severity="high",
                reason="Volume not encrypted",
                acceptance_id="acc-1",
            ),
        ],
    )
    gov = ControlRow(
        id="GRD-GOV-01",
        title="Security policy is approved and communicated",
        owner="People",
        kind="procedural",
        status="PASS",
        reason="Every required evidence type has an accepted, current item",
        requirements=["CC1.1"],
        categories=["security"],
        checks=[],
        evidence_required=["policy"],
        failing_resources=[],
    )
    return Report(
        generator=Generator(generated_at=AT, generated_by="auditor-jane"),
        framework={"id": "soc2", "name": "SOC 2", "title": "SOC 2 Trust Services Criteria (2017)", "version": "2017.2"},
        scope=ScopeInfo(
            id="prod",
            name="Production platform",
            version=3,
            categories=["confidentiality", "security"],
            account_ids=["123456789012"],
            regions=["us-east-1"],
            tags={},
            carve_outs=[
                CarveOut(
                    organisation="Amazon Web Services",
                    services="Data centres",
                    method="carve_out",
                    criteria=["CC6.4 (full)"],
                )
            ],
            user_entity_controls=["Customers manage their own user accounts (CC6.2)"],
            not_applicable=[],
        ),
        window=Window(
            kind="period",
            at=AT,
            period_id="p-1",
            period_name="FY26 H2",
            period_type="type2",
            start=date(2026, 7, 1),
            end=date(2026, 11, 20),
            locked=True,
        ),
        basis=Basis(
            source="stored", scan_id="scan-42", scan_state="final", partial=False, finalised_at=AT, computed_at=AT
        ),
        versions=Versions(
            framework="2017.2",
            control_library="lib-7",
            check_catalogue="cat-19",
            checks={"s3_bucket_default_encryption": 3, "ec2_ebs_volume_encrypted": 2},
        ),
        readiness=ReadinessSection(
            score=0.5,
            percent="50.0%",
            passing=1,
            applicable=2,
            in_scope=2,
            not_applicable=0,
            by_status={"FAIL": 1, "PASS": 1},
            by_category=[CategoryScore(category="security", name="Security", score=0.5, passing=1, applicable=2)],
            formula=FORMULA,
        ),
        requirements=[
            RequirementRow(
                id="CC6.1",
                category="security",
                title="Logical access security",
                status="FAIL",
                controls=["GRD-ENC-01"],
                reason="GRD-ENC-01 fails",
            ),
            RequirementRow(
                id="CC1.1",
                category="security",
                title="Integrity and ethical values",
                status="PASS",
                controls=["GRD-GOV-01"],
                reason="Every control passes",
            ),
        ],
        controls=[enc, gov],
        findings=findings,
        acceptances=[
            AcceptanceRow(
                id="acc-1",
                covers=f"check=ec2_ebs_volume_encrypted, arn={VOLUME}",
                control_id=None,
                check_id="ec2_ebs_volume_encrypted",
                justification="Scratch volume destroyed nightly",
                compensating_control="No customer data is written to it",
                requested_by="alice",
                approver="bob",
                decided_at=AT,
                starts_at=datetime(2026, 10, 1, tzinfo=UTC),
                expires_at=datetime(2026, 12, 31, tzinfo=UTC),
                ends_at=datetime(2026, 12, 31, tzinfo=UTC),
                status="in_force",
            ),
        ],
        evidence=EvidenceSection(
            window_from=date(2026, 7, 1),
            window_to=date(2026, 11, 20),
            entries=[
                EvidenceRow(
                    item_id="ev-00000000000000aa",
                    title="Information security policy",
                    type="policy",
                    control_ids=["GRD-GOV-01"],
                    version=2,
                    filename="policy.pdf",
                    sha256="ab" * 32,
                    reviewed_by="carol",
                    current_from=datetime(2026, 6, 1, tzinfo=UTC),
                    current_to=None,
                )
            ],
            uncovered=[],
        ),
        trend=TrendSection(
            available=True,
            granularity="week",
            points=[
                TrendPointRow(bucket=datetime(2026, 11, 2, tzinfo=UTC), scans=7, monitored=True, readiness=0.25),
                TrendPointRow(bucket=datetime(2026, 11, 9, tzinfo=UTC), scans=0, monitored=False, readiness=None),
            ],
        ),
        coverage=CoverageSection(
            available=True,
            monitored_share=0.9712,
            not_monitored=["2026-08-03 00:00 to 2026-08-04 00:00 UTC"],
            rows=[
                CoverageRow(
                    account_id="123456789012",
                    region="us-east-1",
                    service="s3",
                    monitored_share=0.9712,
                    gaps=["2026-08-03 00:00 to 2026-08-04 00:00 UTC"],
                )
            ],
        ),
        deviations=DeviationSection(
            available=True,
            source="history",
            sla_days={"high": 7.0},
            deviation_count=2,
            sla_misses=1,
            controls=[
                ControlDeviationSummary(
                    control_id="GRD-ENC-01",
                    share_passing=0.8,
                    deviation_count=2,
                    open_count=1,
                    sla_misses=1,
                    accepted_count=1,
                )
            ],
            items=[
                DeviationRow(
                    control_ids=["GRD-ENC-01"],
                    check_id="s3_bucket_default_encryption",
                    resource_arn=BUCKET,
                    severity="high",
                    detected_at=datetime(2026, 8, 10, 6, 0, tzinfo=UTC),
                    resolved_at=datetime(2026, 8, 25, 6, 0, tzinfo=UTC),
                    sla_days=7.0,
                    time_to_resolve_days=15.0,
                    sla="missed",
                    sla_met=False,
                ),
                DeviationRow(
                    control_ids=["GRD-ENC-01"],
                    check_id="ec2_ebs_volume_encrypted",
                    resource_arn=VOLUME,
                    severity="high",
                    detected_at=datetime(2026, 11, 2, 6, 0, tzinfo=UTC),
                    resolved_at=None,
                    sla_days=7.0,
                    sla="open_overdue",
                    sla_met=False,
                    acceptance_id="acc-1",
                ),
            ],
        ),
        populations=PopulationSection(
            available=True,
            as_of=AT,
            source="history",
            items=[
                PopulationRow(
                    resource_arn=BUCKET,
                    resource_type="AWS::S3::Bucket",
                    resource_name="acme-legacy-exports",
                    account_id="123456789012",
                    region="us-east-1",
                    config_hash="h1",
                    configuration={"encryption": None, "versioning": "Enabled"},
                )
            ],
        ),
        notes=["Scan scan-42 was the last before the period's end."],
    )


def pdf_text(content: bytes) -> str:
    pages = PdfReader(io.BytesIO(content)).pages
    return "".join("".join(page.extract_text() for page in pages).split())


def squash(text: str) -> str:
    return "".join(text.split())


def rows(report: Report, table: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(to_csv(report, table))))  # type: ignore[arg-type]


def test_the_pdf_has_every_section_with_the_reports_own_facts() -> None:
    report = make_report()
    text = pdf_text(render(report, "pdf").content)
    for section in SECTIONS:
        assert squash(section) in text, section
    facts = [
        "Scope:Productionplatform(prod,version3)",
        "AuditperiodFY26H2(type2):2026-07-01to2026-11-20,locked",
        "AmazonWebServices",
        "CC6.4(full)",
        "Customersmanagetheirownuseraccounts",
        "lib-7",
        "cat-19",
        "s3_bucket_default_encryptionv3",
        "Readinessscore:50.0%(1of2applicablecontrolspass)",
        FORMULA,
        "GRD-ENC-01Datastoresareencryptedatrest:FAIL",
        "GRD-GOV-01Securitypolicyisapprovedandcommunicated:PASS",
        BUCKET,
        "No default encryption rule",
        VOLUME,
        "ACCEPTED",
        "Scratchvolumedestroyednightly",
        "Nocustomerdataiswrittentoit",
        "alice",
        "bob",
        "ev-00000000000000aa",
        "ab" * 32,
        "Readinessovertheperiod(week)",
        "2026-11-02725.0%",
        "2026-11-090notmonitored",
        "97.1%",
        "2026-08-0300:00to2026-08-0400:00UTC",
        "Deviations:2;SLAmisses:1",
        "15.00dtoresolve,SLA7d,missed",
        "open",
        "80.0%",
        NOT_ASSESSED,
        "Scanscan-42wasthelastbeforetheperiod'send.",
    ]
    for fact in facts:
        assert squash(fact) in text, fact


def test_the_pdf_says_what_is_not_available_instead_of_an_empty_table() -> None:
    report = make_report().model_copy(
        update={
            "coverage": CoverageSection(available=False, reason="compliance does not offer /api/v1/coverage yet."),
            "controls": [c.model_copy(update={"failing_resources": None}) for c in make_report().controls],
            "acceptances": [],
        }
    )
    text = pdf_text(render(report, "pdf").content)
    assert squash("Not available: compliance does not offer /api/v1/coverage yet.") in text
    assert squash("Failing resources: not known for this past point") in text
    assert squash("No risk acceptance was in force during this window.") in text


def test_each_csv_has_its_columns_and_one_row_per_item_of_the_json() -> None:
    report = make_report()
    for table in TABLES:
        header = next(csv.reader(io.StringIO(to_csv(report, table))))
        assert tuple(header) == COLUMNS[table]
    controls = rows(report, "controls")
    assert [(r["control_id"], r["status"], r["failing_resources"], r["failing_resource_arns"]) for r in controls] == [
        ("GRD-ENC-01", "FAIL", "1", BUCKET),
        ("GRD-GOV-01", "PASS", "0", ""),
    ]
    assert controls[0]["requirements"] == "CC6.1;C1.1"
    assert report.findings is not None
    assert [(r["resource_arn"], r["status"], r["acceptance_id"]) for r in rows(report, "findings")] == [
        (f.resource_arn, f.status, f.acceptance_id or "") for f in report.findings
    ]
    deviations = rows(report, "deviations")
    assert [(r["resource_arn"], r["sla"], r["resolved_at"]) for r in deviations] == [
        (BUCKET, "missed", "2026-08-25T06:00:00+00:00"),
        (VOLUME, "open_overdue", ""),
    ]
    [population] = rows(report, "populations")
    assert json.loads(population["configuration"]) == {"encryption": None, "versioning": "Enabled"}


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_defused() -> None:
    by_name = {r["resource_name"]: r for r in rows(make_report(), "findings")}
    assert "'" + FORMULA_NAME in by_name
    assert cell("-1+2") == "'-1+2"
    assert cell("arn:aws:s3:::b") == "arn:aws:s3:::b"


def test_a_table_that_is_not_known_for_the_window_is_refused_not_empty() -> None:
    report = make_report().model_copy(
        update={"findings": None, "populations": PopulationSection(available=False, reason="no history")}
    )
    with pytest.raises(Conflict) as refused:
        to_csv(report, "findings")
    assert refused.value.code == "not_available"
    with pytest.raises(Conflict, match="no history"):
        to_csv(report, "populations")


def test_ocsf_events_are_compliance_findings_that_validate() -> None:
    report = make_report()
    events = to_ocsf(report)
    assert report.findings is not None
    assert len(events) == len(report.controls) + len(report.findings)
    dumped = json.loads(render(report, "ocsf").content)
    for event in dumped:
        again = ComplianceFinding.model_validate(event)
        assert int(again.class_uid) == 2003
        assert int(again.type_uid) == 200301
    control = dumped[0]
    assert control["compliance"]["control"] == "GRD-ENC-01"
    assert control["compliance"]["requirements"] == ["CC6.1", "C1.1"]
    assert control["compliance"]["status_id"] == 3
    assert {r["uid"] for r in control["resources"]} == {BUCKET, VOLUME}
    accepted = next(
        e
        for e in dumped
        if e.get("resources") and e["resources"][0]["uid"] == VOLUME and e["finding_info"]["types"] == ["resource"]
    )
    assert accepted["status_id"] == 3  # Suppressed: reviewed and accepted as a risk
    assert accepted["compliance"]["requirements"] == ["C1.1", "CC6.1"]
    assert [e["finding_info"]["uid"] for e in json.loads(render(report, "ocsf").content)] == [
        e["finding_info"]["uid"] for e in dumped
    ]


def test_the_json_export_validates_against_the_published_schema() -> None:
    report = make_report()
    document = json.loads(render(report, "json").content)
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema)
    assert Report.model_validate(document) == report
    broken = {**document, "readiness": {**document["readiness"], "passing": "one"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_text_too_long_for_one_page_is_cut_in_the_pdf_and_kept_whole_in_the_json() -> None:
    report = make_report()
    essay = "Compensated by a weekly review of the bucket's access log. " * 300
    [acceptance] = report.acceptances
    [enc, gov] = report.controls
    assert enc.failing_resources is not None
    long_reason = enc.failing_resources[0].model_copy(update={"reason": "x" * 20000})
    long = report.model_copy(
        update={
            "acceptances": [acceptance.model_copy(update={"justification": essay})],
            "controls": [enc.model_copy(update={"failing_resources": [long_reason]}), gov],
        }
    )
    text = pdf_text(render(long, "pdf").content)  # a row taller than a page would raise LayoutError
    assert squash("[truncated here; the full text is in report.json]") in text
    assert json.loads(render(long, "json").content)["acceptances"][0]["justification"] == essay
