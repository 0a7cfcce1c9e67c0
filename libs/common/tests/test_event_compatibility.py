"""Wire compatibility of the events (DESIGN.md, "Contracts").

``recorded/v<N>/<event_type>.json`` holds the exact bytes a producer of schema version N put on the
wire, one message per event type. They are never regenerated: when the schema moves on, a new
``v<N+1>`` folder is added beside the old ones, and every recorded message of every version must
still decode with today's models. Changes are additive and consumers ignore unknown fields.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from nats.aio.msg import Msg
from pydantic import ValidationError

from guardian_common import bus
from guardian_common import events as ev

RECORDED = Path(__file__).parent / "recorded"
BY_TYPE: dict[str, type[ev.Event]] = {cls.event_type: cls for cls in ev.ALL_EVENTS}


def _version_of(folder: Path) -> int:
    match = re.fullmatch(r"v(\d+)", folder.name)
    assert match, f"unexpected folder {folder}"
    return int(match.group(1))


def recorded_messages() -> list[tuple[int, Path]]:
    return sorted(
        (_version_of(folder), path)
        for folder in RECORDED.iterdir()
        if folder.is_dir()
        for path in folder.glob("*.json")
    )


RECORDINGS = recorded_messages()
RECORDING_IDS = [f"v{version}/{path.name}" for version, path in RECORDINGS]


def _raw(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_bytes())
    assert isinstance(data, dict)
    return data


def _model_for(path: Path) -> type[ev.Event]:
    event_type = path.name.removesuffix(".json")
    assert event_type in BY_TYPE, f"{path} names no known event type"
    return BY_TYPE[event_type]


def _assert_kept(recorded: Any, today: Any, where: str) -> None:
    """Every field the old message carried is still there with the same value (changes are additive)."""
    if isinstance(recorded, dict):
        assert isinstance(today, dict), where
        for key, value in recorded.items():
            assert key in today, f"{where}.{key} was dropped or renamed"
            _assert_kept(value, today[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        assert isinstance(today, list), where
        assert len(recorded) == len(today), where
        for i, (old, new) in enumerate(zip(recorded, today, strict=True)):
            _assert_kept(old, new, f"{where}[{i}]")
    else:
        assert recorded == today, f"{where}: {recorded!r} became {today!r}"


# --------------------------------------------------------------------------------------------- recordings


def test_there_are_recordings_of_the_current_version() -> None:
    assert RECORDINGS
    assert (RECORDED / f"v{ev.SCHEMA_VERSION}").is_dir()


def test_every_event_class_has_a_recorded_sample() -> None:
    recorded_types = {path.name.removesuffix(".json") for _, path in RECORDINGS}
    missing = sorted(set(BY_TYPE) - recorded_types)
    assert missing == [], f"record a sample message for {missing} under {RECORDED}/v{ev.SCHEMA_VERSION}/"


def test_event_types_are_unique() -> None:
    assert len(BY_TYPE) == len(ev.ALL_EVENTS)


@pytest.mark.parametrize(("version", "path"), RECORDINGS, ids=RECORDING_IDS)
def test_recorded_message_decodes_with_todays_model(version: int, path: Path) -> None:
    model = _model_for(path)
    event = model.model_validate_json(path.read_bytes())
    raw = _raw(path)
    assert raw["schema_version"] == version
    assert raw["type"] == model.event_type
    assert event.event_id == raw["event_id"]
    assert event.schema_version == version


@pytest.mark.parametrize(("version", "path"), RECORDINGS, ids=RECORDING_IDS)
def test_recorded_fields_survive_decoding_and_reencoding(version: int, path: Path) -> None:
    event = _model_for(path).model_validate_json(path.read_bytes())
    _assert_kept(_raw(path), json.loads(event.to_bytes()), path.name)


@pytest.mark.parametrize(("version", "path"), RECORDINGS, ids=RECORDING_IDS)
def test_unknown_extra_fields_are_ignored(version: int, path: Path) -> None:
    model = _model_for(path)
    raw = _raw(path)
    expected = model.model_validate(raw)
    newer = {**raw, "added_in_a_later_version": {"anything": [1, 2, 3]}, "priority": "urgent"}
    # Nested models ignore unknown fields too.
    for key in ("units", "results", "checks"):
        if newer.get(key):
            newer[key] = [{**item, "added_in_a_later_version": True} for item in newer[key]]
    decoded = model.model_validate_json(json.dumps(newer))
    assert decoded == expected
    assert "added_in_a_later_version" not in json.loads(decoded.to_bytes())


def test_a_recorded_message_of_the_wrong_type_is_refused() -> None:
    started = (RECORDED / "v1" / "scan.started.json").read_bytes()
    with pytest.raises(ValidationError):
        ev.ScanCompleted.model_validate_json(started)


def test_unreadable_fields_of_the_recorded_snapshot_are_exposed() -> None:
    snapshot = ev.ResourceSnapshot.model_validate_json((RECORDED / "v1" / "resource.snapshot.json").read_bytes())
    assert snapshot.unreadable == {"logging": "AccessDenied on GetBucketLogging: Access Denied"}


# --------------------------------------------------------------------------------------------- event ids

SCAN = "01HX7Q2K9V3M4N5P6R7S8T9W0Y"


def test_make_id_is_deterministic() -> None:
    assert ev.ScanStarted.make_id(SCAN) == ev.ScanStarted.make_id(SCAN)
    assert ev.ResourceSnapshot.make_id(SCAN, 4) == ev.ResourceSnapshot.make_id(SCAN, 4)
    assert ev.CollectionError.make_id(SCAN, 2) == ev.CollectionError.make_id(SCAN, 2)
    assert ev.ScanCompleted.make_id(SCAN) == ev.ScanCompleted.make_id(SCAN)
    assert ev.SnapshotEvaluated.make_id(SCAN, 4) == ev.SnapshotEvaluated.make_id(SCAN, 4)
    assert ev.CheckCatalogue.make_id("abc") == ev.CheckCatalogue.make_id("abc")
    assert ev.DeadLetter.make_id("evaluator", "S", 9) == ev.DeadLetter.make_id("evaluator", "S", 9)


def test_recorded_ids_are_what_make_id_derives_today() -> None:
    # A consumer deduplicates on these ids: today's producer must derive the same id for the same facts.
    raw = {path.name.removesuffix(".json"): _raw(path) for version, path in RECORDINGS if version == 1}
    assert raw["scan.started"]["event_id"] == ev.ScanStarted.make_id(raw["scan.started"]["scan_id"])
    assert raw["scan.completed"]["event_id"] == ev.ScanCompleted.make_id(raw["scan.completed"]["scan_id"])
    snap = raw["resource.snapshot"]
    assert snap["event_id"] == ev.ResourceSnapshot.make_id(snap["scan_id"], snap["seq"])
    evaluated = raw["snapshot.evaluated"]
    assert evaluated["event_id"] == ev.SnapshotEvaluated.make_id(evaluated["scan_id"], evaluated["seq"])
    catalogue = raw["catalogue.published"]
    assert catalogue["event_id"] == ev.CheckCatalogue.make_id(catalogue["catalogue_version"])


def test_ids_are_distinct_across_the_events_of_one_scan() -> None:
    ids = [
        ev.ScanStarted.make_id(SCAN),
        ev.ScanCompleted.make_id(SCAN),
        *(ev.ResourceSnapshot.make_id(SCAN, seq) for seq in range(1, 51)),
        *(ev.SnapshotEvaluated.make_id(SCAN, seq) for seq in range(1, 51)),
        *(ev.CollectionError.make_id(SCAN, n) for n in range(1, 11)),
        *(ev.DeadLetter.make_id(consumer, "GUARDIAN_SNAPSHOTS", n) for consumer in ("a", "b") for n in range(1, 6)),
    ]
    assert len(ids) == len(set(ids))


def test_ids_differ_between_scans() -> None:
    other = "01HX7Q2K9V3M4N5P6R7S8T9W0Z"
    assert ev.ScanStarted.make_id(SCAN) != ev.ScanStarted.make_id(other)
    assert ev.ResourceSnapshot.make_id(SCAN, 1) != ev.ResourceSnapshot.make_id(other, 1)
    assert ev.SnapshotEvaluated.make_id(SCAN, 1) != ev.SnapshotEvaluated.make_id(other, 1)


def _info(check_id: str, version: int = 1) -> ev.CheckInfo:
    return ev.CheckInfo(
        id=check_id,
        version=version,
        title=check_id,
        description="d",
        severity=ev.Severity.LOW,
        resource_type="AWS::S3::Bucket",
        service="s3",
        remediation="r",
    )


def test_catalogue_version_depends_on_content_not_order() -> None:
    a, b = _info("s3_bucket_versioning"), _info("s3_bucket_access_logging")
    assert ev.CheckCatalogue.version_of([a, b]) == ev.CheckCatalogue.version_of([b, a])
    assert ev.CheckCatalogue.version_of([a, b]) != ev.CheckCatalogue.version_of([a, _info(b.id, version=2)])
    assert ev.CheckCatalogue.version_of([a, b]) != ev.CheckCatalogue.version_of([a])


# --------------------------------------------------------------------------------------------- bus encoding


@dataclass
class FakeMsg:
    """The two attributes :func:`guardian_common.bus.decode` reads from a NATS message."""

    data: bytes
    headers: dict[str, str] | None = None


def _as_msg(fake: Any) -> Msg:
    return cast(Msg, fake)


def _snapshot(configuration: dict[str, Any], seq: int = 5) -> ev.ResourceSnapshot:
    return ev.ResourceSnapshot(
        event_id=ev.ResourceSnapshot.make_id(SCAN, seq),
        scan_id=SCAN,
        seq=seq,
        account_id="210987654321",
        region="eu-west-1",
        collection_region="eu-west-1",
        service="ec2",
        resource_type="AWS::EC2::SecurityGroup",
        arn="arn:aws:ec2:eu-west-1:210987654321:security-group/sg-0a1b2c3d4e5f60718",
        name="sg-0a1b2c3d4e5f60718",
        tags={"Name": "web"},
        observed_at=datetime(2024, 6, 3, 9, 15, 4, tzinfo=UTC),
        configuration=configuration,
    )


def _many_rules(count: int) -> dict[str, Any]:
    return {
        "group_id": "sg-0a1b2c3d4e5f60718",
        "ingress": [
            {"protocol": "tcp", "from_port": 1024 + i, "to_port": 1024 + i, "cidr": f"10.{i // 256}.{i % 256}.0/24"}
            for i in range(count)
        ],
    }


def test_a_small_event_travels_uncompressed() -> None:
    event = _snapshot(_many_rules(3))
    payload, headers = bus.encode(event)
    assert payload == event.to_bytes()
    assert len(payload) <= bus.COMPRESS_OVER_BYTES
    assert headers == {"Nats-Msg-Id": event.event_id, "Guardian-Event": "resource.snapshot"}
    assert bus.decode(_as_msg(FakeMsg(payload, headers)), ev.ResourceSnapshot) == event


def test_a_message_without_headers_decodes_as_plain_json() -> None:
    event = _snapshot(_many_rules(1))
    assert bus.decode(_as_msg(FakeMsg(event.to_bytes(), None)), ev.ResourceSnapshot) == event


def test_a_large_event_is_compressed_and_decodes_to_the_same_event() -> None:
    event = _snapshot(_many_rules(2000))
    plain = event.to_bytes()
    assert len(plain) > 64 * 1024
    payload, headers = bus.encode(event)
    assert headers[ev.HEADER_ENCODING] == "zlib"
    assert headers["Nats-Msg-Id"] == event.event_id
    assert len(payload) < len(plain)
    assert zlib.decompress(payload) == plain
    decoded = bus.decode(_as_msg(FakeMsg(payload, headers)), ev.ResourceSnapshot)
    assert decoded == event
    assert len(decoded.configuration["ingress"]) == 2000


def test_a_compressed_payload_without_its_header_is_refused_not_misread() -> None:
    payload, _ = bus.encode(_snapshot(_many_rules(2000)))
    with pytest.raises(ValidationError):
        bus.decode(_as_msg(FakeMsg(payload, {})), ev.ResourceSnapshot)


def test_every_recorded_message_round_trips_through_the_bus() -> None:
    for _, path in RECORDINGS:
        model = _model_for(path)
        event = model.model_validate_json(path.read_bytes())
        payload, headers = bus.encode(event)
        assert headers["Guardian-Event"] == model.event_type
        assert bus.decode(_as_msg(FakeMsg(payload, headers)), model) == event


# --------------------------------------------------------------------------------------------- dead letters


@dataclass
class FakeJetStream:
    published: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.published.append((subject, payload, headers or {}))


@dataclass
class FakeDelivered:
    """A delivered JetStream message: what the consumer reads from it, and whether it was acked."""

    data: bytes
    headers: dict[str, str]
    subject: str = "guardian.snapshot.ec2"
    metadata: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(
            stream="GUARDIAN_SNAPSHOTS", sequence=SimpleNamespace(stream=4711), num_delivered=1
        )
    )
    acked: bool = False

    async def ack(self) -> None:
        self.acked = True


async def test_an_undecodable_snapshot_is_dead_lettered_with_its_resource_headers() -> None:
    event = _snapshot(_many_rules(2), seq=18)
    payload, headers = bus.encode(event)
    headers.update(bus.resource_headers(event))
    broken = payload.replace(b'"seq":18', b'"seq":"eighteen"')
    assert broken != payload
    handled: list[Any] = []

    async def handler(batch: list[bus.Delivery[ev.ResourceSnapshot]]) -> None:
        handled.extend(batch)

    js = FakeJetStream()
    consumer = bus.Consumer(
        js=cast(Any, js),
        subjects=bus.Subjects("guardian"),
        stream="SNAPSHOTS",
        durable="evaluator",
        filter_subject="guardian.snapshot.>",
        model=ev.ResourceSnapshot,
        handler=handler,
    )
    msg = FakeDelivered(broken, headers)
    await consumer._process([cast(Msg, msg)])

    assert handled == []
    assert msg.acked, "the poison message is acked once its dead letter is stored"
    [(subject, dlq_payload, dlq_headers)] = js.published
    assert subject == "guardian.dlq.evaluator"
    letter = bus.decode(_as_msg(FakeMsg(dlq_payload, dlq_headers)), ev.DeadLetter)
    assert letter.event_id == ev.DeadLetter.make_id("evaluator", "GUARDIAN_SNAPSHOTS", 4711)
    assert dlq_headers["Nats-Msg-Id"] == letter.event_id
    assert (letter.source_subject, letter.source_stream_seq, letter.consumer) == (
        "guardian.snapshot.ec2",
        4711,
        "evaluator",
    )
    assert letter.reason.startswith("undecodable ResourceSnapshot")
    # Everything the resource headers said rides along, so compliance can attribute the loss.
    assert (letter.scan_id, letter.seq, letter.arn, letter.resource_type) == (
        event.scan_id,
        event.seq,
        event.arn,
        event.resource_type,
    )
    assert (letter.account_id, letter.region, letter.collection_region, letter.service) == (
        event.account_id,
        event.region,
        event.collection_region,
        event.service,
    )
    assert letter.payload_excerpt


def test_resource_headers_name_the_resource() -> None:
    event = _snapshot({}, seq=12)
    assert bus.resource_headers(event) == {
        ev.HEADER_SCAN_ID: SCAN,
        ev.HEADER_SEQ: "12",
        ev.HEADER_ARN: event.arn,
        ev.HEADER_RESOURCE_TYPE: "AWS::EC2::SecurityGroup",
        ev.HEADER_ACCOUNT: "210987654321",
        ev.HEADER_REGION: "eu-west-1",
        ev.HEADER_COLLECTION_REGION: "eu-west-1",
        ev.HEADER_SERVICE: "ec2",
    }
