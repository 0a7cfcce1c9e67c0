"""Support code shared by the golden test modules in ``tests/golden``.

A golden test seeds a moto server, runs the real collectors against it through ``collect_account``
and judges what they emit with the real checks. This module holds the parts every such module needs:

- pytest fixtures for a moto server per module (``moto_server``), a per-test reset with AWS
  credentials in the environment (``moto``), and the environment alone (``aws_env``) for modules that
  seed once per module. Import them under their ``*_fixture`` names; pytest registers them under the
  short names above, so test parameters never shadow the import. ``seeded_once`` makes a module's
  ``ids`` fixture (moto seeded once, shared by read-only tests).
- ``collect``: one collection against moto, optionally with botocore event handlers on the session
  (``before-call`` handlers answer chosen operations in moto's place); ``collector`` binds it to a
  module's regions, retry budget and standing stubs.
- builders for those answers: ``model_checked`` (validated against botocore's service model, as
  botocore's Stubber does), ``with_metadata``, ``refusal``, ``fixed``, ``answering``/``answering_with``.
- picking resources out of a collection (``by_type``, ``by_arn``, ``contexts``, ``account_context``)
  and unit statuses out of an outcome (``units``, ``unit_of``, ``unit_status``).
- running one check on one emitted resource (``snapshot``, ``verdict``, ``status``), or every check on
  every resource of some types (``judged``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import botocore.session
import pytest
from aiobotocore.session import AioSession, get_session
from botocore.awsrequest import AWSResponse
from botocore.validate import validate_parameters

from guardian_collector.collection import AwsTarget, ClientPool, CollectionOutcome, UnitOutcome, collect_account
from guardian_collector.collectors.base import Resource
from guardian_common.events import Status, UnitStatus
from guardian_evaluator.registry import REGISTRY, Check, Snapshot
from guardian_testkit.moto import MotoServer

if TYPE_CHECKING:
    from _pytest.fixtures import FixtureFunctionDefinition

ACCOUNT = "123456789012"
"""moto's account id; every snapshot is built for it."""
ACCOUNT_TYPE = "AWS::::Account"

Emitted = list[tuple[Resource, str, str]]
"""What a collection emitted: (resource, unit region, service) in emission order."""
Answer = tuple[int, dict[str, Any]]
"""An answer given in moto's place: (HTTP status, parsed response)."""
Shortcut = tuple[AWSResponse, dict[str, Any]]
"""What a ``before-call`` handler returns to skip the HTTP call: (HTTP response, parsed response)."""
Handler = Callable[..., Any]
"""A botocore event handler (called with keyword arguments only)."""
Intercept = Callable[[str, str, str], "Answer | None"]
"""intercept(service, operation, client region) -> the answer to give in moto's place, or None for moto's."""

StatusTable = dict[tuple[str, str], Status | None]
"""(resource name or ARN, check id) -> the check's status on that resource (None: not applicable)."""

T = TypeVar("T")

_BOTOCORE = botocore.session.get_session()  # keeps the parsed service models between validations


# --- fixtures --------------------------------------------------------------------------------


def set_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials for the collectors' clients, and no profile from the developer's machine."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module", name="moto_server")
def moto_server_fixture() -> Iterator[MotoServer]:
    """One moto server for the importing test module."""
    with MotoServer() as server:
        yield server


