"""Monitoring history through compliance's API, over six simulated days with a manual clock.

Scans are fed through the real consumer path (scan events, inventory, evaluations, the scan
barrier) exactly as the collector and evaluator would publish them, so every timestamp is chosen
here and every interval below is exact.

The days (T = 2026-03-02, a Monday; every scan finalises at 06:00 UTC):

    day  s3 unit   iam unit   data bucket        logs bucket     alice (IAM user)
    0    complete  complete   PASS (encrypted)   FAIL            PASS (MFA)
    1    complete  complete   FAIL (unencrypted) FAIL, accepted  FAIL (no MFA)
    2    --- no scan ---
    3    complete  FAILED     FAIL               FAIL, accepted  (not read: stale)
    4    complete  complete   PASS (encrypted)   FAIL, accepted  PASS (MFA)
    5    complete  complete   FAIL (unencrypted) FAIL, accepted  PASS

and the questions are asked on day 5 at 12:00.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from guardian_compliance.history.recorder import record_scan
from guardian_compliance.inventory.repository import InventoryRepository
from guardian_compliance.scans.repository import ScanRepository
from guardian_compliance.settings import ComplianceSettings
from guardian_testkit.resources import delete_streams, empty_schema

ACCOUNT = "111111111111"
ENC = "s3_bucket_default_encryption"
MFA = "iam_user_mfa_enabled"
CHECKS = {
    ENC: ("s3", "AWS::S3::Bucket", Severity.HIGH),
    MFA: ("iam", "AWS::IAM::User", Severity.CRITICAL),
}
DATA = "arn:aws:s3:::acme-data"
LOGS = "arn:aws:s3:::acme-logs"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
DAY0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
ASKED_AT = DAY0 + timedelta(days=5, hours=6)


def day(n: float, hour: float = 6) -> datetime:
    return datetime(2026, 3, 2, tzinfo=UTC) + timedelta(days=n, hours=hour)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class App:
    http: httpx.AsyncClient
    clock: ManualClock
    pool: asyncpg.Pool
    keys: dict[str, str] = field(default_factory=dict)

    def who(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, headers=self.who("auditor"), params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def app(servers: tuple[str, str], database: str) -> AsyncIterator[App]:
    _, nats_url = servers
    token = uuid.uuid4().hex[:10]
    await empty_schema(database, "compliance")
    settings = ComplianceSettings(
        environment="test",
        database_url=database,
        nats_url=nats_url,
        bus_prefix=f"h{token}",
        auth_secret=f"history-{token}",
        log_level="WARNING",
        acceptance_poll_seconds=3600,
        outbox_poll_seconds=3600,
        deadline_poll_seconds=3600,
        run_consumers=False,
    )
    clock = ManualClock(DAY0 - timedelta(hours=1))
    service = create_app(settings, clock)
    try:
        async with service.router.lifespan_context(service):
            transport = httpx.ASGITransport(app=service)
            async with httpx.AsyncClient(transport=transport, base_url="http://compliance") as http:
                keys = {
                    "admin": mint_key(settings.auth_secret, Role.ADMIN, "alice-admin")[1],
                    "admin2": mint_key(settings.auth_secret, Role.ADMIN, "bob-admin")[1],
                    "auditor": mint_key(settings.auth_secret, Role.AUDITOR, "audrey-auditor")[1],
                }
                yield App(http, clock, service.state.runtime.require_pool(), keys)
    finally:
        await delete_streams(nats_url, f"h{token}")


# --------------------------------------------------------------------------------------------- the days


@dataclass(frozen=True)
class Seen:
    arn: str
    check: str
    status: Status
    configuration: dict[str, Any]


def bucket(arn: str, encrypted: bool, status: Status) -> Seen:
    algorithm = "AES256" if encrypted else None
    return Seen(arn, ENC, status, {"default_encryption": {"algorithm": algorithm}, "versioning": "Enabled"})


def user(mfa: bool, status: Status) -> Seen:
    return Seen(ALICE, MFA, status, {"mfa_devices": ["arn:mfa/alice"] if mfa else [], "console_access": True})


async def catalogue(pool: asyncpg.Pool) -> None:
    checks = [
        CheckInfo(
            id=cid,
            version=1,
            title=cid,
            description=cid,
            severity=severity,
            resource_type=rtype,
            service=service,
            remediation="Fix it.",
        )
        for cid, (service, rtype, severity) in CHECKS.items()
    ]
    version = CheckCatalogue.version_of(checks)
    async with db.transaction(pool) as conn:
        await ScanRepository(conn).store_catalogue(
            CheckCatalogue(
                event_id=CheckCatalogue.make_id(version), catalogue_version=version, published_at=DAY0, checks=checks
            )
        )


async def scan(app: App, n: int, seen: list[Seen], *, iam_failed: bool = False) -> str:
    """Day ``n``'s scan, finalised at 06:00 of that day on the service clock."""
    now = day(n)
    app.clock.set(now)
    scan_id = f"day{n}"
    snapshots = [
        ResourceSnapshot(
            event_id=ResourceSnapshot.make_id(scan_id, seq),
            scan_id=scan_id,
            seq=seq,
            account_id=ACCOUNT,
            region="global" if s.check == MFA else "us-east-1",
            collection_region="global",
            service=CHECKS[s.check][0],
            resource_type=CHECKS[s.check][1],
            arn=s.arn,
            name=s.arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1],
            observed_at=now - timedelta(minutes=5),
            configuration=s.configuration,
        )
        for seq, s in enumerate(seen, start=1)
    ]
    count = {svc: sum(1 for s in seen if CHECKS[s.check][0] == svc) for svc in ("s3", "iam")}
    units = [
        UnitResult(region="global", service="s3", status=UnitStatus.COMPLETE, snapshots=count["s3"]),
        UnitResult(
            region="global",
            service="iam",
            status=UnitStatus.FAILED if iam_failed else UnitStatus.COMPLETE,
            snapshots=count["iam"],
            errors=1 if iam_failed else 0,
            first_error="AccessDenied: iam:ListUsers" if iam_failed else None,
        ),
    ]
    async with db.transaction(app.pool) as conn:
        scans = ScanRepository(conn)
        await scans.started(
            ScanStarted(
                event_id=ScanStarted.make_id(scan_id),
                scan_id=scan_id,
                account_id=ACCOUNT,
                regions=["us-east-1"],
                services=["s3", "iam"],
                started_at=now - timedelta(minutes=10),
            )
        )
        await InventoryRepository(conn).observe(snapshots)
        await scans.completed(
            ScanCompleted(
                event_id=ScanCompleted.make_id(scan_id),
                scan_id=scan_id,
                account_id=ACCOUNT,
                completed_at=now - timedelta(minutes=4),
                total_snapshots=len(snapshots),
                units=units,
            )
        )
        await apply_evaluations(
            conn,
            [
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
                    observed_at=snap.observed_at,
                    evaluated_at=now,
                    catalogue_version="test",
                    results=[
                        CheckResult(
                            check_id=s.check,
                            check_version=1,
                            status=s.status,
                            severity=CHECKS[s.check][2],
                            reason=f"{snap.name}: {s.status.value}",
                        )
                    ],
                )
                for snap, s in zip(snapshots, seen, strict=True)
            ],
            now,
        )
        state = (await scans.get(scan_id) or {}).get("state")
    assert state == "final", state
    return scan_id


