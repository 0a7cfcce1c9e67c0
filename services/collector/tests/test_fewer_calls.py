"""Fewer AWS calls per resource, the same snapshots: IAM's bulk details, S3's conditional reads and
SQS's dead-letter sources.

IAM: GetAccountAuthorizationDetails gives every user's inline policies, attached policies, groups and
tags and every customer-managed policy's versions in a few calls; a user or field it does not cover is
read with the per-user calls, and a field neither source gives is unreadable (its checks say ERROR).
S3: GetBucketPolicyStatus is asked only of buckets with a policy, GetBucketReplication only of buckets
whose versioning was ever enabled. SQS: a queue's dead-letter sources come from the region's redrive
policies, ListDeadLetterSourceQueues only when one of them is unknown. Every test runs the real
collectors against the moto server through the fault proxy, which counts the calls by operation and
refuses the ones a test names.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import botocore.session
import pytest
from aiobotocore.session import get_session
from botocore.awsrequest import AWSResponse
from botocore.validate import validate_parameters
from golden_support import snapshot

from guardian_collector.collection import AwsTarget, ClientPool, collect_account, user_agent
from guardian_collector.collectors.base import Resource
from guardian_collector.collectors.iam import BULK_FILTER
from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import iam as _iam_checks  # noqa: F401  (registers the IAM checks)
from guardian_evaluator.registry import REGISTRY
from guardian_testkit.faults import FaultProxy, FaultRule
from guardian_testkit.moto import MotoServer

ACCOUNT = "123456789012"
USER = "AWS::IAM::User"
POLICY = "AWS::IAM::Policy"
BUCKET = "AWS::S3::Bucket"
QUEUE = "AWS::SQS::Queue"
PER_USER_BULK_FIELDS = ("ListUserPolicies", "ListAttachedUserPolicies", "ListGroupsForUser", "ListUserTags")
DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto.url) as running:
        yield running


# The ``collect`` fixture of this directory's conftest: collect(services, endpoint=...) -> (emitted, outcome).
CollectFn = Any


def by_type(emitted: list[tuple[Resource, str, str]], resource_type: str) -> dict[str, Resource]:
    return {r.name: r for r, _, _ in emitted if r.resource_type == resource_type}


def calls(proxy: FaultProxy, operation: str) -> int:
    return sum(n for (_, op), n in proxy.calls.items() if op == operation)


def check_status(check_id: str, resource: Resource) -> Status | None:
    """The real evaluator check on the emitted resource (None: it does not apply)."""
    chk = REGISTRY.get(check_id)
    result = chk.fn(snapshot(resource), dict(chk.parameters))
    return None if result is None else result.status


def unit(outcome: Any, service: str) -> UnitStatus:
    return next(u.status for u in outcome.units if u.service == service)


# -- IAM -----------------------------------------------------------------------------------------


def seed_iam(moto: MotoServer, users: int = 0) -> None:
    iam = moto.client("iam")
    iam.create_group(GroupName="engineers")
    readers = iam.create_policy(PolicyName="readers", PolicyDocument=json.dumps(DOC))["Policy"]["Arn"]
    everything = iam.create_policy(PolicyName="everything", PolicyDocument=json.dumps(DOC))["Policy"]["Arn"]
    # A second version as the default: the bulk answer carries both, only the default is the document.
    iam.create_policy_version(PolicyArn=everything, PolicyDocument=json.dumps(ADMIN), SetAsDefault=True)

    iam.create_user(UserName="carol", Tags=[{"Key": "team", "Value": "platform"}])
    iam.add_user_to_group(UserName="carol", GroupName="engineers")
    iam.create_login_profile(UserName="carol", Password="An-initial-Passw0rd!")
    iam.create_user(UserName="erin")
    iam.put_user_policy(UserName="erin", PolicyName="erin-s3", PolicyDocument=json.dumps(DOC))
    iam.attach_user_policy(UserName="erin", PolicyArn=readers)
    iam.create_access_key(UserName="erin")
    iam.create_user(UserName="frank")  # nothing at all
    for n in range(users):
        iam.create_user(UserName=f"user-{n:02d}")


def iam_view(emitted: list[tuple[Resource, str, str]]) -> dict[str, Any]:
    """Users and policies as checks see them, with the parts that differ between two scans left out."""
    view: dict[str, Any] = {}
    for kind in (USER, POLICY):
        for name, resource in by_type(emitted, kind).items():
            configuration = copy.deepcopy(resource.configuration)
            for key in configuration.get("access_keys") or []:
                key.pop("last_used", None)
            view[name] = (configuration, resource.tags)
    return view


async def test_bulk_details_give_the_same_users_and_policies_as_the_per_user_calls(
    moto: MotoServer, proxy: FaultProxy, collect: CollectFn
) -> None:
    seed_iam(moto)
    bulk_emitted, bulk_outcome = await collect(["iam"], endpoint=proxy.url)
    assert unit(bulk_outcome, "iam") is UnitStatus.COMPLETE
    assert calls(proxy, "GetAccountAuthorizationDetails") == 1
    for operation in (*PER_USER_BULK_FIELDS, "GetPolicyVersion"):
        assert calls(proxy, operation) == 0, operation
    # Not in the bulk answer, or fresher than it: still read per user.
    assert calls(proxy, "ListMFADevices") == calls(proxy, "GetLoginProfile") == calls(proxy, "ListAccessKeys") == 3

    # A role granted before Guardian asked for the bulk action: the same snapshots, one call per field.
    proxy.reset_counters()
    proxy.add_rule(FaultRule(service="iam", operation="GetAccountAuthorizationDetails", fault="access_denied"))
    single_emitted, single_outcome = await collect(["iam"], endpoint=proxy.url)
    assert unit(single_outcome, "iam") is UnitStatus.COMPLETE
    for operation in PER_USER_BULK_FIELDS:
        assert calls(proxy, operation) == 3, operation
    assert calls(proxy, "GetPolicyVersion") == 2

    assert iam_view(bulk_emitted) == iam_view(single_emitted)
    view = iam_view(bulk_emitted)
    carol, erin, frank = view["carol"], view["erin"], view["frank"]
    assert carol[0]["groups"] == ["engineers"]
    assert carol[1] == {"team": "platform"}
    assert erin[0]["inline_policies"] == ["erin-s3"]
    assert erin[0]["attached_policies"] == [
        {"name": "readers", "arn": f"arn:aws:iam::{ACCOUNT}:policy/readers"},
    ]
    assert frank[0]["inline_policies"] == frank[0]["attached_policies"] == frank[0]["groups"] == []
    assert frank[1] == {}
    assert view["everything"][0]["document"] == ADMIN  # the default version, not the first
    for configuration, _ in view.values():
        assert "_errors" not in configuration


async def test_a_field_neither_the_bulk_answer_nor_its_own_call_gives_is_unreadable(
    moto: MotoServer, proxy: FaultProxy, collect: CollectFn
) -> None:
    seed_iam(moto)
    proxy.add_rule(FaultRule(service="iam", operation="GetAccountAuthorizationDetails", fault="access_denied"))
    proxy.add_rule(
        FaultRule(service="iam", operation="ListUserPolicies", fault="access_denied", contains="UserName=carol")
    )
    emitted, outcome = await collect(["iam"], endpoint=proxy.url)
    assert unit(outcome, "iam") is UnitStatus.PARTIAL
    carol = by_type(emitted, USER)["carol"]
    assert carol.configuration["inline_policies"] is None
    assert "AccessDenied" in carol.configuration["_errors"]["inline_policies"]
    # carol has no inline policy; unread, that is not a pass.
    assert check_status("iam_user_no_direct_policies", carol) is Status.ERROR
    assert check_status("iam_user_no_direct_policies", by_type(emitted, USER)["frank"]) is Status.PASS


# Pages of GetAccountAuthorizationDetails: moto ignores MaxItems and answers everything at once, so the
# collector's own IAM client is given moto's whole answer cut into pages (a ``before-call`` handler, the
# mechanism botocore's Stubber uses), each page checked against the IAM model first. With ``leave_out``,
# that user is missing from the pages (created after the bulk call, say).


def paged_bulk_answers(moto: MotoServer, page_size: int, leave_out: str | None = None) -> Any:
    whole = moto.client("iam").get_account_authorization_details(Filter=list(BULK_FILTER))
    # boto3 decoded the policy documents; on the wire AWS sends them as URL-encoded JSON text.
    for user in whole["UserDetailList"]:
        for inline in user.get("UserPolicyList") or []:
            inline["PolicyDocument"] = quote(json.dumps(inline["PolicyDocument"]))
    for policy in whole["Policies"]:
        for version in policy["PolicyVersionList"]:
            version["Document"] = quote(json.dumps(version["Document"]))
    users = [u for u in whole["UserDetailList"] if u["UserName"] != leave_out]
    pages = [users[i : i + page_size] for i in range(0, len(users), page_size)]
    output = botocore.session.get_session().get_service_model("iam").operation_model("GetAccountAuthorizationDetails")
    asked: list[dict[str, Any]] = []

    def handler(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # ``params`` is the serialised request: for IAM's query protocol, its form fields.
        form = dict(params["body"])
        asked.append(form)
        index = int(form.get("Marker") or 0)
        last = index + 1 == len(pages)
        answer: dict[str, Any] = {
            "UserDetailList": copy.deepcopy(pages[index]),
            # The policies come with the last page, as AWS may put any kind of entity on any page.
            "Policies": copy.deepcopy(whole["Policies"]) if last else [],
            "IsTruncated": not last,
        }
        if not last:
            answer["Marker"] = str(index + 1)
        validate_parameters(answer, output.output_shape)
        answer["ResponseMetadata"] = {"HTTPStatusCode": 200}
        return AWSResponse(None, 200, {}, None), answer

    return handler, asked


async def collect_with(moto: MotoServer, proxy: FaultProxy, handler: Any) -> tuple[list[Any], Any]:
    session = get_session()
    session.register("before-call.iam.GetAccountAuthorizationDetails", handler)
    emitted: list[tuple[Resource, str, str]] = []

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        emitted.append((resource, unit_region, service))

    async with ClientPool(AwsTarget(endpoint_url=proxy.url, max_attempts=2), session=session) as pool:
        outcome = await collect_account(pool, account_id=ACCOUNT, regions=["us-east-1"], services=["iam"], emit=emit)
    return emitted, outcome


async def test_every_page_of_the_bulk_details_is_read(moto: MotoServer, proxy: FaultProxy) -> None:
    seed_iam(moto, users=7)
    handler, asked = paged_bulk_answers(moto, page_size=3)
    emitted, outcome = await collect_with(moto, proxy, handler)
    assert unit(outcome, "iam") is UnitStatus.COMPLETE
    assert len(asked) == 4  # 10 users, 3 a page
    assert [a.get("Marker") for a in asked] == [None, "1", "2", "3"]
    assert all([a["Filter.member.1"], a["Filter.member.2"]] == list(BULK_FILTER) for a in asked)
    for operation in (*PER_USER_BULK_FIELDS, "GetPolicyVersion"):
        assert calls(proxy, operation) == 0, operation
    users = by_type(emitted, USER)
    assert len(users) == 10
    assert users["carol"].configuration["groups"] == ["engineers"]
    assert by_type(emitted, POLICY)["everything"].configuration["document"] == ADMIN


async def test_a_user_the_bulk_details_leave_out_is_read_with_its_own_calls(
    moto: MotoServer, proxy: FaultProxy
) -> None:
    seed_iam(moto)
    handler, _ = paged_bulk_answers(moto, page_size=2, leave_out="erin")
    emitted, outcome = await collect_with(moto, proxy, handler)
    assert unit(outcome, "iam") is UnitStatus.COMPLETE
    for operation in PER_USER_BULK_FIELDS:
        assert calls(proxy, operation) == 1, operation  # erin's alone
    erin = by_type(emitted, USER)["erin"]
    assert erin.configuration["inline_policies"] == ["erin-s3"]
    assert "_errors" not in erin.configuration
    assert check_status("iam_user_no_direct_policies", erin) is Status.FAIL


# -- S3 ------------------------------------------------------------------------------------------


def replication_rule(destination: str) -> dict[str, Any]:
    return {
        "Role": f"arn:aws:iam::{ACCOUNT}:role/replication",
        "Rules": [
            {
                "ID": "all",
                "Status": "Enabled",
                "Priority": 1,
                "Filter": {},
                "DeleteMarkerReplication": {"Status": "Disabled"},
                "Destination": {"Bucket": f"arn:aws:s3:::{destination}"},
            }
        ],
    }


def seed_s3(moto: MotoServer) -> None:
    s3 = moto.client("s3")
    for name in ("plain", "with-policy", "versioned", "replicated", "suspended", "replica"):
        s3.create_bucket(Bucket=name)
    public = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::with-policy/*"}
        ],
    }
    s3.put_bucket_policy(Bucket="with-policy", Policy=json.dumps(public))
    for name in ("versioned", "replicated", "suspended", "replica"):
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_replication(Bucket="replicated", ReplicationConfiguration=replication_rule("replica"))
    s3.put_bucket_versioning(Bucket="suspended", VersioningConfiguration={"Status": "Suspended"})


async def test_policy_status_and_replication_are_asked_only_where_they_can_exist(
    moto: MotoServer, proxy: FaultProxy, collect: CollectFn
) -> None:
    seed_s3(moto)
    emitted, outcome = await collect(["s3"], endpoint=proxy.url)
    assert unit(outcome, "s3") is UnitStatus.COMPLETE
    buckets = by_type(emitted, BUCKET)
    assert calls(proxy, "GetBucketPolicy") == 6
    assert calls(proxy, "GetBucketPolicyStatus") == 1  # with-policy's
    assert calls(proxy, "GetBucketVersioning") == 6
    assert calls(proxy, "GetBucketReplication") == 4  # versioned, replicated, suspended, replica

    assert buckets["plain"].configuration["policy_status"] == {"is_public": False}
    assert buckets["plain"].configuration["replication"] == {"enabled": False, "rules": []}
    assert buckets["with-policy"].configuration["policy_status"] == {"is_public": True}
    assert buckets["replicated"].configuration["replication"]["enabled"] is True
    assert buckets["versioned"].configuration["replication"] == {"enabled": False, "rules": []}
    assert buckets["suspended"].configuration["versioning"]["status"] == "Suspended"
    for bucket in buckets.values():
        assert "_errors" not in bucket.configuration


async def test_an_unread_policy_or_versioning_does_not_skip_the_read_that_depends_on_it(
    moto: MotoServer, proxy: FaultProxy, collect: CollectFn
) -> None:
    seed_s3(moto)
    for operation in ("GetBucketPolicy", "GetBucketVersioning"):
        proxy.add_rule(FaultRule(service="s3", operation=operation, fault="access_denied"))
    emitted, outcome = await collect(["s3"], endpoint=proxy.url)
    assert unit(outcome, "s3") is UnitStatus.PARTIAL
    assert calls(proxy, "GetBucketPolicyStatus") == calls(proxy, "GetBucketReplication") == 6
    plain = by_type(emitted, BUCKET)["plain"]
    assert set(plain.configuration["_errors"]) == {"policy", "versioning"}
    # What was read on its own stays as read.
    assert plain.configuration["policy_status"] == {"is_public": False}
    assert by_type(emitted, BUCKET)["replicated"].configuration["replication"]["enabled"] is True


# ListBuckets' BucketRegion: moto does not return it, so the listing is answered by a ``before-call``
# handler on the collector's S3 client (Stubber's mechanism), checked against the S3 model first.


async def test_bucket_region_from_the_listing_saves_the_location_call(moto: MotoServer, proxy: FaultProxy) -> None:
    seed_s3(moto)
    model = botocore.session.get_session().get_service_model("s3").operation_model("ListBuckets")
    listing = {
        "Buckets": [
            {"Name": name, **({"BucketRegion": "us-east-1"} if name != "plain" else {})}
            for name in ("plain", "with-policy", "versioned", "replicated", "suspended", "replica")
        ],
        "Owner": {"ID": "owner"},
    }
    validate_parameters(listing, model.output_shape)

    def list_buckets(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse(None, 200, {}, None), {**copy.deepcopy(listing), "ResponseMetadata": {"HTTPStatusCode": 200}}

    asked: list[dict[str, Any]] = []

    def parameters(params: dict[str, Any], **_: Any) -> None:
        asked.append(dict(params))

    session = get_session()
    session.register("before-parameter-build.s3.ListBuckets", parameters)
    session.register("before-call.s3.ListBuckets", list_buckets)
    emitted: list[tuple[Resource, str, str]] = []

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        emitted.append((resource, unit_region, service))

    async with ClientPool(AwsTarget(endpoint_url=proxy.url, max_attempts=2), session=session) as pool:
        outcome = await collect_account(pool, account_id=ACCOUNT, regions=["us-east-1"], services=["s3"], emit=emit)
    assert unit(outcome, "s3") is UnitStatus.COMPLETE
    # AWS gives BucketRegion only to a listing request with a parameter.
    assert asked == [{"MaxBuckets": 10_000}]
    assert calls(proxy, "GetBucketLocation") == 1  # plain's, the one listed without its region
    assert {b.region for b in by_type(emitted, BUCKET).values()} == {"us-east-1"}


# -- SQS -----------------------------------------------------------------------------------------


def seed_sqs(moto: MotoServer) -> dict[str, str]:
    sqs = moto.client("sqs")
    urls = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("orders-dlq", "lonely")}
    dlq_arn = sqs.get_queue_attributes(QueueUrl=urls["orders-dlq"], AttributeNames=["QueueArn"])["Attributes"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": "5"})
    for name in ("orders", "refunds"):
        urls[name] = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    return urls


async def test_dead_letter_sources_follow_from_the_regions_redrive_policies(
    moto: MotoServer, proxy: FaultProxy, collect: CollectFn
) -> None:
    urls = seed_sqs(moto)
    emitted, outcome = await collect(["sqs"], endpoint=proxy.url)
    assert unit(outcome, "sqs") is UnitStatus.COMPLETE
    assert calls(proxy, "GetQueueAttributes") == 4
    assert calls(proxy, "ListDeadLetterSourceQueues") == 0
    derived = {name: q.configuration["dead_letter_source_queues"] for name, q in by_type(emitted, QUEUE).items()}
    assert derived == {
        "orders-dlq": sorted([urls["orders"], urls["refunds"]]),
        "lonely": [],
        "orders": [],
        "refunds": [],
    }
    # What SQS itself answers, queue by queue.
    sqs = moto.client("sqs")
    for name, url in urls.items():
        assert derived[name] == sorted(sqs.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", []))


async def test_an_unread_redrive_policy_makes_every_queue_ask_for_its_sources(
    moto: MotoServer, proxy: FaultProxy, collect: CollectFn
) -> None:
    urls = seed_sqs(moto)
    # One queue's attributes unread (the proxy cannot pick a queue of SQS's JSON protocol, so the first
    # asked): it may be any queue's source, so no queue's sources are derived; each queue asks SQS.
    proxy.add_rule(FaultRule(service="sqs", operation="GetQueueAttributes", fault="access_denied", times=1))
    emitted, outcome = await collect(["sqs"], endpoint=proxy.url)
    assert unit(outcome, "sqs") is UnitStatus.PARTIAL
    assert calls(proxy, "ListDeadLetterSourceQueues") == 4
    queues = by_type(emitted, QUEUE)
    assert queues["orders-dlq"].configuration["dead_letter_source_queues"] == sorted([urls["orders"], urls["refunds"]])
    assert len([q for q in queues.values() if "redrive_policy" in q.configuration.get("_errors", {})]) == 1
    for queue in queues.values():
        assert "dead_letter_source_queues" not in queue.configuration.get("_errors", {})


# -- unit order ----------------------------------------------------------------------------------


async def test_the_longest_units_start_first_and_are_reported_in_collector_order(moto: MotoServer) -> None:
    created: list[str] = []

    def record(event_name: str, **_: Any) -> None:
        created.append(event_name.rsplit(".", 1)[-1])

    session = get_session()
    session.register("creating-client-class", record)

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        pass

    async with ClientPool(AwsTarget(endpoint_url=moto.url, max_attempts=1), session=session) as pool:
        outcome = await collect_account(
            pool, account_id=ACCOUNT, regions=["us-east-1"], services=["acm", "iam", "s3"], emit=emit
        )
    # Clients are made one at a time, in the order units ask: S3's first, then IAM's, then the rest.
    assert created[0] == "s3"
    assert created.index("iam") < created.index("acm")
    assert [u.service for u in outcome.units] == ["acm", "iam", "s3", "account", "account"]


# -- every call ----------------------------------------------------------------------------------


async def test_calls_carry_guardians_user_agent(moto: MotoServer) -> None:
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(request.headers["User-Agent"].decode())

    session = get_session()
    session.register("before-send.sts", record)
    async with ClientPool(AwsTarget(endpoint_url=moto.url, max_attempts=1), session=session) as pool:
        sts = await pool.get("sts", "us-east-1")
        await sts.get_caller_identity()
    # botocore appends the session's extra (its own name and version) to a configured User-Agent.
    assert len(sent) == 1
    assert sent[0].startswith(f"{user_agent()} ")
    assert sent[0].startswith("guardian-collector/")