@pytest.fixture(name="moto")
def moto_fixture(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The module's moto server, emptied for this test, with AWS credentials in the environment."""
    moto_server.reset()
    set_aws_env(monkeypatch)
    return moto_server


@pytest.fixture(name="aws_env", autouse=True)
def aws_env_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS credentials in the environment for every test of a module that seeds moto once."""
    set_aws_env(monkeypatch)


def seeded_once(seed: Callable[[MotoServer], T]) -> FixtureFunctionDefinition:
    """A module-scoped ``ids`` fixture for a module whose tests only read what moto holds: the module's
    server emptied once and seeded by ``seed``, whose result (the seeded resources' ids) every test shares.
    Assign it after ``seed`` is defined: ``ids = seeded_once(seed)``."""

    @pytest.fixture(scope="module", name="ids")
    def ids_fixture(moto_server: MotoServer) -> T:
        moto_server.reset()
        return seed(moto_server)

    return ids_fixture


# --- collection ------------------------------------------------------------------------------


async def collect(
    moto: MotoServer,
    services: Sequence[str],
    *,
    regions: Sequence[str],
    handlers: Mapping[str, Handler] | None = None,
    session: AioSession | None = None,
    max_attempts: int = 1,
) -> tuple[Emitted, CollectionOutcome]:
    """Run the real collectors for ``services`` in ``regions`` against ``moto``.

    ``handlers`` maps botocore event names (``"before-call"``, ``"before-call.ec2.GetEbsDefaultKmsKeyId"``,
    ``"after-call.cloudformation.DescribeStacks"``...) to handlers registered on the session first.
    ``session`` reuses a session (its parsed service models make collections faster); a fresh one is
    made otherwise. ``max_attempts`` is the collectors' retry budget per call.
    """
    if session is None:
        session = get_session()
    for event, handler in (handlers or {}).items():
        session.register(event, handler)
    emitted: Emitted = []

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        emitted.append((resource, unit_region, service))

    target = AwsTarget(endpoint_url=moto.url, max_attempts=max_attempts)
    async with ClientPool(target, session=session) as pool:
        outcome = await collect_account(
            pool, account_id=ACCOUNT, regions=list(regions), services=list(services), emit=emit
        )
    return emitted, outcome


class Collect(Protocol):
    """A module's collection function: ``await collect(moto, services, handlers)``."""

    async def __call__(
        self, moto: MotoServer, services: Sequence[str], handlers: Mapping[str, Handler] | None = None
    ) -> tuple[Emitted, CollectionOutcome]: ...


def collector(*, regions: Sequence[str], max_attempts: int = 1, stubs: Mapping[str, Handler] | None = None) -> Collect:
    """A module's ``collect(moto, services, handlers=None)``: ``collect`` bound to the module's regions and
    retry budget, with ``stubs`` (handlers by event name) registered on every collection before the
    test's own ``handlers`` (which win for the same event name)."""

    async def collect_with(
        moto: MotoServer, services: Sequence[str], handlers: Mapping[str, Handler] | None = None
    ) -> tuple[Emitted, CollectionOutcome]:
        merged = {**(stubs or {}), **(handlers or {})}
        return await collect(moto, services, regions=regions, handlers=merged, max_attempts=max_attempts)

    return collect_with


# --- answers given in moto's place -----------------------------------------------------------


def model_checked(service: str, operation: str, response: dict[str, Any]) -> dict[str, Any]:
    """``response`` itself, after checking it against botocore's model of the operation's output
    (as botocore's Stubber does); raises ``ParamValidationError`` if AWS could not answer so."""
    shape = _BOTOCORE.get_service_model(service).operation_model(operation).output_shape
    validate_parameters(response, shape)
    return response


def with_metadata(parsed: dict[str, Any], status: int = 200) -> dict[str, Any]:
    """A copy of ``parsed`` carrying the ``ResponseMetadata`` botocore adds to real answers."""
    return {**parsed, "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "golden"}}


def refusal(code: str, message: str = "injected denial", *, metadata: bool = False) -> Answer:
    """An HTTP 403 AWS error answer with ``code``; aiobotocore raises it as the ``ClientError`` a real
    denial would. ``metadata`` adds ``ResponseMetadata`` as botocore's parser does."""
    parsed: dict[str, Any] = {"Error": {"Code": code, "Message": message}}
    return 403, with_metadata(parsed, 403) if metadata else parsed


def short_circuit(answer: Answer) -> Shortcut:
    """The value a ``before-call`` handler returns to give ``answer`` without any HTTP call."""
    status_code, parsed = answer
    return AWSResponse(None, status_code, {}, None), parsed


def fixed(answer: Answer) -> Handler:
    """A ``before-call`` handler giving ``answer`` (a fresh copy each call) to every call it is registered for."""

    def handler(**_: Any) -> Shortcut:
        return short_circuit((answer[0], copy.deepcopy(answer[1])))

    return handler


def answering(intercept: Intercept) -> Handler:
    """A ``before-call`` handler asking ``intercept(service, operation, client region)`` for each call:
    its answer is given in moto's place, None lets moto answer."""
    return answering_with(lambda service, operation, region, _: intercept(service, operation, region), request_url)


def answering_with(
    intercept: Callable[[str, str, str, T], Answer | None], part: Callable[[dict[str, Any]], T]
) -> Handler:
    """As ``answering``, with a fourth argument taken from the request by ``part`` (``request_url``,
    ``request_body``) so the intercept can tell calls of one operation apart."""

    def handler(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Shortcut | None:
        service = str(model.service_model.service_name)
        substitute = intercept(service, str(model.name), str(context.get("client_region")), part(params))
        return None if substitute is None else short_circuit(substitute)

    return handler


def request_url(params: dict[str, Any]) -> str:
    """The request's full URL (bucket names of path-style S3 requests are in it)."""
    return str(params.get("url", ""))


def request_body(params: dict[str, Any]) -> Any:
    """The request's serialised body, as botocore built it."""
    return params.get("body")


# --- picking out of a collection -------------------------------------------------------------


def by_type(emitted: Emitted, resource_type: str) -> dict[str, Resource]:
    """The emitted resources of ``resource_type`` by name."""
    return {r.name: r for r, _, _ in emitted if r.resource_type == resource_type}


def by_arn(emitted: Emitted, resource_type: str) -> dict[str, Resource]:
    """The emitted resources of ``resource_type`` by ARN (for types whose names repeat)."""
    return {r.arn: r for r, _, _ in emitted if r.resource_type == resource_type}


def contexts(emitted: Emitted) -> dict[str, Resource]:
    """The account context snapshots by region ("global" for the account-wide one)."""
    return {r.region: r for r, _, _ in emitted if r.resource_type == ACCOUNT_TYPE}


def account_context(emitted: Emitted, region: str = "global") -> Resource:
    """The one account context snapshot for ``region``."""
    found = [r for r, _, _ in emitted if r.resource_type == ACCOUNT_TYPE and r.region == region]
    assert len(found) == 1, f"{len(found)} account contexts for {region}"
    return found[0]


def units(outcome: CollectionOutcome) -> dict[tuple[str, str], UnitStatus]:
    """Each unit's status by (service, unit region)."""
    return {(u.service, u.region): u.status for u in outcome.units}


def unit_of(outcome: CollectionOutcome, service: str, region: str | None = None) -> UnitOutcome:
    """The one unit of ``service`` (in ``region``, when given)."""
    found = [u for u in outcome.units if u.service == service and region in (None, u.region)]
    assert len(found) == 1, f"{len(found)} units of {service} in {region or 'any region'}"
    return found[0]


def unit_status(outcome: CollectionOutcome, service: str, region: str | None = None) -> UnitStatus:
    """The status of the one unit of ``service`` (in ``region``, when given)."""
    return unit_of(outcome, service, region).status


# --- judging ---------------------------------------------------------------------------------


def snapshot(resource: Resource) -> Snapshot:
    """The evaluator's view of an emitted resource."""
    return Snapshot(
        resource_type=resource.resource_type,
        arn=resource.arn,
        name=resource.name,
        account_id=ACCOUNT,
        region=resource.region,
        tags=resource.tags,
        configuration=resource.configuration,
    )


def verdict(check_id: str, resource: Resource, **params: Any) -> tuple[Status, str] | None:
    """(status, reason) of the registered check on ``resource``, None when it does not apply.
    ``params`` override the check's default parameters."""
    chk = REGISTRY.get(check_id)
    result = chk.fn(snapshot(resource), {**chk.parameters, **params})
    return None if result is None else (result.status, result.reason)


def status(check_id: str, resource: Resource, **params: Any) -> Status | None:
    """The status alone of ``verdict``."""
    result = verdict(check_id, resource, **params)
    return None if result is None else result[0]


def judged(
    emitted: Emitted,
    resource_types: Sequence[str],
    *,
    key: Callable[[Emitted, str], dict[str, Resource]] = by_type,
    include: Callable[[Check], bool] | None = None,
) -> StatusTable:
    """(resource key, check id) -> status for every registered check (those ``include`` accepts, when
    given) on every emitted resource of ``resource_types``; ``key`` picks resources by name or by ARN."""
    table: StatusTable = {}
    for resource_type in resource_types:
        for resource_key, resource in key(emitted, resource_type).items():
            for chk in REGISTRY.for_type(resource_type):
                if include is None or include(chk):
                    table[(resource_key, chk.id)] = status(chk.id, resource)
    return table
