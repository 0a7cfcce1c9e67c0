"""Guardian against Prowler on the same moto-served account: wall time, peak memory, disagreements.

- Prowler is installed on first use in its own virtual environment, ``bench/.venv-prowler``
  (``python3 -m venv`` + ``pip install prowler``), never in Guardian's.
- One moto server is seeded with the bundled environment (bench/environment.py, ~2,200 resources,
  us-east-1); a FaultProxy in front of it adds 0 or 50 ms to every AWS call.
- Both tools get the proxy as their AWS endpoint. Prowler through ``AWS_ENDPOINT_URL`` (botocore
  >= 1.31 sends every client there); Guardian's collector through ``GUARDIAN_AWS_ENDPOINT_URL``.
- Runs alternate (Prowler, Guardian, Prowler, ...), several each. Prowler:
  ``prowler aws -f us-east-1 --compliance soc2_aws --scan-unused-services`` (JSON-OCSF output).
  Guardian: ``guardian scan --region us-east-1 --service ...`` against compliance, evaluator and
  collector running as their own processes; the clock stops when the command returns, which it
  does once the scan's statuses are final. ``--guardian-services`` picks the collectors: ``moto``
  (default) every one moto can serve (the demo's list: moto answers the others with errors that only
  cost botocore's retries), ``shared`` only those whose AWS service Prowler's ``soc2_aws`` checks read
  too, ``all`` every collector.
- Memory is sampled every 0.2 s with psutil: Prowler's whole process tree; Guardian's three service
  processes (and the CLI apart); the machine's NATS and PostgreSQL processes apart (shared with
  whatever else runs there, so they are an upper bound).
- Disagreements: for every pair of checks in bench/prowler_map.py, every resource both tools judged
  with different statuses, with each tool's own reason.

    python3 -m uv run --frozen python -m bench.vs_prowler [--runs 3] [--latencies 0 0.05] [--only guardian]

``--only guardian`` (or ``prowler``) times one tool alone, for profiling; Guardian's runs also record
where the time went (collection, then evaluation and compliance until final statuses) and the AWS
calls each tool made through the proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench import environment, machine
from bench.harness import Pipeline
from bench.prowler_map import NOTES, PAIRS, REVERSE, normalise_arn, shared_collectors
from guardian_common.auth import Role, mint_key
from guardian_testkit.faults import FaultProxy
from guardian_testkit.moto import MotoServer

VENV = Path(__file__).parent / ".venv-prowler"
PROWLER = VENV / "bin" / "prowler"


def ensure_prowler() -> str:
    """Install Prowler in its own venv on first use; returns its version line."""
    if not PROWLER.exists():
        print(f"installing prowler into {VENV} (first use)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = str(VENV / "bin" / "pip")
        subprocess.run([pip, "install", "-q", "--upgrade", "pip"], check=True)
        done = subprocess.run([pip, "install", "-q", "prowler"], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"prowler could not be installed on Python {sys.version.split()[0]}:\n{done.stderr}")
    # Not ``prowler --version``: that asks api.github.com for the latest release, and we stay on loopback.
    python = str(VENV / "bin" / "python")
    code = "import importlib.metadata as m; print(m.version('prowler'))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return f"prowler {out.stdout.strip()}"


class Sampler:
    """Peak resident memory of groups of processes, sampled in a thread."""

    def __init__(self, groups: dict[str, Any], period: float = 0.2) -> None:
        self.groups = groups  # name -> callable returning a list of psutil.Process
        self.period = period
        self.peaks: dict[str, int] = dict.fromkeys(groups, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, processes in self.groups.items():
                total = 0
                for proc in processes():
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        continue
                self.peaks[name] = max(self.peaks[name], total)
            self._stop.wait(self.period)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def peaks_mb(self) -> dict[str, float]:
        return {name: round(value / 2**20, 1) for name, value in self.peaks.items()}


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def named(*names: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in names:
            found.append(proc)
    return found


def aws_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDIAN_", "AWS_", "VIRTUAL_ENV"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": environment.REGION,
            "AWS_ENDPOINT_URL": endpoint,
        }
    )
    return env


def run_prowler(endpoint: str, out_dir: Path) -> dict[str, Any]:
    shutil.rmtree(out_dir, ignore_errors=True)
    command = [
        str(PROWLER),
        "aws",
        "-f",
        environment.REGION,
        "--compliance",
        "soc2_aws",
        "--scan-unused-services",
        "-M",
        "json-ocsf",
        "-o",
        str(out_dir),
        "--no-banner",
        "--ignore-exit-code-3",
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=aws_env(endpoint), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with Sampler({"prowler_tree": lambda: tree(proc.pid)}) as sampler:
        output, _ = proc.communicate()
    elapsed = time.perf_counter() - start
    return {
        "exit_code": proc.returncode,
        "seconds": round(elapsed, 1),
        "peak_rss_mb": sampler.peaks_mb(),
        "tail": output[-1500:],
    }


def prowler_findings(out_dir: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(guardian check id, ARN) -> (status, Prowler's own reason) for the paired checks."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for path in out_dir.rglob("*.ocsf.json"):
        for item in json.loads(path.read_text() or "[]"):
            code = item.get("metadata", {}).get("event_code")
            guardian = REVERSE.get(code)
            if guardian is None:
                continue
            status = item.get("status_code", "")
            for resource in item.get("resources", []):
                key = (guardian, normalise_arn(str(resource.get("uid", ""))))
                previous = found.get(key)
                # Two Prowler checks for one Guardian check: any FAIL fails.
                if previous is None or status == "FAIL":
                    found[key] = (status, str(item.get("status_detail", "")))
    return found


async def start_guardian(pipe: Pipeline, endpoint: str) -> None:
    await pipe.create_database()
    await pipe.start()
    collector = pipe.add(
        "collector",
        "guardian_collector",
        GUARDIAN_AWS_ENDPOINT_URL=endpoint,
        GUARDIAN_REGIONS=json.dumps([environment.REGION]),
        GUARDIAN_DEFAULT_SCHEDULE_CRON="",
    )
    collector.env.update(
        {k: v for k, v in aws_env(endpoint).items() if k.startswith("AWS_") and k != "AWS_ENDPOINT_URL"}
    )
    collector.start()
    await collector.ready()


async def wait_no_scan_running(pipe: Pipeline, wait_seconds: float = 900.0) -> None:
    """A run whose CLI gave up leaves its scan running; the next run would be refused (same scope)."""
    deadline = time.monotonic() + wait_seconds
    try:
        while time.monotonic() < deadline:
            try:
                running = await pipe.fetchrow("SELECT count(*) AS n FROM collector.scans WHERE state = 'running'")
            except Exception:  # the collector's schema not there yet: nothing runs
                return
            if not running or int(running["n"]) == 0:
                return
            await asyncio.sleep(2)
    finally:
        await pipe.close_reader()


def run_guardian(pipe: Pipeline, home: Path, services: list[str] | None) -> dict[str, Any]:
    asyncio.run(wait_no_scan_running(pipe))
    secret = pipe.services["compliance"].env["GUARDIAN_AUTH_SECRET"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")}
    env.update(
        {
            "GUARDIAN_COLLECTOR_URL": pipe.services["collector"].url,
            "GUARDIAN_COMPLIANCE_URL": pipe.services["compliance"].url,
            "GUARDIAN_EVALUATOR_URL": pipe.services["evaluator-0"].url,
            "GUARDIAN_API_KEY": mint_key(secret, Role.EDITOR, "bench")[1],
            "GUARDIAN_HOME": str(home),
        }
    )
    processes = [s.proc for s in pipe.services.values() if s.proc is not None]
    command = [sys.executable, "-m", "guardian_cli.main", "scan", "--region", environment.REGION]
    for service in services or []:
        command += ["--service", service]
    began_at = time.time()  # wall clock, to place the scan's own timestamps inside the CLI's run
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    groups = {
        "guardian_services": lambda: [psutil.Process(p.pid) for p in processes if p.poll() is None],
        "guardian_cli": lambda: tree(proc.pid),
        "nats_server": lambda: named("nats-server"),
        "postgresql": lambda: named("postgres"),
    }
    with Sampler(groups) as sampler:
        output, _ = proc.communicate()
    elapsed = time.perf_counter() - start
    ended_at = time.time()
    return {
        "exit_code": proc.returncode,
        "seconds": round(elapsed, 1),
        "peak_rss_mb": sampler.peaks_mb(),
        "phases": asyncio.run(guardian_phases(pipe, began_at, ended_at)),
        "tail": output[-1500:],
    }


async def guardian_phases(pipe: Pipeline, began_at: float, ended_at: float) -> dict[str, Any]:
    """Where the last Guardian scan's time went: the CLI until the scan started, collection (collector:
    start to ScanCompleted published), then until compliance's statuses were final, then the CLI's
    report until it exited; and the collector's slowest units."""
    row = await pipe.fetchrow(
        "SELECT s.scan_id, s.published, EXTRACT(EPOCH FROM s.completed_at - s.started_at) AS collection, "
        "EXTRACT(EPOCH FROM s.started_at) AS started, EXTRACT(EPOCH FROM c.finalised_at) AS finalised, "
        "EXTRACT(EPOCH FROM c.finalised_at - s.completed_at) AS after_collection, "
        "EXTRACT(EPOCH FROM c.finalised_at - s.started_at) AS to_final "
        "FROM collector.scans s LEFT JOIN compliance.scans c USING (scan_id) ORDER BY s.started_at DESC LIMIT 1"
    )
    units = await pipe.fetch(
        "SELECT service, status, snapshots, EXTRACT(EPOCH FROM u.updated_at - s.started_at) AS done_after "
        "FROM collector.scan_units u JOIN collector.scans s USING (scan_id) WHERE scan_id = $1 "
        "ORDER BY done_after DESC LIMIT 8",
        row["scan_id"] if row else "",
    )
    await pipe.close_reader()
    if row is None:
        return {}

    def secs(value: Any) -> float | None:
        return None if value is None else round(float(value), 1)

    return {
        "snapshots": int(row["published"]),
        "collection_seconds": secs(row["collection"]),
        "after_collection_to_final_seconds": secs(row["after_collection"]),
        "start_to_final_seconds": secs(row["to_final"]),
        # The CLI's own share: starting (imports, POST /scans) and, once final, the report it prints.
        "cli_until_scan_started_seconds": secs(float(row["started"]) - began_at) if row["started"] else None,
        "cli_after_final_seconds": secs(ended_at - float(row["finalised"])) if row["finalised"] else None,
        "slowest_units": [
            {
                "service": u["service"],
                "status": u["status"],
                "snapshots": u["snapshots"],
                "done_after": secs(u["done_after"]),
            }
            for u in units
        ],
    }


