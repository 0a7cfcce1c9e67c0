"""Wire events: the only contract between services.

Rules (see DESIGN.md, "Contracts"):
- every event carries ``event_type`` and ``schema_version``; changes are additive;
- consumers ignore unknown fields (``extra="ignore"``), so an old consumer reads a new message;
- ``event_id`` is derived from stable facts (scan id, sequence...), never random, and is sent as
  ``Nats-Msg-Id``; the database's unique keys make a redelivery a no-op whatever the JetStream window.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class Status(StrEnum):
    """Verdict of one check on one resource."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class UnitStatus(StrEnum):
    """How completely one (region, service) collection unit was read."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    schema_version: int = SCHEMA_VERSION
    event_id: str

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class ScanStarted(Event):
    event_type: ClassVar[str] = "scan.started"
    type: Literal["scan.started"] = "scan.started"
    scan_id: str
    account_id: str
    regions: list[str]
    services: list[str]
    started_at: datetime
    requested_by: str | None = None
    # Added in v1 (optional): the registered account's name and environment (production, staging...).
    account_name: str | None = None
    environment: str | None = None
    # Added in v1 (optional): a targeted scan (remediation's verification) publishes snapshots of
    # these ARNs only and says nothing of any other resource, so none is closed or marked stale.
    targets: list[str] | None = None

    @staticmethod
    def make_id(scan_id: str) -> str:
        return f"scan:{scan_id}:started"


class ResourceSnapshot(Event):
    """One resource as observed, with its related settings joined into ``configuration``.

    ``collection_region`` names the collection unit the resource was listed in: ``global`` for
    services listed once per account (IAM, S3's ListBuckets), else the region. Resources that
    vanish from a *complete* collection of their unit are closed (invariant 3).
    ``configuration["_errors"]`` lists the fields that could not be read: a check that needs one
    of them must return ERROR.
    """

    event_type: ClassVar[str] = "resource.snapshot"
    type: Literal["resource.snapshot"] = "resource.snapshot"
    scan_id: str
    seq: int = Field(ge=1)
    account_id: str
    region: str
    collection_region: str
    service: str
    resource_type: str
    arn: str
    name: str
    tags: dict[str, str] = Field(default_factory=dict)
    observed_at: datetime
    configuration: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(scan_id: str, seq: int) -> str:
        return f"snap:{scan_id}:{seq}"

    @property
    def unreadable(self) -> dict[str, str]:
        errors = self.configuration.get("_errors") or {}
        return {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}


class CollectionError(Event):
    event_type: ClassVar[str] = "scan.collection_error"
    type: Literal["scan.collection_error"] = "scan.collection_error"
    scan_id: str
    account_id: str
    region: str
    service: str
    operation: str
    error_code: str
    message: str
    resource_arn: str | None = None
    observed_at: datetime

    @staticmethod
    def make_id(scan_id: str, n: int) -> str:
        return f"err:{scan_id}:{n}"


class UnitResult(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    region: str
    service: str
    status: UnitStatus
    snapshots: int
    errors: int = 0
    first_error: str | None = None


class ScanCompleted(Event):
    """The collector's last word on a scan: every snapshot has been published."""

    event_type: ClassVar[str] = "scan.completed"
    type: Literal["scan.completed"] = "scan.completed"
    scan_id: str
    account_id: str
    completed_at: datetime
    total_snapshots: int = Field(ge=0)
    units: list[UnitResult]
    # Added in v1 (optional): set for a targeted scan, as in its ScanStarted.
    targets: list[str] | None = None

    @staticmethod
    def make_id(scan_id: str) -> str:
        return f"scan:{scan_id}:completed"


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    check_id: str
    check_version: int
    status: Status
    severity: Severity
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class SnapshotEvaluated(Event):
    """Every applicable check's verdict on one snapshot."""

    event_type: ClassVar[str] = "snapshot.evaluated"
    type: Literal["snapshot.evaluated"] = "snapshot.evaluated"
    scan_id: str
    seq: int = Field(ge=1)
    account_id: str
    region: str
    collection_region: str
    service: str
    resource_type: str
    arn: str
    name: str
    observed_at: datetime
    evaluated_at: datetime
    catalogue_version: str
    results: list[CheckResult]

    @staticmethod
    def make_id(scan_id: str, seq: int) -> str:
        return f"eval:{scan_id}:{seq}"


class CheckInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    version: int
    title: str
    description: str
    severity: Severity
    resource_type: str
    service: str
    remediation: str
    permissions: list[str] = Field(default_factory=list)
    # Controls a custom (user-defined) check declares it serves; built-in checks are mapped in
    # compliance's control library instead and leave this empty.
    controls: list[str] = Field(default_factory=list)


class CheckCatalogue(Event):
    """The evaluator's check catalogue, published at start-up; id derived from its content."""

    event_type: ClassVar[str] = "catalogue.published"
    type: Literal["catalogue.published"] = "catalogue.published"
    catalogue_version: str
    published_at: datetime
    checks: list[CheckInfo]

    @staticmethod
    def version_of(checks: list[CheckInfo]) -> str:
        digest = hashlib.sha256()
        for check in sorted(checks, key=lambda c: c.id):
            digest.update(f"{check.id}:{check.version}:{check.resource_type}\n".encode())
        return digest.hexdigest()[:16]

    @staticmethod
    def make_id(catalogue_version: str) -> str:
        return f"catalogue:{catalogue_version}"


class DeadLetter(Event):
    """A message that can never be processed, with why; what is known of its resource rides along."""

    event_type: ClassVar[str] = "dead_letter"
    type: Literal["dead_letter"] = "dead_letter"
    source_subject: str
    source_stream_seq: int
    consumer: str
    reason: str
    dead_lettered_at: datetime
    scan_id: str | None = None
    seq: int | None = None
    arn: str | None = None
    resource_type: str | None = None
    account_id: str | None = None
    region: str | None = None
    collection_region: str | None = None
    service: str | None = None
    payload_excerpt: str = ""

    @staticmethod
    def make_id(consumer: str, stream: str, stream_seq: int) -> str:
        return f"dlq:{consumer}:{stream}:{stream_seq}"


# Headers the collector puts on every snapshot so that even an undecodable one can be attributed.
HEADER_SCAN_ID = "Guardian-Scan-Id"
HEADER_SEQ = "Guardian-Seq"
HEADER_ARN = "Guardian-Arn"
HEADER_RESOURCE_TYPE = "Guardian-Resource-Type"
HEADER_ACCOUNT = "Guardian-Account"
HEADER_REGION = "Guardian-Region"
HEADER_COLLECTION_REGION = "Guardian-Collection-Region"
HEADER_SERVICE = "Guardian-Service"
HEADER_ENCODING = "Guardian-Encoding"

ALL_EVENTS: tuple[type[Event], ...] = (
    ScanStarted,
    ResourceSnapshot,
    CollectionError,
    ScanCompleted,
    SnapshotEvaluated,
    CheckCatalogue,
    DeadLetter,
)

__all__ = [
    "ALL_EVENTS",
    "HEADER_ACCOUNT",
    "HEADER_ARN",
    "HEADER_COLLECTION_REGION",
    "HEADER_ENCODING",
    "HEADER_REGION",
    "HEADER_RESOURCE_TYPE",
    "HEADER_SCAN_ID",
    "HEADER_SEQ",
    "HEADER_SERVICE",
    "SCHEMA_VERSION",
    "CheckCatalogue",
    "CheckInfo",
    "CheckResult",
    "CollectionError",
    "DeadLetter",
    "Event",
    "ResourceSnapshot",
    "ScanCompleted",
    "ScanStarted",
    "Severity",
    "SnapshotEvaluated",
    "Status",
    "UnitResult",
    "UnitStatus",
]
