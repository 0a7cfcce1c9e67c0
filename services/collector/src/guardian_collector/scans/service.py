"""Starting scans and running them: collection -> snapshots on NATS -> ScanCompleted."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from aiobotocore.session import AioSession
from nats.js import JetStreamContext

from guardian_collector.accounts.service import AccountAccess
from guardian_collector.collection import (
    ACCOUNT_SERVICE,
    GLOBAL,
    AwsTarget,
    ClientPool,
    UnitOutcome,
    caller_account,
    collect_account,
    enabled_regions,
    select_collectors,
)
from guardian_collector.collectors import all_collectors
from guardian_collector.collectors.base import COLLECTORS, Collector, Resource
from guardian_collector.metrics import SCANS_FINISHED, SNAPSHOTS_PUBLISHED
from guardian_collector.scans.repository import ScanRepository
from guardian_collector.scans.schemas import REGION_PATTERN, CollectionErrorOut, ScanOut, ScanRequest
from guardian_collector.scans.targets import TargetError, plan_targets, targets_key
from guardian_collector.settings import CollectorSettings
from guardian_common import bus, db
from guardian_common.errors import Conflict, GuardianError, NotFound
from guardian_common.events import (
    CollectionError,
    ResourceSnapshot,
    ScanCompleted,
    ScanStarted,
    UnitResult,
    UnitStatus,
)
from guardian_common.logging import get_logger

log = get_logger("guardian.collector")

PUBLISH_BATCH = 128


class AwsUnavailable(GuardianError):
    code = "aws_unavailable"
    status = 424


class InvalidScanRequest(GuardianError):
    code = "invalid_scan_request"
    status = 422


def new_scan_id() -> str:
    return f"scan-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:10]}"


@dataclass
class ScanService:
    pool: asyncpg.Pool
    js: JetStreamContext
    subjects: bus.Subjects
    settings: CollectorSettings

    def __post_init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._gate = asyncio.Semaphore(self.settings.max_parallel_accounts)

    def target(self) -> AwsTarget:
        return AwsTarget(
            endpoint_url=self.settings.aws_endpoint_url,
            home_region=self.settings.aws_home_region,
            max_attempts=self.settings.aws_max_attempts,
            per_service_concurrency=self.settings.per_service_concurrency,
            adaptive_concurrency=self.settings.aws_adaptive_concurrency,
            min_concurrency=self.settings.aws_concurrency_min,
            max_concurrency=self.settings.aws_concurrency_max,
            total_concurrency=self.settings.aws_concurrency_total,
            concurrency_backoff=self.settings.aws_concurrency_backoff,
            service_concurrency=self.settings.service_limits(),
            rate_limits=self.settings.rate_limits(),
        )

    async def start(
        self, request: ScanRequest, requested_by: str | None, account: AccountAccess | None = None
    ) -> ScanOut:
        """Start one scan of one account: the collector's own, or a registered one reached through its role."""
        request = request.normalised()
        targets = request.resource_arns
        if targets:
            try:
                target_services, target_regions = plan_targets(targets, request.services)
            except TargetError as exc:
                raise InvalidScanRequest(str(exc)[0].upper() + str(exc)[1:] + ".") from exc
            request = request.model_copy(
                update={"services": target_services, "regions": request.regions or target_regions or None}
            )
        services_wanted = request.services
        if account is not None and services_wanted is None and (account.services or account.exclude_services):
            all_collectors()
            services_wanted = sorted(set(account.services or COLLECTORS) - set(account.exclude_services))
        try:
            collectors = select_collectors(services_wanted)
        except ValueError as exc:
            raise InvalidScanRequest(str(exc)[0].upper() + str(exc)[1:] + ".") from exc
        bad = [r for r in request.regions or [] if not re.match(REGION_PATTERN, r)]
        if bad:
            raise InvalidScanRequest(f"Not an AWS region name: {', '.join(bad)}.")
        session: AioSession | None = None
        if account is not None:
            try:
                session = await account.session(
                    region=self.settings.aws_home_region,
                    endpoint_url=self.settings.aws_endpoint_url,
                    max_attempts=self.settings.aws_max_attempts,
                )
            except Exception as exc:
                # The account is unreachable: its scan is recorded as failed, so its controls show ERROR.
                return await self._unreachable(request, requested_by, account, collectors, exc)
        try:
            async with ClientPool(self.target(), session=session) as aws:
                account_id = await caller_account(aws)
                if account is not None and account_id != account.account_id:
                    raise InvalidScanRequest(
                        f"The role for account {account.account_id} signs in to account {account_id}.",
                        code="role_account_mismatch",
                    )
                regions = (
                    request.regions
                    or (account.regions if account is not None else None)
                    or self.settings.regions
                    or await enabled_regions(aws)
                )
                if account is not None and account.exclude_regions:
                    regions = [r for r in regions if r not in set(account.exclude_regions)]
                if request.regions:
                    known = set(await enabled_regions(aws))
                    unknown = [r for r in request.regions if r not in known]
                    if unknown:
                        raise InvalidScanRequest(
                            f"Region(s) not enabled for account {account_id}: {', '.join(unknown)}."
                        )
        except GuardianError:
            raise
        except Exception as exc:
            raise AwsUnavailable(f"Could not reach AWS to start the scan: {exc}") from exc
        services = sorted(c.service for c in collectors)
        scope_key = f"{account_id}|{','.join(sorted(regions))}|{','.join(services)}"
        scan_id = new_scan_id()
        if targets:
            scope_key = targets_key(account_id, targets, services, scan_id)
        now = datetime.now(UTC)
        async with db.transaction(self.pool) as conn:
            repo = ScanRepository(conn)
            await repo.abandon_stale(scope_key, now - timedelta(seconds=self.settings.abandon_after_seconds))
            inserted = await repo.insert(
                {
                    "scan_id": scan_id,
                    "account_id": account_id,
                    "regions": sorted(regions),
                    "services": services,
                    "scope_key": scope_key,
                    "requested_by": requested_by,
                    "started_at": now,
                }
            )
            if not inserted:
                running = await repo.running_for_scope(scope_key)
                raise Conflict(
                    f"Scan {running} of the same scope is still running; wait for it or follow it.",
                    code="scan_already_running",
                )
            units = [(GLOBAL, c.service) for c in collectors if c.global_service]
            units += [(r, c.service) for c in collectors if not c.global_service for r in regions]
            units += [(r, ACCOUNT_SERVICE) for r in [GLOBAL, *regions]]
            await repo.add_units(scan_id, units)
        # After the commit: announce, then run in the background.
        started = ScanStarted(
            event_id=ScanStarted.make_id(scan_id),
            scan_id=scan_id,
            account_id=account_id,
            regions=sorted(regions),
            services=services,
            started_at=now,
            requested_by=requested_by,
            account_name=account.name if account is not None else None,
            environment=account.environment if account is not None else None,
            targets=targets,
        )
        await bus.publish(self.js, self.subjects.scan_started, started)
        task = asyncio.create_task(self._run(started, session), name=f"scan:{scan_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        scan = await self.get(scan_id)
        return scan

    async def _unreachable(
        self,
        request: ScanRequest,
        requested_by: str | None,
        account: AccountAccess,
        collectors: list[Collector],
        exc: Exception,
    ) -> ScanOut:
        """Record a scan of an account whose role could not be assumed: every unit failed, with the reason."""
        regions = sorted(
            set(request.regions or account.regions or self.settings.regions or [self.settings.aws_home_region])
            - set(account.exclude_regions)
        )
        services = sorted(c.service for c in collectors)
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        message = f"Could not assume {account.role_arn}: {code}: {exc}"
        scan_id = new_scan_id()
        now = datetime.now(UTC)
        units = [(GLOBAL, c.service) for c in collectors if c.global_service]
        units += [(r, c.service) for c in collectors if not c.global_service for r in regions]
        units += [(r, ACCOUNT_SERVICE) for r in [GLOBAL, *regions]]
        async with db.transaction(self.pool) as conn:
            repo = ScanRepository(conn)
            await repo.insert(
                {
                    "scan_id": scan_id,
                    "account_id": account.account_id,
                    "regions": regions,
                    "services": services,
                    # Unique per attempt: a failed sign-in never blocks the next scan of the account.
                    "scope_key": f"{account.account_id}|unreachable|{scan_id}",
                    "requested_by": requested_by,
                    "started_at": now,
                }
            )
            await repo.add_units(scan_id, units)
            for region, service in units:
                await repo.finish_unit(scan_id, region, service, UnitStatus.FAILED.value, 0, 1, message)
            await repo.add_errors(scan_id, [(1, GLOBAL, "sts", "AssumeRole", str(code), message, account.role_arn)])
            await repo.finish(scan_id, "completed", 0, message)
        started = ScanStarted(
            event_id=ScanStarted.make_id(scan_id),
            scan_id=scan_id,
            account_id=account.account_id,
            regions=regions,
            services=services,
            started_at=now,
            requested_by=requested_by,
            account_name=account.name,
            environment=account.environment,
        )
        error = CollectionError(
            event_id=CollectionError.make_id(scan_id, 1),
            scan_id=scan_id,
            account_id=account.account_id,
            region=GLOBAL,
            service="sts",
            operation="AssumeRole",
            error_code=str(code),
            message=message,
            resource_arn=account.role_arn,
            observed_at=now,
        )
        completed = ScanCompleted(
            event_id=ScanCompleted.make_id(scan_id),
            scan_id=scan_id,
            account_id=account.account_id,
            completed_at=now,
            total_snapshots=0,
            units=[
                UnitResult(region=r, service=s, status=UnitStatus.FAILED, snapshots=0, errors=1, first_error=message)
                for r, s in units
            ],
        )
        await bus.publish(self.js, self.subjects.scan_started, started)
        await bus.publish(self.js, self.subjects.scan_error, error)
        await bus.publish(self.js, self.subjects.scan_completed, completed)
        SCANS_FINISHED.labels(state="unreachable").inc()
        log.warning("account_unreachable", scan_id=scan_id, account_id=account.account_id, error=message)
        return await self.get(scan_id)

    async def get(self, scan_id: str) -> ScanOut:
        async with self.pool.acquire() as conn:
            scan = await ScanRepository(conn).get(scan_id)
        if scan is None:
            raise NotFound(f"No scan has the id {scan_id!r}.", code="scan_not_found")
        return scan

    async def recent(self, limit: int) -> list[ScanOut]:
        async with self.pool.acquire() as conn:
            return await ScanRepository(conn).recent(limit)

    async def errors(self, scan_id: str) -> list[CollectionErrorOut]:
        await self.get(scan_id)
        async with self.pool.acquire() as conn:
            return await ScanRepository(conn).errors(scan_id)

    async def stop(self, drain_seconds: float | None = None) -> None:
        """Let running scans finish for up to ``drain_seconds`` (the setting by default); then cancel the rest,
        which are recorded as abandoned so that a later scan of the same scope is not blocked."""
        wait = self.settings.shutdown_drain_seconds if drain_seconds is None else drain_seconds
        running = list(self._tasks)
        if running and wait > 0:
            log.info("draining_scans", scans=len(running), seconds=wait)
            _, pending = await asyncio.wait(running, timeout=wait)
            if pending:
                log.warning("scans_abandoned_at_shutdown", scans=len(pending))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, started: ScanStarted, session: AioSession | None = None) -> None:
        scan_id = started.scan_id
        # Every log line of this task (and the tasks it starts) carries the scan id.
        structlog.contextvars.bind_contextvars(scan_id=scan_id)
        seq = 0
        errors_seen = 0
        pending: list[tuple[str, Any, dict[str, str] | None]] = []
        # A targeted scan publishes its targets only, and counts per unit what it published.
        wanted = set(started.targets) if started.targets is not None else None
        published: dict[tuple[str, str], int] = {}

        def unit_count(outcome: UnitOutcome) -> int:
            return outcome.emitted if wanted is None else published.get((outcome.region, outcome.service), 0)

        async def flush() -> None:
            batch = pending[:]
            pending.clear()
            if batch:
                await bus.publish_many(self.js, batch)
                SNAPSHOTS_PUBLISHED.inc(len(batch))

        async def emit(resource: Resource, unit_region: str, service: str) -> None:
            nonlocal seq
            if wanted is not None:
                if resource.arn not in wanted:
                    return
                published[(unit_region, service)] = published.get((unit_region, service), 0) + 1
            seq += 1
            snapshot = ResourceSnapshot(
                event_id=ResourceSnapshot.make_id(scan_id, seq),
                scan_id=scan_id,
                seq=seq,
                account_id=started.account_id,
                region=resource.region,
                collection_region=unit_region,
                service=service,
                resource_type=resource.resource_type,
                arn=resource.arn,
                name=resource.name,
                tags=resource.tags,
                observed_at=datetime.now(UTC),
                configuration=resource.configuration,
            )
            pending.append((self.subjects.snapshot(service), snapshot, bus.resource_headers(snapshot)))
            if len(pending) >= PUBLISH_BATCH:
                await flush()

        async def progress(outcome: UnitOutcome) -> None:
            nonlocal errors_seen
            rows = []
            events = []
            for err in outcome.errors:
                errors_seen += 1
                rows.append(
                    (
                        errors_seen,
                        outcome.region,
                        outcome.service,
                        err.operation,
                        err.code,
                        err.message,
                        err.resource_arn,
                    )
                )
                events.append(
                    (
                        self.subjects.scan_error,
                        CollectionError(
                            event_id=CollectionError.make_id(scan_id, errors_seen),
                            scan_id=scan_id,
                            account_id=started.account_id,
                            region=outcome.region,
                            service=outcome.service,
                            operation=err.operation,
                            error_code=err.code,
                            message=err.message,
                            resource_arn=err.resource_arn,
                            observed_at=datetime.now(UTC),
                        ),
                        None,
                    )
                )
            async with db.transaction(self.pool) as conn:
                repo = ScanRepository(conn)
                await repo.finish_unit(
                    scan_id,
                    outcome.region,
                    outcome.service,
                    outcome.status.value,
                    unit_count(outcome),
                    len(outcome.errors),
                    outcome.first_error,
                )
                await repo.add_errors(scan_id, rows)
                await repo.heartbeat(scan_id, seq)
            if events:
                await bus.publish_many(self.js, events)
            log.info(
                "unit_collected",
                scan_id=scan_id,
                region=outcome.region,
                service=outcome.service,
                status=outcome.status.value,
                snapshots=unit_count(outcome),
                errors=len(outcome.errors),
            )

        heartbeat = asyncio.create_task(self._heartbeat(scan_id, lambda: seq))
        try:
            # Accounts are collected in parallel, at most max_parallel_accounts at once.
            async with self._gate, ClientPool(self.target(), session=session) as aws:
                outcome = await collect_account(
                    aws,
                    account_id=started.account_id,
                    regions=started.regions,
                    services=started.services,
                    emit=emit,
                    progress=progress,
                )
            await flush()
            completed = ScanCompleted(
                event_id=ScanCompleted.make_id(scan_id),
                scan_id=scan_id,
                account_id=started.account_id,
                completed_at=datetime.now(UTC),
                total_snapshots=seq,
                units=[
                    UnitResult(
                        region=u.region,
                        service=u.service,
                        status=u.status,
                        snapshots=unit_count(u),
                        errors=len(u.errors),
                        first_error=u.first_error,
                    )
                    for u in outcome.units
                ],
                targets=started.targets,
            )
            await bus.publish(self.js, self.subjects.scan_completed, completed)
            async with db.transaction(self.pool) as conn:
                await ScanRepository(conn).finish(scan_id, "completed", seq, None)
            SCANS_FINISHED.labels(state="completed").inc()
            log.info("scan_collected", scan_id=scan_id, snapshots=seq)
        except asyncio.CancelledError:
            async with db.transaction(self.pool) as conn:
                await ScanRepository(conn).finish(scan_id, "abandoned", seq, "the collector stopped")
            raise
        except Exception as exc:
            log.exception("scan_failed", scan_id=scan_id)
            SCANS_FINISHED.labels(state="failed").inc()
            async with db.transaction(self.pool) as conn:
                await ScanRepository(conn).finish(scan_id, "failed", seq, f"{type(exc).__name__}: {exc}")
        finally:
            heartbeat.cancel()

    async def _heartbeat(self, scan_id: str, published: Any) -> None:
        while True:
            await asyncio.sleep(10)
            try:
                async with db.transaction(self.pool) as conn:
                    await ScanRepository(conn).heartbeat(scan_id, int(published()))
            except Exception as exc:
                log.warning("heartbeat_failed", scan_id=scan_id, error=str(exc))
