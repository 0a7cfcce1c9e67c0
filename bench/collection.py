"""Collection: scan time against resource count and injected latency, and adaptive concurrency.

A moto server is seeded with the benchmark environment at growing scales; Guardian's collectors
(the services of bench/environment.py, one region) read it through the fault proxy with 0 and 50 ms
added to every AWS call. Reported per run: resources emitted, AWS calls made, wall time, calls per
second and the governor's view per (service, region): the concurrency limit it ended at, the peak in
flight, throttled answers and decreases. A last run throttles 30 % of the calls to show the limits
backing off while the collection still completes with the same resources.

    python3 -m uv run --frozen python -m bench.collection [--scales 0.25 0.5 1] [--latencies 0 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from bench import environment, machine
from guardian_collector.collection import AwsTarget, ClientPool, collect_account
from guardian_collector.collectors.base import Resource
from guardian_testkit.faults import FaultProxy, FaultRule
from guardian_testkit.moto import MotoServer


async def collect(url: str, *, adaptive: bool = True) -> dict[str, Any]:
    emitted: list[Resource] = []

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        emitted.append(resource)

    target = AwsTarget(endpoint_url=url, max_attempts=10, adaptive_concurrency=adaptive)
    start = time.perf_counter()
    async with ClientPool(target) as pool:
        outcome = await collect_account(
            pool,
            account_id=environment.ACCOUNT,
            regions=[environment.REGION],
            services=environment.GUARDIAN_SERVICES,
            emit=emit,
        )
        governor = pool.governor.report() if pool.governor is not None else {}
    elapsed = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for unit in outcome.units:
        statuses[unit.status.value] = statuses.get(unit.status.value, 0) + 1
    return {
        "resources": len(emitted),
        "arns": sorted(r.arn for r in emitted),
        "seconds": round(elapsed, 2),
        "unit_statuses": statuses,
        "governor": governor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.0, 0.05])
    parser.add_argument("--name", default="collection")
    args = parser.parse_args()
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
                    proxy.reset_counters()
                    proxy.delay_all(latency)
                    result = asyncio.run(collect(proxy.url))
                    calls = sum(proxy.calls.values())
                    run = {
                        "scale": scale,
                        "seeded_resources": environment.total(counts),
                        "latency_ms": round(latency * 1000),
                        "aws_calls": calls,
                        "calls_per_second": round(calls / result["seconds"], 1),
                        **{k: v for k, v in result.items() if k != "arns"},
                    }
                    runs.append(run)
                    print(
                        f"scale {scale:>5} ({run['seeded_resources']} seeded) latency {run['latency_ms']:>3} ms: "
                        f"{run['resources']} resources, {calls} calls in {run['seconds']} s",
                        flush=True,
                    )
        # Throttling: 30 % of every service's calls answered with its throttling error.
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
    figures = {"runs": runs, "throttling": throttled, "services": environment.GUARDIAN_SERVICES}
    print(f"written: {machine.write(args.name, figures)}")


if __name__ == "__main__":
    main()
