"""Monitoring-history queries over a year of daily scans: 10,000 resources, 150 checks.

The history is synthetic and inserted directly (COPY) into a fresh, migrated compliance schema:
one account, a daily scan finalised at 06:00 UTC for 365 days (every tenth week has a day without
a scan and a day where one service failed), 10,000 resources over ten resource types, 150 checks
(15 per type), 120 controls of one to three checks, configuration changes on 0.5% of resources a
day, about 80 new failure intervals a day closing after 1 to 60 days. The status changes that
finalisation keeps (history_status_changes, migration 0016) are not synthesised: each scan's statuses
are copied in scan order and the recorder's own code (``record_status_changes``, what ``record_scan``
calls at finalisation) derives that scan's changes from them. Then the queries the API
runs are timed through the history service (what an HTTP request executes, minus HTTP): trends,
deviations, populations, coverage and drift, each the median of several runs after a warm-up. A
population comes back as the response's JSON bytes (the service writes them), so its figures
include the encoding that the other answers leave to the HTTP layer.

    python3 -m uv run --frozen python bench/bench_history.py [--resources N] [--days N] [--keep]
        [--database KEPT_DB [--write]] [--baseline EARLIER_RESULTS.json] [--output RESULTS.json]

Prints the figures and writes bench/results/history.json (or --output) with the machine they were
measured on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from guardian_common import db
from guardian_compliance.history.recorder import record_status_changes
from guardian_compliance.history.repository import HistoryRepository
from guardian_compliance.history.service import HistoryService, population_csv_chunks, resolve_period
from guardian_compliance.scope.service import ensure_default_scope

POSTGRES = os.environ.get("GUARDIAN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
RESULTS = Path(__file__).parent / "results" / "history.json"
ACCOUNT = "123456789012"
START = datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
TYPES = [
    ("AWS::S3::Bucket", "s3", "global"),
    ("AWS::IAM::User", "iam", "global"),
    ("AWS::EC2::Volume", "ec2", "us-east-1"),
    ("AWS::EC2::SecurityGroup", "ec2", "eu-west-1"),
    ("AWS::KMS::Key", "kms", "us-east-1"),
    ("AWS::SQS::Queue", "sqs", "us-east-1"),
    ("AWS::SNS::Topic", "sns", "eu-west-1"),
    ("AWS::Logs::LogGroup", "logs", "us-east-1"),
    ("AWS::DynamoDB::Table", "dynamodb", "eu-west-1"),
    ("AWS::RDS::DBInstance", "rds", "us-east-1"),
]
SEVERITIES = ["critical", "high", "medium", "low"]
TABLES = [
    "history_scans",
    "history_units",
    "history_readiness",
    "history_statuses",
    "history_status_changes",
    "finding_intervals",
    "finding_events",
    "resource_configs",
    "resources",
    "evaluations",
]


def machine(server_version: str) -> dict[str, Any]:
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "postgresql": server_version,
        # The machine is shared: the load average says how much else ran while this was measured.
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


class World:
    """Everything synthetic, decided by one seeded generator."""

    def __init__(self, resources: int, days: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.resources = [
            (
                f"arn:aws:{TYPES[n % len(TYPES)][1]}:::bench-{n:05d}",
                *TYPES[n % len(TYPES)],
            )
            for n in range(resources)
        ]
        self.checks = [
            (f"bench_{t[1]}_{t[0].rsplit('::', 1)[-1].lower()}_{k:02d}", t[0], t[1], SEVERITIES[(n + k) % 4])
            for n, t in enumerate(TYPES)
            for k in range(15)
        ]
        self.controls = {
            f"BENCH-{n:03d}": [self.checks[(n * 7 + j * 31) % len(self.checks)][0] for j in range(1 + n % 3)]
            for n in range(120)
        }

    def scan_at(self, d: int) -> datetime:
        return START + timedelta(days=d)

    def skipped(self, d: int) -> bool:
        return d % 70 == 20

    def failed_service(self, d: int) -> str | None:
        return "iam" if d % 70 == 40 else None


async def insert_rows(
    conn: asyncpg.Connection, table: str, *, columns: list[str], records: list[tuple[Any, ...]]
) -> None:
    """INSERT for tables with jsonb columns: binary COPY has no encoder for the pool's JSON codec."""
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    await conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", records)