async def accept_logs(app: App) -> str:
    app.clock.set(DAY0 + timedelta(hours=1))
    body = {
        "check_id": ENC,
        "arn_pattern": LOGS,
        "justification": "Access logs hold no customer data; encryption lands with the log pipeline rebuild",
        "compensating_control": "Bucket policy denies every principal but the log writer",
        "expires_at": iso(DAY0 + timedelta(days=60)),
    }
    requested = await app.http.post("/api/v1/acceptances", headers=app.who("admin"), json=body)
    assert requested.status_code == 201, requested.text
    acceptance_id: str = requested.json()["id"]
    approved = await app.http.post(f"/api/v1/acceptances/{acceptance_id}/approve", headers=app.who("admin2"))
    assert approved.status_code == 200, approved.text
    return acceptance_id


async def six_days(app: App) -> str:
    await catalogue(app.pool)
    for control_id, check in (("TST-ENC", ENC), ("TST-MFA", MFA)):
        created = await app.http.post(
            "/api/v1/controls",
            headers=app.who("admin"),
            json={
                "id": control_id,
                "title": control_id,
                "description": f"{control_id} holds.",
                "owner": "Platform",
                "frequency": "continuous",
                "requirements": [{"id": "CC6.1", "rationale": "Logical access and data protection."}],
                "checks": [check],
            },
        )
        assert created.status_code == 201, created.text
    await scan(app, 0, [bucket(DATA, True, Status.PASS), bucket(LOGS, False, Status.FAIL), user(True, Status.PASS)])
    acceptance_id = await accept_logs(app)
    failing = [bucket(DATA, False, Status.FAIL), bucket(LOGS, False, Status.FAIL)]
    await scan(app, 1, [*failing, user(False, Status.FAIL)])
    await scan(app, 3, failing, iam_failed=True)
    await scan(app, 4, [bucket(DATA, True, Status.PASS), bucket(LOGS, False, Status.FAIL), user(True, Status.PASS)])
    await scan(app, 5, [*failing, user(True, Status.PASS)])
    app.clock.set(ASKED_AT)
    return acceptance_id


