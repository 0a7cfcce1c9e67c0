"""The SOC 2 model through compliance's API: scopes, the control matrix, risk acceptances, versions.

Each test starts from an empty, migrated database (one per module, every table truncated before
each test: as isolated as a database per test, and seconds faster), its own bus prefix on a real
NATS server, and the compliance app with a manual clock. Scans are fed through
the real consumer path (scan events, inventory, evaluations, the scan barrier), without the
collector and evaluator: the facts below are what they would have published.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from support import Seen, Service, check_info, complete, feed_scan, result, running_app, settings_for, store_checks

from guardian_common import db
from guardian_common.events import Status
from guardian_compliance.acceptances.service import sweep
from guardian_compliance.clock import ManualClock
from guardian_compliance.outbox import relay_once
from guardian_compliance.settings import ComplianceSettings
from guardian_testkit.resources import delete_streams, empty_schema

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
ENC = "s3_bucket_default_encryption"
BACKUP = "rds_instance_backups_enabled"
CHECKS = {
    ENC: ("s3", "AWS::S3::Bucket"),
    BACKUP: ("rds", "AWS::RDS::DBInstance"),
}

# --------------------------------------------------------------------------------------------- infrastructure


@pytest.fixture
async def settings(servers: tuple[str, str], database: str) -> AsyncIterator[ComplianceSettings]:
    _, nats_url = servers
    await empty_schema(database, "compliance")
    settings = settings_for(database, nats_url, "soc2")
    yield settings
    await delete_streams(nats_url, settings.bus_prefix)


@pytest.fixture
async def svc(settings: ComplianceSettings) -> AsyncIterator[Service]:
    async with running_app(settings, ManualClock(T0)) as service:
        yield service


# --------------------------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Res:
    arn: str
    account: str
    region: str
    status: Status
    check: str = ENC
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[-1]


PROD_DATA = Res("arn:aws:s3:::prod-data", ACCOUNT_A, "us-east-1", Status.PASS, tags={"env": "prod"})
DEV_SCRATCH = Res("arn:aws:s3:::dev-scratch", ACCOUNT_A, "eu-west-1", Status.FAIL, tags={"env": "dev"})
ORDERS_DB = Res(
    "arn:aws:rds:us-east-1:111111111111:db:orders", ACCOUNT_A, "us-east-1", Status.PASS, BACKUP, {"env": "prod"}
)
B_LOGS = Res("arn:aws:s3:::b-logs", ACCOUNT_B, "us-east-1", Status.FAIL, tags={"env": "prod"})


async def publish_catalogue(pool: asyncpg.Pool) -> None:
    await store_checks(
        pool, [check_info(cid, service, rtype, version=3) for cid, (service, rtype) in CHECKS.items()], T0
    )


async def run_scan(svc: Service, account: str, resources: list[Res]) -> str:
    """One scan of ``account`` through the consumer path, finalised at the service clock's time."""
    mine = [r for r in resources if r.account == account]
    seen = [
        Seen(
            arn=r.arn,
            service=CHECKS[r.check][0],
            resource_type=CHECKS[r.check][1],
            region=r.region,
            collection_region="global" if r.check == ENC else r.region,
            name=r.name,
            tags=r.tags,
            results=(result(r.check, r.status, f"{r.name} is {r.status.value}", version=3),),
        )
        for r in mine
    ]
    units = [
        complete("s3", sum(r.check == ENC for r in mine)),
        complete("rds", sum(r.check == BACKUP for r in mine), region="us-east-1"),
    ]
    return await feed_scan(
        svc.pool,
        account,
        seen,
        at=svc.clock.now(),
        regions=["us-east-1", "eu-west-1"],
        services=["s3", "rds"],
        units=units,
    )


