"""Status changes kept at finalisation (history_status_changes) answer as every status point did.

The passing share and failure runs of controls are read from the status changes the recorder
writes when a scan is finalised, instead of from every control's status at every scan. Here the
days of ``test_history_service`` (loaded from its file, as ``test_history_paging`` does) are fed
with controls flapping, then a late evaluation changes a finalised scan's history; after each, the
table must be exactly the change points of ``history_statuses``, and the runs and passing shares it
gives must equal those recomputed from every status point. A scan recorded out of order, and the
migration's backfill of history recorded before the table existed, are checked on the database.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg
from support import history_days

from guardian_common import db
from guardian_common.events import CheckResult, SnapshotEvaluated
from guardian_compliance.consumers import apply_evaluations
from guardian_compliance.history.intervals import Interval, clip, intersect, normalise, steps, total_seconds
from guardian_compliance.history.recorder import record_status_changes
from guardian_compliance.history.repository import HistoryRepository
from guardian_compliance.history.service import HistoryService, resolve_period
from guardian_testkit.resources import empty_schema

days = history_days()

app = days.app  # the fixture
App = days.App
Status = days.Status
LATE = "arn:aws:s3:::acme-late"
MIGRATION = Path(__file__).parents[1] / "src" / "guardian_compliance" / "migrations" / "0016_history_status_changes.sql"

# Every change point of history_statuses, recomputed from all of them.
RECOMPUTED = (
    "SELECT scope_id, framework_id, kind, item_id, scan_id, at, status FROM ("
    " SELECT s.*, lag(s.status) OVER (PARTITION BY s.scope_id, s.framework_id, s.kind, s.item_id"
    "  ORDER BY s.at, s.scan_id) AS before FROM history_statuses s) p"
    " WHERE before IS DISTINCT FROM status ORDER BY 1, 2, 3, 4, 6, 5"
)
KEPT = (
    "SELECT scope_id, framework_id, kind, item_id, scan_id, at, status FROM history_status_changes"
    " ORDER BY 1, 2, 3, 4, 6, 5"
)


async def flapping_days(app: App) -> None:
    """``six_days``, then days 6 to 9 where the data bucket and alice take turns failing."""
    await days.six_days(app)
    for n in range(6, 10):
        await days.scan(
            app,
            n,
            [
                days.bucket(days.DATA, n % 2 == 0, Status.PASS if n % 2 == 0 else Status.FAIL),
                days.bucket(days.LOGS, False, Status.FAIL),
                days.user(n % 3 != 0, Status.PASS if n % 3 != 0 else Status.FAIL),
            ],
        )
    app.clock.set(days.day(9, 12))


def by_status(rows: list[asyncpg.Record], lower: datetime, upper: datetime) -> dict[str, dict[str, list[Interval]]]:
    """Per item and status, the time it held that status within [lower, upper)."""
    points: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for r in rows:
        points[r["item_id"]].append((r["at"], r["status"]))
    out: dict[str, dict[str, list[Interval]]] = {}
    for item, pts in points.items():
        held: dict[str, list[Interval]] = defaultdict(list)
        for iv, status in steps(pts, upper):
            held[status].extend(clip([iv], Interval(lower, upper)))
        out[item] = {status: normalise(ivs) for status, ivs in held.items() if normalise(ivs)}
    return out


async def same_as_every_point(app: App) -> None:
    """The kept changes are the recomputed ones; runs and passing shares equal those of every point."""
    async with app.pool.acquire() as conn:
        assert [tuple(r) for r in await conn.fetch(KEPT)] == [tuple(r) for r in await conn.fetch(RECOMPUTED)]
        repo = HistoryRepository(conn)
        now = app.clock.now()
        svc = HistoryService(conn, now, window=timedelta(hours=26))
        controls = await repo.control_checks(None)
        requirements = sorted(
            {r["item_id"] for r in await conn.fetch("SELECT item_id FROM history_statuses WHERE kind = 'requirement'")}
        )
        # Whole days, a period starting mid-run at an odd moment, and one before most of the history.
        for start, end in (
            ("2026-03-02", "2026-03-11"),
            ("2026-03-04T13:17:00.250001", None),
            ("2026-03-03", "2026-03-05"),
        ):
            period = await resolve_period(conn, "default", None, start, end, now)
            lower, upper = period.elapsed.start, period.elapsed.end
            for kind, items in (("control", sorted(controls)), ("requirement", requirements)):
                args = ("default", "soc2", kind, items, period.whole.start, upper)
                assert by_status(await repo.status_runs(*args), lower, upper) == by_status(
                    await repo.status_points(*args), lower, upper
                ), (kind, start, end)
            # Passing share: the database's cut of the changes against Python's from every point.
            points = by_status(
                await repo.status_points("default", "soc2", "control", sorted(controls), period.whole.start, upper),
                lower,
                upper,
            )
            units = await svc.unit_windows(period)
            monitored = {cid: await svc._control_monitored(period, checks, units) for cid, checks in controls.items()}
            pieces = await repo.passing_pieces(
                "default",
                "soc2",
                {cid: [(iv.start, iv.end) for iv in ivs] for cid, ivs in monitored.items()},
                period.whole.start,
                upper,
            )
            for cid in controls:
                expected = intersect(points.get(cid, {}).get("PASS", []), monitored[cid])
                assert pieces.get(cid, []) == [round(iv.seconds * 1_000_000) for iv in expected], (cid, start)
                assert sum(us / 1e6 for us in pieces.get(cid, [])) == total_seconds(expected)
    # Through the API: the paged summaries (changes cut in the database) equal the full answer's.
    period = {"from": "2026-03-02", "to": "2026-03-11"}
    whole = await app.get("/api/v1/deviations", **period)
    first = await app.get("/api/v1/deviations", **period, limit=2)
    keys = ("control_id", "monitored_seconds", "passing_seconds", "share_passing", "deviation_count")
    assert [{k: c[k] for k in keys} for c in first["controls"]] == [{k: c[k] for k in keys} for c in whole["controls"]]


async def late_failure(app: App) -> None:
    """A late evaluation of day 9 (finalised): a bucket found unencrypted, learnt of at day 9, 10:00."""
    late_at = days.day(9, 10)
    app.clock.set(late_at)
    async with db.transaction(app.pool) as conn:
        await apply_evaluations(
            conn,
            [
                SnapshotEvaluated(
                    event_id=SnapshotEvaluated.make_id("day9", 99),
                    scan_id="day9",
                    seq=99,
                    account_id=days.ACCOUNT,
                    region="us-east-1",
                    collection_region="global",
                    service="s3",
                    resource_type="AWS::S3::Bucket",
                    arn=LATE,
                    name="acme-late",
                    observed_at=days.day(9, 9),
                    evaluated_at=late_at,
                    catalogue_version="test",
                    results=[
                        CheckResult(
                            check_id=days.ENC,
                            check_version=1,
                            status=Status.FAIL,
                            severity=days.CHECKS[days.ENC][2],
                            reason="acme-late: FAIL",
                        )
                    ],
                )
            ],
            late_at,
        )
    app.clock.set(days.day(9, 12))


async def test_kept_changes_answer_as_every_point_after_scans_and_a_late_evaluation(app: App) -> None:
    await flapping_days(app)
    async with app.pool.acquire() as conn:
        kept = await conn.fetchval("SELECT count(*) FROM history_status_changes")
        every = await conn.fetchval("SELECT count(*) FROM history_statuses")
    assert 0 < kept < every  # runs of equal statuses keep only their first point
    await same_as_every_point(app)

    await late_failure(app)
    async with app.pool.acquire() as conn:
        late = await conn.fetch(
            "SELECT opened_scan, opened_at FROM finding_intervals WHERE resource_arn = $1 AND closed_at IS NULL",
            LATE,
        )
    # The late evaluation changed the history of day 9 (an interval attributed to it, opened when
    # Guardian learnt of it); statuses per scan are not rewritten, and the changes still match.
    assert [(r["opened_scan"], r["opened_at"]) for r in late] == [("day9", days.day(9, 10))]
    await same_as_every_point(app)


async def test_a_scan_recorded_out_of_order_and_the_backfill_keep_every_change(database: str) -> None:
    await empty_schema(database, "compliance")
    conn = await asyncpg.connect(database, server_settings={"search_path": "compliance"})
    t = datetime(2026, 5, 1, 6, tzinfo=UTC)

    async def record(scan_id: str, hours: float, statuses: dict[str, str]) -> None:
        await conn.executemany(
            "INSERT INTO history_statuses (scope_id, framework_id, kind, item_id, scan_id, at, status)"
            " VALUES ('default', 'soc2', 'control', $1, $2, $3, $4)",
            [(item, scan_id, t + timedelta(hours=hours), status) for item, status in statuses.items()],
        )
        await record_status_changes(conn, scan_id)

    try:
        await record("s1", 0, {"A": "PASS", "B": "PASS", "C": "PASS"})
        await record("s3", 48, {"A": "PASS", "B": "FAIL", "C": "PASS"})
        await record("s4", 72, {"A": "PASS", "B": "FAIL", "C": "PASS"})
        # Recorded last, finalised between s1 and s3: A now fails between two passes (s3 becomes
        # a change), B fails a day earlier (s3's row stays, no longer a change), C is not in it.
        await record("s2", 24, {"A": "FAIL", "B": "FAIL"})
        await record_status_changes(conn, "s2")  # twice: nothing more
        kept = [tuple(r) for r in await conn.fetch(KEPT)]
        assert ("default", "soc2", "control", "A", "s3", t + timedelta(hours=48), "PASS") in kept
        assert ("default", "soc2", "control", "B", "s3", t + timedelta(hours=48), "FAIL") in kept
        assert set(await conn.fetch(RECOMPUTED)) <= set(await conn.fetch(KEPT))
        repo = HistoryRepository(conn)
        for lower, upper in ((t, t + timedelta(days=4)), (t + timedelta(hours=30), t + timedelta(hours=60))):
            args: tuple[Any, ...] = ("default", "soc2", "control", ["A", "B", "C"], lower, upper)
            runs = await repo.status_runs(*args)
            assert by_status(runs, lower, upper) == by_status(await repo.status_points(*args), lower, upper)
            assert all(a["status"] != b["status"] for a, b in pairwise(runs) if a["item_id"] == b["item_id"])

        # The migration's backfill, run on this history, finds exactly the change points.
        backfill = MIGRATION.read_text().split("INSERT INTO history_status_changes", 1)[1]
        await conn.execute("CREATE TEMPORARY TABLE backfilled (LIKE history_status_changes)")
        await conn.execute("INSERT INTO pg_temp.backfilled" + backfill)
        filled = await conn.fetch(KEPT.replace("history_status_changes", "pg_temp.backfilled"))
        assert [tuple(r) for r in filled] == [tuple(r) for r in await conn.fetch(RECOMPUTED)]
    finally:
        await conn.close()
