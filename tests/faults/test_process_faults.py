"""Processes and dependencies failing mid-scan: nothing lost, nothing doubled, nothing different.

Compliance and the evaluators run as their own processes (``python -m guardian_<svc>``, see
bench/harness.py) on a NATS server and a PostgreSQL path the test controls: an embedded NATS it
stops and starts again on the same port and store, and a TcpProxy in front of PostgreSQL whose
connections it cuts. Scans are published the way the collector publishes them, with snapshots of
every resource type that has checks (bench/synthetic.py), in waves, so every disturbance happens
while the scan is open. The reference ("an undisturbed scan") is the engine run in this process
over the very same snapshots; the assertions compare results, never timings.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from guardian_common.events import ResourceSnapshot
from guardian_evaluator.engine import evaluate
from guardian_evaluator.registry import REGISTRY
from guardian_evaluator.settings import EvaluatorSettings
from guardian_testkit.infra import EmbeddedNats
from guardian_testkit.tcpproxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import Pipeline  # noqa: E402
from bench.synthetic import SnapshotFactory, load_templates  # noqa: E402

WAVE = 400
WAVES = 5


@pytest.fixture(scope="module")
def factory() -> SnapshotFactory:
    return SnapshotFactory(load_templates())


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_proxy(postgres_base: str) -> Iterator[TcpProxy]:
    parts = urlsplit(postgres_base)
    with TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as proxy:
        yield proxy


@pytest.fixture
async def pipeline(
    own_nats: EmbeddedNats, postgres_proxy: TcpProxy, postgres_base: str, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    parts = urlsplit(postgres_base)
    through_proxy = f"{parts.scheme}://{parts.username or 'postgres'}@127.0.0.1:{postgres_proxy.port}"
    pipe = Pipeline(nats_url=own_nats.url, postgres_base=postgres_base, home=tmp_path / "services", evaluators=1)
    pipe.database_url = f"{through_proxy}/{pipe.database}"
    await pipe.create_database()
    try:
        await pipe.start()
        yield pipe
    finally:
        if not own_nats.running:
            own_nats.start()
        postgres_proxy.restore()
        await pipe.stop()


def reference(snapshots: list[ResourceSnapshot]) -> dict[tuple[str, str], str]:
    """What an undisturbed evaluation gives: the engine with the evaluator's default parameters."""
    overrides = EvaluatorSettings().check_overrides(REGISTRY)
    return {(r.check_id, snap.arn): r.status.value for snap in snapshots for r in evaluate(snap, overrides=overrides)}


async def publish_wave(pipe: Pipeline, nc: Any, wave: list[ResourceSnapshot], units: Counter[tuple[str, str]]) -> None:
    """Publish one wave; a publish cut short by an outage is simply repeated (ids make it idempotent)."""
    for _ in range(40):
        counted: Counter[tuple[str, str]] = Counter()
        try:
            await pipe.publish(nc.jetstream(), wave, counted)
        except Exception:
            await asyncio.sleep(0.5)
            continue
        units.update(counted)
        return
    raise AssertionError("could not publish a wave after 40 attempts")


async def until_evaluated(pipe: Pipeline, scan_id: str, at_least: int) -> None:
    """Wait for progress (not for time): compliance has recorded at least this many evaluations."""
    for _ in range(2400):
        try:
            done, _ = await pipe.progress(scan_id)
        except OSError:
            done = 0
        if done >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"scan {scan_id} never reached {at_least} evaluations")


async def assert_same_as_undisturbed(pipe: Pipeline, scan_id: str, snapshots: list[ResourceSnapshot]) -> None:
    state = await pipe.wait_final(scan_id, wait_seconds=240)
    assert state == "final"
    done, _ = await pipe.progress(scan_id)
    assert done == len(snapshots)
    expected = reference(snapshots)
    assert await pipe.scan_results(scan_id) == expected
    assert await pipe.findings() == expected
    assert await pipe.duplicates(scan_id) == {"evaluations": 0, "finding_events": 0}
    dead = await pipe.fetchrow("SELECT count(*) AS n FROM compliance.dead_letters")
    assert dead["n"] == 0


@pytest.mark.slow
async def test_evaluators_killed_mid_scan_again_and_again(pipeline: Pipeline, factory: SnapshotFactory) -> None:
    pipe = pipeline
    await pipe.start_evaluator(1)  # two replicas sharing the durable consumer
    scan_id = "scan-kill-evaluators"
    snapshots = list(factory.events(WAVE * WAVES, scan_id=scan_id))
    services = sorted({s.service for s in snapshots})
    units: Counter[tuple[str, str]] = Counter()
    nc = await pipe.connect()
    try:
        await pipe.start_scan(nc.jetstream(), scan_id, ["global", "us-east-1"], services)
        kills = 0
        for i in range(WAVES):
            await publish_wave(pipe, nc, snapshots[i * WAVE : (i + 1) * WAVE], units)
            if i == WAVES - 1:
                break
            await until_evaluated(pipe, scan_id, i * WAVE + WAVE // 4)
            # SIGKILL one evaluator while it works (both of them on the third wave), then bring it back.
            victims = pipe.evaluator_processes() if i == 2 else [pipe.evaluator_processes()[i % 2]]
            for victim in victims:
                victim.kill()
                kills += 1
            for victim in victims:
                victim.start()
                await victim.ready()
        await pipe.complete_scan(nc.jetstream(), scan_id, units)
    finally:
        await nc.close()
    assert kills == WAVES
    await assert_same_as_undisturbed(pipe, scan_id, snapshots)


async def test_nats_restarted_and_postgres_connections_cut_mid_scan(
    pipeline: Pipeline, own_nats: EmbeddedNats, postgres_proxy: TcpProxy, factory: SnapshotFactory
) -> None:
    pipe = pipeline
    scan_id = "scan-restarts"
    snapshots = list(factory.events(WAVE * 4, scan_id=scan_id))
    services = sorted({s.service for s in snapshots})
    units: Counter[tuple[str, str]] = Counter()
    nc = await pipe.connect()
    try:
        await pipe.start_scan(nc.jetstream(), scan_id, ["global", "us-east-1"], services)
        await publish_wave(pipe, nc, snapshots[:WAVE], units)
        await until_evaluated(pipe, scan_id, WAVE // 4)

        # NATS goes away with the scan open and comes back on the same port and store.
        own_nats.stop()
        own_nats.start()
        await publish_wave(pipe, nc, snapshots[WAVE : 2 * WAVE], units)
        await until_evaluated(pipe, scan_id, WAVE + WAVE // 4)

        # PostgreSQL: every connection cut, and new ones refused until somebody has tried again.
        accepted = postgres_proxy.accepted
        postgres_proxy.cut()
        await publish_wave(pipe, nc, snapshots[2 * WAVE : 3 * WAVE], units)
        for _ in range(2400):
            if postgres_proxy.accepted > accepted:
                break
            await asyncio.sleep(0.05)
        postgres_proxy.restore()
        await until_evaluated(pipe, scan_id, 2 * WAVE + WAVE // 4)

        # Both again, at once.
        own_nats.stop()
        postgres_proxy.cut()
        own_nats.start()
        postgres_proxy.restore()
        await publish_wave(pipe, nc, snapshots[3 * WAVE :], units)
        for _ in range(40):
            try:
                await pipe.complete_scan(nc.jetstream(), scan_id, units)
                break
            except Exception:
                await asyncio.sleep(0.5)
    finally:
        await nc.close()
    await assert_same_as_undisturbed(pipe, scan_id, snapshots)
