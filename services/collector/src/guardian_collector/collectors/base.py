"""What every AWS service collector builds on.

A collector lists one AWS service in one collection unit (a region, or ``global`` for services
listed once per account), joins each resource's related settings into its configuration, and
emits one :class:`Resource` per resource. It declares the IAM actions it uses, so the read-only
policy is generated, never written by hand.

Errors are data: a listing call that fails makes the unit FAILED (its resources keep their last
state, marked stale); a per-resource read that fails lands in ``configuration["_errors"]`` under
the field's name (checks needing it return ERROR) and makes the unit PARTIAL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden"}
)


@dataclass(frozen=True)
class Resource:
    resource_type: str
    arn: str
    name: str
    region: str
    configuration: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CallError:
    operation: str
    code: str
    message: str
    resource_arn: str | None = None

    def describe(self) -> str:
        return f"{self.code} on {self.operation}: {self.message}"[:500]


@dataclass(frozen=True)
class Read:
    """The outcome of one read: a value, 'not configured' (absent), or an error."""

    value: Any = None
    error: CallError | None = None
    absent: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class UnitFailed(Exception):
    """The unit's primary listing failed: nothing it would have listed can be trusted as gone."""

    def __init__(self, error: CallError) -> None:
        super().__init__(error.describe())
        self.error = error


class ConfigBuilder:
    """Collects a resource's configuration fields and the fields that could not be read."""

    def __init__(self, **initial: Any) -> None:
        self.data: dict[str, Any] = dict(initial)
        self.errors: dict[str, str] = {}

    def put(self, name: str, value: Any) -> None:
        self.data[name] = value

    def from_read(
        self,
        name: str,
        read: Read,
        transform: Callable[[Any], Any] = lambda v: v,
        *,
        when_absent: Any = None,
    ) -> None:
        if read.error is not None:
            self.errors[name] = read.error.describe()
            self.data[name] = None
        elif read.absent:
            self.data[name] = when_absent
        else:
            self.data[name] = transform(read.value)

    def fail(self, name: str, error: CallError) -> None:
        self.errors[name] = error.describe()
        self.data[name] = None

    def build(self) -> dict[str, Any]:
        out = dict(self.data)
        if self.errors:
            out["_errors"] = dict(sorted(self.errors.items()))
        return out


