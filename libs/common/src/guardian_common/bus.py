"""NATS JetStream plumbing: streams, publishing with deterministic ids, durable pull consumers.

A consumer hands a *batch* of decoded events to its handler; the handler commits them in one
database transaction; only then are the messages acked (invariant 2). A message that can never
be decoded, or that keeps failing for a reason other than an outage, goes to the dead-letter
subject with its reason and whatever the headers say about its resource.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.api import Header as JsHeader
from nats.js.api import StatusCode as JsStatus
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ValidationError

from guardian_common import events as ev
from guardian_common.logging import get_logger
from guardian_common.metrics import CONSUMER_LAG, DEAD_LETTERS, MESSAGES_HANDLED

log = get_logger("guardian.bus")

E = TypeVar("E", bound=BaseModel)

# Compress anything larger than this; NATS' default max_payload is 1 MiB.
COMPRESS_OVER_BYTES = 64 * 1024
# A message failing for a reason other than an outage is dead-lettered after this many deliveries.
MAX_POISON_DELIVERIES = 5
# How often a consumer publishes its lag (pending + unacknowledged) as a gauge.
LAG_REPORT_SECONDS = 5.0
# How long a batch of publishes may wait for JetStream's acknowledgements (as one request did).
PUBLISH_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Subjects:
    """Every subject and stream name of one deployment, derived from its prefix."""

    prefix: str

    @property
    def scan_started(self) -> str:
        return f"{self.prefix}.scan.started"

    @property
    def scan_error(self) -> str:
        return f"{self.prefix}.scan.error"

    @property
    def scan_completed(self) -> str:
        return f"{self.prefix}.scan.completed"

    @property
    def scans_all(self) -> str:
        return f"{self.prefix}.scan.>"

    def snapshot(self, service: str) -> str:
        return f"{self.prefix}.snapshot.{service}"

    @property
    def snapshots_all(self) -> str:
        return f"{self.prefix}.snapshot.>"

    def evaluated(self, service: str) -> str:
        return f"{self.prefix}.evaluated.{service}"

    @property
    def evaluated_all(self) -> str:
        return f"{self.prefix}.evaluated.>"

    @property
    def catalogue(self) -> str:
        return f"{self.prefix}.catalogue"

    def dlq(self, consumer: str) -> str:
        return f"{self.prefix}.dlq.{consumer}"

    @property
    def dlq_all(self) -> str:
        return f"{self.prefix}.dlq.>"

    def domain(self, event_type: str) -> str:
        """Domain events (acceptance expiring, control changed...), relayed from service outboxes."""
        return f"{self.prefix}.domain.{event_type}"

    @property
    def domain_all(self) -> str:
        return f"{self.prefix}.domain.>"

    def stream(self, name: str) -> str:
        return f"{self.prefix.upper()}_{name}"

    def stream_configs(self) -> list[StreamConfig]:
        week = 7 * 24 * 3600.0

        def cfg(name: str, subjects: list[str], max_age: float) -> StreamConfig:
            return StreamConfig(
                name=self.stream(name),
                subjects=subjects,
                # Limits retention: several durable consumers read the same stream, and a
                # consumer created after a publish must still see it.
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                max_age=max_age,
                duplicate_window=120.0,
            )

        return [
            cfg("SCANS", [self.scans_all], week * 4),
            cfg("SNAPSHOTS", [self.snapshots_all], week),
            cfg("EVALUATIONS", [self.evaluated_all], week),
            cfg("CATALOGUE", [self.catalogue], week * 52),
            cfg("DLQ", [self.dlq_all], week * 4),
            cfg("DOMAIN", [self.domain_all], week * 4),
        ]


async def connect(url: str, name: str) -> NatsClient:
    async def on_error(exc: Exception) -> None:
        log.warning("nats_error", error=str(exc))

    nc: NatsClient = await nats.connect(
        url,
        name=name,
        error_cb=on_error,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=3,
    )
    return nc


async def ensure_streams(js: JetStreamContext, subjects: Subjects) -> None:
    """Create or update every stream; safe to run from every replica at every start."""
    for config in subjects.stream_configs():
        assert config.name is not None
        try:
            await js.stream_info(config.name)
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)


def encode(event: ev.Event) -> tuple[bytes, dict[str, str]]:
    payload = event.to_bytes()
    headers = {"Nats-Msg-Id": event.event_id, "Guardian-Event": event.event_type}
    if len(payload) > COMPRESS_OVER_BYTES:
        payload = zlib.compress(payload, 6)
        headers[ev.HEADER_ENCODING] = "zlib"
    return payload, headers


def decode(msg: Msg, model: type[E]) -> E:
    data = msg.data
    if (msg.headers or {}).get(ev.HEADER_ENCODING) == "zlib":
        data = zlib.decompress(data)
    return model.model_validate_json(data)


async def publish(
    js: JetStreamContext, subject: str, event: ev.Event, extra_headers: dict[str, str] | None = None
) -> None:
    payload, headers = encode(event)
    if extra_headers:
        headers.update(extra_headers)
    await js.publish(subject, payload, headers=headers)


async def publish_many(
    js: JetStreamContext,
    items: Sequence[tuple[str, ev.Event, dict[str, str] | None]],
    *,
    window: int = 256,
) -> None:
    """Publish with up to ``window`` acks outstanding; raises if any publish failed.

    Returns only once JetStream has acknowledged every message (stored it, or recognised its id as
    a duplicate). The acknowledgements are futures of the context's one reply subscription rather
    than a request (a task, an inbox and a timer) per message: the same guarantee for a fraction
    of the CPU.
    """
    for start in range(0, len(items), window):
        chunk = items[start : start + window]
        pending: list[asyncio.Future[PubAck]] = []
        try:
            for subject, event, extra_headers in chunk:
                payload, headers = encode(event)
                if extra_headers:
                    headers.update(extra_headers)
                pending.append(await js.publish_async(subject, payload, headers=headers))
            await asyncio.wait_for(asyncio.gather(*pending), timeout=PUBLISH_TIMEOUT_SECONDS)
        finally:
            # After a failure or a timeout nobody waits for the rest: cancelling them frees their
            # place in the context's window of outstanding publishes.
            for future in pending:
                if not future.done():
                    future.cancel()


def resource_headers(event: ev.ResourceSnapshot | ev.SnapshotEvaluated) -> dict[str, str]:
    """Headers naming the resource, so even an undecodable message can be attributed."""
    return {
        ev.HEADER_SCAN_ID: event.scan_id,
        ev.HEADER_SEQ: str(event.seq),
        ev.HEADER_ARN: event.arn,
        ev.HEADER_RESOURCE_TYPE: event.resource_type,
        ev.HEADER_ACCOUNT: event.account_id,
        ev.HEADER_REGION: event.region,
        ev.HEADER_COLLECTION_REGION: event.collection_region,
        ev.HEADER_SERVICE: event.service,
    }


def is_outage(exc: BaseException) -> bool:
    """Errors that say a dependency is down, not that the message is bad: retry without limit."""
    if isinstance(exc, OSError | ConnectionError | asyncio.TimeoutError):
        return True
    module = type(exc).__module__
    name = type(exc).__name__
    if module.startswith("asyncpg") and (
        "Connection" in name or "CannotConnectNow" in name or "TooManyConnections" in name
    ):
        return True
    return module.startswith("nats")


# Status answers that end a pull request normally: no messages now (404), or it expired (408).
# Any other (409: too many requests waiting, a leader change...) is raised when nothing came, so
# the consumer pauses before it asks again rather than asking in a tight loop.
_ENDS_A_REQUEST = frozenset({JsStatus.NO_MESSAGES.value, JsStatus.REQUEST_TIMEOUT.value})


class _Puller:
    """Pull requests for one durable consumer, answered on an inbox subscription of its own.

    The same protocol as nats-py's ``fetch`` (a request for what is there now, then, if nothing
    was, one that waits), without its per-message cost: ``fetch`` takes each message off its queue
    with ``next_msg``, a task, a timer and a uuid apiece, about as much CPU as the rest of the
    consumer's work on a message. Here the subscription's callback collects them in a list.

    Each request has its own reply subject under the inbox, so a status answer (no messages, the
    request expired) ends only the wait of the request it answers. Messages that arrive after a
    fetch stopped waiting (answers to an earlier request) are kept for the next fetch, as nats-py
    keeps them in its queue.
    """

    def __init__(self, nc: NatsClient, api_prefix: str, stream: str, durable: str) -> None:
        self._nc = nc
        self._subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._msgs: list[Msg] = []
        self._wanted = 0
        self._request_id = 0
        self._reply = ""
        self._ended = asyncio.Event()
        self._error: Msg | None = None
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self._nc.subscribe(f"{self._inbox}.*", cb=self._received)

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def _received(self, msg: Msg) -> None:
        status = (msg.headers or {}).get(JsHeader.STATUS.value) if not msg.data else None
        if status is None:
            self._msgs.append(msg)
            if len(self._msgs) >= self._wanted:
                self._ended.set()
            return
        if msg.subject != self._reply or status == JsStatus.CONTROL_MESSAGE.value:
            return  # an earlier request's end, or an idle heartbeat: the current request is open
        if status not in _ENDS_A_REQUEST:
            self._error = msg
        self._ended.set()

    async def fetch(self, batch: int, within: float) -> list[Msg]:
        """Up to ``batch`` messages: those there now, or else the first to come ``within`` seconds
        and as many more as arrive in that time. Raises nats' TimeoutError when none came."""
        start = time.monotonic()
        self._error = None
        if len(self._msgs) < batch:
            await self._request(batch, None, within)
        remaining = within - (time.monotonic() - start)
        if not self._msgs and self._error is None and remaining > 0.001:
            # The server answers a waiting request by its expiry: waiting a little longer here
            # only matters when it cannot answer at all.
            await self._request(batch, remaining, remaining + 0.5)
        taken, self._msgs = self._msgs[:batch], self._msgs[batch:]
        if not taken:
            error, self._error = self._error, None
            if error is not None:
                raise nats.js.errors.APIError.from_msg(error)
            raise nats.errors.TimeoutError
        return taken

    async def _request(self, batch: int, expires: float | None, wait: float) -> None:
        """Ask for the rest of ``batch``: at once (``expires`` None), or waiting up to ``expires``."""
        self._request_id += 1
        self._reply = f"{self._inbox}.{self._request_id}"
        self._wanted = batch
        self._ended.clear()
        request: dict[str, int | bool] = {"batch": batch - len(self._msgs)}
        if expires is None:
            request["no_wait"] = True
        else:
            # As nats-py does: the server ends the request a little before the client would.
            request["expires"] = max(1, int(expires * 1_000_000_000) - 100_000)
        await self._nc.publish(self._subject, json.dumps(request).encode(), reply=self._reply)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), timeout=wait)