PERIOD = {"from": "2026-03-02", "to": "2026-03-07"}


def spans(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["start"], s["end"]) for s in items]


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------- the tests


async def test_coverage_marks_the_day_without_a_scan_and_the_failed_service_not_monitored(app: App) -> None:
    await six_days(app)
    coverage = await app.get("/api/v1/coverage", **PERIOD)
    assert coverage["period"]["elapsed_until"] == at(ASKED_AT)
    assert coverage["window_hours"] == 26
    units = {(u["region"], u["service"]): u for u in coverage["units"]}
    assert sorted(units) == [("global", "iam"), ("global", "s3")]
    s3, iam = units[("global", "s3")], units[("global", "iam")]
    # Each complete collection vouches for 26 hours; day 2 had none, day 3 none of IAM.
    assert spans(s3["monitored"]) == [(at(day(0)), at(day(2, 8))), (at(day(3)), at(ASKED_AT))]
    assert spans(s3["not_monitored"]) == [(at(day(0, 0)), at(day(0))), (at(day(2, 8)), at(day(3)))]
    assert spans(iam["monitored"]) == [(at(day(0)), at(day(2, 8))), (at(day(4)), at(ASKED_AT))]
    assert spans(iam["not_monitored"]) == [(at(day(0, 0)), at(day(0))), (at(day(2, 8)), at(day(4)))]
    assert (s3["complete_collections"], iam["complete_collections"]) == (5, 4)
    assert iam["monitored_seconds"] == (50 + 30) * 3600
    assert spans(coverage["not_monitored"]) == spans(iam["not_monitored"])
    assert [(s["scan_id"], s["partial"]) for s in coverage["scans"]] == [
        ("day0", False),
        ("day1", False),
        ("day3", True),
        ("day4", False),
        ("day5", False),
    ]