async def make_control(svc: Service, control_id: str, criteria: list[str], checks: list[str]) -> dict[str, Any]:
    response = await svc.call(
        "POST",
        "/api/v1/controls",
        json={
            "id": control_id,
            "title": f"{control_id} title",
            "description": f"What {control_id} does.",
            "owner": "Platform",
            "frequency": "continuous",
            "requirements": [{"id": c, "rationale": f"{control_id} serves {c}"} for c in criteria],
            "checks": checks,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def world(svc: Service, *resources: Res) -> None:
    """The catalogue, two custom controls and a final scan of each account that has resources."""
    await publish_catalogue(svc.pool)
    await make_control(svc, "TST-ENC", ["CC6.1"], [ENC])
    await make_control(svc, "TST-BKP", ["A1.2"], [BACKUP])
    for account in sorted({r.account for r in resources}):
        await run_scan(svc, account, list(resources))


async def control_status(svc: Service, control_id: str, scope: str = "default") -> str | None:
    body = await svc.get("/api/v1/frameworks/soc2/controls", scope=scope)
    found = [c["status"] for c in body["items"] if c["id"] == control_id]
    return found[0] if found else None


async def readiness(svc: Service, scope: str = "default") -> dict[str, Any]:
    body: dict[str, Any] = (await svc.get("/api/v1/frameworks/soc2/readiness", scope=scope))["readiness"]
    return body


def expect(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    return body


def consistent(ready: dict[str, Any], controls: list[dict[str, Any]]) -> None:
    """The readiness formula, recomputed from the control statuses the API shows."""
    applicable = [c for c in controls if c["status"] != "NOT_APPLICABLE"]
    passing = [c for c in applicable if c["status"] == "PASS"]
    assert ready["applicable"] == len(applicable)
    assert ready["passing"] == len(passing)
    expected = round(100 * len(passing) / len(applicable), 1) if applicable else None
    assert ready["score"] == expected
    assert "PASS controls / in-scope controls" in ready["formula"]


# --------------------------------------------------------------------------------------------- scopes


async def test_default_scope_exists_with_security_and_aws_carved_out(svc: Service) -> None:
    scope = await svc.get("/api/v1/scopes/default")
    assert "security" in scope["categories"]
    aws = scope["subservice_organisations"][0]
    assert aws["name"] == "Amazon Web Services"
    assert aws["method"] == "carve_out"
    coverage = {c["id"]: c["coverage"] for c in aws["criteria"]}
    assert coverage == {"CC6.4": "full", "A1.2": "partial", "CC6.5": "partial"}
    assert "report_evidence_id" in aws
    versions = await svc.get("/api/v1/scopes/default/versions")
    assert [(v["version"], v["changed_by"]) for v in versions] == [(1, "guardian-default")]


async def test_security_cannot_be_removed_and_nothing_is_stored(svc: Service) -> None:
    response = await svc.call("PATCH", "/api/v1/scopes/default", json={"categories": ["availability"]})
    expect(response, 422, "security_required")
    response = await svc.call("POST", "/api/v1/scopes", json={"id": "x", "name": "X", "categories": ["privacy"]})
    expect(response, 422, "security_required")
    expect(
        await svc.call("PATCH", "/api/v1/scopes/default", json={"categories": ["security", "nonsense"]}),
        422,
        "unknown_category",
    )
    scope = await svc.get("/api/v1/scopes/default")
    assert scope["version"] == 1
    assert len(await svc.get("/api/v1/scopes/default/versions")) == 1
    assert [s["id"] for s in await svc.get("/api/v1/scopes")] == ["default"]
    expect(await svc.call("PATCH", "/api/v1/scopes/default", "auditor", json={"name": "n"}), 403, "insufficient_role")


async def test_boundary_by_tag_region_and_account_changes_statuses_and_readiness(svc: Service) -> None:
    await world(svc, PROD_DATA, DEV_SCRATCH, ORDERS_DB, B_LOGS)
    assert await control_status(svc, "TST-ENC") == "FAIL"  # dev-scratch and b-logs fail

    cases = {
        "prod-only": ({"tags": {"env": ["prod"]}, "account_ids": [ACCOUNT_A]}, "PASS"),
        "us-only": ({"regions": ["us-east-1"], "account_ids": [ACCOUNT_A]}, "PASS"),
        "eu-only": ({"regions": ["eu-west-1"], "account_ids": [ACCOUNT_A]}, "FAIL"),
        "account-b": ({"account_ids": [ACCOUNT_B]}, "FAIL"),
        "any-env-tag": ({"tags": {"env": []}, "account_ids": [ACCOUNT_A]}, "FAIL"),
    }
    for scope_id, (boundary, status) in cases.items():
        created = await svc.call(
            "POST", "/api/v1/scopes", json={"id": scope_id, "name": scope_id, "boundary": boundary}
        )
        assert created.status_code == 201, created.text
        assert await control_status(svc, "TST-ENC", scope_id) == status, scope_id

    # Nothing of the S3 check is inside a boundary that only takes env=staging: collection
    # succeeded, so the check (and the control) is NOT_APPLICABLE there, not PASS.
    await svc.call(
        "POST", "/api/v1/scopes", json={"id": "staging", "name": "s", "boundary": {"tags": {"env": ["staging"]}}}
    )
    assert await control_status(svc, "TST-ENC", "staging") == "NOT_APPLICABLE"

    before = await readiness(svc, "eu-only")
    patched = await svc.call(
        "PATCH", "/api/v1/scopes/eu-only", json={"boundary": {"regions": ["us-east-1"], "account_ids": [ACCOUNT_A]}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2
    after = await readiness(svc, "eu-only")
    assert await control_status(svc, "TST-ENC", "eu-only") == "PASS"
    assert after["passing"] > before["passing"]
    for scope_id in ("default", "prod-only", "eu-only"):
        controls = (await svc.get("/api/v1/frameworks/soc2/controls", scope=scope_id))["items"]
        consistent(await readiness(svc, scope_id), controls)
        # The overview's single read answers exactly what the three separate reads do.
        posture = await svc.get("/api/v1/frameworks/soc2/posture", scope=scope_id)
        requirements = (await svc.get("/api/v1/frameworks/soc2/requirements", scope=scope_id))["items"]
        assert (posture["readiness"], posture["controls"], posture["requirements"]) == (
            await readiness(svc, scope_id),
            controls,
            requirements,
        )
        assert posture["result"]["scope_id"] == scope_id
    history = await svc.get("/api/v1/scopes/eu-only/versions")
    assert history[-1]["before"]["boundary"]["regions"] == ["eu-west-1"]
    assert history[-1]["after"]["boundary"]["regions"] == ["us-east-1"]
    assert history[-1]["changed_by"] == "erin-editor"

    findings = await svc.get("/api/v1/findings", scope="prod-only")
    assert {f["resource_name"] for f in findings["items"]} == {"prod-data", "orders"}


async def test_categories_choose_which_criteria_and_controls_are_in_scope(svc: Service) -> None:
    await world(svc, PROD_DATA, ORDERS_DB)
    await svc.call("POST", "/api/v1/scopes", json={"id": "sec", "name": "Security only"})
    requirements = await svc.get("/api/v1/frameworks/soc2/requirements", scope="sec")
    assert {r["category"] for r in requirements["items"]} == {"security"}
    assert await control_status(svc, "TST-BKP", "sec") is None
    assert [c["category"] for c in (await readiness(svc, "sec"))["by_category"]] == ["security"]

    response = await svc.call("PATCH", "/api/v1/scopes/sec", json={"categories": ["security", "availability"]})
    assert response.status_code == 200
    assert await control_status(svc, "TST-BKP", "sec") == "PASS"
    ready = await readiness(svc, "sec")
    assert [c["category"] for c in ready["by_category"]] == ["security", "availability"]
    requirements = await svc.get("/api/v1/frameworks/soc2/requirements", scope="sec")
    assert {r["category"] for r in requirements["items"]} == {"security", "availability"}


async def test_not_applicable_needs_a_justification_and_leaves_readiness(svc: Service) -> None:
    await world(svc, PROD_DATA, DEV_SCRATCH)
    base = "/api/v1/scopes/default/not-applicable"
    expect(
        await svc.call("PUT", f"{base}/controls/TST-ENC", json={"justification": "  "}), 422, "justification_required"
    )
    expect(await svc.call("PUT", f"{base}/controls/NOPE", json={"justification": "x"}), 404, "control_not_found")
    expect(await svc.call("PUT", f"{base}/requirements/CC99.9", json={"justification": "x"}), 422, "unknown_criterion")
    assert (await svc.get("/api/v1/scopes/default"))["version"] == 1

    before = await readiness(svc)
    assert await control_status(svc, "TST-ENC") == "FAIL"
    marked = await svc.call("PUT", f"{base}/controls/TST-ENC", json={"justification": "No S3 data in this system"})
    assert marked.status_code == 200, marked.text
    assert await control_status(svc, "TST-ENC") == "NOT_APPLICABLE"
    after = await readiness(svc)
    assert after["applicable"] == before["applicable"] - 1
    assert after["not_applicable"] == before["not_applicable"] + 1

    marked = await svc.call("PUT", f"{base}/requirements/PI1.1", json={"justification": "We do no processing"})
    assert marked.status_code == 200
    reqs = {r["id"]: r for r in (await svc.get("/api/v1/frameworks/soc2/requirements"))["items"]}
    assert reqs["PI1.1"]["status"] == "NOT_APPLICABLE"
    assert reqs["PI1.1"]["justification"] == "We do no processing"
    assert reqs["CC6.4"]["carved_out_to"] == ["Amazon Web Services"]
    cleared = await svc.call("DELETE", f"{base}/controls/TST-ENC")
    assert cleared.status_code == 200
    assert await control_status(svc, "TST-ENC") == "FAIL"


async def test_a_locked_period_cannot_change_and_a_new_one_can_be_added(svc: Service) -> None:
    base = "/api/v1/scopes/default/periods"
    bad = await svc.call(
        "POST", base, json={"name": "P", "start_date": "2026-06-30", "end_date": "2026-01-01", "type": "type2"}
    )
    expect(bad, 422, "invalid_period_dates")
    bad = await svc.call(
        "POST", base, json={"name": "P", "start_date": "2026-01-01", "end_date": "2026-06-30", "type": "type3"}
    )
    expect(bad, 422, "invalid_request")
    created = await svc.call(
        "POST", base, json={"name": "FY26 H1", "start_date": "2026-01-01", "end_date": "2026-06-30", "type": "type2"}
    )
    assert created.status_code == 201, created.text
    period = created.json()
    expect(await svc.call("POST", f"{base}/{period['id']}/lock"), 403, "insufficient_role")
    locked = await svc.call("POST", f"{base}/{period['id']}/lock", "admin")
    assert locked.status_code == 200
    assert locked.json()["locked"] is True
    assert locked.json()["locked_by"] == "alice-admin"

    expect(await svc.call("PATCH", f"{base}/{period['id']}", json={"name": "renamed"}), 409, "period_locked")
    expect(await svc.call("PATCH", f"{base}/{period['id']}", json={"end_date": "2026-12-31"}), 409, "period_locked")
    expect(await svc.call("DELETE", f"{base}/{period['id']}"), 409, "period_locked")
    expect(await svc.call("POST", f"{base}/{period['id']}/lock", "admin"), 409, "period_locked")
    stored = (await svc.get(base))[0]
    assert (stored["name"], stored["end_date"]) == ("FY26 H1", "2026-06-30")

    later = await svc.call(
        "POST", base, json={"name": "FY26 H2", "start_date": "2026-07-01", "end_date": "2026-12-31", "type": "type2"}
    )
    assert later.status_code == 201
    changes = [v["change"] for v in await svc.get("/api/v1/scopes/default/versions")]
    assert changes == ["create", "period.create", "period.lock", "period.create"]
    async with svc.pool.acquire() as conn:
        events = [
            r["event_type"]
            for r in await conn.fetch("SELECT event_type FROM outbox WHERE event_type <> 'audit.recorded' ORDER BY id")
        ]
    assert events == ["scope.changed", "period.locked", "scope.changed"]


# --------------------------------------------------------------------------------------------- control matrix


async def test_bundled_controls_are_imported_once_and_never_overwritten(settings: ComplianceSettings) -> None:
    clock = ManualClock(T0)
    async with running_app(settings, clock) as svc:
        matrix = await svc.get("/api/v1/controls")
        assert matrix["total"] > 50
        first = await svc.get("/api/v1/controls/GRD-ENC-01")
        assert [(v["version"], v["changed_by"]) for v in first["versions"]] == [(1, "guardian-default")]
        edited = await svc.call(
            "PATCH", "/api/v1/controls/GRD-ENC-01", json={"owner": "Data Platform", "note": "team reorganised"}
        )
        assert edited.status_code == 200
        assert edited.json()["version"] == 2
    async with running_app(settings, clock) as svc:
        again = await svc.get("/api/v1/controls/GRD-ENC-01")
        assert again["owner"] == "Data Platform"
        assert [(v["version"], v["changed_by"], v["note"]) for v in again["versions"]] == [
            (1, "guardian-default", "bundled library"),
            (2, "erin-editor", "team reorganised"),
        ]


async def test_control_edits_are_validated_versioned_and_retired_controls_drop_out(svc: Service) -> None:
    await world(svc, PROD_DATA, DEV_SCRATCH)
    payload = {
        "id": "TST-NEW",
        "title": "t",
        "description": "d",
        "owner": "o",
        "frequency": "weekly",
        "requirements": [{"id": "CC6.1", "rationale": "why"}],
        "checks": [ENC],
    }
    bad: list[tuple[dict[str, Any], str]] = [
        ({"requirements": [{"id": "CC99.1", "rationale": "why"}]}, "unknown_criterion"),
        ({"requirements": [{"id": "CC6.1", "rationale": " "}]}, "rationale_required"),
        ({"requirements": []}, "mapping_required"),
        ({"checks": ["no_such_check"]}, "unknown_check"),
        ({"frequency": "hourly"}, "invalid_request"),
    ]
    for change, code in bad:
        expect(await svc.call("POST", "/api/v1/controls", json={**payload, **change}), 422, code)
    expect(await svc.call("POST", "/api/v1/controls", "auditor", json=payload), 403, "insufficient_role")
    assert await control_status(svc, "TST-NEW") is None

    expect(await svc.call("PATCH", "/api/v1/controls/TST-ENC", json={"checks": ["nope"]}), 422, "unknown_check")
    edit = await svc.call(
        "PATCH",
        "/api/v1/controls/TST-ENC",
        json={"requirements": [{"id": "CC6.1", "rationale": "r1"}, {"id": "CC6.7", "rationale": "r2"}], "note": "add"},
    )
    assert edit.status_code == 200, edit.text
    history = await svc.get("/api/v1/controls/TST-ENC")
    assert [(v["version"], v["change"], v["changed_by"]) for v in history["versions"]] == [
        (1, "create", "erin-editor"),
        (2, "edit", "erin-editor"),
    ]
    assert history["versions"][1]["definition"]["requirements"][1]["id"] == "CC6.7"
    reqs = {r["id"]: r for r in (await svc.get("/api/v1/frameworks/soc2/requirements"))["items"]}
    assert "TST-ENC" in reqs["CC6.7"]["controls"]

    retired = await svc.call("POST", "/api/v1/controls/TST-ENC/retire", json={"note": "replaced"})
    assert retired.status_code == 200
    assert retired.json()["state"] == "retired"
    assert await control_status(svc, "TST-ENC") is None
    expect(await svc.call("PATCH", "/api/v1/controls/TST-ENC", json={"owner": "x"}), 409, "control_retired")
    expect(await svc.call("POST", "/api/v1/controls/TST-ENC/retire"), 409, "control_retired")
    expect(await svc.call("POST", "/api/v1/controls", json={**payload, "id": "TST-ENC"}), 409, "control_exists")
    listed = await svc.get("/api/v1/controls", include_retired="true")
    assert any(c["id"] == "TST-ENC" and c["state"] == "retired" for c in listed["items"])
    assert not any(c["id"] == "TST-ENC" for c in (await svc.get("/api/v1/controls"))["items"])


async def test_matrix_exports_and_imports_as_csv_and_yaml(svc: Service) -> None:
    await publish_catalogue(svc.pool)
    await make_control(svc, "TST-ENC", ["CC6.1", "C1.1"], [ENC])
    for fmt in ("csv", "yaml"):
        exported = await svc.http.get("/api/v1/controls/export", params={"format": fmt}, headers=svc.as_("auditor"))
        assert exported.status_code == 200
        again = await svc.call("POST", "/api/v1/controls/import", params={"format": fmt}, content=exported.content)
        assert again.status_code == 200, again.text
        assert again.json()["created"] == [], fmt
        assert again.json()["updated"] == [], fmt

    exported = await svc.http.get("/api/v1/controls/export", params={"format": "yaml"}, headers=svc.as_("auditor"))
    document = yaml.safe_load(exported.text)
    mine = next(c for c in document["controls"] if c["id"] == "TST-ENC")
    assert [m["id"] for m in mine["requirements"]] == ["CC6.1", "C1.1"]
    mine["owner"] = "Security Engineering"
    new = {**mine, "id": "TST-IMP", "version": 1}
    body = yaml.safe_dump({"controls": [mine, new]}, sort_keys=False)
    imported = await svc.call("POST", "/api/v1/controls/import", params={"format": "yaml"}, content=body)
    assert imported.status_code == 200, imported.text
    assert imported.json()["updated"] == ["TST-ENC"]
    assert imported.json()["created"] == ["TST-IMP"]
    assert (await svc.get("/api/v1/controls/TST-ENC"))["versions"][-1]["change"] == "import"

    csv_text = (
        "id,title,description,owner,frequency,requirements,checks,evidence\n"
        'TST-CSV,Ok,Fine,Ops,daily,"CC7.2: monitoring",' + ENC + ",\n"
        'TST-BAD,Bad,Broken,Ops,daily,"CC42.1: nowhere",,\n'
        'TST-BAD2,Bad,Broken,Ops,daily,"CC6.1:  ",no_such_check,"policy: a policy"\n'
    )
    refused = await svc.call("POST", "/api/v1/controls/import", params={"format": "csv"}, content=csv_text)
    detail = expect(refused, 422, "invalid_import")["detail"]
    assert "line 3" in detail
    assert "CC42.1" in detail
    assert "line 4" in detail
    assert "no_such_check" in detail
    assert "rationale" in detail
    ids = {c["id"] for c in (await svc.get("/api/v1/controls"))["items"]}
    assert "TST-CSV" not in ids  # all or nothing

    broken_yaml = "controls:\n  - id: TST-Y\n    title: [unclosed\n"
    expect(
        await svc.call("POST", "/api/v1/controls/import", params={"format": "yaml"}, content=broken_yaml),
        422,
        "invalid_import",
    )
    dup = yaml.safe_dump({"controls": [new, new]})
    assert (
        "already appears on line"
        in expect(
            await svc.call("POST", "/api/v1/controls/import", params={"format": "yaml"}, content=dup),
            422,
            "invalid_import",
        )["detail"]
    )


# --------------------------------------------------------------------------------------------- acceptances


def acceptance(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "check_id": ENC,
        "justification": "Scratch data only; bucket is deleted at quarter end",
        "compensating_control": "Bucket policy denies all principals outside the data team",
        "expires_at": (T0 + timedelta(days=30)).isoformat(),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def test_bad_acceptances_are_refused_with_codes_and_nothing_is_stored(svc: Service) -> None:
    await world(svc, PROD_DATA, DEV_SCRATCH)
    url = "/api/v1/acceptances"
    cases = [
        (acceptance(check_id=None), 422, "no_selector"),
        (acceptance(justification="   "), 422, "justification_required"),
        (acceptance(compensating_control=""), 422, "compensating_control_required"),
        (acceptance(starts_at=(T0 - timedelta(days=1)).isoformat()), 422, "backdated_start"),
        (acceptance(expires_at=(T0 + timedelta(days=366)).isoformat()), 422, "expiry_too_far"),
        (acceptance(expires_at=(T0 - timedelta(hours=1)).isoformat()), 422, "invalid_expiry"),
        (acceptance(check_id="no_such_check"), 422, "unknown_check"),
        (acceptance(control_id="NOPE"), 422, "unknown_control"),
        (acceptance(tag="novalue"), 422, "invalid_tag_selector"),
        (acceptance(expires_at="2026-07-01T00:00:00"), 422, "invalid_request"),
    ]
    for body, status, code in cases:
        expect(await svc.call("POST", url, json=body), status, code)
    expect(await svc.call("POST", url, "auditor", json=acceptance()), 403, "insufficient_role")
    assert (await svc.get(url))["total"] == 0

    mine = await svc.call("POST", url, "admin", json=acceptance())
    assert mine.status_code == 201
    acc = mine.json()
    expect(await svc.call("POST", f"{url}/{acc['id']}/approve", "admin"), 403, "self_approval")
    expect(await svc.call("POST", f"{url}/{acc['id']}/approve", "editor"), 403, "insufficient_role")
    assert (await svc.get(f"{url}/{acc['id']}"))["state"] == "pending"
    assert await control_status(svc, "TST-ENC") == "FAIL"
    approved = await svc.call("POST", f"{url}/{acc['id']}/approve", "admin2", json={"note": "ok for a month"})
    assert approved.status_code == 200
    assert approved.json()["approver"] == "bob-admin"
    expect(await svc.call("POST", f"{url}/{acc['id']}/reject", "admin2"), 409, "acceptance_decided")


SELECTORS: dict[str, dict[str, Any]] = {
    "control": {"control_id": "TST-ENC", "check_id": None},
    "check": {"check_id": ENC},
    "arn_pattern": {"check_id": None, "arn_pattern": "arn:aws:s3:::dev-*"},
    "account": {"check_id": None, "account_id": ACCOUNT_A},
    "region": {"check_id": None, "region": "eu-west-1"},
    "tag": {"check_id": None, "tag": "env=dev"},
}


@pytest.mark.parametrize("kind", sorted(SELECTORS))
async def test_an_acceptance_in_force_covers_matching_findings_by_each_selector(svc: Service, kind: str) -> None:
    other = Res("arn:aws:s3:::b-logs", ACCOUNT_B, "us-east-1", Status.FAIL, tags={"env": "prod"})
    await world(svc, PROD_DATA, DEV_SCRATCH, other)
    await make_control(svc, "TST-ENC2", ["CC6.1"], [ENC])
    # The other account's failing bucket matches no selector except the control and the check.
    await svc.call("PATCH", "/api/v1/scopes/default", json={"boundary": {"account_ids": [ACCOUNT_A]}})
    assert await control_status(svc, "TST-ENC") == "FAIL"

    created = await svc.call("POST", "/api/v1/acceptances", json=acceptance(**SELECTORS[kind]))
    assert created.status_code == 201, created.text
    acc_id = created.json()["id"]
    assert await control_status(svc, "TST-ENC") == "FAIL"  # pending is not in force
    assert (await svc.call("POST", f"/api/v1/acceptances/{acc_id}/approve", "admin")).status_code == 200

    assert await control_status(svc, "TST-ENC") == "PASS"
    detail = await svc.get("/api/v1/frameworks/soc2/controls/TST-ENC")
    [dev] = [r for r in detail["failing_resources"] if r["resource_name"] == "dev-scratch"]
    assert (dev["status"], dev["acceptance_id"]) == ("ACCEPTED", acc_id)
    outcome = next(c for c in detail["control"]["checks"] if c["check_id"] == ENC)
    assert (outcome["failed"], outcome["accepted"], outcome["passed"]) == (0, 1, 1)

    findings = {f["resource_name"]: f for f in (await svc.get("/api/v1/findings"))["items"]}
    if kind == "control":
        # Accepted for TST-ENC only: the finding still fails every other control that uses the check.
        assert await control_status(svc, "TST-ENC2") == "FAIL"
        assert findings["dev-scratch"]["status"] == "FAIL"
        assert findings["dev-scratch"]["accepted_for_controls"] == {"TST-ENC": acc_id}
    else:
        assert await control_status(svc, "TST-ENC2") == "PASS"
        assert findings["dev-scratch"]["status"] == "ACCEPTED"
        assert findings["dev-scratch"]["evaluated_status"] == "FAIL"
        assert (findings["dev-scratch"]["acceptance_id"], findings["dev-scratch"]["accepted_by"]) == (
            acc_id,
            "alice-admin",
        )
        accepted = await svc.get("/api/v1/findings", status="ACCEPTED")
        also = ["b-logs"] if kind == "check" else []  # a check selector alone covers every account
        assert [f["resource_name"] for f in accepted["items"]] == [*also, "dev-scratch"]
        in_scope = await svc.get("/api/v1/findings", status="ACCEPTED", scope="default")
        assert [f["resource_name"] for f in in_scope["items"]] == ["dev-scratch"]
    if kind in ("arn_pattern", "account", "region", "tag"):
        assert findings["b-logs"]["status"] == "FAIL"  # outside the selector
    assert findings["prod-data"]["status"] == "PASS"
    export = await svc.get("/api/v1/frameworks/soc2/export")
    assert [d["resource_arn"] for d in export["deviations"]] == [DEV_SCRATCH.arn]
    assert export["versions"]["acceptances_applied"] == [acc_id]


async def test_expiry_flips_statuses_at_its_time_and_emits_events_once(svc: Service) -> None:
    await world(svc, PROD_DATA, DEV_SCRATCH)
    expires = T0 + timedelta(days=20)
    created = await svc.call(
        "POST",
        "/api/v1/acceptances",
        json=acceptance(starts_at=(T0 + timedelta(days=1)).isoformat(), expires_at=expires.isoformat()),
    )
    acc_id = created.json()["id"]
    await svc.call("POST", f"/api/v1/acceptances/{acc_id}/approve", "admin")
    assert (await svc.get(f"/api/v1/acceptances/{acc_id}"))["status"] == "scheduled"
    assert await control_status(svc, "TST-ENC") == "FAIL"  # not yet started

    svc.clock.set(T0 + timedelta(days=1))
    assert await control_status(svc, "TST-ENC") == "PASS"
    passing_then = (await readiness(svc))["passing"]

    warning = timedelta(days=svc.settings.acceptance_warning_days)
    async with db.transaction(svc.pool) as conn:
        assert await sweep(conn, svc.clock.now(), warning) == (0, 0)
    svc.clock.set(expires - timedelta(days=10))
    async with db.transaction(svc.pool) as conn:
        assert await sweep(conn, svc.clock.now(), warning) == (0, 1)
        assert await sweep(conn, svc.clock.now(), warning) == (0, 0)

    svc.clock.set(expires - timedelta(seconds=1))
    assert await control_status(svc, "TST-ENC") == "PASS"
    svc.clock.set(expires)
    assert await control_status(svc, "TST-ENC") == "FAIL"  # at its time, with no scan in between
    after = await readiness(svc)
    assert after["passing"] < passing_then
    consistent(after, (await svc.get("/api/v1/frameworks/soc2/controls"))["items"])
    assert (await svc.get(f"/api/v1/acceptances/{acc_id}"))["status"] == "expired"
    findings = {f["resource_name"]: f["status"] for f in (await svc.get("/api/v1/findings"))["items"]}
    assert findings["dev-scratch"] == "FAIL"
    async with db.transaction(svc.pool) as conn:
        assert await sweep(conn, svc.clock.now(), warning) == (1, 0)
        assert await sweep(conn, svc.clock.now(), warning) == (0, 0)
        # Pending only: the running relay may have published the default scope's audit entry at start-up.
        rows = await conn.fetch("SELECT id, event_type FROM outbox WHERE published_at IS NULL ORDER BY id")
    types = [r["event_type"] for r in rows]
    assert types.count("acceptance.expired") == 1
    assert types.count("acceptance.expiring") == 1
    history = [e["action"] for e in (await svc.get(f"/api/v1/acceptances/{acc_id}"))["events"]]
    assert history == ["requested", "approved", "expiry_warning", "expired"]

    # The relay publishes each event to <prefix>.domain.<type> with the outbox id as Nats-Msg-Id.
    runtime = svc.app.state.runtime
    sub = await runtime.js.subscribe(runtime.subjects.domain("acceptance.expired"))
    assert await relay_once(svc.pool, runtime.js, runtime.subjects) == len(rows)
    msg = await sub.next_msg(timeout=5)
    expired_id = next(r["id"] for r in rows if r["event_type"] == "acceptance.expired")
    assert msg.headers["Nats-Msg-Id"] == f"compliance:outbox:{expired_id}"
    assert json.loads(msg.data)["data"]["acceptance_id"] == acc_id
    await sub.unsubscribe()
    assert await relay_once(svc.pool, runtime.js, runtime.subjects) == 0


# --------------------------------------------------------------------------------------------- versions


async def test_stored_results_keep_their_versions_after_edits(svc: Service) -> None:
    await world(svc, PROD_DATA, DEV_SCRATCH)
    first = (await svc.get("/api/v1/frameworks/soc2/results"))["items"]
    assert len(first) == 1
    scan1 = first[0]["scan_id"]
    stored1 = await svc.get(f"/api/v1/frameworks/soc2/results/{scan1}")
    v1 = stored1["result"]["versions"]
    assert v1["controls"]["TST-ENC"] == 1
    assert v1["checks"][ENC] == 3
    assert v1["scope"] == {"id": "default", "version": 1}
    assert v1["framework"]
    assert v1["check_catalogue"]
    assert v1["acceptance_set"]
    assert stored1["result"]["live"] is False
    enc1 = next(c for c in stored1["controls"] if c["id"] == "TST-ENC")
    assert enc1["requirements"] == ["CC6.1"]
    assert enc1["status"] == "FAIL"

    svc.clock.advance(timedelta(hours=1))
    await svc.call(
        "PATCH",
        "/api/v1/controls/TST-ENC",
        json={"requirements": [{"id": "CC6.7", "rationale": "moved"}], "checks": [], "note": "remap"},
    )
    await svc.call("PATCH", "/api/v1/scopes/default", json={"name": "Production system"})
    acc = (await svc.call("POST", "/api/v1/acceptances", json=acceptance())).json()
    await svc.call("POST", f"/api/v1/acceptances/{acc['id']}/approve", "admin")

    live = await svc.get("/api/v1/frameworks/soc2/controls")
    assert live["result"]["live"] is True
    assert live["result"]["versions"]["controls"]["TST-ENC"] == 2
    assert next(c for c in live["items"] if c["id"] == "TST-ENC")["requirements"] == ["CC6.7"]
    again = await svc.get(f"/api/v1/frameworks/soc2/results/{scan1}")
    assert again == stored1  # never rewritten

    scan2 = await run_scan(svc, ACCOUNT_A, [PROD_DATA, DEV_SCRATCH])
    stored2 = await svc.get(f"/api/v1/frameworks/soc2/results/{scan2}")
    v2 = stored2["result"]["versions"]
    assert v2["controls"]["TST-ENC"] == 2
    assert v2["scope"] == {"id": "default", "version": 2}
    assert [a["id"] for a in v2["acceptances"]] == [acc["id"]]
    assert v2["acceptance_set"] != v1["acceptance_set"]
    # The accepted failure is no longer failing a control, and it stays a deviation in history.
    assert [d["resource_arn"] for d in stored2["deviations"]] == [DEV_SCRATCH.arn]
    assert stored1["deviations"] == []
    history = (await svc.get("/api/v1/frameworks/soc2/results"))["items"]
    assert [h["scan_id"] for h in history] == [scan2, scan1]


async def test_a_scope_with_no_final_scan_has_no_results_and_unknown_scopes_are_404(svc: Service) -> None:
    expect(await svc.call("GET", "/api/v1/frameworks/soc2/readiness", "auditor"), 409, "no_results_yet")
    expect(await svc.call("GET", "/api/v1/frameworks/soc2/posture", "auditor"), 409, "no_results_yet")
    expect(
        await svc.call("GET", "/api/v1/frameworks/soc2/posture", "auditor", params={"scope": "nope"}),
        404,
        "scope_not_found",
    )
    expect(
        await svc.call("GET", "/api/v1/frameworks/soc2/readiness", "auditor", params={"scope": "nope"}),
        404,
        "scope_not_found",
    )
    await world(svc, PROD_DATA)
    await svc.call("POST", "/api/v1/scopes", json={"id": "b", "name": "B", "boundary": {"account_ids": [ACCOUNT_B]}})
    expect(
        await svc.call("GET", "/api/v1/frameworks/soc2/readiness", "auditor", params={"scope": "b"}),
        409,
        "no_results_yet",
    )
    assert (await readiness(svc))["applicable"] > 0
