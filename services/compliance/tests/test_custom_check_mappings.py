"""Custom checks count in the controls their rule files name.

From a user rule file to a control's status: the evaluator loads the rule (its real loader), publishes
it in the catalogue (``CheckInfo.controls``), compliance stores the catalogue as its consumer does, the
evaluator's engine judges two buckets with the rule, and the verdicts go through compliance's
evaluation path. The control the rule names then lists the custom check and takes its findings into
its status; a control the rule does not name is untouched, and a rule naming an unknown control adds
nothing anywhere but is listed, with the reason, in the framework mapping's ``unknown_mappings``.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from guardian_common import db
from guardian_common.auth import Role, mint_key
from guardian_common.events import (
    CheckCatalogue,
    CheckInfo,
    CheckResult,
    ResourceSnapshot,
    ScanCompleted,
    ScanStarted,
    Severity,
    SnapshotEvaluated,
    Status,
    UnitResult,
    UnitStatus,
)
from guardian_compliance.app import create_app
from guardian_compliance.clock import ManualClock
from guardian_compliance.consumers import apply_evaluations
from guardian_compliance.frameworks.model import Control
from guardian_compliance.inventory.repository import InventoryRepository
from guardian_compliance.scans.custom_mappings import (
    declared_mappings,
    unknown_controls,
    unknown_mappings,
    with_declared_checks,
)
from guardian_compliance.scans.repository import ScanRepository
from guardian_compliance.settings import ComplianceSettings
from guardian_evaluator.custom_rules import CustomCheck, catalogue_version_of, load_rule_files
from guardian_evaluator.engine import evaluate
from guardian_evaluator.registry import Registry
from guardian_testkit.resources import delete_streams, empty_schema

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "111111111111"
ENC = "s3_bucket_default_encryption"
OWNER = "custom_s3_bucket_names_owner"

RULE_FILE = """\
rules:
  - id: custom_s3_bucket_names_owner
    title: Buckets name their owner
    description: Every bucket carries an owner tag so someone answers for its data.
    resource_type: AWS::S3::Bucket
    severity: high
    condition: '"owner" in resource.tags'
    reasons:
      pass: Bucket {name} names its owner
      fail: Bucket {name} has no owner tag
    remediation: aws s3api put-bucket-tagging --bucket BUCKET --tagging 'TagSet=[{Key=owner,Value=TEAM}]'
    controls: [TST-OWN, TST-GHOST]
