"""Reports end to end: a demo-like AWS environment in moto, a real scan through every service, a risk
acceptance, accepted evidence and an audit period; then every export read back and held against
what compliance and evidence say, and the signed auditor package verified and tampered with.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from conftest import Running
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding  # type: ignore[import-untyped]
from pypdf import PdfReader
from typer.testing import CliRunner

from guardian_cli.demo_env import seed
from guardian_cli.follow import run_scan
from guardian_cli.main import app as cli
from guardian_common.auth import Role, mint_key
from guardian_gateway.keys.service import bootstrap_key
from guardian_reporting.package import public_pem
from guardian_reporting.report.model import NOT_ASSESSED, Report
from guardian_reporting.report.pdf import SECTIONS
from guardian_testkit.moto import MotoServer

SERVICES = ["s3", "iam", "ec2"]
EVIDENCE = b"%PDF-1.7\n" + b"security policy " * 200 + b"\n%%EOF\n"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def squash(text: str) -> str:
    """PDF text without whitespace: table cells wrap long ARNs and titles over lines."""
    return "".join(text.split())


FOOTER = re.compile(r"^Guardian \| .*$|Page \d+$", re.MULTILINE)


def body_text(page_text: str) -> str:
    """A page's text without its running footer, so a paragraph broken across pages reads on."""
    return FOOTER.sub("", page_text)


def rezip(package: bytes, *, change: str | None = None, drop: str | None = None, add: str | None = None) -> bytes:
    """A copy of the package with one member's byte flipped, one member removed, or one added."""
    source = zipfile.ZipFile(io.BytesIO(package))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename == drop:
                continue
            content = source.read(info.filename)
            if info.filename == change:
                content = content[:10] + bytes([content[10] ^ 0x01]) + content[11:]
            target.writestr(info, content)
        if add is not None:
            target.writestr(add, b"not from Guardian\n")
    return out.getvalue()


async def prepare(running: Running, moto: MotoServer) -> dict[str, Any]:
    """Scan, accept one failure as a risk, accept one evidence document, add an audit period."""
    seed(moto.url, ("us-east-1",))
    outcome = await run_scan(
        running.client, regions=["us-east-1"], services=SERVICES, poll_seconds=0.1, timeout_seconds=240
    )
    assert outcome.final, outcome
    admin = bearer(running.key(Role.ADMIN))
    second_admin = bearer(mint_key(running.stack.auth_secret, Role.ADMIN, "second-admin")[1])
    editor = bearer(running.key(Role.EDITOR))
    comp, evid = running.stack.url("compliance"), running.stack.url("evidence")
    async with httpx.AsyncClient(timeout=60) as http:
        failing = (
            await http.get(f"{comp}/api/v1/findings", headers=admin, params={"status": "FAIL", "limit": 5000})
        ).json()["items"]
        assert failing, "the demo environment has failing resources"
        target = sorted(failing, key=lambda f: (f["check_id"], f["resource_arn"]))[0]
        expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        requested = await http.post(
            f"{comp}/api/v1/acceptances",
            headers=admin,
            json={
                "check_id": target["check_id"],
                "arn_pattern": target["resource_arn"],
                "justification": "Legacy resource kept read-only until its migration next quarter",
                "compensating_control": "Weekly manual review of its access log",
                "expires_at": expires,
            },
        )
        assert requested.status_code == 201, requested.text
        acceptance_id = requested.json()["id"]
        approved = await http.post(f"{comp}/api/v1/acceptances/{acceptance_id}/approve", headers=second_admin)
        assert approved.status_code == 200, approved.text

        uploaded = await http.post(
            f"{evid}/api/v1/evidence",
            data={
                "title": "Information security policy",
                "type": "policy",
                "owner": "Security",
                "control": "GRD-GOV-01",
                "frequency": "annual",
            },
            files={"file": ("security-policy.pdf", EVIDENCE, "application/pdf")},
            headers=editor,
        )
        assert uploaded.status_code == 201, uploaded.text
        item_id = uploaded.json()["item_id"]
        reviewed = await http.post(
            f"{evid}/api/v1/evidence/{item_id}/versions/1/review",
            json={"decision": "accepted", "comment": "Approved by the board."},
            headers=admin,
        )
        assert reviewed.status_code == 200, reviewed.text

        today = datetime.now(UTC).date()
        period = await http.post(
            f"{comp}/api/v1/scopes/default/periods",
            headers=editor,
            json={
                "name": "Q4 review",
                "start_date": str(today - timedelta(days=7)),
                "end_date": str(today),
                "type": "type2",
            },
        )
        assert period.status_code == 201, period.text
        controls = (await http.get(f"{comp}/api/v1/frameworks/soc2/controls", headers=admin)).json()
        readiness = (await http.get(f"{comp}/api/v1/frameworks/soc2/readiness", headers=admin)).json()
        findings = (await http.get(f"{comp}/api/v1/findings", headers=admin, params={"limit": 5000})).json()
        failing_control = next(c for c in controls["items"] if c["status"] == "FAIL")
        detail = (
            await http.get(f"{comp}/api/v1/frameworks/soc2/controls/{failing_control['id']}", headers=admin)
        ).json()
    return {
        "scan_id": outcome.scan_id,
        "target": target,
        "acceptance_id": acceptance_id,
        "item_id": item_id,
        "period_id": period.json()["id"],
        "controls": controls,
        "readiness": readiness,
        "findings": findings,
        "failing_control": detail,
    }