async def test_deviations_have_exact_intervals_sla_results_and_acceptances(app: App) -> None:
    acceptance_id = await six_days(app)
    result = await app.get("/api/v1/deviations", **PERIOD)
    controls = {c["control_id"]: c for c in result["controls"]}
    enc, mfa = controls["TST-ENC"], controls["TST-MFA"]
    assert [
        (d["resource_arn"], d["detected_at"], d["resolved_at"], d["sla"], d["accepted"], d["reopened"])
        for d in enc["deviations"]
    ] == [
        (LOGS, at(day(0)), None, "open_within_sla", True, False),
        (DATA, at(day(1)), at(day(4)), "met", False, False),
        (DATA, at(day(5)), None, "open_within_sla", False, True),
    ]
    logs = enc["deviations"][0]
    assert logs["acceptance_ids"] == [acceptance_id]
    assert logs["hours_open"] == 126
    assert enc["deviations"][1]["hours_to_resolve"] == 72
    assert [(d["resource_arn"], d["hours_to_resolve"], d["sla_days"], d["sla"]) for d in mfa["deviations"]] == [
        (ALICE, 72, 1.0, "missed")
    ]
    assert (enc["deviation_count"], enc["open_count"], enc["sla_misses"], enc["accepted_count"]) == (3, 2, 0, 1)
    assert (mfa["deviation_count"], mfa["sla_misses"]) == (1, 1)
    # The bundled encryption control serves the same check: the same three deviations.
    counted = {c["control_id"]: c["deviation_count"] for c in result["controls"] if c["deviation_count"]}
    assert counted == {"GRD-ENC-01": 3, "TST-ENC": 3, "TST-MFA": 1}
    assert (result["deviation_count"], result["sla_misses"]) == (7, 1)

    # Monitored time only: s3 104 h (50 + 54), of which TST-ENC passed from day 4 to day 5 (24 h).
    assert (enc["monitored_seconds"], enc["passing_seconds"]) == (104 * 3600, 24 * 3600)
    assert enc["share_passing"] == round(24 / 104, 6)
    # IAM 80 h monitored; TST-MFA passed day 0 (24 h) and from day 4 on (30 h). The FAIL while IAM
    # could not be read is not monitored and never passing.
    assert (mfa["monitored_seconds"], mfa["passing_seconds"]) == (80 * 3600, 54 * 3600)
    assert [(f["detected_at"], f["resolved_at"], f["resources"]) for f in enc["failures"]] == [
        (at(day(0)), at(day(4)), [DATA, LOGS]),
        (at(day(5)), None, [DATA, LOGS]),
    ]
    assert [(f["detected_at"], f["resolved_at"], f["resources"]) for f in mfa["failures"]] == [
        (at(day(1)), at(day(4)), [ALICE])
    ]

    one = await app.get("/api/v1/deviations", control_id="TST-MFA", **PERIOD)
    assert [c["control_id"] for c in one["controls"]] == ["TST-MFA"]
    timeline = await app.get("/api/v1/history/controls/TST-MFA", **PERIOD)
    assert [(s["status"], s["start"], s["end"], s["monitored_seconds"]) for s in timeline["spans"]] == [
        ("PASS", at(day(0)), at(day(1)), 24 * 3600),
        ("FAIL", at(day(1)), at(day(3)), 26 * 3600),
        ("FAIL", at(day(3)), at(day(4)), 0),
        ("PASS", at(day(4)), at(day(5)), 24 * 3600),
        ("PASS", at(day(5)), at(ASKED_AT), 6 * 3600),
    ]