class Facts:
    """Per-scan facts collectors leave for the account context phase.

    ``facts.put("iam", "password_policy", value)`` for account-wide facts, ``region=...`` for
    regional ones; a fact that could not be read is stored with its error so the context snapshot
    can list it under ``_errors``.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, str, str], Any] = {}
        self._errors: dict[tuple[str, str, str], str] = {}

    def put(self, service: str, name: str, value: Any, *, region: str = "global") -> None:
        self._values[(service, region, name)] = value

    def put_error(self, service: str, name: str, error: str, *, region: str = "global") -> None:
        self._errors[(service, region, name)] = error

    def append(self, service: str, name: str, value: Any, *, region: str = "global") -> None:
        self._values.setdefault((service, region, name), []).append(value)

    def get(self, service: str, name: str, default: Any = None, *, region: str = "global") -> Any:
        return self._values.get((service, region, name), default)

    def error(self, service: str, name: str, *, region: str = "global") -> str | None:
        return self._errors.get((service, region, name))

    def regions_of(self, service: str, name: str) -> dict[str, Any]:
        return {r: v for (s, r, n), v in self._values.items() if s == service and n == name}

    def errors_of(self, service: str, name: str) -> dict[str, str]:
        return {r: e for (s, r, n), e in self._errors.items() if s == service and n == name}


ClientFactory = Callable[[str, str], Awaitable[Any]]


class UnitContext:
    """Everything a collector may use while collecting one unit."""

    def __init__(
        self,
        *,
        account_id: str,
        partition: str,
        region: str,
        unit_region: str,
        regions: list[str],
        client_factory: ClientFactory,
        emit: Callable[[Resource], Awaitable[None]],
        facts: Facts,
        concurrency: int,
    ) -> None:
        self.account_id = account_id
        self.partition = partition
        self.region = region
        self.unit_region = unit_region
        self.regions = regions
        self._client_factory = client_factory
        self._emit = emit
        self.facts = facts
        self.limit = asyncio.Semaphore(concurrency)
        self.errors: list[CallError] = []
        self.emitted = 0

    async def client(self, service: str, region: str | None = None) -> Any:
        return await self._client_factory(service, region or self.region)

    async def emit(self, resource: Resource) -> None:
        self.emitted += 1
        await self._emit(resource)

    def arn(self, service: str, resource: str, *, region: str | None = None, account: bool = True) -> str:
        reg = self.region if region is None else region
        acct = self.account_id if account else ""
        return f"arn:{self.partition}:{service}:{reg}:{acct}:{resource}"

    def record(self, error: CallError) -> None:
        self.errors.append(error)

    async def read(
        self,
        client: Any,
        operation: str,
        *,
        absent: tuple[str, ...] = (),
        resource_arn: str | None = None,
        supplementary: bool = False,
        **kwargs: Any,
    ) -> Read:
        """One API call whose failure is recorded as data. ``absent`` codes mean 'not configured'.

        ``supplementary`` reads add detail no check depends on yet: their failure still reaches the
        resource's ``_errors`` through the caller, but does not make the whole unit PARTIAL.
        """
        try:
            async with self.limit:
                value = await getattr(client, operation)(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code in absent:
                return Read(absent=True)
            err = CallError(operation, code, str(exc.response.get("Error", {}).get("Message", "")), resource_arn)
        except (TimeoutError, BotoCoreError, ResponseParserError, OSError) as exc:
            # ResponseParserError: an answer botocore cannot parse (an HTML 5xx page, say).
            err = CallError(operation, type(exc).__name__, _first_line(exc), resource_arn)
        else:
            return Read(value=value)
        if not supplementary:
            self.record(err)
        return Read(error=err)

    async def list_all(self, client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
        """A primary listing: every page or :class:`UnitFailed`."""
        items: list[Any] = []
        async for page in self.pages(client, operation, **kwargs):
            items.extend(page.get(key, []) or [])
        return items

    async def pages(self, client: Any, operation: str, **kwargs: Any) -> AsyncIterator[Mapping[str, Any]]:
        try:
            if client.can_paginate(operation):
                paginator = client.get_paginator(operation)
                iterator = paginator.paginate(**kwargs).__aiter__()
                while True:
                    async with self.limit:
                        try:
                            page = await iterator.__anext__()
                        except StopAsyncIteration:
                            break
                    yield page
            else:
                async with self.limit:
                    page = await getattr(client, operation)(**kwargs)
                yield page
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            err = CallError(operation, code, str(exc.response.get("Error", {}).get("Message", "")))
            self.record(err)
            raise UnitFailed(err) from exc
        except (TimeoutError, BotoCoreError, ResponseParserError, OSError) as exc:
            err = CallError(operation, type(exc).__name__, _first_line(exc))
            self.record(err)
            raise UnitFailed(err) from exc


class Collector:
    """Base class: subclasses set the class attributes and implement :meth:`collect`."""

    service: ClassVar[str]
    # boto3 client name when it differs from ``service``.
    client_name: ClassVar[str | None] = None
    # Listed once per account (IAM, S3's ListBuckets) rather than once per region.
    global_service: ClassVar[bool] = False
    # Every IAM action the collector's calls need; the read-only policy is generated from these.
    permissions: ClassVar[tuple[str, ...]]
    # Resource types this collector emits.
    resource_types: ClassVar[tuple[str, ...]]
    # Units of collectors with a higher start priority start first, so that the ones making many
    # calls per resource (S3, IAM), the last to finish, are not queued behind every other unit's
    # client creation at the start of a scan.
    start_priority: ClassVar[int] = 0

    async def collect(self, ctx: UnitContext) -> None:
        raise NotImplementedError

    def account_context(self, facts: Facts, region: str) -> tuple[dict[str, Any], dict[str, str]]:
        """Fields (and unreadable fields) this service adds to the ``AWS::::Account`` snapshot of
        ``region`` (``"global"`` for the account-wide one). Default: nothing."""
        return {}, {}


class DuplicateCollectorError(ValueError):
    pass


COLLECTORS: dict[str, Collector] = {}


def register(cls: type[Collector]) -> type[Collector]:
    if cls.service in COLLECTORS:
        raise DuplicateCollectorError(f"a collector for {cls.service!r} is registered twice")
    COLLECTORS[cls.service] = cls()
    return cls


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def tags_of(items: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    """AWS's many tag shapes ([{Key, Value}], {k: v}, None) as one dict."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    return {str(t.get(key)): str(t.get(value, "")) for t in items if t.get(key) is not None}
