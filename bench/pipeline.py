"""Pipeline throughput: synthetic snapshots through NATS, evaluators, compliance and PostgreSQL.

For each evaluator count and snapshot count, a fresh compliance process and N evaluator processes
(``python -m guardian_<svc>``) are started on a scratch database and a bus prefix of their own; the
benchmark publishes a scan the way the collector does (ScanStarted, every snapshot, ScanCompleted)
and waits until compliance has finalised it (every seq evaluated, batched commits, acks after the
commit). Reported: end-to-end time and throughput, the publishing time, every process's resident
memory sampled as the count grows (peak and per 10 % of progress), CPU seconds per process and the
per-evaluator efficiency against one evaluator. The database and the streams are dropped afterwards.

    python3 -m uv run --frozen python -m bench.pipeline --counts 100000 --evaluators 1 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import machine
from bench.harness import Pipeline
from bench.synthetic import SnapshotFactory, load_templates

TARGET = 5_000


async def one_run(factory: SnapshotFactory, count: int, evaluators: int, home: Path) -> dict[str, Any]:
    pipe = Pipeline(nats_url=machine.NATS, postgres_base=machine.POSTGRES, home=home, evaluators=evaluators)
    await pipe.create_database()
    try:
        await pipe.start()
        # What the services cost before the scan (imports, migrations, catalogue and library sync):
        # subtracted below so that the per-snapshot figures say what the scan itself cost.
        load_at_start = round(os.getloadavg()[0], 2)
        cpu_at_start = {name: s.cpu_seconds() for name, s in pipe.services.items()}
        backends_at_start = await backend_cpu_by_pid(pipe)
        commits_at_start = await committed_transactions(pipe)
        nc = await pipe.connect()
        js = nc.jetstream()
        scan_id = f"bench-{pipe.prefix}"
        services = sorted({s for s in (e.service for e in factory.events(400))})
        units: Counter[tuple[str, str]] = Counter()
        memory: list[dict[str, Any]] = []
        stop_sampling = asyncio.Event()
        all_evaluated: list[float] = []

        async def sample() -> None:
            next_mark = 0.0
            while not stop_sampling.is_set():
                try:
                    done, _ = await pipe.progress(scan_id)
                except Exception as exc:  # a busy shared server must not end the run: sample again
                    print(f"   (progress not read: {type(exc).__name__})", flush=True)
                    await asyncio.sleep(1.0)
                    continue
                if done >= count and not all_evaluated:
                    all_evaluated.append(time.perf_counter() - start)
                rss = {name: s.rss() for name, s in pipe.services.items()}
                if done >= next_mark * count:
                    memory.append({"evaluated": done, "rss_mb": {k: round(v / 2**20, 1) for k, v in rss.items()}})
                    next_mark += 0.1
                await asyncio.sleep(1.0)

        start = time.perf_counter()
        sampler = asyncio.create_task(sample())
        await pipe.start_scan(js, scan_id, ["global", "us-east-1"], services)
        await pipe.publish(js, factory.events(count, scan_id=scan_id), units)
        await pipe.complete_scan(js, scan_id, units)
        published = time.perf_counter() - start
        state = await pipe.wait_final(scan_id, wait_seconds=7200, poll=0.5)
        elapsed = time.perf_counter() - start
        stop_sampling.set()
        await sampler
        done, _ = await pipe.progress(scan_id)
        memory.append({"evaluated": done, "rss_mb": {k: round(s.rss() / 2**20, 1) for k, s in pipe.services.items()}})
        cpu_now = {name: s.cpu_seconds() for name, s in pipe.services.items()}
        cpu = {name: round(value, 1) for name, value in cpu_now.items()}
        # PostgreSQL's share: the CPU of the server processes serving the scratch database (the
        # services' pooled connections; one closed for idleness before this point is not counted).
        backends = await backend_cpu_by_pid(pipe)
        cpu["postgres_backends"] = round(sum(backends.values()), 1)
        scan_cpu = {name: value - cpu_at_start.get(name, 0.0) for name, value in cpu_now.items()}
        scan_cpu["postgres_backends"] = sum(v - backends_at_start.get(pid, 0.0) for pid, v in backends.items())
        load_at_end = round(os.getloadavg()[0], 2)
        # Transactions committed during the scan, the harness's own progress reads (about two a
        # second) included; PostgreSQL's statistics may lag by a second. Fewer, larger batches
        # are cheaper per snapshot on both sides of the connection.
        commits = await committed_transactions(pipe) - commits_at_start
        duplicates = await pipe.duplicates(scan_id)
        results = await pipe.fetchrow("SELECT count(*) AS n FROM compliance.scan_results WHERE scan_id = $1", scan_id)
        await nc.close()
        return {
            "snapshots": count,
            "evaluators": evaluators,
            "state": state,
            "evaluations_recorded": done,
            "check_results_recorded": int(results["n"]),
            "duplicates": duplicates,
            "publish_seconds": round(published, 1),
            # Every snapshot's evaluation committed (sampled each second), then the scan finalised.
            "all_evaluated_seconds": round(all_evaluated[0], 1) if all_evaluated else None,
            "evaluation_rate_per_second": round(count / all_evaluated[0]) if all_evaluated else None,
            "finalise_seconds": round(elapsed - all_evaluated[0], 1) if all_evaluated else None,
            "end_to_end_seconds": round(elapsed, 1),
            "snapshots_per_second": round(count / elapsed),
            "cpu_seconds": cpu,
            # The same without what each process had spent when it was ready (startup is a fixed
            # cost, large next to a 10,000 run), and that per snapshot in milliseconds.
            "scan_cpu_seconds": {name: round(value, 2) for name, value in scan_cpu.items()},
            "scan_cpu_ms_per_snapshot": {name: round(1000 * value / count, 3) for name, value in scan_cpu.items()},
            "load_average_1m": {"start": load_at_start, "end": load_at_end},
            "transactions_committed": commits,
            "peak_rss_mb": {name: round(s.peak_rss / 2**20, 1) for name, s in pipe.services.items()},
            "memory_by_progress": memory,
        }
    finally:
        await pipe.stop()


async def backend_cpu_by_pid(pipe: Pipeline) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to the benchmark's database."""
    rows = await pipe.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return {int(row["pid"]): _process_cpu_seconds(int(row["pid"])) for row in rows}