async def test_history_per_scan_gives_statuses_and_what_is_new_or_resolved(app: App) -> None:
    await six_days(app)
    history = await app.get("/api/v1/history/scans", **PERIOD)
    assert [(i["scan_id"], i["counts"]["new_failures"], i["counts"]["resolved"]) for i in history["items"]] == [
        ("day0", 1, 0),
        ("day1", 2, 0),
        ("day3", 0, 0),
        ("day4", 0, 2),
        ("day5", 1, 0),
    ]
    detail = await app.get("/api/v1/history/scans/day4")
    assert sorted((r["check_id"], r["resource_arn"], r["resolved_as"]) for r in detail["resolved"]) == [
        (MFA, ALICE, "PASS"),
        (ENC, DATA, "PASS"),
    ]
    assert detail["new"] == []
    statuses = {c["id"]: c["status"] for c in detail["controls"]}
    assert (statuses["TST-ENC"], statuses["TST-MFA"]) == ("PASS", "PASS")
    day3 = {c["id"]: c["status"] for c in (await app.get("/api/v1/history/scans/day3"))["controls"]}
    assert (day3["TST-ENC"], day3["TST-MFA"]) == ("FAIL", "FAIL")
    assert any(r["id"] == "CC6.1" for r in detail["requirements"])

    findings = await app.get("/api/v1/history/findings", check_id=ENC, resource_arn=DATA, **PERIOD)
    (data,) = findings["items"]
    assert [(i["detected_at"], i["resolved_at"], i["reopened"]) for i in data["intervals"]] == [
        (at(day(1)), at(day(4)), False),
        (at(day(5)), None, True),
    ]
    assert data["current_status"] == "FAIL"

    async with app.pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT event_type, dedupe_key FROM outbox WHERE event_type LIKE 'finding.%'"
            " OR (event_type = 'control.status_changed' AND dedupe_key LIKE '%:TST-%') ORDER BY id"
        )
    assert [(e["event_type"], e["dedupe_key"]) for e in events] == [
        ("finding.opened", f"finding.opened:{ENC}:{LOGS}:day0"),
        ("finding.opened", f"finding.opened:{MFA}:{ALICE}:day1"),
        ("finding.opened", f"finding.opened:{ENC}:{DATA}:day1"),
        ("control.status_changed", "control.status_changed:default:soc2:TST-MFA:day1"),
        ("finding.resolved", f"finding.resolved:{MFA}:{ALICE}:day4"),
        ("finding.resolved", f"finding.resolved:{ENC}:{DATA}:day4"),
        ("control.status_changed", "control.status_changed:default:soc2:TST-ENC:day4"),
        ("control.status_changed", "control.status_changed:default:soc2:TST-MFA:day4"),
        ("finding.reopened", f"finding.reopened:{ENC}:{DATA}:day5"),
        ("control.status_changed", "control.status_changed:default:soc2:TST-ENC:day5"),
    ]
    # Recording a scan twice changes nothing.
    async with db.transaction(app.pool) as conn:
        assert await record_scan(conn, "day5", ASKED_AT) is False


async def test_populations_as_of_a_date_keep_the_configuration_of_then(app: App) -> None:
    await six_days(app)
    before_fix = await app.get("/api/v1/populations", as_of="2026-03-04")
    assert before_fix["count"] == 3
    items = {i["arn"]: i for i in before_fix["items"]}
    assert items[DATA]["configuration"]["default_encryption"] == {"algorithm": None}
    assert items[ALICE]["configuration"]["mfa_devices"] == []
    assert {i["scan_id"] for i in before_fix["items"]} == {"day1"}
    assert not any(i["stale"] for i in before_fix["items"])

    # End of day 3: IAM could not be read that day, so alice comes from day 1, marked stale.
    day3 = {i["arn"]: i for i in (await app.get("/api/v1/populations", as_of="2026-03-05"))["items"]}
    assert (day3[ALICE]["scan_id"], day3[ALICE]["stale"]) == ("day1", True)
    assert (day3[DATA]["scan_id"], day3[DATA]["stale"]) == ("day3", False)

    fixed = await app.get("/api/v1/populations", as_of=iso(day(4, 12)), resource_type="AWS::S3::Bucket")
    assert [(i["arn"], i["configuration"]["default_encryption"]["algorithm"]) for i in fixed["items"]] == [
        (DATA, "AES256"),
        (LOGS, None),
    ]
    users = await app.http.get(
        "/api/v1/populations",
        headers=app.who("auditor"),
        params={"as_of": "2026-03-04", "resource_type": "AWS::IAM::User", "format": "csv"},
    )
    assert users.status_code == 200
    assert users.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(users.text)))
    assert [(r["arn"], r["scan_id"], r["configuration"]) for r in rows] == [
        (ALICE, "day1", '{"console_access": true, "mfa_devices": []}')
    ]
    empty = await app.get("/api/v1/populations", as_of="2026-03-01")
    assert empty["count"] == 0