async def test_reports_match_the_posture_and_the_signed_package_verifies(
    running: Running, moto: MotoServer, tmp_path: Path
) -> None:
    facts = await prepare(running, moto)
    rep = running.stack.url("reporting")
    auditor = bearer(running.key(Role.AUDITOR))
    url = f"{rep}/api/v1/reports/scopes/default"
    period = {"period": facts["period_id"]}
    async with httpx.AsyncClient(timeout=120) as http:
        # JSON: the same numbers compliance gives, for the period, made for an auditor.
        answer = await http.get(url, headers=auditor, params={**period, "format": "json"})
        assert answer.status_code == 200, answer.text
        report = Report.model_validate(answer.json())
        assert report.window.kind == "period"
        assert report.window.period_name == "Q4 review"
        assert report.basis.scan_id == facts["scan_id"]
        expected = facts["readiness"]["readiness"]
        assert (report.readiness.score, report.readiness.passing, report.readiness.applicable) == (
            expected["score"],
            expected["passing"],
            expected["applicable"],
        )
        assert report.readiness.formula == expected["formula"]
        assert {c.id: c.status for c in report.controls} == {c["id"]: c["status"] for c in facts["controls"]["items"]}
        detail = facts["failing_control"]
        mine = report.control(detail["control"]["id"])
        assert mine is not None
        assert mine.failing_resources is not None
        assert sorted((r.check_id, r.resource_arn, r.reason) for r in mine.failing_resources) == sorted(
            (r["check_id"], r["resource_arn"], r["reason"]) for r in detail["failing_resources"]
        )
        assert report.findings is not None
        assert len(report.findings) == facts["findings"]["total"]
        [acceptance] = report.acceptances
        assert acceptance.id == facts["acceptance_id"]
        assert acceptance.approver == "second-admin"
        assert acceptance.justification.startswith("Legacy resource")
        # Compliance keeps the monitoring history: coverage, every failure interval and the trend come from it.
        assert report.coverage.available
        assert {r.service for r in report.coverage.rows} >= set(SERVICES)
        assert report.coverage.not_monitored  # the days before the scan were not monitored
        assert report.deviations.source == "history"
        assert report.trend.available
        assert any(p.monitored for p in report.trend.points)
        target = facts["target"]
        assert (target["check_id"], target["resource_arn"]) in {
            (d.check_id, d.resource_arn) for d in report.deviations.items
        }
        [evidence] = [e for e in report.evidence.entries if e.item_id == facts["item_id"]]
        assert evidence.version == 1
        assert report.scope.carve_outs[0].organisation == "Amazon Web Services"
        assert report.not_assessed == NOT_ASSESSED

        schema = (await http.get(f"{rep}/api/v1/reports/schema", headers=auditor)).json()
        assert set(schema["required"]) >= {"readiness", "controls", "window", "versions"}

        # PDF: every section, and the numbers and names of the JSON.
        pdf = await http.get(url, headers=auditor, params={**period, "format": "pdf"})
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"] == "application/pdf"
        text = squash("\n".join(body_text(page.extract_text()) for page in PdfReader(io.BytesIO(pdf.content)).pages))
        for section in SECTIONS:
            assert squash(section) in text, section
        for expected_text in (
            f"Readinessscore:{report.readiness.percent}",
            report.readiness.formula,
            "Q4review(type2)",
            "AmazonWebServices",
            report.versions.control_library,
            str(report.versions.check_catalogue),
            acceptance.justification,
            "second-admin",
            evidence.sha256,
            NOT_ASSESSED,
        ):
            assert squash(expected_text) in text, expected_text
        for control in report.controls:
            assert squash(f"{control.id} {control.title}: {control.status}") in text, control.id
        for resource in mine.failing_resources[:20]:
            assert squash(resource.resource_arn) in text, resource.resource_arn

        # CSV: the same rows as the JSON.
        rows = await csv_rows(http, url, auditor, period, "controls")
        assert {r["control_id"]: r["status"] for r in rows} == {c.id: c.status for c in report.controls}
        row = next(r for r in rows if r["control_id"] == mine.id)
        assert int(row["failing_resources"]) == len([r for r in mine.failing_resources if r.status != "ACCEPTED"])
        findings = await csv_rows(http, url, auditor, period, "findings")
        assert sorted((r["check_id"], r["resource_arn"], r["status"]) for r in findings) == sorted(
            (f.check_id, f.resource_arn, f.status) for f in report.findings
        )
        deviations = await csv_rows(http, url, auditor, period, "deviations")
        assert target["resource_arn"] in {r["resource_arn"] for r in deviations}
        populations = await csv_rows(http, url, auditor, period, "populations")
        assert {r["resource_arn"] for r in populations} >= {
            f.resource_arn for f in report.findings if ":::" in f.resource_arn
        }

        # OCSF: every event validates as a Compliance Finding (class 2003).
        ocsf = (await http.get(url, headers=auditor, params={**period, "format": "ocsf"})).json()
        assert len(ocsf) == len(report.controls) + len(report.findings)
        for event in ocsf:
            parsed = ComplianceFinding.model_validate(event)
            assert int(parsed.class_uid) == 2003
        assert {e["compliance"]["control"] for e in ocsf[: len(report.controls)]} == {c.id for c in report.controls}

        # The package verifies against the key served separately, and names what was tampered with.
        key_pem = (await http.get(f"{rep}/api/v1/reports/signing-key", headers=auditor)).content
        package = await http.get(url, headers=auditor, params={**period, "format": "package"})
        assert package.status_code == 200, package.text
        # Every issue is registered with the SHA-256 of exactly the bytes handed out.
        digest = hashlib.sha256(package.content).hexdigest()
        issued = await http.get(f"{rep}/api/v1/reports/issued", headers=auditor, params={"sha256": digest})
        assert issued.status_code == 200, issued.text
        (entry,) = issued.json()["items"]
        assert entry["format"] == "package"
        assert entry["size_bytes"] == len(package.content)
        formats = {
            i["format"] for i in (await http.get(f"{rep}/api/v1/reports/issued", headers=auditor)).json()["items"]
        }
        assert {"json", "pdf", "csv", "ocsf", "package"} <= formats
    key_file = tmp_path / "guardian.pem"
    key_file.write_bytes(key_pem)
    members = zipfile.ZipFile(io.BytesIO(package.content)).namelist()
    evidence_path = f"evidence/{facts['item_id']}/v1/security-policy.pdf"
    assert evidence_path in members
    assert zipfile.ZipFile(io.BytesIO(package.content)).read(evidence_path) == EVIDENCE
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(package.content)).read("manifest.json"))
    assert {f["path"] for f in manifest["files"]} == set(members) - {"manifest.json", "manifest.sig"}
    key_home = running.stack.config.home / "reporting" / "signing-key.pem"
    assert key_home.stat().st_mode & 0o777 == 0o600

    runner = CliRunner()

    def verify(content: bytes, key: Path = key_file) -> tuple[int, str]:
        path = tmp_path / "package.zip"
        path.write_bytes(content)
        result = runner.invoke(cli, ["verify", str(path), "--public-key", str(key)])
        return result.exit_code, result.output

    assert verify(package.content)[0] == 0
    code, said = verify(rezip(package.content, change="controls.csv"))
    assert code == 1
    assert "changed" in said
    assert "controls.csv" in said
    code, said = verify(rezip(package.content, drop=evidence_path))
    assert code == 1
    assert "missing" in said
    assert evidence_path in said
    code, said = verify(rezip(package.content, add="evidence/extra.txt"))
    assert code == 1
    assert "unexpected" in said
    assert "evidence/extra.txt" in said
    code, said = verify(rezip(package.content, change="manifest.json"))
    assert code == 1
    assert "manifest.json" in said
    other = tmp_path / "other.pem"
    other.write_bytes(public_pem(Ed25519PrivateKey.generate()))
    code, said = verify(package.content, other)
    assert code == 1
    assert "wrong key" in said
    bad_key = tmp_path / "not-a-key.pem"
    bad_key.write_text("hello")
    assert verify(package.content, bad_key)[0] == 2