async def load(conn: asyncpg.Connection, world: World) -> dict[str, float]:
    rng = world.rng
    timings: dict[str, float] = {}
    began = time.perf_counter()
    await ensure_default_scope(conn, START - timedelta(days=1))
    await conn.execute(
        "INSERT INTO catalogues (catalogue_version, checks) VALUES ('bench', $1)",
        [
            {"id": c, "title": c, "severity": sev, "service": svc, "version": 1, "resource_type": rtype}
            for c, rtype, svc, sev in world.checks
        ],
    )
    await insert_rows(
        conn,
        "controls",
        columns=[
            "control_id",
            "title",
            "description",
            "owner",
            "frequency",
            "mappings",
            "checks",
            "version",
            "origin",
            "created_at",
            "updated_at",
        ],
        records=[
            (cid, cid, cid, "bench", "continuous", [], checks, 1, "bench", START, START)
            for cid, checks in world.controls.items()
        ],
    )
    scans = [d for d in range(world.days) if not world.skipped(d)]
    units = sorted({(svc, region) for _, _, svc, region in world.resources})
    await conn.copy_records_to_table(
        "history_scans",
        columns=["scan_id", "account_id", "at", "state", "partial"],
        records=[(f"s{d}", ACCOUNT, world.scan_at(d), "final", world.failed_service(d) is not None) for d in scans],
    )
    await conn.copy_records_to_table(
        "history_units",
        columns=["scan_id", "account_id", "region", "service", "at", "complete", "status"],
        records=[
            (f"s{d}", ACCOUNT, region, svc, world.scan_at(d), svc != world.failed_service(d), "complete")
            for d in scans
            for svc, region in units
        ],
    )
    timings["scans_and_units"] = time.perf_counter() - began

    # Every scan evaluated every resource (the population query reads these).
    began = time.perf_counter()
    for d in scans:
        failed = world.failed_service(d)
        await conn.copy_records_to_table(
            "evaluations",
            columns=[
                "scan_id",
                "seq",
                "arn",
                "resource_type",
                "account_id",
                "region",
                "collection_region",
                "service",
                "observed_at",
                "source",
            ],
            records=[
                (f"s{d}", n + 1, arn, rtype, ACCOUNT, region, region, svc, world.scan_at(d), "evaluator")
                for n, (arn, rtype, svc, region) in enumerate(world.resources)
                if svc != failed
            ],
        )
    timings["evaluations"] = time.perf_counter() - began

    # Configurations: every resource on the first day, then 0.5% change each scan.
    began = time.perf_counter()
    configs: dict[str, dict[str, Any]] = {}
    config_rows: list[tuple[Any, ...]] = []
    for arn, _, _, _ in world.resources:
        configs[arn] = {"encryption": {"enabled": True, "key": "aws/default"}, "logging": True, "tags": ["a", "b"]}
        config_rows.append((arn, f"h-{arn}-0", world.scan_at(0) - timedelta(minutes=5), "s0", configs[arn]))
    for d in scans[1:]:
        for arn, _, _, _ in rng.sample(world.resources, len(world.resources) // 200):
            config = json.loads(json.dumps(configs[arn]))
            config["encryption"]["enabled"] = not config["encryption"]["enabled"]
            config["logging"] = rng.random() < 0.5
            configs[arn] = config
            config_rows.append((arn, f"h-{arn}-{d}", world.scan_at(d) - timedelta(minutes=5), f"s{d}", config))
    await insert_rows(
        conn,
        "resource_configs",
        columns=["arn", "config_hash", "observed_at", "scan_id", "configuration"],
        records=config_rows,
    )
    last = world.scan_at(scans[-1])
    await insert_rows(
        conn,
        "resources",
        columns=[
            "arn",
            "resource_type",
            "name",
            "account_id",
            "region",
            "collection_region",
            "service",
            "tags",
            "config_hash",
            "configuration",
            "observed_at",
            "first_seen",
            "last_seen",
            "last_scan_id",
        ],
        records=[
            (
                arn,
                rtype,
                arn.rsplit("-", 1)[-1],
                ACCOUNT,
                region,
                region,
                svc,
                {},
                "h",
                configs[arn],
                last,
                START,
                last,
                f"s{scans[-1]}",
            )
            for arn, rtype, svc, region in world.resources
        ],
    )
    timings["configurations"] = time.perf_counter() - began

    # Failure intervals (and the finding events behind them): ~80 opened a day.
    began = time.perf_counter()
    by_type: dict[str, list[tuple[str, str, str, str]]] = {}
    for arn, rtype, svc, region in world.resources:
        by_type.setdefault(rtype, []).append((arn, rtype, svc, region))
    open_until: dict[tuple[str, str], int] = {}
    intervals: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    scan_set = set(scans)
    for d in scans:
        for _ in range(80):
            check, rtype, _, severity = world.checks[rng.randrange(len(world.checks))]
            arn, _, _, region = rng.choice(by_type[rtype])
            key = (check, arn)
            if open_until.get(key, -1) >= d:
                continue
            closes = d + rng.randint(1, 60)
            while closes not in scan_set and closes < world.days:
                closes += 1
            closed = closes if closes < world.days else None
            reopened = key in open_until
            open_until[key] = closes
            intervals.append(
                (
                    check,
                    arn,
                    rtype,
                    ACCOUNT,
                    region,
                    severity,
                    world.scan_at(d),
                    f"s{d}",
                    world.scan_at(closed) if closed is not None else None,
                    f"s{closed}" if closed is not None else None,
                    "PASS" if closed is not None else None,
                    reopened,
                )
            )
            events.append((check, arn, f"s{d}", "PASS", "FAIL", "failing", world.scan_at(d)))
            if closed is not None:
                events.append((check, arn, f"s{closed}", "FAIL", "PASS", "passing", world.scan_at(closed)))
    await conn.copy_records_to_table(
        "finding_intervals",
        columns=[
            "check_id",
            "resource_arn",
            "resource_type",
            "account_id",
            "region",
            "severity",
            "opened_at",
            "opened_scan",
            "closed_at",
            "closed_scan",
            "closed_as",
            "reopened",
        ],
        records=intervals,
    )
    await conn.copy_records_to_table(
        "finding_events",
        columns=["check_id", "resource_arn", "scan_id", "old_status", "new_status", "reason", "at"],
        records=events,
    )
    timings["intervals"] = time.perf_counter() - began

    # Statuses and readiness per scan for the default scope.
    began = time.perf_counter()
    statuses: list[tuple[Any, ...]] = []
    readiness: list[tuple[Any, ...]] = []
    for d in scans:
        passing = 0
        for cid in world.controls:
            status = "PASS" if rng.random() < 0.8 else "FAIL"
            passing += status == "PASS"
            statuses.append(("default", "soc2", "control", cid, f"s{d}", world.scan_at(d), status))
        for r in range(61):
            statuses.append(("default", "soc2", "requirement", f"R{r:02d}", f"s{d}", world.scan_at(d), "PASS"))
        score = round(100 * passing / len(world.controls), 1)
        categories = [
            {"category": c, "name": c, "score": score, "passing": passing, "applicable": 120}
            for c in ("security", "availability")
        ]
        readiness.append(("default", "soc2", f"s{d}", world.scan_at(d), score, passing, 120, categories, {}))
    by_scan: dict[str, list[tuple[Any, ...]]] = {}
    for row in statuses:
        by_scan.setdefault(row[4], []).append(row)
    # Scan by scan, as finalisation writes them: a scan's statuses, then the recorder's own code
    # derives its status changes (history_status_changes) from them.
    for d in scans:
        await conn.copy_records_to_table(
            "history_statuses",
            columns=["scope_id", "framework_id", "kind", "item_id", "scan_id", "at", "status"],
            records=by_scan[f"s{d}"],
        )
        await record_status_changes(conn, f"s{d}")
    await insert_rows(
        conn,
        "history_readiness",
        columns=[
            "scope_id",
            "framework_id",
            "scan_id",
            "at",
            "score",
            "passing",
            "applicable",
            "by_category",
            "counts",
        ],
        records=readiness,
    )
    timings["statuses"] = time.perf_counter() - began
    await conn.execute("ANALYZE")
    return timings


async def timed(runs: int, work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    result = await work()  # warm-up
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        result = await work()
        samples.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(samples), 1), result


async def measure(conn: asyncpg.Connection, world: World, runs: int) -> dict[str, Any]:
    now = world.scan_at(world.days - 1) + timedelta(hours=6)
    svc = HistoryService(
        conn,
        now,
        window=timedelta(hours=26),
        sla_days={"critical": 1, "high": 7, "medium": 30, "low": 90},
    )
    year = await resolve_period(conn, "default", None, START.date().isoformat(), None, now)
    month = await resolve_period(conn, "default", None, (now - timedelta(days=30)).date().isoformat(), None, now)
    as_of = world.scan_at(world.days // 2) + timedelta(hours=12)
    control = next(cid for cid, checks in world.controls.items() if len(checks) == 3)
    out: dict[str, Any] = {}

    async def trends_day() -> Any:
        return await svc.trends(year, "soc2", "day")

    async def trends_week() -> Any:
        return await svc.trends(year, "soc2", "week")

    async def deviations_one() -> Any:
        return await svc.deviations(year, "soc2", control)

    async def deviations_all() -> Any:
        return await svc.deviations(year, "soc2", None)

    async def population() -> Any:
        return await svc.population(year.scope, as_of, None)

    async def population_type() -> Any:
        return await svc.population(year.scope, as_of, "AWS::IAM::User")

    async def deviations_month() -> Any:
        return await svc.deviations(month, "soc2", None)

    async def population_page() -> Any:
        return await svc.population(year.scope, as_of, None, limit=1000)

    middle = json.loads(await svc.population(year.scope, as_of, None, limit=5000))["next_cursor"]

    async def population_next_page() -> Any:
        return await svc.population(year.scope, as_of, None, limit=1000, cursor=middle)

    async def population_csv() -> Any:
        # The streamed export (a server-side cursor), every chunk consumed: what the download costs.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return [c async for c in population_csv_chunks(svc.population_stream(year.scope, as_of, None))]

    async def deviations_all_page() -> Any:
        return await svc.deviations(year, "soc2", None, limit=1000)

    deep = await svc.deviations(year, "soc2", None, limit=10000)
    deeper = await svc.deviations(year, "soc2", None, limit=10000, cursor=deep.next_cursor)

    async def deviations_all_page_after_20000() -> Any:
        return await svc.deviations(year, "soc2", None, limit=1000, cursor=deeper.next_cursor)

    async def deviations_month_page() -> Any:
        return await svc.deviations(month, "soc2", None, limit=1000)

    async def deviations_all_pages() -> Any:
        # Every page of 10,000, cursor to cursor: what a client reading everything pays in all.
        pages = [await svc.deviations(year, "soc2", None, limit=10000)]
        while pages[-1].next_cursor is not None:
            pages.append(await svc.deviations(year, "soc2", None, limit=10000, cursor=pages[-1].next_cursor))
        return sum(len(p.items) for p in pages)

    async def coverage() -> Any:
        return await svc.coverage(year)

    async def drift() -> Any:
        return await svc.drift(month, account_id=None, resource_type=None, resource_arn=None, limit=10000)

    repo = HistoryRepository(conn)
    control_checks = world.controls[control]

    async def sql_trends() -> Any:
        return await repo.readiness("default", "soc2", year.whole.start, year.elapsed.end)

    async def sql_intervals() -> Any:
        return await repo.intervals(control_checks, year.whole.start, year.whole.end)

    async def sql_population() -> Any:
        return await repo.population(as_of, None)

    queries: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[Any], Any]]] = [
        ("sql_only_trends_year", sql_trends, len),
        ("sql_only_deviation_intervals_one_control", sql_intervals, len),
        ("sql_only_population_as_of_mid_year", sql_population, len),
        ("trends_year_daily", trends_day, lambda r: len(r.points)),
        ("trends_year_weekly", trends_week, lambda r: len(r.points)),
        ("deviations_year_one_control", deviations_one, lambda r: r.deviation_count),
        ("deviations_year_all_120_controls", deviations_all, lambda r: r.deviation_count),
        ("deviations_last_30_days_all_120_controls", deviations_month, lambda r: r.deviation_count),
        ("deviations_year_all_controls_page_of_1000", deviations_all_page, lambda r: len(r.items)),
        ("deviations_year_all_controls_page_after_20000", deviations_all_page_after_20000, lambda r: len(r.items)),
        ("deviations_last_30_days_page_of_1000", deviations_month_page, lambda r: len(r.items)),
        ("deviations_year_all_controls_every_page_of_10000", deviations_all_pages, lambda r: r),
        ("population_as_of_mid_year", population, lambda r: json.loads(r)["count"]),
        ("population_page_of_1000_as_of_mid_year", population_page, lambda r: json.loads(r)["count"]),
        ("population_page_of_1000_after_5000", population_next_page, lambda r: json.loads(r)["count"]),
        ("population_csv_export_streamed", population_csv, lambda r: sum(c.count("\n") for c in r) - 1),
        ("population_iam_users_as_of_mid_year", population_type, lambda r: json.loads(r)["count"]),
        ("coverage_year", coverage, lambda r: len(r.units)),
        ("drift_last_30_days", drift, lambda r: r.count),
    ]
    for name, work, size in queries:
        median, result = await timed(runs, work)
        out[name] = {"median_ms": median, "rows": size(result)}
        print(f"  {name:<40} {median:>8.1f} ms  ({size(result)} rows)")
    return out