async def guardian_findings(pipe: Pipeline) -> dict[tuple[str, str], tuple[str, str]]:
    rows = await pipe.fetch("SELECT check_id, resource_arn, status, reason FROM compliance.findings")
    await pipe.close_reader()  # each asyncio.run has its own loop; the connection belongs to this one
    return {
        (r["check_id"], normalise_arn(r["resource_arn"])): (r["status"], r["reason"])
        for r in rows
        if r["check_id"] in PAIRS
    }


def disagreements(
    guardian: dict[tuple[str, str], tuple[str, str]], prowler: dict[tuple[str, str], tuple[str, str]]
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    listed: list[dict[str, str]] = []
    both = sorted(set(guardian) & set(prowler))
    for key in both:
        g_status, g_reason = guardian[key]
        p_status, p_reason = prowler[key]
        if g_status == p_status:
            continue
        listed.append(
            {
                "check": key[0],
                "prowler_checks": ", ".join(PAIRS[key[0]]),
                "resource": key[1],
                "guardian": g_status,
                "prowler": p_status,
                "guardian_reason": g_reason,
                "prowler_reason": p_reason,
                "known_difference": NOTES.get(key[0], ""),
            }
        )
    one_sided: dict[str, dict[str, int]] = {"guardian": {}, "prowler": {}}
    for side, mine, theirs in (("guardian", guardian, prowler), ("prowler", prowler, guardian)):
        for check, _ in set(mine) - set(theirs):
            one_sided[side][check] = one_sided[side].get(check, 0) + 1
    counts: dict[str, Any] = {
        "judged_by_both": len(both),
        "only_guardian": len(set(guardian) - set(prowler)),
        "only_prowler": len(set(prowler) - set(guardian)),
        "one_sided_by_check": one_sided,
        "agree": len(both) - len(listed),
        "disagree": len(listed),
    }
    return listed, counts


def guardian_services(choice: str) -> list[str] | None:
    """The collectors Guardian's scan runs (None: every one)."""
    if choice == "all":
        return None
    from guardian_cli.demo_env import demo_services

    servable = demo_services()
    if choice == "moto":
        return servable
    framework = next(VENV.glob("lib/python*/site-packages/prowler/compliance/aws/soc2_aws.json"))
    checks = [c for r in json.loads(framework.read_text())["Requirements"] for c in r.get("Checks", [])]
    return shared_collectors(servable, checks)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1), "max": round(max(values), 1)}


