"""Collection: scan time against resource count and injected latency, and adaptive concurrency.

A moto server is seeded with the benchmark environment at growing scales; Guardian's collectors
(the services of bench/environment.py, one region) read it through the fault proxy with 0 and 50 ms
added to every AWS call. Reported per run: resources emitted, AWS calls made, wall time, calls per
second and the governor's view per (service, region): the concurrency limit it ended at, the peak in
flight, throttled answers and decreases. A last run throttles 30 % of the calls to show the limits
backing off while the collection still completes with the same resources.

    python3 -m uv run --frozen python -m bench.collection [--scales 0.25 0.5 1] [--latencies 0 0.05] [--all-services]

Each run also records the CPU seconds of this process (collectors and proxy) and of the moto
server, the AWS calls per service, the overall peak of requests in flight and the slowest units.
``--profile FILE`` runs the first collection under cProfile (the event loop's thread: the collectors
and botocore, not the proxy's threads) and writes the statistics to FILE (``python -m pstats FILE``);
the profiler's overhead inflates that run's times, so its figures are not comparable with the others.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import time
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench import environment, machine
from guardian_collector.collection import AwsTarget, ClientPool, UnitOutcome, collect_account
from guardian_collector.collectors.base import Resource
from guardian_testkit.faults import FaultProxy, FaultRule
from guardian_testkit.moto import MotoServer


async def collect(
    url: str, *, adaptive: bool = True, services: list[str] | None = None, max_concurrency: int = 32
) -> dict[str, Any]:
    emitted: list[Resource] = []
    finished: list[dict[str, Any]] = []

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        emitted.append(resource)

    target = AwsTarget(
        endpoint_url=url,
        max_attempts=10,
        adaptive_concurrency=adaptive,
        max_concurrency=max_concurrency,
        per_service_concurrency=min(8, max_concurrency),
    )
    start = time.perf_counter()
    cpu = time.process_time()

    async def progress(unit: UnitOutcome) -> None:
        finished.append(
            {
                "unit": f"{unit.service}/{unit.region}",
                "status": unit.status.value,
                "resources": unit.emitted,
                "done_after": round(time.perf_counter() - start, 2),
            }
        )

    async with ClientPool(target) as pool:
        outcome = await collect_account(
            pool,
            account_id=environment.ACCOUNT,
            regions=[environment.REGION],
            services=environment.GUARDIAN_SERVICES if services is None else services or None,
            emit=emit,
            progress=progress,
        )
        governor = pool.governor.report() if pool.governor is not None else {}
        overall = pool.governor.overall.snapshot() if pool.governor is not None else {}
    elapsed = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for unit in outcome.units:
        statuses[unit.status.value] = statuses.get(unit.status.value, 0) + 1
    return {
        "resources": len(emitted),
        "arns": sorted(r.arn for r in emitted),
        "seconds": round(elapsed, 2),
        # This process's CPU: the collectors, and the fault proxy's threads (it runs in this process).
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "unit_statuses": statuses,
        "slowest_units": sorted(finished, key=lambda u: -u["done_after"])[:6],
        "overall": overall,
        "governor": governor,
    }


def moto_cpu_seconds(moto: MotoServer) -> float:
    """CPU seconds the moto server process has used so far (user and system)."""
    process = getattr(moto, "_proc", None)
    if process is None:
        return 0.0
    times = psutil.Process(process.pid).cpu_times()
    return float(times.user + times.system)


def calls_by_service(proxy: FaultProxy) -> dict[str, int]:
    counted: dict[str, int] = {}
    for (service, _operation), n in proxy.calls.items():
        counted[str(service)] = counted.get(str(service), 0) + n
    return dict(sorted(counted.items(), key=lambda item: -item[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.0, 0.05])
    parser.add_argument("--name", default="collection")
    parser.add_argument(
        "--all-services",
        action="store_true",
        help="run every collector (as `guardian scan` does), not only the seeded services",
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        nargs="+",
        default=[32],
        help="the governor's ceiling per (service, region) (GUARDIAN_AWS_CONCURRENCY_MAX); several compare them",
    )
    parser.add_argument("--skip-throttling", action="store_true", help="leave out the 30 %% throttling run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per (latency, ceiling), alternating ceilings")
    parser.add_argument("--profile", metavar="FILE", help="profile the first collection, statistics to FILE")
    args = parser.parse_args()
    services: list[str] | None = [] if args.all_services else None
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    runs: list[dict[str, Any]] = []
    throttled: dict[str, Any] = {}
    with MotoServer() as moto:
        seeded = 0.0
        for scale in sorted(args.scales):
            # Grow the account to this scale: reset and seed (moto cannot remove a share of resources).
            moto.reset()
            counts = environment.seed(moto.url, scale=scale)
            seeded = scale
            with FaultProxy(moto.url) as proxy:
                for latency in args.latencies:
                    # Alternating settings of the concurrency ceiling, so that load on the machine hits each alike.
                    for _repeat in range(args.repeat):
                        for ceiling in args.max_concurrency:
                            proxy.reset_counters()
                            proxy.delay_all(latency)
                            moto_cpu = moto_cpu_seconds(moto)
                            profiler = cProfile.Profile() if args.profile and not runs else None
                            if profiler is not None:
                                profiler.enable()
                            result = asyncio.run(collect(proxy.url, services=services, max_concurrency=ceiling))
                            if profiler is not None:
                                profiler.disable()
                                profiler.dump_stats(args.profile)
                            calls = sum(proxy.calls.values())
                            run = {
                                "scale": scale,
                                "seeded_resources": environment.total(counts),
                                "latency_ms": round(latency * 1000),
                                "max_concurrency": ceiling,
                                "aws_calls": calls,
                                "calls_per_second": round(calls / result["seconds"], 1),
                                "moto_cpu_seconds": round(moto_cpu_seconds(moto) - moto_cpu, 2),
                                "calls_by_service": calls_by_service(proxy),
                                "profiled": profiler is not None,
                                **{k: v for k, v in result.items() if k != "arns"},
                            }
                            runs.append(run)
                            print(
                                f"scale {scale:>5} ({run['seeded_resources']} seeded) "
                                f"latency {run['latency_ms']:>3} ms, "
                                f"max concurrency {ceiling}: "
                                f"{run['resources']} resources, {calls} calls in {run['seconds']} s "
                                f"(CPU: this process {run['cpu_seconds']} s, moto {run['moto_cpu_seconds']} s; "
                                f"peak in flight {run['overall'].get('peak_in_flight')})",
                                flush=True,
                            )
        # Throttling: 30 % of every service's calls answered with its throttling error.
        if not args.skip_throttling:
            with FaultProxy(moto.url) as proxy:
                calm = asyncio.run(collect(proxy.url))
                proxy.reseed(3)
                for service in ("s3", "ec2", "iam", "kms", "sqs", "sns", "logs", "dynamodb", "secretsmanager", "ecr"):
                    proxy.add_rule(FaultRule(service=service, fault="throttle", probability=0.3))
                stormy = asyncio.run(collect(proxy.url))
                throttled = {
                    "scale": seeded,
                    "throttled_share": 0.3,
                    "throttle_answers": sum(n for (_, _, fault), n in proxy.injected.items() if fault == "throttle"),
                    "same_resources_as_without_throttling": stormy["arns"] == calm["arns"],
                    "seconds_without": calm["seconds"],
                    "seconds_with": stormy["seconds"],
                    "unit_statuses": stormy["unit_statuses"],
                    "governor": stormy["governor"],
                }
                print(
                    f"throttling 30 %: {throttled['throttle_answers']} throttled answers, "
                    f"{stormy['seconds']} s (calm {calm['seconds']} s), same resources: "
                    f"{throttled['same_resources_as_without_throttling']}",
                    flush=True,
                )
    figures = {
        "runs": runs,
        "throttling": throttled,
        "services": "all collectors" if args.all_services else environment.GUARDIAN_SERVICES,
    }
    print(f"written: {machine.write(args.name, figures)}")


if __name__ == "__main__":
    main()
