"""Dashboard page render times with 10,000 and 100,000 findings.

For each size: a scratch database and bus prefix; compliance, evidence, collector and reporting as
separate processes (as deployed: reporting reads the others over REST); the findings seeded straight
into compliance's tables (the evaluator's real check catalogue, a final scan with every unit complete,
one resource per (type, index) carrying its tags, about a third of findings failing), and a week
of stored daily results for the readiness trend. Then every page is requested in turn, a few times
to warm up and ``--rounds`` times measured, with an auditor's key straight at reporting (the gateway
adds one proxy hop, measured by the gateway's own tests). Prints a table and writes
``bench/results/dashboard.json`` with the machine described.

    python3 -m uv run --frozen python -m bench.bench_dashboard [--sizes 10000 100000] [--rounds 10 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import machine
from bench.harness import ServiceProcess
from guardian_common import db
from guardian_common.auth import Role, mint_key
from guardian_common.events import CheckCatalogue
from guardian_compliance.posture.repository import PostureRepository
from guardian_compliance.posture.service import store_for_scan
from guardian_compliance.scans.repository import ScanRepository
from guardian_evaluator.catalogue.service import catalogue
from guardian_testkit.moto import free_port
from guardian_testkit.resources import drop_database

ACCOUNTS = ["111111111111", "222222222222", "333333333333"]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
GLOBAL_SERVICES = {"s3", "iam", "cloudfront", "route53", "organizations"}
DAYS_OF_HISTORY = 7
SECRET = "bench-dashboard-" + "s" * 32
PAGES = [
    ("overview", "/dashboard"),
    ("overview, one category", "/dashboard?category=confidentiality&status=FAIL"),
    ("control (failing, paged)", "/dashboard/controls/GRD-ENC-01"),
    ("findings", "/dashboard/findings"),
    ("findings, status and region (upstream filters)", "/dashboard/findings?status=FAIL&region=eu-west-1"),
    ("findings, severity and text (local filters)", "/dashboard/findings?severity=high&q=bucket"),
    ("encryption", "/dashboard/encryption"),
    ("scans", "/dashboard/scans"),
]


def _arn(service: str, resource_type: str, account: str, region: str, index: int) -> str:
    kind = resource_type.rsplit("::", 1)[-1].lower()
    if service == "s3":
        return f"arn:aws:s3:::bench-{kind}-{account}-{index}"
    return f"arn:aws:{service}:{region}:{account}:{kind}/bench-{index}"


def synthetic(count: int, checks: list[dict[str, Any]], scan_id: str, now: datetime) -> tuple[list[Any], list[Any]]:
    """``count`` findings over the catalogue's checks, and the resources they are about.

    Finding ``i`` is check ``i mod C`` on resource ``i div C`` of that check's type, so resources of a
    type carry several checks each; every third finding fails and every twentieth errors.
    """
    findings: list[tuple[Any, ...]] = []
    resources: dict[str, tuple[Any, ...]] = {}
    for i in range(count):
        check = checks[i % len(checks)]
        index = i // len(checks)
        account = ACCOUNTS[index % len(ACCOUNTS)]
        service = check["service"]
        region = REGIONS[(index // len(ACCOUNTS)) % len(REGIONS)]
        collection_region = "global" if service in GLOBAL_SERVICES else region
        arn = _arn(service, check["resource_type"], account, region, index)
        name = arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        status = "ERROR" if i % 20 == 7 else "FAIL" if i % 3 == 0 else "PASS"
        verdict = {"FAIL": "not met", "PASS": "met"}.get(status, "unreadable")
        reason = f"{name}: {check['title']} ({verdict})"
        evidence = json.dumps({"setting": {"enabled": status == "PASS", "observed": index}})
        findings.append(
            (
                check["id"],
                arn,
                check["resource_type"],
                name,
                account,
                region,
                collection_region,
                service,
                status,
                check["severity"],
                reason,
                evidence,
                check["version"],
                now,
                now,
                now,
                now,
                scan_id,
            )
        )
        if arn not in resources:
            tags = json.dumps({"env": "prod" if index % 2 else "dev", "team": f"t{index % 7}"})
            config = json.dumps({"name": name, "encrypted": status == "PASS"})
            resources[arn] = (
                arn,
                check["resource_type"],
                name,
                account,
                region,
                collection_region,
                service,
                tags,
                f"h{index}",
                config,
                now,
                now,
                now,
                scan_id,
            )
    return findings, list(resources.values())


FINDING_COLUMNS = [
    "check_id",
    "resource_arn",
    "resource_type",
    "resource_name",
    "account_id",
    "region",
    "collection_region",
    "service",
    "status",
    "severity",
    "reason",
    "evidence",
    "check_version",
    "observed_at",
    "first_seen",
    "last_seen",
    "status_since",
    "last_scan_id",
]
RESOURCE_COLUMNS = [
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
]


async def seed(database_url: str, count: int) -> dict[str, Any]:
    """Catalogue, scans, findings and resources straight into compliance's tables; then stored results."""
    info = catalogue()
    checks = [c.model_dump(mode="json") for c in info.checks]
    pool = await db.create_pool(database_url, "compliance")
    started = time.perf_counter()
    try:
        today = datetime.now(UTC).replace(microsecond=0)
        scan_ids = [f"bench-scan-{day}" for day in range(DAYS_OF_HISTORY)]
        findings, resources = synthetic(count, checks, scan_ids[-1], today)
        units = sorted({(f[6], f[7]) for f in findings})
        async with db.transaction(pool) as conn:
            await ScanRepository(conn).store_catalogue(
                CheckCatalogue(
                    event_id=CheckCatalogue.make_id(info.catalogue_version),
                    catalogue_version=info.catalogue_version,
                    published_at=today - timedelta(days=DAYS_OF_HISTORY),
                    checks=info.checks,
                )
            )
            for day, scan_id in enumerate(scan_ids):
                at = today - timedelta(days=DAYS_OF_HISTORY - 1 - day)
                await conn.execute(
                    "INSERT INTO scans (scan_id, account_id, regions, services, started_at, collected_at,"
                    " total_snapshots, evaluated, state, partial, finalised_at, catalogue_version)"
                    " VALUES ($1, $2, $3, $4, $5, $5, 0, 0, 'final', false, $5, $6)",
                    scan_id,
                    ACCOUNTS[0],
                    REGIONS,
                    sorted({u[1] for u in units}),
                    at,
                    info.catalogue_version,
                )
                await conn.executemany(
                    "INSERT INTO scan_units (scan_id, region, service, status, snapshots, errors)"
                    " VALUES ($1, $2, $3, 'complete', 0, 0)",
                    [(scan_id, region, service) for region, service in units],
                )
        # COPY on a plain connection: the pool's JSON codec is text-only, COPY sends binary (jsonb as text).
        raw = await asyncpg.connect(database_url, server_settings={"search_path": "compliance"})
        try:
            async with raw.transaction():
                await raw.copy_records_to_table("findings", records=findings, columns=FINDING_COLUMNS)
                await raw.copy_records_to_table("resources", records=resources, columns=RESOURCE_COLUMNS)
            await raw.execute("ANALYZE findings; ANALYZE resources")
        finally:
            await raw.close()
        seeded = time.perf_counter() - started
        # A week of stored results (one a day) for the trend: the same computation a final scan runs.
        started = time.perf_counter()
        async with db.transaction(pool) as conn:
            subscribed = sorted((await PostureRepository(conn).subscriptions()).keys()) or ["soc2"]
            for day, scan_id in enumerate(scan_ids):
                await store_for_scan(conn, scan_id, subscribed, today - timedelta(days=DAYS_OF_HISTORY - 1 - day))
        stored = time.perf_counter() - started
    finally:
        await pool.close()
    return {
        "findings": len(findings),
        "resources": len(resources),
        "checks": len(checks),
        "failing": sum(1 for f in findings if f[8] == "FAIL"),
        "seed_seconds": round(seeded, 2),
        "stored_results": DAYS_OF_HISTORY,
        "store_results_seconds": round(stored, 2),
    }


