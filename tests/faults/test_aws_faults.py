"""AWS misbehaving through the fault proxy: the scan completes and nothing passes falsely.

One scan of a small copy of the benchmark environment (bench/environment.py) runs while the proxy
throttles a share of every service's calls, answers some with 5xx, drops a few connections without
an answer (the proxy's ``timeout`` fault, held shorter than the client's read timeout) and denies
RDS altogether. Then the rules are cleared and the same scope is scanned again: the undisturbed
reference. The collector's retry budget is raised (GUARDIAN_AWS_MAX_ATTEMPTS=10) so that transient
faults are retried away rather than left to chance; the assertions are on results only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Running

from guardian_cli.follow import ScanOutcome, run_scan
from guardian_collector.concurrency import Governor
from guardian_common.auth import Role
from guardian_evaluator.checks import load_all
from guardian_evaluator.engine import feeding_services
from guardian_evaluator.registry import REGISTRY
from guardian_testkit.faults import FaultRule
from guardian_testkit.moto import MotoServer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import environment  # noqa: E402

REGIONS = ["us-east-1"]
# The services scanned: enough for every kind of fault, few enough to keep two scans short.
SERVICES = ["s3", "iam", "kms", "sqs", "logs", "rds"]
DENIED = "rds"


@pytest.fixture
def patient_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 attempts per AWS call (the most remediation, which reads the same variable, accepts) for the
    collector the ``running`` fixture starts next; it reads the environment at start, so this fixture
    must be requested before ``running``."""
    monkeypatch.setenv("GUARDIAN_AWS_MAX_ATTEMPTS", "10")


async def scan(running: Running) -> ScanOutcome:
    outcome = await run_scan(running.client, regions=REGIONS, services=SERVICES, poll_seconds=0.2, timeout_seconds=240)
    assert outcome.final, outcome
    return outcome


async def current_findings(running: Running) -> dict[tuple[str, str], str]:
    url = f"{running.stack.url('compliance')}/api/v1/findings"
    found: dict[tuple[str, str], str] = {}
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {running.key(Role.AUDITOR)}"}) as http:
        offset = 0
        while True:
            response = await http.get(url, params={"limit": 1000, "offset": offset})
            response.raise_for_status()
            items: list[dict[str, Any]] = response.json()["items"]
            found.update({(f["check_id"], f["resource_arn"]): f["status"] for f in items})
            if len(items) < 1000:
                return found
            offset += len(items)


def controls(export: dict[str, Any]) -> dict[str, tuple[str, frozenset[str]]]:
    return {c["id"]: (c["status"], frozenset(c["checks"])) for c in export["controls"]}


def fed_by_denied_service() -> set[str]:
    """Checks whose data comes (in whole or part) from the denied service's collector."""
    load_all()
    return {c.id for c in REGISTRY if c.service == DENIED or DENIED in feeding_services(c.permissions)}


