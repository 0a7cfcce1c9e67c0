"""Compliance and evaluators as separate processes on a scratch database and a bus prefix of their own.

Used by ``bench/pipeline.py`` (throughput, memory) and by the fault tests in ``tests/faults`` (kill
an evaluator, restart NATS, cut PostgreSQL). Scans are driven by publishing the collector's events
straight onto the bus (``ScanStarted``, the snapshots, ``ScanCompleted``), exactly as the collector
would, so any number of snapshots can be pushed without an AWS account. Results are read from the
compliance database. Every service listens on loopback only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import psutil  # type: ignore[import-untyped]

from guardian_common import bus
from guardian_common.events import ResourceSnapshot, ScanCompleted, ScanStarted, UnitResult, UnitStatus
from guardian_testkit.moto import free_port

ACCOUNT = "123456789012"


@dataclass
class ServiceProcess:
    name: str
    module: str
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    peak_rss: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def rss(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return 0
        try:
            value = int(psutil.Process(self.proc.pid).memory_info().rss)
        except psutil.Error:
            return 0
        self.peak_rss = max(self.peak_rss, value)
        return value

    def cpu_seconds(self) -> float:
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        try:
            times = psutil.Process(self.proc.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, unacked messages stay unacked (a crash, not a stop)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    async def ready(self, wait_seconds: float = 90.0) -> None:
        deadline = time.monotonic() + wait_seconds
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see {self.log}:\n{self.log.read_text()[-3000:]}")
                try:
                    if (await http.get(f"{self.url}/readyz", timeout=2.0)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready in {wait_seconds} s; see {self.log}")


@dataclass
class Pipeline:
    """A compliance process and ``evaluators`` evaluator processes sharing one prefix and database.

    ``database_url`` is what the services use (it may point through a TcpProxy); ``direct_url`` is
    what the harness itself reads results from. Create the database with :meth:`create_database`.
    """

    nats_url: str
    postgres_base: str
    home: Path
    evaluators: int = 1
    database_url: str = ""
    direct_url: str = ""
    prefix: str = field(default_factory=lambda: f"b{uuid.uuid4().hex[:10]}")
    database: str = field(default_factory=lambda: f"guardian_b_{uuid.uuid4().hex[:10]}")
    evaluator_batch: int = 256
    compliance_batch: int = 500
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    _conn: Any = field(default=None, repr=False)
    _conn_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def __post_init__(self) -> None:
        self.direct_url = self.direct_url or f"{self.postgres_base}/{self.database}"
        self.database_url = self.database_url or self.direct_url
        self.subjects = bus.Subjects(self.prefix)
        self.home.mkdir(parents=True, exist_ok=True)

    def _env(self, port: int, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")}
        env.update(
            {
                "GUARDIAN_DATABASE_URL": self.database_url,
                "GUARDIAN_NATS_URL": self.nats_url,
                "GUARDIAN_BUS_PREFIX": self.prefix,
                "GUARDIAN_AUTH_SECRET": f"bench-{self.prefix}-secret-{'x' * 24}",
                "GUARDIAN_LOG_LEVEL": "WARNING",
                "GUARDIAN_HOST": "127.0.0.1",
                "GUARDIAN_PORT": str(port),
                **extra,
            }
        )
        return env

    async def create_database(self) -> None:
        admin = await asyncpg.connect(f"{self.postgres_base}/postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()

    def add(self, name: str, module: str, **extra: str) -> ServiceProcess:
        port = free_port()
        service = ServiceProcess(name, module, port, self._env(port, **extra), self.home / f"{name}.log")
        self.services[name] = service
        return service

    async def start(self) -> Pipeline:
        compliance = self.add(
            "compliance",
            "guardian_compliance",
            GUARDIAN_BATCH_SIZE=str(self.compliance_batch),
            GUARDIAN_DEADLINE_POLL_SECONDS="2",
        )
        compliance.start()
        await compliance.ready()
        for i in range(self.evaluators):
            await self.start_evaluator(i)
        return self

    async def start_evaluator(self, index: int) -> ServiceProcess:
        name = f"evaluator-{index}"
        service = self.services.get(name) or self.add(
            name, "guardian_evaluator", GUARDIAN_BATCH_SIZE=str(self.evaluator_batch)
        )
        service.start()
        await service.ready()
        return service

    def evaluator_processes(self) -> list[ServiceProcess]:
        return [s for n, s in sorted(self.services.items()) if n.startswith("evaluator-")]

    async def stop(self, *, drop: bool = True) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        await self.close_reader()
        if drop:
            from guardian_testkit.resources import delete_streams

            await delete_streams(self.nats_url, self.prefix)
            admin = await asyncpg.connect(f"{self.postgres_base}/postgres")
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            finally:
                await admin.close()

    # --- driving a scan -------------------------------------------------------------------------

    async def connect(self) -> Any:
        return await nats.connect(self.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5)

    async def start_scan(self, js: Any, scan_id: str, regions: Sequence[str], services: Sequence[str]) -> None:
        event = ScanStarted(
            event_id=ScanStarted.make_id(scan_id),
            scan_id=scan_id,
            account_id=ACCOUNT,
            regions=list(regions),
            services=list(services),
            started_at=datetime.now(UTC),
        )
        await bus.publish(js, self.subjects.scan_started, event)

    async def publish(self, js: Any, snapshots: Iterable[ResourceSnapshot], units: Counter[tuple[str, str]]) -> int:
        """Publish snapshots as the collector does (ids, headers, compression); counts them per unit."""
        batch: list[tuple[str, Any, dict[str, str] | None]] = []
        sent = 0
        for snap in snapshots:
            units[(snap.collection_region, snap.service)] += 1
            batch.append((self.subjects.snapshot(snap.service), snap, bus.resource_headers(snap)))
            if len(batch) >= 1000:
                await bus.publish_many(js, batch)
                sent += len(batch)
                batch = []
        if batch:
            await bus.publish_many(js, batch)
            sent += len(batch)
        return sent

    async def complete_scan(self, js: Any, scan_id: str, units: Counter[tuple[str, str]]) -> None:
        event = ScanCompleted(
            event_id=ScanCompleted.make_id(scan_id),
            scan_id=scan_id,
            account_id=ACCOUNT,
            completed_at=datetime.now(UTC),
            total_snapshots=sum(units.values()),
            units=[
                UnitResult(region=region, service=service, status=UnitStatus.COMPLETE, snapshots=count)
                for (region, service), count in sorted(units.items())
            ],
        )
        await bus.publish(js, self.subjects.scan_completed, event)

    # --- reading results ------------------------------------------------------------------------

    async def _reader(self) -> Any:
        """One connection of the harness's own, straight to PostgreSQL, reopened when it was lost."""
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.direct_url)
        return self._conn

    async def close_reader(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
        self._conn = None

    async def fetchrow(self, query: str, *args: Any) -> Any:
        async with self._conn_lock:  # one query at a time on the one connection
            return await (await self._reader()).fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        async with self._conn_lock:
            return list(await (await self._reader()).fetch(query, *args))

    async def progress(self, scan_id: str) -> tuple[int, str]:
        """(evaluations recorded, scan state) for ``scan_id``; (0, "unknown") before compliance saw it."""
        try:
            row = await self.fetchrow("SELECT evaluated, state FROM compliance.scans WHERE scan_id = $1", scan_id)
        except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
            return 0, "unknown"
        return (int(row["evaluated"]), str(row["state"])) if row else (0, "unknown")

    async def wait_final(self, scan_id: str, wait_seconds: float = 600.0, poll: float = 0.25) -> str:
        deadline = time.monotonic() + wait_seconds
        state = "unknown"
        while time.monotonic() < deadline:
            try:
                _, state = await self.progress(scan_id)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                state = "unreachable"
            if state in ("final", "incomplete"):
                return state
            await asyncio.sleep(poll)
        raise TimeoutError(f"scan {scan_id} still {state} after {wait_seconds} s")

    async def scan_results(self, scan_id: str) -> dict[tuple[str, str], str]:
        rows = await self.fetch(
            "SELECT check_id, resource_arn, status FROM compliance.scan_results WHERE scan_id = $1", scan_id
        )
        return {(r["check_id"], r["resource_arn"]): r["status"] for r in rows}

    async def findings(self) -> dict[tuple[str, str], str]:
        rows = await self.fetch("SELECT check_id, resource_arn, status FROM compliance.findings")
        return {(r["check_id"], r["resource_arn"]): r["status"] for r in rows}

    async def duplicates(self, scan_id: str) -> dict[str, int]:
        """Signs of double processing: more than one evaluation, or more than one history event, per key."""
        evaluations = await self.fetchrow(
            "SELECT count(*) - count(DISTINCT seq) AS extra FROM compliance.evaluations WHERE scan_id = $1", scan_id
        )
        events = await self.fetchrow(
            "SELECT count(*) - count(DISTINCT (check_id, resource_arn)) AS extra "
            "FROM compliance.finding_events WHERE scan_id = $1",
            scan_id,
        )
        return {"evaluations": int(evaluations["extra"]), "finding_events": int(events["extra"])}