async def committed_transactions(pipe: Pipeline) -> int:
    """Transactions committed so far in the benchmark's database, as PostgreSQL's statistics say."""
    await pipe.fetch("SELECT pg_stat_clear_snapshot()")
    row = await pipe.fetchrow("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    return int(row["xact_commit"]) if row else 0


def _process_cpu_seconds(pid: int) -> float:
    """A local process's user and system CPU seconds (0 when it is not on this machine or has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100_000])
    parser.add_argument("--evaluators", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--name", default="pipeline")
    args = parser.parse_args()
    factory = SnapshotFactory(load_templates())
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="guardian-bench-") as tmp:
        for count in args.counts:
            for evaluators in args.evaluators:
                print(f"== {count} snapshots, {evaluators} evaluator(s)", flush=True)
                result = asyncio.run(one_run(factory, count, evaluators, Path(tmp) / f"{count}-{evaluators}"))
                runs.append(result)
                keys = (
                    "state",
                    "all_evaluated_seconds",
                    "end_to_end_seconds",
                    "snapshots_per_second",
                    "publish_seconds",
                    "cpu_seconds",
                    "scan_cpu_ms_per_snapshot",
                    "load_average_1m",
                    "transactions_committed",
                    "peak_rss_mb",
                )
                for key in keys:
                    print(f"   {key}: {result[key]}", flush=True)
    # Per-evaluator efficiency: throughput with k evaluators / (k x throughput with one), per count.
    by_count: dict[int, dict[int, float]] = {}
    for run in runs:
        by_count.setdefault(run["snapshots"], {})[run["evaluators"]] = run["snapshots_per_second"]
    efficiency = {
        str(count): {str(k): round(rate / (k * rates[1]), 2) for k, rate in rates.items()}
        for count, rates in by_count.items()
        if 1 in rates
    }
    figures = {
        "runs": runs,
        "per_evaluator_efficiency": efficiency,
        "target_per_second": TARGET,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "note": "2 cores shared by the publisher, compliance, the evaluators, NATS and PostgreSQL",
    }
    print(f"per-evaluator efficiency: {efficiency}")
    print(f"written: {machine.write(args.name, figures)}")


if __name__ == "__main__":
    main()
