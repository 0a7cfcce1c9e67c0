"""Collection of one account: every (unit, service) concurrently, then the account context.

This module knows AWS and nothing of NATS or the database, so it is used by the scan runner,
by tests (golden snapshots) and by benchmarks alike.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import platform
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import aiobotocore
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from guardian_collector.aws_metrics import instrument
from guardian_collector.collectors import all_collectors
from guardian_collector.collectors.base import (
    COLLECTORS,
    CallError,
    Collector,
    Facts,
    Resource,
    UnitContext,
    UnitFailed,
)
from guardian_collector.concurrency import PUBLISHED_RATE_LIMITS, Governor, RateLimit, ServiceLimits
from guardian_common.events import UnitStatus

GLOBAL = "global"
ACCOUNT_SERVICE = "account"
ACCOUNT_TYPE = "AWS::::Account"


@dataclass(frozen=True)
class AwsTarget:
    """Where and how to reach AWS. Credentials come from the standard chain, never from here."""

    endpoint_url: str | None = None
    home_region: str = "us-east-1"
    partition: str = "aws"
    max_attempts: int = 6
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    # Requests in flight per (service, region) start here and adapt between min_concurrency and
    # max_concurrency (concurrency.py); service_concurrency overrides them for named services.
    per_service_concurrency: int = 8
    adaptive_concurrency: bool = True
    max_concurrency: int = 32
    min_concurrency: int = 1
    # Requests in flight across every service of one scan.
    total_concurrency: int = 256
    # The share of its limit a (service, region) keeps after a throttling answer.
    concurrency_backoff: float = 0.5
    service_concurrency: Mapping[str, ServiceLimits] = field(default_factory=dict)
    # Request rates per service on top of (or instead of) the ones AWS publishes.
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)

    def governor(self) -> Governor | None:
        if not self.adaptive_concurrency:
            return None
        return Governor(
            initial=self.per_service_concurrency,
            minimum=self.min_concurrency,
            maximum=self.max_concurrency,
            total=self.total_concurrency,
            backoff=self.concurrency_backoff,
            services=self.service_concurrency,
            rate_limits={**PUBLISHED_RATE_LIMITS, **self.rate_limits},
        )


@dataclass
class UnitOutcome:
    region: str
    service: str
    status: UnitStatus = UnitStatus.COMPLETE
    emitted: int = 0
    errors: list[CallError] = field(default_factory=list)

    @property
    def first_error(self) -> str | None:
        return self.errors[0].describe() if self.errors else None


@dataclass
class CollectionOutcome:
    units: list[UnitOutcome]
    facts: Facts


Emit = Callable[[Resource, str, str], Awaitable[None]]
"""emit(resource, collection_region, service)"""

Progress = Callable[[UnitOutcome], Awaitable[None]]


def user_agent() -> str:
    """The User-Agent of every AWS call: Guardian by name, then the libraries that make the call.

    A fixed string, so that botocore does not rebuild its structured User-Agent (SDK, OS, language,
    feature ids) twice per request: that was about a tenth of the collector's CPU per call. AWS does
    not need those fields; with Guardian named, its calls are also easy to pick out in CloudTrail.
    """
    try:
        version = importlib.metadata.version("guardian-collector")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    # botocore appends its own name and version (the session's extra) after this.
    return f"guardian-collector/{version} aiobotocore/{aiobotocore.__version__} Python/{platform.python_version()}"


def undo_s3control_host_prefix(request: Any, **_: Any) -> None:
    """With a custom endpoint, s3control prefixes the host with the account id; undo that."""
    url = str(request.url)
    scheme, _sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    first, dot, remainder = host.partition(".")
    if dot and first.isdigit() and len(first) == 12:
        request.url = f"{scheme}://{remainder}{slash}{path}"


class ClientPool:
    """aiobotocore clients, one per (service, region), closed together."""

    def __init__(self, target: AwsTarget, session: AioSession | None = None) -> None:
        self.target = target
        self.session = session or get_session()
        self._stack = AsyncExitStack()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = asyncio.Lock()
        self.governor = target.governor()
        # How many calls one unit may have waiting on AWS at once: with the governor, as many as the
        # governor could ever let through (it does the bounding); without it, the fixed per-service value.
        self.unit_concurrency = self.governor.ceiling if self.governor is not None else target.per_service_concurrency
        self.config = AioConfig(
            # With the governor bounding requests in flight, botocore's "standard" retries; its "adaptive"
            # mode adds a per-client send-rate limiter that collapses under throttling (bench/collection.py:
            # 43 s against 7 s for the same collection with 30 % of calls throttled).
            retries={
                "mode": "standard" if target.adaptive_concurrency else "adaptive",
                "max_attempts": target.max_attempts,
            },
            connect_timeout=target.connect_timeout,
            read_timeout=target.read_timeout,
            s3={"addressing_style": "path"} if target.endpoint_url else None,
            # One client per (service, region): enough connections for everything the governor lets through.
            max_pool_connections=max(10, self.unit_concurrency, target.per_service_concurrency * 2),
            user_agent=user_agent(),
        )

    async def get(self, service: str, region: str) -> Any:
        key = (service, region)
        if key in self._clients:
            return self._clients[key]
        async with self._lock:
            if key not in self._clients:
                creator = self.session.create_client(
                    service, region_name=region, config=self.config, endpoint_url=self.target.endpoint_url
                )
                client = await self._stack.enter_async_context(creator)
                if service == "s3control" and self.target.endpoint_url:
                    client.meta.events.register("before-send.s3-control.*", undo_s3control_host_prefix)
                instrument(client, service)
                if self.governor is not None:
                    self.governor.attach(client, service, region)
                self._clients[key] = client
            return self._clients[key]

    async def close(self) -> None:
        await self._stack.aclose()
        self._clients.clear()

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


async def caller_account(pool: ClientPool) -> str:
    sts = await pool.get("sts", pool.target.home_region)
    identity = await sts.get_caller_identity()
    return str(identity["Account"])


async def enabled_regions(pool: ClientPool) -> list[str]:
    ec2 = await pool.get("ec2", pool.target.home_region)
    answer = await ec2.describe_regions(AllRegions=False)
    return sorted(r["RegionName"] for r in answer.get("Regions", []))


def select_collectors(services: list[str] | None) -> list[Collector]:
    all_collectors()
    if not services:
        return [COLLECTORS[name] for name in sorted(COLLECTORS)]
    unknown = sorted(set(services) - set(COLLECTORS))
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(sorted(COLLECTORS))}")
    return [COLLECTORS[name] for name in sorted(set(services))]


async def collect_account(
    pool: ClientPool,
    *,
    account_id: str,
    regions: list[str],
    services: list[str] | None,
    emit: Emit,
    progress: Progress | None = None,
) -> CollectionOutcome:
    """Collect every selected service in every unit, then emit the account context snapshots."""
    facts = Facts()
    collectors = select_collectors(services)
    outcomes: list[UnitOutcome] = []

    async def run_unit(collector: Collector, unit_region: str, outcome: UnitOutcome) -> None:
        call_region = pool.target.home_region if unit_region == GLOBAL else unit_region

        async def client_factory(service: str, region: str) -> Any:
            return await pool.get(service, region)

        async def emit_resource(resource: Resource) -> None:
            outcome.emitted += 1
            await emit(resource, unit_region, collector.service)

        ctx = UnitContext(
            account_id=account_id,
            partition=pool.target.partition,
            region=call_region,
            unit_region=unit_region,
            regions=regions,
            client_factory=client_factory,
            emit=emit_resource,
            facts=facts,
            concurrency=pool.unit_concurrency,
        )
        try:
            await collector.collect(ctx)
        except UnitFailed:
            outcome.status = UnitStatus.FAILED
        except Exception as exc:  # a collector bug must not pass as a complete collection
            outcome.status = UnitStatus.FAILED
            ctx.record(CallError("collect", type(exc).__name__, str(exc)))
        else:
            if ctx.errors:
                outcome.status = UnitStatus.PARTIAL
        outcome.errors = list(ctx.errors)
        if progress is not None:
            await progress(outcome)

    units: list[tuple[Collector, str, UnitOutcome]] = []
    for collector in collectors:
        for unit_region in [GLOBAL] if collector.global_service else regions:
            outcome = UnitOutcome(region=unit_region, service=collector.service)
            outcomes.append(outcome)  # reported in collector order, whatever order they start in
            units.append((collector, unit_region, outcome))
    # Stable: equal priorities keep the collector order.
    started = sorted(units, key=lambda unit: -unit[0].start_priority)
    await asyncio.gather(*(run_unit(*unit) for unit in started))

    # Final phase: the account context, one global snapshot and one per region, each its own unit
    # so that a scan of fewer regions never closes another region's context.
    for region in [GLOBAL, *regions]:
        context = UnitOutcome(region=region, service=ACCOUNT_SERVICE)
        resource = build_account_context(facts, collectors, account_id, region, pool.target.partition)
        await emit(resource, region, ACCOUNT_SERVICE)
        context.emitted = 1
        outcomes.append(context)
        if progress is not None:
            await progress(context)
    return CollectionOutcome(units=outcomes, facts=facts)


def account_arn(partition: str, account_id: str, region: str) -> str:
    reg = "" if region == GLOBAL else region
    return f"arn:{partition}::{reg}:{account_id}:account"


def build_account_context(
    facts: Facts, collectors: list[Collector], account_id: str, region: str, partition: str = "aws"
) -> Resource:
    data: dict[str, Any] = {
        "scope": "account" if region == GLOBAL else "region",
        # Checks of services this scan did not collect are not run on this snapshot (evaluator).
        "_collected_services": sorted(c.service for c in collectors),
    }
    errors: dict[str, str] = {}
    for collector in collectors:
        fields, unreadable = collector.account_context(facts, region)
        data.update(fields)
        errors.update(unreadable)
    if errors:
        data["_errors"] = dict(sorted(errors.items()))
    return Resource(
        resource_type=ACCOUNT_TYPE,
        arn=account_arn(partition, account_id, region),
        name=account_id if region == GLOBAL else f"{account_id} ({region})",
        region=region,
        configuration=data,
    )