"""


# --------------------------------------------------------------------------------------------- infrastructure


@pytest.fixture
async def http(servers: tuple[str, str], database: str) -> AsyncIterator[tuple[httpx.AsyncClient, asyncpg.Pool, str]]:
    _, nats_url = servers
    token = uuid.uuid4().hex[:10]
    await empty_schema(database, "compliance")
    settings = ComplianceSettings(
        environment="test",
        database_url=database,
        nats_url=nats_url,
        bus_prefix=f"m{token}",
        auth_secret=f"mapping-test-{token}",
        log_level="WARNING",
        acceptance_poll_seconds=3600,
        outbox_poll_seconds=3600,
        deadline_poll_seconds=3600,
        run_consumers=False,
    )
    app = create_app(settings, ManualClock(T0))
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://compliance") as client:
                key = mint_key(settings.auth_secret, Role.EDITOR, "erin-editor")[1]
                client.headers["Authorization"] = f"Bearer {key}"
                yield client, app.state.runtime.require_pool(), key
    finally:
        await delete_streams(nats_url, settings.bus_prefix)


def custom_check(tmp_path: Path) -> CustomCheck:
    path = tmp_path / "owners.yaml"
    path.write_text(textwrap.dedent(RULE_FILE), encoding="utf-8")
    [chk] = load_rule_files([path])
    return chk


def builtin_info() -> CheckInfo:
    return CheckInfo(
        id=ENC,
        version=1,
        title="Buckets encrypt by default",
        description="Default encryption is on.",
        severity=Severity.HIGH,
        resource_type="AWS::S3::Bucket",
        service="s3",
        remediation="Turn it on.",
    )


async def store_catalogue(pool: asyncpg.Pool, chk: CustomCheck) -> None:
    checks = [builtin_info(), chk.info()]
    version = catalogue_version_of([chk])
    event = CheckCatalogue(
        event_id=CheckCatalogue.make_id(version), catalogue_version=version, published_at=T0, checks=checks
    )
    # Through the wire format, as the consumer receives it.
    received = CheckCatalogue.model_validate_json(event.to_bytes())
    async with db.transaction(pool) as conn:
        await ScanRepository(conn).store_catalogue(received)


def bucket(scan_id: str, seq: int, name: str, tags: dict[str, str]) -> ResourceSnapshot:
    return ResourceSnapshot(
        event_id=ResourceSnapshot.make_id(scan_id, seq),
        scan_id=scan_id,
        seq=seq,
        account_id=ACCOUNT,
        region="us-east-1",
        collection_region="global",
        service="s3",
        resource_type="AWS::S3::Bucket",
        arn=f"arn:aws:s3:::{name}",
        name=name,
        tags=tags,
        observed_at=T0,
        configuration={"encryption": {"enabled": True}},
    )


async def scan(pool: asyncpg.Pool, chk: CustomCheck, buckets: dict[str, dict[str, str]]) -> None:
    """One final scan: the custom rule judges each bucket through the evaluator's engine; the built-in
    encryption check is reported passing for every bucket."""
    registry = Registry()
    registry.add(chk)
    scan_id = f"scan-{uuid.uuid4().hex[:8]}"
    snapshots = [bucket(scan_id, n, name, tags) for n, (name, tags) in enumerate(sorted(buckets.items()), start=1)]
    evaluated = []
    for snap in snapshots:
        results = evaluate(snap, registry=registry)
        assert [r.check_id for r in results] == [OWNER]
        passing = CheckResult(
            check_id=ENC, check_version=1, status=Status.PASS, severity=Severity.HIGH, reason="encrypted"
        )
        evaluated.append(
            SnapshotEvaluated(
                event_id=SnapshotEvaluated.make_id(scan_id, snap.seq),
                scan_id=scan_id,
                seq=snap.seq,
                account_id=ACCOUNT,
                region=snap.region,
                collection_region=snap.collection_region,
                service=snap.service,
                resource_type=snap.resource_type,
                arn=snap.arn,
                name=snap.name,
                observed_at=T0,
                evaluated_at=T0,
                catalogue_version="test",
                results=[*results, passing],
            )
        )
    async with db.transaction(pool) as conn:
        scans = ScanRepository(conn)
        await scans.started(
            ScanStarted(
                event_id=ScanStarted.make_id(scan_id),
                scan_id=scan_id,
                account_id=ACCOUNT,
                regions=["us-east-1"],
                services=["s3"],
                started_at=T0 - timedelta(seconds=1),
            )
        )
        await InventoryRepository(conn).observe(snapshots)
        await scans.completed(
            ScanCompleted(
                event_id=ScanCompleted.make_id(scan_id),
                scan_id=scan_id,
                account_id=ACCOUNT,
                completed_at=T0,
                total_snapshots=len(snapshots),
                units=[UnitResult(region="global", service="s3", status=UnitStatus.COMPLETE, snapshots=len(snapshots))],
            )
        )
        await apply_evaluations(conn, evaluated, T0)
        assert ((await scans.get(scan_id)) or {}).get("state") == "final"


async def make_control(client: httpx.AsyncClient, control_id: str, criterion: str) -> None:
    response = await client.post(
        "/api/v1/controls",
        json={
            "id": control_id,
            "title": f"{control_id} title",
            "description": f"What {control_id} does.",
            "owner": "Platform",
            "frequency": "continuous",
            "requirements": [{"id": criterion, "rationale": f"{control_id} serves {criterion}"}],
            "checks": [ENC],
        },
    )
    assert response.status_code == 201, response.text


async def controls(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get("/api/v1/frameworks/soc2/controls")
    assert response.status_code == 200, response.text
    return {c["id"]: c for c in response.json()["items"]}


# --------------------------------------------------------------------------------------------- tests


async def test_a_rule_file_mapping_makes_its_findings_count_in_the_control(
    http: tuple[httpx.AsyncClient, asyncpg.Pool, str], tmp_path: Path
) -> None:
    client, pool, _ = http
    chk = custom_check(tmp_path)
    assert chk.info().controls == ["TST-OWN", "TST-GHOST"]
    await store_catalogue(pool, chk)
    await make_control(client, "TST-OWN", "CC6.1")
    await make_control(client, "TST-OTHER", "CC6.1")

    # One bucket lacks the owner tag: the custom check fails it, so the control it names fails.
    await scan(pool, chk, {"team-data": {"owner": "data"}, "scratch": {}})
    found = await controls(client)
    assert [c["check_id"] for c in found["TST-OWN"]["checks"]] == [ENC, OWNER]
    custom = found["TST-OWN"]["checks"][1]
    assert (custom["status"], custom["failed"], custom["passed"]) == ("FAIL", 1, 1)
    assert found["TST-OWN"]["status"] == "FAIL", found["TST-OWN"]
    assert OWNER in found["TST-OWN"]["reason"]
    # A control the rule does not name keeps its own checks and its own (passing) status.
    assert [c["check_id"] for c in found["TST-OTHER"]["checks"]] == [ENC]
    assert found["TST-OTHER"]["status"] == "PASS"

    # Once every bucket names its owner, the custom check passes and so does the control.
    await scan(pool, chk, {"team-data": {"owner": "data"}, "scratch": {"owner": "platform"}})
    found = await controls(client)
    assert found["TST-OWN"]["status"] == "PASS", found["TST-OWN"]
    detail = await client.get("/api/v1/frameworks/soc2/controls/TST-OWN")
    assert detail.status_code == 200, detail.text
    assert OWNER in detail.text


def test_declared_mappings_are_read_from_the_stored_catalogue() -> None:
    meta = {
        ENC: {"id": ENC, "controls": []},
        OWNER: {"id": OWNER, "controls": ["TST-OWN", "TST-GHOST"]},
        "custom_other": {"id": "custom_other", "controls": ["TST-OWN"]},
        "custom_old": {"id": "custom_old"},  # a catalogue stored before the field existed
    }
    mapped = declared_mappings(meta)
    assert mapped == {"TST-GHOST": [OWNER], "TST-OWN": ["custom_other", OWNER]}
    control = Control(
        id="TST-OWN",
        title="t",
        description="d",
        owner="o",
        frequency="continuous",
        requirements=[{"id": "CC6.1", "rationale": "r"}],
        checks=[ENC, "custom_other"],
    )
    [merged] = with_declared_checks([control], mapped)
    assert merged.checks == [ENC, "custom_other", OWNER]
    assert with_declared_checks([control], {}) == [control]
    assert unknown_controls([control], mapped) == {"TST-GHOST": [OWNER]}
    [ghost] = unknown_mappings([control], mapped)
    assert (ghost.control_id, ghost.checks, ghost.reason) == ("TST-GHOST", [OWNER], "not_in_matrix")
    assert OWNER in ghost.detail
    [retired] = unknown_mappings([], {"TST-OWN": ["custom_other"]}, retired={"TST-OWN"})
    assert (retired.reason, "retired" in retired.detail) == ("retired", True)


# --------------------------------------------------------------------------------------------- the mapping API


async def test_the_mapping_lists_requirements_controls_checks_evidence_and_rationales(
    http: tuple[httpx.AsyncClient, asyncpg.Pool, str], tmp_path: Path
) -> None:
    client, pool, _ = http
    response = await client.get("/api/v1/frameworks/cis_aws/mapping")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["framework"], body["version"]) == ("cis_aws", "3.0.0")
    assert body["catalogue_version"] is None
    requirements = {r["id"]: r for r in body["requirements"]}
    assert body["summary"]["requirements"] == len(requirements) == len(body["requirements"])
    assert body["summary"]["unmapped"] == [r for r, v in requirements.items() if not v["controls"]]
    assert body["summary"]["unmapped"] == []

    [certs] = requirements["CIS-1.19"]["controls"]
    assert certs["id"] == "GRD-IAM-81"
    assert "iam_server_certificate_not_expired" in certs["rationale"]
    assert [c["id"] for c in certs["checks"]] == ["iam_server_certificate_not_expired"]
    # No catalogue received yet: the check is named but not described.
    assert certs["checks"][0]["in_catalogue"] is False
    assert certs["checks"][0]["mapped_by"] == "library"
    assert requirements["CIS-1.19"]["automated"] is True
    # A procedural requirement names the evidence it needs.
    [peering] = requirements["CIS-5.5"]["controls"]
    assert requirements["CIS-5.5"]["automated"] is False
    assert peering["checks"] == []
    assert peering["evidence"]
    assert all(e["description"] for e in peering["evidence"])
    assert all(c["rationale"] for r in body["requirements"] for c in r["controls"])

    # With the catalogue and a rule file naming a control, the custom check shows where it counts.
    chk = custom_check(tmp_path)
    await store_catalogue(pool, chk)
    await make_control(client, "TST-OWN", "CC6.1")
    soc2 = (await client.get("/api/v1/frameworks/soc2/mapping")).json()
    [own] = [c for r in soc2["requirements"] if r["id"] == "CC6.1" for c in r["controls"] if c["id"] == "TST-OWN"]
    assert own["rationale"] == "TST-OWN serves CC6.1"
    assert [(c["id"], c["mapped_by"], c["in_catalogue"]) for c in own["checks"]] == [
        (ENC, "library", True),
        (OWNER, "rule_file", True),
    ]
    assert own["checks"][1]["title"] == "Buckets name their owner"
    assert soc2["catalogue_version"] == catalogue_version_of([chk])
    # The rule also names TST-GHOST, which the matrix does not hold: listed, never silently dropped.
    assert [(u["control_id"], u["checks"], u["reason"]) for u in soc2["unknown_mappings"]] == [
        ("TST-GHOST", [OWNER], "not_in_matrix")
    ]
    assert "TST-GHOST" in soc2["unknown_mappings"][0]["detail"]
    assert body["unknown_mappings"] == []  # before the catalogue arrived, nothing was declared

    # Retiring a control a rule names turns its mapping unknown too, saying why.
    retired = await client.post("/api/v1/controls/TST-OWN/retire", json={"note": "merged into another"})
    assert retired.status_code == 200, retired.text
    cis = (await client.get("/api/v1/frameworks/cis_aws/mapping")).json()
    assert [(u["control_id"], u["reason"]) for u in cis["unknown_mappings"]] == [
        ("TST-GHOST", "not_in_matrix"),
        ("TST-OWN", "retired"),
    ]


async def test_the_mapping_of_an_unknown_framework_is_a_404(http: tuple[httpx.AsyncClient, asyncpg.Pool, str]) -> None:
    client, _, _ = http
    response = await client.get("/api/v1/frameworks/iso27001/mapping")
    assert response.status_code == 404
    assert response.json()["error"] == "framework_not_found"
    client.headers.pop("Authorization")
    assert (await client.get("/api/v1/frameworks/cis_aws/mapping")).status_code == 401