@dataclass
class Delivery(Generic[E]):
    msg: Msg
    event: E

    @property
    def deliveries(self) -> int:
        return int(self.msg.metadata.num_delivered)


BatchHandler = Callable[[list[Delivery[E]]], Awaitable[None]]


@dataclass
class Consumer(Generic[E]):
    """A durable pull consumer: fetch a batch, hand it over, ack after the handler commits."""

    js: JetStreamContext
    subjects: Subjects
    stream: str
    durable: str
    filter_subject: str
    model: type[E]
    handler: BatchHandler[E]
    batch_size: int = 200
    fetch_timeout: float = 1.0
    ack_wait: float = 60.0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            max_ack_pending=max(1000, self.batch_size * 4),
            filter_subject=self.filter_subject,
        )
        stream_name = self.subjects.stream(self.stream)
        # Creates the durable consumer (or binds to it) as before; its own fetch is not used.
        self._sub = await self.js.pull_subscribe(
            self.filter_subject, durable=self.durable, stream=stream_name, config=config
        )
        self._puller = _Puller(self.js._nc, self.js._prefix, stream_name, self.durable)
        await self._puller.start()
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.durable}")

    async def stop(self) -> None:
        """Finish the batch in hand, then stop fetching."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
            await self._puller.stop()
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def lag(self) -> int:
        info = await self._sub.consumer_info()
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def _run(self) -> None:
        next_lag_report = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_lag_report:
                next_lag_report = now + LAG_REPORT_SECONDS
                await self._report_lag()
            try:
                msgs = await self._puller.fetch(self.batch_size, self.fetch_timeout)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:
                log.warning("fetch_failed", consumer=self.durable, error=str(exc))
                await asyncio.sleep(0.5)
                continue
            await self._process(msgs)

    async def _report_lag(self) -> None:
        try:
            CONSUMER_LAG.labels(consumer=self.durable).set(await self.lag())
        except Exception as exc:  # metrics must never stop consumption
            log.debug("lag_report_failed", consumer=self.durable, error=str(exc))

    async def _process(self, msgs: list[Msg]) -> None:
        good: list[Delivery[E]] = []
        for msg in msgs:
            try:
                good.append(Delivery(msg, decode(msg, self.model)))
            except (ValidationError, ValueError, zlib.error) as exc:
                await self._dead_letter(msg, f"undecodable {self.model.__name__}: {_first_line(exc)}")
        if not good:
            return
        try:
            await self.handler(good)
        except Exception as exc:
            if len(good) == 1:
                await self._failed(good[0], exc)
                return
            # Isolate the bad message: retry one by one, so one poison message cannot hold a batch.
            log.info("batch_failed_isolating", consumer=self.durable, size=len(good), error=str(exc))
            for delivery in good:
                try:
                    await self.handler([delivery])
                except Exception as single_exc:
                    await self._failed(delivery, single_exc)
                else:
                    await delivery.msg.ack()
            return
        for delivery in good:
            await delivery.msg.ack()
        MESSAGES_HANDLED.labels(consumer=self.durable).inc(len(good))

    async def _failed(self, delivery: Delivery[E], exc: Exception) -> None:
        if is_outage(exc):
            log.warning("handler_outage", consumer=self.durable, error=str(exc))
            await delivery.msg.nak(delay=min(30.0, 0.5 * delivery.deliveries))
            return
        if delivery.deliveries >= MAX_POISON_DELIVERIES:
            await self._dead_letter(delivery.msg, f"handler failed {delivery.deliveries} times: {exc!r}")
            return
        log.warning("handler_failed", consumer=self.durable, error=repr(exc), deliveries=delivery.deliveries)
        await delivery.msg.nak(delay=0.2 * delivery.deliveries)

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        headers = msg.headers or {}
        seq_header = headers.get(ev.HEADER_SEQ)
        meta = msg.metadata
        letter = ev.DeadLetter(
            event_id=ev.DeadLetter.make_id(self.durable, meta.stream, meta.sequence.stream),
            source_subject=msg.subject,
            source_stream_seq=meta.sequence.stream,
            consumer=self.durable,
            reason=reason[:2000],
            dead_lettered_at=datetime.now(UTC),
            scan_id=headers.get(ev.HEADER_SCAN_ID),
            seq=int(seq_header) if seq_header and seq_header.isdigit() else None,
            arn=headers.get(ev.HEADER_ARN),
            resource_type=headers.get(ev.HEADER_RESOURCE_TYPE),
            account_id=headers.get(ev.HEADER_ACCOUNT),
            region=headers.get(ev.HEADER_REGION),
            collection_region=headers.get(ev.HEADER_COLLECTION_REGION),
            service=headers.get(ev.HEADER_SERVICE),
            payload_excerpt=base64.b64encode(msg.data[:2048]).decode(),
        )
        await publish(self.js, self.subjects.dlq(self.durable), letter)
        # Ack (not term) only after the dead letter is safely stored in its own stream.
        await msg.ack()
        DEAD_LETTERS.labels(consumer=self.durable).inc()
        log.error("dead_lettered", consumer=self.durable, subject=msg.subject, reason=reason)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