async def test_population_pages_with_a_cursor_add_up_to_the_whole_and_the_csv_streams_it(app: App) -> None:
    await six_days(app)
    whole = await app.get("/api/v1/populations", as_of="2026-03-04")
    assert whole["next_cursor"] is None
    assert [i["arn"] for i in whole["items"]] == [ALICE, DATA, LOGS]  # by resource type, then ARN

    first = await app.get("/api/v1/populations", as_of="2026-03-04", limit=2)
    assert (first["count"], [i["arn"] for i in first["items"]]) == (2, [ALICE, DATA])
    assert first["next_cursor"]
    rest = await app.get("/api/v1/populations", as_of="2026-03-04", limit=2, cursor=first["next_cursor"])
    assert (rest["count"], rest["next_cursor"]) == (1, None)
    assert first["items"] + rest["items"] == whole["items"]
    exact = await app.get("/api/v1/populations", as_of="2026-03-04", limit=3)
    assert (exact["items"], exact["next_cursor"]) == (whole["items"], None)

    # The streamed export holds the same rows, in the same order, as the whole JSON answer.
    export = await app.http.get(
        "/api/v1/populations", headers=app.who("auditor"), params={"as_of": "2026-03-04", "format": "csv"}
    )
    assert export.status_code == 200
    assert export.headers["content-disposition"] == 'attachment; filename="population-default-20260305T000000Z.csv"'
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["arn"], r["scan_id"], r["stale"]) for r in rows] == [
        (i["arn"], i["scan_id"], str(i["stale"])) for i in whole["items"]
    ]

    for params, code in (
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "WyJhIiwiYiJd"}, "invalid_cursor"),  # valid base64 of a JSON list of the wrong shape
        ({"format": "csv", "limit": "2"}, "csv_paged"),
    ):
        refused = await app.http.get(
            "/api/v1/populations", headers=app.who("auditor"), params={"as_of": "2026-03-04", **params}
        )
        assert (refused.status_code, refused.json()["error"]) == (422, code), params


async def test_drift_lists_field_changes_and_marks_those_that_broke_a_check(app: App) -> None:
    await six_days(app)
    drift = await app.get("/api/v1/drift", **PERIOD)
    assert [(d["arn"], d["scan_id"], d["turned_failing"], d["turned_passing"]) for d in drift["items"]] == [
        (ALICE, "day1", [MFA], []),
        (DATA, "day1", [ENC], []),
        (ALICE, "day4", [], [MFA]),
        (DATA, "day4", [], [ENC]),
        (DATA, "day5", [ENC], []),
    ]
    alice, data = drift["items"][0], drift["items"][1]
    assert (alice["at"], data["at"]) == (at(day(1)), at(day(1)))
    assert data["changes"] == [
        {"path": "default_encryption.algorithm", "change": "changed", "before": "AES256", "after": None}
    ]
    assert alice["changes"] == [{"path": "mfa_devices", "change": "changed", "before": ["arn:mfa/alice"], "after": []}]
    only = await app.get("/api/v1/drift", resource_arn=ALICE, **PERIOD)
    assert [d["scan_id"] for d in only["items"]] == ["day1", "day4"]
    by_type = await app.get(
        "/api/v1/drift", resource_type="AWS::S3::Bucket", **{"from": "2026-03-05", "to": "2026-03-07"}
    )
    assert [d["scan_id"] for d in by_type["items"]] == ["day4", "day5"]