def _env(base: dict[str, str], port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith("GUARDIAN_")}
    env.update({"GUARDIAN_PORT": str(port), "GUARDIAN_LOG_LEVEL": "WARNING"})
    env.update({f"GUARDIAN_{k.upper()}": v for k, v in extra.items()})
    return env


def _server_timing(header: str) -> dict[str, float]:
    """``upstream;dur=12.5;desc="3 calls", render;dur=1.2, total;dur=14.0`` -> {"upstream": 12.5, ...}."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        for item in rest.split(";"):
            key, _, value = item.partition("=")
            if key.strip() == "dur":
                out[name] = float(value)
    return out


def _problem(body: str) -> str:
    """The sentence of a dashboard error page (or the start of any other body)."""
    marker = 'role="alert">'
    if marker in body:
        return body.split(marker, 1)[1].split("</p>", 1)[0]
    return body[:500]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


# Pages whose upstream reads the shared read cache serves (the live posture); the others read alike
# with or without it, so the warm mode measures only these.
CACHED_PAGES = {"overview", "overview, one category", "control (failing, paged)"}


async def measure(url: str, key: str, rounds: int, warmup: int, only: set[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=900) as http:
        for label, path in PAGES:
            if only is not None and label not in only:
                continue
            for _ in range(warmup):
                response = await http.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path} answered {response.status_code}: {_problem(response.text)}")
            times: list[float] = []
            upstream: list[float] = []
            render: list[float] = []
            for _ in range(rounds):
                started = time.perf_counter()
                response = await http.get(path)
                times.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{path} answered {response.status_code}: {_problem(response.text)}")
                parts = _server_timing(response.headers.get("server-timing", ""))
                upstream.append(parts.get("upstream", 0.0))
                render.append(parts.get("render", 0.0))
            p95 = _p95(times)
            own = [t - u for t, u in zip(times, upstream, strict=True)]
            out[label] = {
                "path": path,
                "rounds": rounds,
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(p95, 1),
                "max_ms": round(max(times), 1),
                "upstream_p50_ms": round(statistics.median(upstream), 1),
                "render_p50_ms": round(statistics.median(render), 1),
                "reporting_own_p50_ms": round(statistics.median(own), 1),
                "bytes": len(response.content),
                "under_300ms_p95": p95 < 300,
            }
            page = out[label]
            print(
                f"  {label:<48} p50 {page['p50_ms']:>8.1f}  p95 {p95:>8.1f}"
                f"  upstream p50 {page['upstream_p50_ms']:>8.1f}"
                f"  reporting's own p50 {page['reporting_own_p50_ms']:>6.1f} ms",
                flush=True,
            )
    return out


MODES = {"cold": ("cold, cache off", 0.0), "warm": ("warm, 15 s read cache", 15.0)}


async def run_size(count: int, rounds: int, home: Path, modes_wanted: list[str]) -> dict[str, Any]:
    token = uuid.uuid4().hex[:10]
    database = f"guardian_b_dash_{token}"
    database_url = f"{machine.POSTGRES}/{database}"
    common = {
        "database_url": database_url,
        "nats_url": machine.NATS,
        "bus_prefix": f"bd{token}",
        "auth_secret": SECRET,
        "environment": "test",
    }
    ports = {name: free_port() for name in ("compliance", "evidence", "collector", "reporting")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    base = dict(os.environ)
    processes = [
        ServiceProcess(
            "compliance",
            "guardian_compliance",
            ports["compliance"],
            _env(base, ports["compliance"], **common),
            home / f"compliance-{count}.log",
        ),
        ServiceProcess(
            "evidence",
            "guardian_evidence",
            ports["evidence"],
            _env(base, ports["evidence"], **common, storage_dir=str(home / f"evidence-{count}")),
            home / f"evidence-{count}.log",
        ),
        ServiceProcess(
            "collector",
            "guardian_collector",
            ports["collector"],
            _env(base, ports["collector"], **common, aws_endpoint_url="http://127.0.0.1:9"),
            home / f"collector-{count}.log",
        ),
    ]

    def reporting(cache_seconds: float) -> ServiceProcess:
        return ServiceProcess(
            "reporting",
            "guardian_reporting",
            ports["reporting"],
            _env(
                base,
                ports["reporting"],
                **common,
                compliance_url=urls["compliance"],
                evidence_url=urls["evidence"],
                collector_url=urls["collector"],
                home=str(home / f"reporting-{count}"),
                dashboard_cache_seconds=str(cache_seconds),
            ),
            home / f"reporting-{count}-{cache_seconds}.log",
        )

    admin = await asyncpg.connect(f"{machine.POSTGRES}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    try:
        for process in processes:
            process.start()
            await process.ready()
        print(f"{count} findings: seeding", flush=True)
        seeded = await seed(database_url, count)
        print(f"  seeded in {seeded['seed_seconds']} s, results stored in {seeded['store_results_seconds']} s")
        key = mint_key(SECRET, Role.AUDITOR, "bench-auditor")[1]
        modes: dict[str, Any] = {}
        memory: dict[str, float] = {}
        # Cold: every page reads compliance's live posture. Warm: the default 15 s shared read cache.
        for mode, cache_seconds in (MODES[m] for m in modes_wanted):
            print(f"  {mode}", flush=True)
            process = reporting(cache_seconds)
            process.start()
            try:
                await process.ready()
                # The warm mode is defined by its warm-up; cold runs skip it when rounds are few (100,000).
                warmup = 1 if cache_seconds or rounds >= 3 else 0
                only = CACHED_PAGES if cache_seconds else None
                modes[mode] = await measure(process.url, key, rounds, warmup=warmup, only=only)
                memory = {p.name: round(p.rss() / 2**20, 1) for p in [*processes, process]}
            except Exception:
                print(process.log.read_text()[-6000:], file=sys.stderr)
                raise
            finally:
                process.stop()
        return {"data": seeded, "modes": modes, "rss_mb_after": memory}
    finally:
        for process in reversed(processes):
            process.stop()
        await drop_database(machine.POSTGRES, database)


async def main(sizes: list[int], rounds: list[int], modes: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="guardian-bench-dashboard-") as tmp:
        for index, count in enumerate(sizes):
            results[str(count)] = await run_size(count, rounds[min(index, len(rounds) - 1)], Path(tmp), modes)
    return results


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--rounds", type=int, nargs="+", default=[10, 2], help="measured requests per page, one number per size"
    )
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["cold", "warm"])
    parser.add_argument(
        "--merge", action="store_true", help="keep other sizes and modes already in bench/results/dashboard.json"
    )
    args = parser.parse_args(argv)
    results = asyncio.run(main(args.sizes, args.rounds, args.modes))
    previous = machine.RESULTS / "dashboard.json"
    if args.merge and previous.exists():
        kept: dict[str, Any] = json.loads(previous.read_text()).get("sizes", {})
        for size, fresh in results.items():
            old = kept.get(size, {})
            fresh["modes"] = {**old.get("modes", {}), **fresh["modes"]}
            fresh.setdefault("earlier_run_data", old.get("data"))
        results = {**kept, **results}
    budget = {
        f"{size} findings, {mode}": [label for label, page in pages.items() if not page["under_300ms_p95"]]
        for size, r in results.items()
        for mode, pages in r["modes"].items()
    }
    path = machine.write(
        "dashboard",
        {
            "method": (
                "sequential requests with an auditor key straight at reporting; services as processes; one warm-up"
                " request per page; upstream = time waiting on compliance/evidence/collector (Server-Timing)"
            ),
            "load_average_at_end": list(os.getloadavg()),
            "target": "p95 under 300 ms with 10,000 findings",
            "sizes": results,
            "over_budget": budget,
        },
    )
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
