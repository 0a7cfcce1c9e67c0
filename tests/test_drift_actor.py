"""Drift actors: who changed a resource, from CloudTrail's event history, end to end.

The real ``cloudtrail_events`` collector runs against moto. moto has no CloudTrail LookupEvents, so
its answers are given in moto's place by a ``before-call`` handler, each validated against
botocore's CloudTrail service model first (as botocore's Stubber does); a refusal is an HTTP 403
AccessDenied, raised by aiobotocore as a real one would be. What the collector emitted is then fed
to compliance through its inventory path, between the scans of ``test_history_service``'s days
(its app fixture and scan feed are reused), and the drift endpoint is asked who changed what.

The collector's window is its wall clock, while compliance's history here runs on a manual clock in
March 2026: the emitted window bounds are moved to the test's days (the events keep their times).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from golden_support import Answer, answering_with, model_checked, refusal, request_body, unit_of, with_metadata
from golden_support import collect as golden_collect
from golden_support import moto_fixture as moto_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_collector.collectors.base import Resource
from guardian_collector.collectors.cloudtrail_events import EVENTS_TYPE
from guardian_common import db
from guardian_common.events import ResourceSnapshot, Status, UnitStatus
from guardian_compliance.inventory.repository import InventoryRepository
from guardian_testkit.moto import MotoServer

_spec = importlib.util.spec_from_file_location(
    "drift_days", Path(__file__).resolve().parents[1] / "services/compliance/tests/test_history_service.py"
)
assert _spec is not None
assert _spec.loader is not None
days = importlib.util.module_from_spec(_spec)
sys.modules["drift_days"] = days
_spec.loader.exec_module(days)

app = days.app  # the compliance fixture of the history tests, on the two below


@pytest.fixture
def servers(postgres_base: str, nats_url: str) -> tuple[str, str]:
    return postgres_base, nats_url


@pytest.fixture
async def database(fresh_database: str) -> str:
    await db.migrate(fresh_database, "compliance", "guardian_compliance.migrations")
    return fresh_database


ACCOUNT = days.ACCOUNT
MALLORY = f"arn:aws:iam::{ACCOUNT}:user/mallory"
DEPLOYER = f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci-run-42"
REGION = "us-east-1"


def event(event_id: str, name: str, when: datetime, actor: str, resources: list[str]) -> dict[str, Any]:
    identity = {"type": "IAMUser" if ":user/" in actor else "AssumedRole", "arn": actor, "accountId": ACCOUNT}
    return {
        "EventId": event_id,
        "EventName": name,
        "ReadOnly": "false",
        "EventTime": when,
        "EventSource": "s3.amazonaws.com",
        "Username": actor.rsplit("/", 1)[-1],
        "Resources": [{"ResourceType": "AWS::S3::Bucket", "ResourceName": r} for r in resources],
        "CloudTrailEvent": json.dumps({"eventVersion": "1.09", "userIdentity": identity, "eventName": name}),
    }


def lookup(pages: list[list[dict[str, Any]]]) -> Any:
    """LookupEvents answered page by page (NextToken "page-N"), each answer model-checked."""

    def intercept(service: str, operation: str, region: str, body: Any) -> Answer | None:
        if operation != "LookupEvents":
            return None
        asked = json.loads(body or b"{}")
        assert asked["LookupAttributes"] == [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]
        n = int(str(asked.get("NextToken", "page-0")).removeprefix("page-"))
        answer: dict[str, Any] = {"Events": pages[n]}
        if n + 1 < len(pages):
            answer["NextToken"] = f"page-{n + 1}"
        return 200, with_metadata(model_checked("cloudtrail", "LookupEvents", answer))

    return answering_with(intercept, request_body)


async def collect_events(moto: MotoServer, handler: Any) -> tuple[Resource, UnitStatus]:
    emitted, outcome = await golden_collect(
        moto, ["cloudtrail_events"], regions=[REGION], handlers={"before-call": handler}
    )
    [resource] = [r for r, _, _ in emitted if r.resource_type == EVENTS_TYPE]
    return resource, unit_of(outcome, "cloudtrail_events", REGION).status


def as_snapshot(
    resource: Resource, scan_id: str, start: datetime, end: datetime, *, region: str = REGION, seq: int = 1000
) -> ResourceSnapshot:
    """The collector's resource as the snapshot event compliance receives, its window moved to the test's days."""
    configuration = {**resource.configuration, "window_start": start.isoformat(), "window_end": end.isoformat()}
    return ResourceSnapshot(
        event_id=ResourceSnapshot.make_id(scan_id, seq),
        scan_id=scan_id,
        seq=seq,
        account_id=ACCOUNT,
        region=region,
        collection_region=region,
        service="cloudtrail_events",
        resource_type=resource.resource_type,
        arn=f"arn:aws:cloudtrail:{region}:{ACCOUNT}:guardian/management-events",
        name=resource.name,
        observed_at=end,
        configuration=configuration,
    )


def observed(n: int) -> datetime:
    """When the day-``n`` scan of the history tests observed its resources."""
    return days.day(n) - timedelta(minutes=5)


async def test_the_collector_reads_write_events_page_by_page_and_names_each_caller(moto: MotoServer) -> None:
    when = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    pages = [
        [event("e-1", "DeleteBucketEncryption", when, MALLORY, ["acme-data"])],
        [event("e-2", "PutBucketVersioning", when + timedelta(hours=1), DEPLOYER, ["acme-logs"])],
    ]
    resource, unit = await collect_events(moto, lookup(pages))
    assert unit == UnitStatus.COMPLETE
    assert resource.arn == f"arn:aws:cloudtrail:{REGION}:123456789012:guardian/management-events"
    config = resource.configuration
    assert (config["readable"], config["truncated"]) == (True, False)
    assert [
        (e["event_id"], e["event_name"], e["actor_arn"], e["resources"], e["event_time"]) for e in config["events"]
    ] == [
        ("e-1", "DeleteBucketEncryption", MALLORY, ["acme-data"], when.isoformat()),
        ("e-2", "PutBucketVersioning", DEPLOYER, ["acme-logs"], (when + timedelta(hours=1)).isoformat()),
    ]


async def test_an_unreadable_event_history_is_a_fact_and_the_unit_does_not_fail(moto: MotoServer) -> None:
    def denied(service: str, operation: str, region: str, body: Any) -> Answer | None:
        return refusal("AccessDeniedException", "not authorized to perform: cloudtrail:LookupEvents")

    resource, unit = await collect_events(moto, answering_with(denied, request_body))
    assert unit == UnitStatus.COMPLETE
    assert resource.configuration["readable"] is False
    assert resource.configuration["events"] == []
    assert "AccessDeniedException" in resource.configuration["error"]


async def observe(pool: Any, snapshot: ResourceSnapshot) -> None:
    async with db.transaction(pool) as conn:
        await InventoryRepository(conn).observe([snapshot])


async def test_each_change_carries_the_latest_event_naming_its_resource_or_says_the_actor_is_unknown(
    app: Any, moto: MotoServer
) -> None:
    await days.catalogue(app.pool)
    logs = days.bucket(days.LOGS, False, Status.FAIL)

    def data(encrypted: bool) -> Any:
        return days.bucket(days.DATA, encrypted, Status.PASS if encrypted else Status.FAIL)

    await days.scan(app, 0, [data(True), logs, days.user(True, Status.PASS)])
    # Around day 1's change of acme-data: an edit before day 0's observation (not this change's), two
    # edits in between (the later one is the actor) and one of another bucket.
    edits = [
        event("e-0", "PutBucketEncryption", days.day(0, 5), DEPLOYER, ["acme-data"]),
        event("e-1", "PutBucketTagging", days.day(0, 12), DEPLOYER, ["acme-data"]),
        event("e-2", "DeleteBucketEncryption", days.day(0, 18), MALLORY, ["acme-data", "arn:aws:s3:::acme-data"]),
        event("e-3", "PutBucketPolicy", days.day(0, 20), DEPLOYER, ["acme-other"]),
    ]
    readable, _ = await collect_events(moto, lookup([edits]))
    # The IAM user's changes were made where the event history could not be read (another region).
    denied = answering_with(lambda *_: refusal("AccessDeniedException", "not authorized"), request_body)
    unreadable, _ = await collect_events(moto, denied)
    await observe(app.pool, as_snapshot(readable, "day1", observed(0), observed(1)))
    await observe(app.pool, as_snapshot(unreadable, "day1", observed(0), observed(1), region="eu-west-1", seq=1001))
    await days.scan(app, 1, [data(False), logs, days.user(False, Status.FAIL)])
    # Day 4: acme-data encrypted again; CloudTrail was readable and named no one.
    quiet = replace(readable, configuration={**readable.configuration, "events": []})
    await observe(app.pool, as_snapshot(quiet, "day4", observed(1), observed(4)))
    await days.scan(app, 4, [data(True), logs, days.user(False, Status.FAIL)])
    app.clock.set(days.day(4, 12))

    drift = await app.get("/api/v1/drift", **{"from": "2026-03-02", "to": "2026-03-06"})
    changes = {(i["arn"], i["scan_id"]): i for i in drift["items"]}
    assert sorted(changes) == sorted([(days.DATA, "day1"), (days.DATA, "day4"), (days.ALICE, "day1")])
    broke = changes[(days.DATA, "day1")]
    assert (broke["actor"], broke["actor_event"], broke["actor_event_time"]) == (
        MALLORY,
        "DeleteBucketEncryption",
        days.at(days.day(0, 18)),
    )
    assert broke["turned_failing"] == [days.ENC]
    assert changes[(days.ALICE, "day1")]["actor"] == "unknown (CloudTrail not readable)"
    assert changes[(days.ALICE, "day1")]["actor_event"] is None
    fixed = changes[(days.DATA, "day4")]
    assert (fixed["actor"], fixed["actor_event"]) == (None, None)

    # The event history is no resource: it is in no population.
    population = await app.get("/api/v1/populations", as_of="2026-03-05")
    assert EVENTS_TYPE not in {i["resource_type"] for i in population["items"]}