@pytest.mark.slow
async def test_throttling_5xx_dropped_connections_and_one_denied_service(
    patient_collector: None, running: Running, moto: MotoServer
) -> None:
    environment.seed(moto.url, scale=0.02)
    proxy = running.proxy
    proxy.reseed(11)
    proxy.timeout_hold = 1.0
    proxy.add_rule(FaultRule(service=DENIED, fault="access_denied"))
    injected: list[FaultRule] = []
    for service in ("s3", "iam", "kms", "sqs", "logs"):
        # Capped, so that the retries' growing back-off keeps the test short whatever the draw.
        injected.append(proxy.add_rule(FaultRule(service=service, fault="throttle", probability=0.2, times=12)))
        injected.append(proxy.add_rule(FaultRule(service=service, fault="server_error", probability=0.1, times=4)))
    injected.append(proxy.add_rule(FaultRule(service="s3", fault="timeout", probability=0.05, times=3)))
    injected.append(proxy.add_rule(FaultRule(service="iam", fault="timeout", probability=0.05, times=3)))

    disturbed_outcome = await scan(running)
    disturbed = await current_findings(running)
    disturbed_controls = controls(await running.client.export("soc2"))
    fired = {(r.service, r.fault): proxy.fired(r) for r in injected}

    proxy.clear()
    clean_outcome = await scan(running)
    clean = await current_findings(running)
    clean_controls = controls(await running.client.export("soc2"))

    # The faults really happened, on every kind: throttling, 5xx and dropped connections.
    assert sum(n for (_, fault), n in fired.items() if fault == "throttle") > 10, fired
    assert sum(n for (_, fault), n in fired.items() if fault == "server_error") > 3, fired
    assert sum(n for (_, fault), n in fired.items() if fault == "timeout") > 0, fired
    assert disturbed_outcome.evaluation is not None
    assert clean_outcome.evaluation is not None
    assert disturbed_outcome.evaluation["state"] == "final"

    # Only the denied service's collection failed; every other unit was read completely.
    units = disturbed_outcome.collection["units"]
    failed = {(u["region"], u["service"]) for u in units if u["status"] != "complete"}
    assert failed, units
    assert {service for _, service in failed} == {DENIED}, units

    # Every resource of the other services was judged exactly as in the undisturbed scan.
    affected_checks = fed_by_denied_service()
    for key, status in clean.items():
        check_id, _ = key
        if check_id in affected_checks:
            continue
        assert disturbed.get(key) == status, (key, disturbed.get(key), status)
    # Nothing passed falsely: a finding that passes under faults passes without them too.
    false_passes = [k for k, s in disturbed.items() if s == "PASS" and clean.get(k) != "PASS"]
    assert false_passes == []

    # Controls: those fed by the denied service are ERROR (or FAIL, which takes precedence); the others
    # are exactly as undisturbed; none passes under faults unless it passes without them.
    assert disturbed_controls.keys() == clean_controls.keys()
    touched = 0
    for control_id, (status, checks) in disturbed_controls.items():
        clean_status = clean_controls[control_id][0]
        if checks & affected_checks:
            touched += 1
            assert status in {"ERROR", "FAIL"} or status == clean_status != "PASS", (control_id, status)
        else:
            assert status == clean_status, (control_id, status, clean_status)
        assert status != "PASS" or clean_status == "PASS", control_id
    assert touched > 0
    assert any(status == "ERROR" for status, checks in disturbed_controls.values() if checks & affected_checks)


async def test_adaptive_concurrency_backs_off_under_throttling_and_the_collection_is_unchanged(
    moto: MotoServer, proxy: Any
) -> None:
    from guardian_collector.collection import AwsTarget, ClientPool, collect_account
    from guardian_collector.collectors.base import Resource

    environment.seed(moto.url, scale=0.03)

    async def collect(*, throttle: bool) -> tuple[dict[tuple[str, str], Any], Governor, list[str]]:
        proxy.clear()
        proxy.reseed(5)
        if throttle:
            for service in ("s3", "sqs", "sns", "logs"):
                proxy.add_rule(FaultRule(service=service, fault="throttle", probability=0.3, times=25))
        emitted: dict[tuple[str, str], Any] = {}

        async def emit(resource: Resource, unit_region: str, service: str) -> None:
            emitted[(resource.resource_type, resource.arn)] = resource.configuration

        target = AwsTarget(endpoint_url=proxy.url, max_attempts=10)
        async with ClientPool(target) as pool:
            outcome = await collect_account(
                pool,
                account_id=environment.ACCOUNT,
                regions=["us-east-1"],
                services=["s3", "sqs", "sns", "logs"],
                emit=emit,
            )
            assert pool.governor is not None
            statuses = [u.status.value for u in outcome.units]
            return emitted, pool.governor, statuses

    calm, calm_governor, calm_units = await collect(throttle=False)
    stormy, governor, units = await collect(throttle=True)

    assert set(units) == set(calm_units) == {"complete"}
    assert stormy == calm
    report = governor.report()
    assert sum(r["throttled"] for r in report.values()) > 0
    # Each throttled (service, region) halved its limit at least once, and never went below one.
    for key, figures in report.items():
        if figures["throttled"]:
            assert figures["decreases"] >= 1, (key, figures)
        assert figures["limit"] >= 1
        assert figures["peak_in_flight"] <= governor.maximum
    assert all(r["throttled"] == 0 and r["decreases"] == 0 for r in calm_governor.report().values())