async def test_trends_are_daily_or_weekly_and_a_day_without_scans_is_not_monitored(app: App) -> None:
    await six_days(app)
    daily = await app.get("/api/v1/trends", **PERIOD)
    assert [(p["bucket"][:10], p["scans"], p["monitored"]) for p in daily["points"]] == [
        ("2026-03-02", 1, True),
        ("2026-03-03", 1, True),
        ("2026-03-04", 0, False),
        ("2026-03-05", 1, True),
        ("2026-03-06", 1, True),
        ("2026-03-07", 1, True),
    ]
    no_scan = daily["points"][2]
    assert (no_scan["readiness"], no_scan["categories"]) == (None, [])
    history = await app.get("/api/v1/history/scans", **PERIOD)
    scores = [i["score"] for i in history["items"]]
    assert [p["readiness"] for p in daily["points"] if p["scans"]] == scores
    assert "security" in [c["category"] for c in daily["points"][0]["categories"]]
    weekly = await app.get("/api/v1/trends", granularity="week", **PERIOD)
    assert [(p["bucket"][:10], p["scans"]) for p in weekly["points"]] == [("2026-03-02", 5)]
    assert weekly["points"][0]["readiness"] == scores[-1]


async def test_bad_input_is_refused_with_a_code_and_changes_nothing(app: App) -> None:
    await six_days(app)
    async with app.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM outbox") + await conn.fetchval(
            "SELECT count(*) FROM history_scans"
        )
    refusals = [
        ("/api/v1/deviations", {"from": "2026-03-07", "to": "2026-03-01"}, 422, "invalid_period"),
        ("/api/v1/coverage", {"from": "2026-03-07T10:00:00Z", "to": "2026-03-07T09:00:00Z"}, 422, "invalid_period"),
        ("/api/v1/deviations", {**PERIOD, "control_id": "NOPE-1"}, 404, "control_not_found"),
        ("/api/v1/history/controls/NOPE-1", PERIOD, 404, "control_not_found"),
        ("/api/v1/trends", {**PERIOD, "scope_id": "nowhere"}, 404, "scope_not_found"),
        ("/api/v1/drift", {"from": "last tuesday"}, 422, "invalid_date"),
        ("/api/v1/populations", {"as_of": "2026-13-01"}, 422, "invalid_date"),
        ("/api/v1/coverage", {"period_id": "p-missing"}, 404, "period_not_found"),
        ("/api/v1/coverage", {"period_id": "p-missing", "from": "2026-03-01"}, 422, "ambiguous_period"),
        ("/api/v1/trends", {**PERIOD, "framework": "iso27001"}, 404, "framework_not_found"),
        ("/api/v1/history/scans/day2", {}, 404, "scan_not_found"),
        ("/api/v1/trends", {"from": "0001-01-01"}, 422, "invalid_date"),
        ("/api/v1/trends", {"from": "1990-01-01"}, 422, "too_many_points"),
    ]
    for path, params, status, code in refusals:
        response = await app.http.get(path, headers=app.who("auditor"), params=params)
        assert (response.status_code, response.json()["error"]) == (status, code), (path, response.text)
        assert response.json()["detail"]
    anonymous = await app.http.get("/api/v1/coverage")
    assert anonymous.status_code == 401
    async with app.pool.acquire() as conn:
        after = await conn.fetchval("SELECT count(*) FROM outbox") + await conn.fetchval(
            "SELECT count(*) FROM history_scans"
        )
    assert after == before


async def test_an_audit_period_of_the_scope_selects_the_dates(app: App) -> None:
    await six_days(app)
    created = await app.http.post(
        "/api/v1/scopes/default/periods",
        headers=app.who("admin"),
        json={"name": "First week", "start_date": "2026-03-03", "end_date": "2026-03-04", "type": "type2"},
    )
    assert created.status_code == 201, created.text
    period_id = created.json()["id"]
    coverage = await app.get("/api/v1/coverage", period_id=period_id)
    assert (coverage["period"]["start"], coverage["period"]["end"]) == (at(day(1, 0)), at(day(3, 0)))
    assert spans(coverage["not_monitored"]) == [(at(day(2, 8)), at(day(3, 0)))]