async def csv_rows(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict[str, str], table: str
) -> list[dict[str, str]]:
    answer = await http.get(url, headers=headers, params={**params, "format": "csv", "table": table})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


async def test_reports_through_the_gateway_the_cli_and_a_stored_past_point(
    running: Running, moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts = await prepare(running, moto)
    gateway = running.stack.url("gateway")
    root = (await bootstrap_key(running.database_url, "report-root")).key
    async with httpx.AsyncClient(base_url=gateway, timeout=120) as http:
        made = await http.post("/api/v1/keys", json={"name": "the-auditor", "role": "auditor"}, headers=bearer(root))
        assert made.status_code == 201, made.text
        auditor_key = made.json()["key"]
        through = await http.get("/api/v1/reports/scopes/default", headers=bearer(auditor_key))
        assert through.status_code == 200, through.text
        assert through.json()["generator"]["generated_by"] == "the-auditor"

        # Bad input is a 4xx with a code, and nothing is produced.
        both = await http.get(
            "/api/v1/reports/scopes/default",
            headers=bearer(auditor_key),
            params={"period": facts["period_id"], "at": datetime.now(UTC).isoformat()},
        )
        assert (both.status_code, both.json()["error"]) == (422, "period_and_at")
        unknown = await http.get("/api/v1/reports/scopes/nowhere", headers=bearer(auditor_key))
        assert unknown.status_code == 404, unknown.text
        future = await http.get(
            "/api/v1/reports/scopes/default",
            headers=bearer(auditor_key),
            params={"at": (datetime.now(UTC) + timedelta(days=2)).isoformat()},
        )
        assert (future.status_code, future.json()["error"]) == (422, "at_in_future")

    # A point in the past reads the result stored at the scan, and says what it cannot show.
    # Reporting's clock moves ten minutes on, so "now" becomes a past instant for it.
    reporting_app = running.stack.services["reporting"].server.config.app
    instant = datetime.now(UTC)
    reporting_app.state.reporting_clock = lambda: instant + timedelta(minutes=10)
    try:
        async with httpx.AsyncClient(base_url=running.stack.url("reporting"), timeout=120) as http:
            auditor = bearer(running.key(Role.AUDITOR))
            at = instant.isoformat()
            past = await http.get("/api/v1/reports/scopes/default", headers=auditor, params={"at": at})
            assert past.status_code == 200, past.text
            report = Report.model_validate(past.json())
            assert report.basis.source == "stored"
            assert report.basis.scan_id == facts["scan_id"]
            assert report.findings is None
            assert any("monitoring history" in n for n in report.notes)
            # The failing resources then are the failure intervals open at that instant.
            detail = facts["failing_control"]
            then = report.control(detail["control"]["id"])
            assert then is not None
            assert then.failing_resources is not None
            assert {r.resource_arn for r in then.failing_resources} == {
                r["resource_arn"] for r in detail["failing_resources"] if r["evaluated_status"] == "FAIL"
            }
            refused = await http.get(
                "/api/v1/reports/scopes/default",
                headers=auditor,
                params={"at": at, "format": "csv", "table": "findings"},
            )
            assert (refused.status_code, refused.json()["error"]) == (409, "not_available")
            before = await http.get(
                "/api/v1/reports/scopes/default",
                headers=auditor,
                params={"at": (datetime.now(UTC) - timedelta(days=3)).isoformat()},
            )
            assert (before.status_code, before.json()["error"]) == (409, "not_monitored")
    finally:
        del reporting_app.state.reporting_clock

    # The CLI writes each format through the gateway.
    monkeypatch.setenv("GUARDIAN_URL", gateway)
    monkeypatch.setenv("GUARDIAN_API_KEY", auditor_key)
    runner = CliRunner()

    async def guardian(*args: str) -> Result:
        # In a thread: the services answering it run on this test's event loop.
        return await asyncio.to_thread(runner.invoke, cli, list(args))

    pdf = tmp_path / "report.pdf"
    result = await guardian("report", "--scope", "default", "--period", "Q4 review", "--format", "pdf", "-o", str(pdf))
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    findings_csv = tmp_path / "findings.csv"
    result = await guardian(
        "report", "--scope", "default", "--format", "csv", "--table", "findings", "-o", str(findings_csv)
    )
    assert result.exit_code == 0, result.output
    with findings_csv.open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == facts["findings"]["total"]
    result = await guardian("report", "--scope", "default", "--format", "docx", "-o", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "unknown format" in result.output
    result = await guardian("report", "--scope", "nowhere", "--format", "json", "-o", str(tmp_path / "x.json"))
    assert result.exit_code == 2
    assert "scope" in result.output
    assert not (tmp_path / "x.json").exists()