async def storage(conn: asyncpg.Connection) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    for table in TABLES:
        row = await conn.fetchrow(
            "SELECT pg_total_relation_size(c.oid) AS total, pg_indexes_size(c.oid) AS indexes, c.reltuples AS rows"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'compliance' AND c.relname = $1",
            table,
        )
        sizes[table] = {
            "rows": int(row["rows"]),
            "total_mb": round(row["total"] / 1024 / 1024, 1),
            "indexes_mb": round(row["indexes"] / 1024 / 1024, 1),
        }
    history_only = [t for t in TABLES if t.startswith("history_") or t == "finding_intervals"]
    sizes["history_tables_total_mb"] = round(sum(sizes[t]["total_mb"] for t in history_only), 1)
    return sizes


async def main(args: argparse.Namespace) -> None:
    reuse = args.database is not None
    name = args.database or f"guardian_bench_history_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        if not reuse:
            await admin.execute(f'CREATE DATABASE "{name}"')
        server_version = str(await admin.fetchval("SHOW server_version"))
    finally:
        await admin.close()
    url = f"{POSTGRES}/{name}"
    try:
        # On a kept database this applies only migrations added since it was loaded.
        await db.migrate(url, "compliance", "guardian_compliance.migrations")
        pool = await db.create_pool(url, "compliance", min_size=1, max_size=1)
        world = World(args.resources, args.days)
        async with pool.acquire() as conn:
            if reuse:
                print(f"reusing {name}: not loading" + ("" if args.write else f", not writing {args.output.name}"))
                await conn.execute("ANALYZE")
                load_timings, load_seconds = {}, 0.0
            else:
                print(f"loading {args.days} days x {args.resources} resources, {len(world.checks)} checks into {name}")
                began = time.perf_counter()
                load_timings = await load(conn, world)
                load_seconds = time.perf_counter() - began
                print(f"loaded in {load_seconds:.0f} s")
            print(f"timing (median of {args.runs} runs):")
            queries = await measure(conn, world, args.runs)
            sizes = await storage(conn)
        await pool.close()
        print(
            f"  history tables: {sizes['history_tables_total_mb']} MB;"
            f" evaluations {sizes['evaluations']['total_mb']} MB"
        )
        if reuse and not args.write:
            return
        report: dict[str, Any] = {
            "benchmark": "monitoring history queries",
            "measured_at": datetime.now(UTC).isoformat(),
            "machine": machine(server_version),
            "shape": {
                "days": args.days,
                "resources": args.resources,
                "checks": len(world.checks),
                "controls": len(world.controls),
                "scans": sum(1 for d in range(args.days) if not world.skipped(d)),
            },
            # A kept database (--database --write) was loaded by an earlier run: no load figures.
            "load_seconds": None if reuse else round(load_seconds, 1),
            "load_breakdown_seconds": {k: round(v, 1) for k, v in load_timings.items()},
            "queries": queries,
            "storage": sizes,
        }
        if args.baseline is not None:
            # An earlier run's figures (e.g. before an optimisation) kept beside these for comparison.
            earlier = json.loads(args.baseline.read_text())
            report["baseline"] = {k: earlier.get(k) for k in ("measured_at", "machine", "queries", "note")}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.output}")
    finally:
        if not args.keep and not reuse:
            admin = await asyncpg.connect(f"{POSTGRES}/postgres")
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards")
    parser.add_argument("--database", help="Time the queries on a database kept by --keep (no load, no results)")
    parser.add_argument("--write", action="store_true", help="With --database: write the results file too")
    parser.add_argument("--baseline", type=Path, help="An earlier results file to include for comparison")
    # Trial runs write elsewhere, so the published results are never left half-measured.
    parser.add_argument("--output", type=Path, default=RESULTS, help="Where to write the results")
    asyncio.run(main(parser.parse_args()))
