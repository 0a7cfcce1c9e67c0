"""What the compliance service tests share: the service in-process, and feeders standing in for the
collector and the evaluator.

- ``compliance_service`` runs the app (its lifespan, an ASGI client, role keys) on an emptied,
  migrated database and a bus prefix of its own, with a manual clock and the consumers off: tests
  feed scans to the consumer code directly, as the collector and evaluator would publish them.
- ``store_checks`` stores a check catalogue, as the evaluator's catalogue event would.
- ``feed_scan`` runs one scan through the real consumer path (scan started, inventory, scan
  completed, evaluations, the scan barrier) and checks it ended final.

Modules import it as ``support`` (``services/compliance/tests`` is on pytest's pythonpath).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import httpx

from guardian_common import db
from guardian_common.auth import Role, mint_key
from guardian_common.events import (
    CheckCatalogue,
    CheckInfo,
    CheckResult,
    ResourceSnapshot,
    ScanCompleted,
    ScanStarted,
    Severity,
    SnapshotEvaluated,
    Status,
    UnitResult,
    UnitStatus,
)
from guardian_compliance.app import create_app
from guardian_compliance.clock import ManualClock
from guardian_compliance.consumers import apply_evaluations
from guardian_compliance.inventory.repository import InventoryRepository
from guardian_compliance.scans.repository import ScanRepository
from guardian_compliance.settings import ComplianceSettings
from guardian_testkit.resources import delete_streams, empty_schema

# Who holds a key in these tests: two admins (one approves what the other asks), an editor, an auditor.
PEOPLE: dict[str, tuple[Role, str]] = {
    "admin": (Role.ADMIN, "alice-admin"),
    "admin2": (Role.ADMIN, "bob-admin"),
    "editor": (Role.EDITOR, "erin-editor"),
    "auditor": (Role.AUDITOR, "audrey-auditor"),
}


def settings_for(database: str, nats_url: str, label: str) -> ComplianceSettings:
    """Settings for one test: its own bus prefix and secret; pollers asleep; consumers off."""
    token = uuid.uuid4().hex[:10]
    return ComplianceSettings(
        environment="test",
        database_url=database,
        nats_url=nats_url,
        bus_prefix=f"{label}{token}",
        auth_secret=f"{label}-test-{token}",
        log_level="WARNING",
        acceptance_poll_seconds=3600,
        outbox_poll_seconds=3600,
        deadline_poll_seconds=3600,
        # Scans are fed to the consumer code directly; the durable consumers would only add a
        # second of shutdown per test.
        run_consumers=False,
    )


def role_keys(secret: str) -> dict[str, str]:
    return {who: mint_key(secret, role, name)[1] for who, (role, name) in PEOPLE.items()}


@dataclass
class Service:
    """The compliance app in this process, with an ASGI client and a key per person."""

    app: Any
    http: httpx.AsyncClient
    clock: ManualClock
    settings: ComplianceSettings
    pool: asyncpg.Pool
    keys: dict[str, str] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def call(self, method: str, path: str, who: str = "editor", **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, path, headers=self.as_(who), **kwargs)

    async def get(self, path: str, who: str = "auditor", **params: Any) -> Any:
        response = await self.call("GET", path, who, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@contextlib.asynccontextmanager
async def running_app(settings: ComplianceSettings, clock: ManualClock) -> AsyncIterator[Service]:
    """The app's lifespan around an ASGI client; nothing is emptied or removed."""
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://compliance") as http:
            pool = app.state.runtime.require_pool()
            yield Service(app, http, clock, settings, pool, role_keys(settings.auth_secret))


@contextlib.asynccontextmanager
async def compliance_service(database: str, nats_url: str, label: str, clock: ManualClock) -> AsyncIterator[Service]:
    """The app on ``database`` emptied first, with a bus prefix of its own removed afterwards."""
    settings = settings_for(database, nats_url, label)
    await empty_schema(database, "compliance")
    try:
        async with running_app(settings, clock) as service:
            yield service
    finally:
        await delete_streams(nats_url, settings.bus_prefix)


# --------------------------------------------------------------------------------------------- feeders


def check_info(
    check_id: str,
    service: str,
    resource_type: str,
    *,
    version: int = 1,
    severity: Severity = Severity.HIGH,
    title: str | None = None,
    description: str | None = None,
    remediation: str = "Fix it.",
) -> CheckInfo:
    return CheckInfo(
        id=check_id,
        version=version,
        title=title or check_id.replace("_", " "),
        description=description or f"{check_id} description",
        severity=severity,
        resource_type=resource_type,
        service=service,
        remediation=remediation,
    )


