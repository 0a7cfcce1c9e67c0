"""Continuous monitoring over simulated days, on the running system fed by moto.

Every service runs in-process; compliance runs on a manual clock, so each scan is finalised at
06:00 of its simulated day and every history question has an exact answer. Between scans the
resources change in moto; one day has no scan; on another the fault proxy denies every IAM call.

    day  when (UTC)       moto before the scan                     S3 unit   IAM unit
    0    2026-03-02 06:00 acme-data, acme-archive encrypted; alice complete  complete
    1    2026-03-03 06:00 acme-data loses its default encryption   complete  complete
    2    2026-03-04       (no scan)
    3    2026-03-05 06:00 acme-new created; bob created; IAM denied complete  failed
    4    2026-03-06 06:00 acme-data encrypted again; IAM readable   complete  complete

Questions are asked on day 4 at 12:00. The SLA for high severity is set to 2 days, so acme-data's
72 hours without encryption miss it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from conftest import Running
from typer.testing import CliRunner

from guardian_cli.follow import ScanOutcome, run_scan
from guardian_cli.main import app as cli
from guardian_common.auth import Role
from guardian_common.bus import Subjects
from guardian_compliance.clock import ManualClock
from guardian_gateway.keys.service import bootstrap_key
from guardian_testkit.faults import FaultRule
from guardian_testkit.moto import MotoServer

ACCOUNT = "123456789012"
ENC = "s3_bucket_default_encryption"
DATA = "arn:aws:s3:::acme-data"
ARCHIVE = "arn:aws:s3:::acme-archive"
NEW = "arn:aws:s3:::acme-new"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
SSE = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
ASKED_AT = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
PERIOD = {"from": "2026-03-02", "to": "2026-03-06"}


def day(n: int, hour: int = 6) -> datetime:
    return datetime(2026, 3, 2, tzinfo=UTC) + timedelta(days=n, hours=hour)


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """Requested before ``running``: compliance is built with this clock, and a 2-day high SLA."""
    manual = ManualClock(day(0, 5))
    monkeypatch.setattr("guardian_compliance.app.SystemClock", lambda: manual)
    monkeypatch.setenv("GUARDIAN_SLA_DAYS", json.dumps({"critical": 1, "high": 2, "medium": 30, "low": 90}))
    return manual


async def scan_on(running: Running, clock: ManualClock, n: int) -> ScanOutcome:
    clock.set(day(n))
    outcome = await run_scan(
        running.client, regions=["us-east-1"], services=["s3", "iam"], poll_seconds=0.1, timeout_seconds=120
    )
    assert outcome.final, outcome
    return outcome


class Auditor:
    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {key}"}

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, headers=self.headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def spans(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["start"], s["end"]) for s in items]


async def test_days_of_monitoring_give_exact_intervals_gaps_sla_diffs_populations_and_deltas(
    clock: ManualClock, running: Running, moto: MotoServer, tmp_path: Path
) -> None:
    compliance = running.stack.services["compliance"].server.config.app
    assert compliance.state.clock is clock
    s3, iam = moto.client("s3"), moto.client("iam")
    for name in ("acme-data", "acme-archive"):
        s3.create_bucket(Bucket=name)
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=SSE)
    iam.create_user(UserName="alice")
    scans = [await scan_on(running, clock, 0)]
    s3.delete_bucket_encryption(Bucket="acme-data")
    scans.append(await scan_on(running, clock, 1))
    s3.create_bucket(Bucket="acme-new")
    s3.put_bucket_encryption(Bucket="acme-new", ServerSideEncryptionConfiguration=SSE)
    iam.create_user(UserName="bob")
    running.proxy.add_rule(FaultRule(service="iam", fault="access_denied"))
    scans.append(await scan_on(running, clock, 3))
    running.proxy.clear()
    s3.put_bucket_encryption(Bucket="acme-data", ServerSideEncryptionConfiguration=SSE)
    scans.append(await scan_on(running, clock, 4))
    clock.set(ASKED_AT)
    ids = [s.scan_id for s in scans]

    async with httpx.AsyncClient(base_url=running.stack.url("gateway"), timeout=60) as http:
        # Through the gateway, with an auditor's key made there: history is readable by auditors.
        root = (await bootstrap_key(running.database_url, "days-root")).key
        made = await http.post(
            "/api/v1/keys",
            json={"name": "days-auditor", "role": Role.AUDITOR.value},
            headers={"Authorization": f"Bearer {root}"},
        )
        assert made.status_code == 201, made.text
        auditor = Auditor(http, made.json()["key"])

        # Coverage: day 2 had no scan; on day 3 IAM was not read. Each complete collection vouches
        # for 26 hours, so the gaps start at 08:00 the day after the last complete one.
        coverage = await auditor.get("/api/v1/coverage", **PERIOD)
        units = {(u["region"], u["service"]): u for u in coverage["units"] if u["account_id"] == ACCOUNT}
        s3_unit, iam_unit = units[("global", "s3")], units[("global", "iam")]
        assert spans(s3_unit["monitored"]) == [(at(day(0)), at(day(2, 8))), (at(day(3)), at(ASKED_AT))]
        assert spans(s3_unit["not_monitored"]) == [(at(day(0, 0)), at(day(0))), (at(day(2, 8)), at(day(3)))]
        assert spans(iam_unit["monitored"]) == [(at(day(0)), at(day(2, 8))), (at(day(4)), at(ASKED_AT))]
        assert spans(iam_unit["not_monitored"]) == [(at(day(0, 0)), at(day(0))), (at(day(2, 8)), at(day(4)))]
        assert [(s["scan_id"], s["at"]) for s in coverage["scans"]] == [
            (ids[0], at(day(0))),
            (ids[1], at(day(1))),
            (ids[2], at(day(3))),
            (ids[3], at(day(4))),
        ]
        assert [s["partial"] for s in coverage["scans"]][2] is True

        # Deviations of the encryption control: one interval, 72 h against a 2-day SLA.
        deviations = await auditor.get("/api/v1/deviations", control_id="GRD-ENC-01", **PERIOD)
        (control,) = deviations["controls"]
        assert [
            (d["resource_arn"], d["detected_at"], d["resolved_at"], d["hours_to_resolve"], d["sla_days"], d["sla"])
            for d in control["deviations"]
        ] == [(DATA, at(day(1)), at(day(4)), 72, 2.0, "missed")]
        assert (control["deviation_count"], control["sla_misses"], control["accepted_count"]) == (1, 1, 0)
        assert [(f["detected_at"], f["resolved_at"], f["resources"]) for f in control["failures"]] == [
            (at(day(1)), at(day(4)), [DATA])
        ]
        # Monitored: S3 for 50 h + 30 h; passing on day 0 (24 h) and after the fix (6 h).
        assert (control["monitored_seconds"], control["passing_seconds"]) == (80 * 3600, 30 * 3600)

        # Deltas: what each scan found newly failing and resolved, for this check.
        def of_check(items: list[dict[str, Any]]) -> list[str]:
            return sorted(i["resource_arn"] for i in items if i["check_id"] == ENC)

        details = [await auditor.get(f"/api/v1/history/scans/{scan_id}") for scan_id in ids]
        assert [(of_check(d["new"]), of_check(d["resolved"])) for d in details] == [
            ([], []),
            ([DATA], []),
            ([], []),
            ([], [DATA]),
        ]
        assert [next(c["status"] for c in d["controls"] if c["id"] == "GRD-ENC-01") for d in details] == [
            "PASS",
            "FAIL",
            "FAIL",
            "PASS",
        ]

        # Drift of acme-data: encryption removed on day 1 (PASS -> FAIL marked), restored on day 4.
        drift = await auditor.get("/api/v1/drift", resource_arn=DATA, **PERIOD)
        assert [
            (d["scan_id"], d["at"], ENC in d["turned_failing"], ENC in d["turned_passing"]) for d in drift["items"]
        ] == [
            (ids[1], at(day(1)), True, False),
            (ids[3], at(day(4)), False, True),
        ]
        removed = drift["items"][0]["changes"]
        assert removed
        assert all("encrypt" in c["path"].lower() for c in removed), removed

        # Populations as of a date, with the configuration of then.
        def population(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
            return {i["arn"]: i for i in body["items"] if i["resource_type"] in ("AWS::S3::Bucket", "AWS::IAM::User")}

        first_day = population(await auditor.get("/api/v1/populations", as_of="2026-03-02"))
        assert sorted(first_day) == sorted([DATA, ARCHIVE, ALICE])
        day3 = population(await auditor.get("/api/v1/populations", as_of="2026-03-05"))
        assert sorted(day3) == sorted([DATA, ARCHIVE, NEW, ALICE])
        assert (day3[ALICE]["scan_id"], day3[ALICE]["stale"]) == (ids[1], True)
        assert day3[DATA]["scan_id"] == ids[2]
        assert first_day[DATA]["config_hash"] != day3[DATA]["config_hash"]
        now = population(await auditor.get("/api/v1/populations", as_of=at(day(4, 7))))
        assert sorted(now) == sorted([DATA, ARCHIVE, NEW, ALICE, BOB])
        assert now[DATA]["config_hash"] == first_day[DATA]["config_hash"]
        exported = await http.get(
            "/api/v1/populations",
            headers=auditor.headers,
            params={"as_of": "2026-03-05", "resource_type": "AWS::IAM::User", "format": "csv"},
        )
        assert exported.status_code == 200
        assert exported.text.splitlines()[0].startswith("arn,resource_type,name")
        assert [line.split(",")[0] for line in exported.text.splitlines()[1:]] == [ALICE]

        # Trends: the day without a scan is not monitored.
        trends = await auditor.get("/api/v1/trends", **PERIOD)
        assert [(p["bucket"][:10], p["scans"], p["monitored"]) for p in trends["points"]] == [
            ("2026-03-02", 1, True),
            ("2026-03-03", 1, True),
            ("2026-03-04", 0, False),
            ("2026-03-05", 1, True),
            ("2026-03-06", 1, True),
        ]

        # Bad input: a clear 4xx with a code, and nothing changes.
        before = await auditor.get("/api/v1/history/scans", **PERIOD)
        for params, status, code in [
            ({"from": "2026-03-06", "to": "2026-03-02"}, 422, "invalid_period"),
            ({**PERIOD, "control_id": "NO-SUCH-CONTROL"}, 404, "control_not_found"),
            ({**PERIOD, "scope_id": "no-such-scope"}, 404, "scope_not_found"),
            ({"from": "yesterday"}, 422, "invalid_date"),
        ]:
            refused = await http.get("/api/v1/deviations", headers=auditor.headers, params=params)
            assert (refused.status_code, refused.json()["error"]) == (status, code)
        assert await auditor.get("/api/v1/history/scans", **PERIOD) == before

    # The CLI reads the same history through the gateway.
    env = {"GUARDIAN_URL": running.stack.url("gateway"), "GUARDIAN_API_KEY": auditor.headers["Authorization"][7:]}

    def guardian(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), env=env)

    listed = await asyncio.to_thread(
        guardian,
        "history",
        "deviations",
        "--control",
        "GRD-ENC-01",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-06",
        "--json",
    )
    assert listed.exit_code == 0, listed.output
    assert [d["sla"] for d in json.loads(listed.stdout)["controls"][0]["deviations"]] == ["missed"]
    target = tmp_path / "users.csv"
    exported_cli = await asyncio.to_thread(
        guardian,
        "history",
        "populations",
        "export",
        "--as-of",
        "2026-03-05",
        "--type",
        "AWS::IAM::User",
        "-o",
        str(target),
    )
    assert exported_cli.exit_code == 0, exported_cli.output
    assert target.read_text() == exported.text
    shown = await asyncio.to_thread(guardian, "history", "coverage", "--from", "2026-03-02", "--to", "2026-03-06")
    assert shown.exit_code == 0, shown.output
    assert "iam" in shown.stdout
    wrong = await asyncio.to_thread(guardian, "history", "trends", "--from", "2026-03-06", "--to", "2026-03-01")
    assert wrong.exit_code == 2
    assert "invalid_period" in wrong.output
    unparseable = await asyncio.to_thread(guardian, "history", "drift", "--from", "soon")
    assert unparseable.exit_code == 2

    # Domain events left through the outbox to NATS: the fix resolved acme-data's failure.
    nc = await nats.connect(running.stack.nats_url)
    try:
        sub = await nc.jetstream().subscribe(Subjects(running.prefix).domain("finding.resolved"), ordered_consumer=True)
        resolved = []
        while True:
            try:
                msg = await sub.next_msg(timeout=10)
            except nats.errors.TimeoutError:
                break
            event = json.loads(msg.data)["data"]
            resolved.append((event["check_id"], event["resource_arn"], event["scan_id"]))
            if (ENC, DATA, ids[3]) in resolved:
                break
        assert (ENC, DATA, ids[3]) in resolved
        await sub.unsubscribe()
    finally:
        await nc.close()