def timing_summary(prowler_runs: list[dict[str, Any]], guardian_runs: list[dict[str, Any]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if prowler_runs:
        figures["prowler_seconds"] = summary([r["seconds"] for r in prowler_runs])
        figures["prowler_runs_seconds"] = [r["seconds"] for r in prowler_runs]
        figures["prowler_peak_rss_mb"] = max(r["peak_rss_mb"]["prowler_tree"] for r in prowler_runs)
    if guardian_runs:
        figures["guardian_seconds"] = summary([r["seconds"] for r in guardian_runs])
        figures["guardian_runs_seconds"] = [r["seconds"] for r in guardian_runs]
        figures["guardian_phases"] = [r["phases"] for r in guardian_runs]
        figures["guardian_services_peak_rss_mb"] = max(r["peak_rss_mb"]["guardian_services"] for r in guardian_runs)
        figures["guardian_cli_peak_rss_mb"] = max(r["peak_rss_mb"]["guardian_cli"] for r in guardian_runs)
        figures["nats_peak_rss_mb"] = max(r["peak_rss_mb"]["nats_server"] for r in guardian_runs)
        figures["postgresql_peak_rss_mb"] = max(r["peak_rss_mb"]["postgresql"] for r in guardian_runs)
    if prowler_runs and guardian_runs:
        figures["speedup_median"] = round(
            figures["prowler_seconds"]["median"] / figures["guardian_seconds"]["median"], 1
        )
    figures["exit_codes"] = {
        "prowler": [r["exit_code"] for r in prowler_runs],
        "guardian": [r["exit_code"] for r in guardian_runs],
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.0, 0.05])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--name", default="vs_prowler")
    parser.add_argument(
        "--guardian-services",
        choices=["all", "moto", "shared"],
        default="moto",
        help="which collectors Guardian runs: every one; every one moto can serve (the default: those moto "
        "answers with errors only cost retries); or only those whose AWS service Prowler's SOC 2 checks read too",
    )
    parser.add_argument(
        "--only",
        choices=["both", "guardian", "prowler"],
        default="both",
        help="run one tool only (profiling; no comparison, no disagreement list)",
    )
    args = parser.parse_args()
    with_prowler = args.only in ("both", "prowler")
    with_guardian = args.only in ("both", "guardian")
    results: dict[str, Any] = {"only": args.only, "runs": args.runs, "latencies": {}}
    version = ensure_prowler()  # also for --only guardian: the shared services come from its framework
    print(version, flush=True)
    results["prowler_version"] = version
    services = guardian_services(args.guardian_services)
    results["guardian_services"] = {"choice": args.guardian_services, "services": services or "every collector"}
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    with tempfile.TemporaryDirectory(prefix="guardian-vs-prowler-") as tmp_name:
        tmp = Path(tmp_name)
        with MotoServer() as moto, FaultProxy(moto.url) as proxy:
            counts = environment.seed(moto.url, scale=args.scale)
            results["environment"] = {"region": environment.REGION, "resources": counts, "total": sum(counts.values())}
            print(f"seeded {sum(counts.values())} resources", flush=True)
            pipe = Pipeline(nats_url=machine.NATS, postgres_base=machine.POSTGRES, home=tmp / "guardian")
            if with_guardian:
                asyncio.run(start_guardian(pipe, proxy.url))
            try:
                for latency in args.latencies:
                    label = f"{latency * 1000:.0f}ms"
                    proxy.delay_all(latency)
                    prowler_runs: list[dict[str, Any]] = []
                    guardian_runs: list[dict[str, Any]] = []
                    out_dir = tmp / f"prowler-{latency}"
                    for i in range(args.runs):
                        # Alternating; Guardian first: its run is the short one, so a broken set-up shows at once.
                        if with_guardian:
                            proxy.reset_counters()
                            guardian_runs.append(run_guardian(pipe, tmp / "cli", services))
                            guardian_runs[-1]["aws_calls"] = sum(proxy.calls.values())
                            print(
                                f"  {label} guardian run {i + 1}: {guardian_runs[-1]['seconds']} s "
                                f"(exit {guardian_runs[-1]['exit_code']}, {guardian_runs[-1]['aws_calls']} AWS calls) "
                                f"{json.dumps(guardian_runs[-1]['phases'])}",
                                flush=True,
                            )
                        if with_prowler:
                            out_dir = tmp / f"prowler-{latency}-{i}"
                            proxy.reset_counters()
                            prowler_runs.append(run_prowler(proxy.url, out_dir))
                            prowler_runs[-1]["aws_calls"] = sum(proxy.calls.values())
                            print(
                                f"  {label} prowler run {i + 1}: {prowler_runs[-1]['seconds']} s "
                                f"({prowler_runs[-1]['aws_calls']} AWS calls)",
                                flush=True,
                            )
                    figures = timing_summary(prowler_runs, guardian_runs)
                    figures["aws_calls"] = {
                        "prowler": [r["aws_calls"] for r in prowler_runs],
                        "guardian": [r["aws_calls"] for r in guardian_runs],
                    }
                    if with_prowler and with_guardian:
                        listed, counts_agree = disagreements(
                            asyncio.run(guardian_findings(pipe)), prowler_findings(out_dir)
                        )
                        figures["agreement"] = counts_agree
                        figures["disagreements"] = listed
                    figures["last_outputs"] = {
                        "prowler": prowler_runs[-1]["tail"] if prowler_runs else "",
                        "guardian": guardian_runs[-1]["tail"] if guardian_runs else "",
                    }
                    results["latencies"][label] = figures
                    shown = {k: v for k, v in figures.items() if k not in ("disagreements", "last_outputs")}
                    print(json.dumps(shown, indent=1), flush=True)
                    # Written after every latency, so a run cut short keeps what it measured.
                    machine.write(args.name, results)
            finally:
                if with_guardian:
                    asyncio.run(pipe.stop())
    results["endpoint_override"] = (
        "Prowler: AWS_ENDPOINT_URL in its environment (botocore >= 1.31 honours it for every client); "
        "Guardian: GUARDIAN_AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL) for the collector"
    )
    print(f"written: {machine.write(args.name, results)}")


if __name__ == "__main__":
    main()