async def store_checks(
    pool: asyncpg.Pool, checks: Sequence[CheckInfo], published_at: datetime, version: str | None = None
) -> None:
    """Store a catalogue of ``checks`` as the catalogue consumer does (version: from the checks)."""
    version = version or CheckCatalogue.version_of(list(checks))
    catalogue = CheckCatalogue(
        event_id=CheckCatalogue.make_id(version),
        catalogue_version=version,
        published_at=published_at,
        checks=list(checks),
    )
    async with db.transaction(pool) as conn:
        await ScanRepository(conn).store_catalogue(catalogue)


def result(
    check_id: str, status: Status, reason: str, *, version: int = 1, severity: Severity = Severity.HIGH
) -> CheckResult:
    return CheckResult(check_id=check_id, check_version=version, status=status, severity=severity, reason=reason)


@dataclass(frozen=True)
class Seen:
    """One resource as a scan saw it, with the evaluator's results for it."""

    arn: str
    service: str
    resource_type: str
    region: str
    results: tuple[CheckResult, ...]
    collection_region: str = "global"
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    configuration: Mapping[str, Any] = field(default_factory=dict)

    @property
    def short_name(self) -> str:
        return self.name or self.arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def complete(service: str, snapshots: int, region: str = "global") -> UnitResult:
    return UnitResult(region=region, service=service, status=UnitStatus.COMPLETE, snapshots=snapshots)


async def feed_scan(
    pool: asyncpg.Pool,
    account: str,
    seen: Sequence[Seen],
    *,
    at: datetime,
    regions: Sequence[str],
    services: Sequence[str],
    units: Sequence[UnitResult],
    scan_id: str | None = None,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    observed_at: datetime | None = None,
) -> str:
    """One scan of ``account`` through the consumer path, evaluated at ``at``; returns its id.

    Started a second before ``at`` and completed and observed at ``at`` unless told otherwise.
    """
    scan_id = scan_id or f"scan-{uuid.uuid4().hex[:8]}"
    observed = observed_at or at
    snapshots = [
        ResourceSnapshot(
            event_id=ResourceSnapshot.make_id(scan_id, seq),
            scan_id=scan_id,
            seq=seq,
            account_id=account,
            region=s.region,
            collection_region=s.collection_region,
            service=s.service,
            resource_type=s.resource_type,
            arn=s.arn,
            name=s.short_name,
            tags=dict(s.tags),
            observed_at=observed,
            configuration=dict(s.configuration),
        )
        for seq, s in enumerate(seen, start=1)
    ]
    evaluated = [
        SnapshotEvaluated(
            event_id=SnapshotEvaluated.make_id(scan_id, snap.seq),
            scan_id=scan_id,
            seq=snap.seq,
            account_id=account,
            region=snap.region,
            collection_region=snap.collection_region,
            service=snap.service,
            resource_type=snap.resource_type,
            arn=snap.arn,
            name=snap.name,
            observed_at=observed,
            evaluated_at=at,
            catalogue_version="test",
            results=list(s.results),
        )
        for snap, s in zip(snapshots, seen, strict=True)
    ]
    async with db.transaction(pool) as conn:
        scans = ScanRepository(conn)
        await scans.started(
            ScanStarted(
                event_id=ScanStarted.make_id(scan_id),
                scan_id=scan_id,
                account_id=account,
                regions=list(regions),
                services=list(services),
                started_at=started_at or at - timedelta(seconds=1),
            )
        )
        await InventoryRepository(conn).observe(snapshots)
        await scans.completed(
            ScanCompleted(
                event_id=ScanCompleted.make_id(scan_id),
                scan_id=scan_id,
                account_id=account,
                completed_at=completed_at or at,
                total_snapshots=len(snapshots),
                units=list(units),
            )
        )
        await apply_evaluations(conn, evaluated, at)
        state = (await scans.get(scan_id) or {}).get("state")
    assert state == "final", state
    return scan_id


def history_days() -> ModuleType:
    """test_history_service.py's simulated days and ``app`` fixture, for the other history modules.

    Loaded once under its own name: a test module is not a package module, and importing it a second
    time would define its fixtures twice.
    """
    loaded = sys.modules.get("history_days")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("history_days", Path(__file__).with_name("test_history_service.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["history_days"] = module
    spec.loader.exec_module(module)
    return module
