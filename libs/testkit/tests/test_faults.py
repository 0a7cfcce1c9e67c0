"""The fault proxy against a real moto server: pass-through, AWS-shaped faults, counters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from guardian_testkit.faults import FaultProxy, FaultRule, RequestInfo, error_response, identify
from guardian_testkit.moto import MotoServer

ACCOUNT = "123456789012"
ClientFactory = Callable[..., Any]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def module_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.url, seed=1, timeout_hold=3.0) as proxy:
        yield proxy


@pytest.fixture
def proxy(module_proxy: FaultProxy, moto_server: MotoServer) -> FaultProxy:
    moto_server.reset()
    module_proxy.clear()
    module_proxy.reset_counters()
    module_proxy.reseed(1)
    return module_proxy


def _strip_s3control_account_host(request: Any, **kwargs: Any) -> None:
    # With a custom endpoint, s3control puts the account id in front of the host; moto wants it bare.
    scheme, _, rest = str(request.url).partition("://")
    host, slash, path = rest.partition("/")
    first, dot, remainder = host.partition(".")
    if dot and first == ACCOUNT:
        request.url = f"{scheme}://{remainder}{slash}{path}"


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[ClientFactory]:
    """boto3 clients pointed at the proxy: ``client("s3", attempts=1, read_timeout=...)``."""
    made: list[Any] = []

    def make(service: str, region: str = "us-east-1", attempts: int = 1, **config: Any) -> Any:
        made_client = boto3.client(
            service,
            region_name=region,
            endpoint_url=proxy.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "total_max_attempts": attempts},
                **config,
            ),
        )
        if service == "s3control":
            made_client.meta.events.register("before-send.s3-control.*", _strip_s3control_account_host)
        made.append(made_client)
        return made_client

    yield make
    for made_client in made:
        made_client.close()


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


# --- pass-through ----------------------------------------------------------------------------


def test_requests_pass_through_to_moto(proxy: FaultProxy, client: ClientFactory) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="pass-through-bucket")
    s3.put_object(Bucket="pass-through-bucket", Key="a/b.txt", Body=b"0123456789" * 500)
    assert s3.get_object(Bucket="pass-through-bucket", Key="a/b.txt")["Body"].read() == b"0123456789" * 500
    assert s3.head_object(Bucket="pass-through-bucket", Key="a/b.txt")["ContentLength"] == 5000
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["pass-through-bucket"]
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_encryption(Bucket="pass-through-bucket")
    assert error_code(missing) == "ServerSideEncryptionConfigurationNotFoundError"

    ec2 = client("ec2", "eu-west-1")
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    assert vpc_id in {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}

    iam = client("iam")
    iam.create_user(UserName="pass-through-user")
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["pass-through-user"]

    assert client("sts").get_caller_identity()["Account"] == ACCOUNT
    assert client("logs").describe_log_groups()["logGroups"] == []

    assert proxy.calls[("s3", "ListBuckets")] == 1
    assert proxy.calls[("s3", "PutObject")] == 1
    assert proxy.calls[("s3", "GetBucketEncryption")] == 1
    assert proxy.calls[("ec2", "CreateVpc")] == 1
    assert proxy.calls[("ec2", "DescribeVpcs")] == 1
    assert proxy.calls[("iam", "ListUsers")] == 1
    assert proxy.calls[("sts", "GetCallerIdentity")] == 1
    assert proxy.calls[("logs", "DescribeLogGroups")] == 1
    assert not proxy.injected


def test_s3control_is_told_apart_from_s3(proxy: FaultProxy, client: ClientFactory) -> None:
    control = client("s3control")
    control.put_public_access_block(
        AccountId=ACCOUNT,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    proxy.add_rule(FaultRule(service="s3", fault="access_denied"))  # service-wide for s3, not s3control
    block = control.get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"]
    assert block["RestrictPublicBuckets"] is True

    proxy.add_rule(FaultRule(service="s3control", operation="GetPublicAccessBlock", fault="access_denied"))
    with pytest.raises(ClientError) as denied:
        control.get_public_access_block(AccountId=ACCOUNT)
    assert error_code(denied) == "AccessDenied"
    assert proxy.calls[("s3control", "GetPublicAccessBlock")] == 2
    assert proxy.injected == {("s3control", "GetPublicAccessBlock", "access_denied"): 1}


# --- access denied ---------------------------------------------------------------------------


def test_s3_access_denied_on_one_operation_only(proxy: FaultProxy, client: ClientFactory) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="denied-encryption")
    proxy.add_rule(FaultRule(service="s3", operation="GetBucketEncryption", fault="access_denied"))

    with pytest.raises(ClientError) as denied:
        s3.get_bucket_encryption(Bucket="denied-encryption")
    assert error_code(denied) == "AccessDenied"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["denied-encryption"]
    assert s3.get_bucket_versioning(Bucket="denied-encryption")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert proxy.injected == {("s3", "GetBucketEncryption", "access_denied"): 1}


def test_ec2_access_denied_is_unauthorized_operation(proxy: FaultProxy, client: ClientFactory) -> None:
    ec2 = client("ec2")
    proxy.add_rule(FaultRule(service="ec2", operation="DescribeSecurityGroups", fault="access_denied"))
    with pytest.raises(ClientError) as denied:
        ec2.describe_security_groups()
    assert error_code(denied) == "UnauthorizedOperation"
    assert ec2.describe_vpcs()["Vpcs"]  # moto's default VPC: other operations still work


def test_query_and_json_protocols_get_their_own_error_codes(proxy: FaultProxy, client: ClientFactory) -> None:
    proxy.add_rule(FaultRule(service="iam", fault="access_denied"))
    proxy.add_rule(FaultRule(service="logs", operation="DescribeLogGroups", fault="access_denied"))
    proxy.add_rule(FaultRule(service="cloudwatch", operation="DescribeAlarms", fault="access_denied"))
    with pytest.raises(ClientError) as iam_denied:
        client("iam").get_account_password_policy()
    assert error_code(iam_denied) == "AccessDenied"
    with pytest.raises(ClientError) as logs_denied:
        client("logs").describe_log_groups()
    assert error_code(logs_denied) == "AccessDeniedException"
    with pytest.raises(ClientError) as cloudwatch_denied:  # rpc-v2-cbor
        client("cloudwatch").describe_alarms()
    assert error_code(cloudwatch_denied) == "AccessDeniedException"
    assert proxy.injected == {
        ("iam", "GetAccountPasswordPolicy", "access_denied"): 1,
        ("logs", "DescribeLogGroups", "access_denied"): 1,
        ("cloudwatch", "DescribeAlarms", "access_denied"): 1,
    }


# --- throttling and server errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation", "call", "code"),
    [
        ("s3", "ListBuckets", lambda c: c.list_buckets(), "SlowDown"),
        ("ec2", "DescribeVpcs", lambda c: c.describe_vpcs(), "RequestLimitExceeded"),
        ("iam", "ListUsers", lambda c: c.list_users(), "Throttling"),
        ("logs", "DescribeLogGroups", lambda c: c.describe_log_groups(), "ThrottlingException"),
    ],
)
def test_throttle_then_success_with_retries(
    proxy: FaultProxy,
    client: ClientFactory,
    service: str,
    operation: str,
    call: Callable[[Any], Any],
    code: str,
) -> None:
    rule = proxy.add_rule(FaultRule(service=service, operation=operation, fault="throttle", times=2))
    without_retries = client(service, attempts=1)
    with pytest.raises(ClientError) as throttled:
        call(without_retries)
    assert error_code(throttled) == code

    answer = call(client(service, attempts=3))  # one more throttle, then moto answers
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert proxy.fired(rule) == 2
    assert proxy.injected == {(service, operation, "throttle"): 2}
    assert proxy.calls[(service, operation)] == 3


def test_server_errors(proxy: FaultProxy, client: ClientFactory) -> None:
    proxy.add_rule(FaultRule(service="s3", operation="GetBucketPolicy", fault="server_error"))
    proxy.add_rule(FaultRule(service="rds", fault="server_error"))
    proxy.add_rule(FaultRule(service="kms", fault="server_error"))
    with pytest.raises(ClientError) as s3_error:
        client("s3").get_bucket_policy(Bucket="whatever-bucket")
    assert error_code(s3_error) == "InternalError"
    with pytest.raises(ClientError) as rds_error:
        client("rds").describe_db_instances()
    assert error_code(rds_error) == "InternalError"
    with pytest.raises(ClientError) as kms_error:
        client("kms").list_keys()
    assert error_code(kms_error) == "ServiceUnavailable"
    assert kms_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


# --- latency, timeout, probability -----------------------------------------------------------


def test_latency_rule_and_global_delay_forward_the_call(proxy: FaultProxy, client: ClientFactory) -> None:
    rule = proxy.add_rule(FaultRule(service="sts", fault="latency", latency=0.01))
    proxy.delay_all(0.01)
    sts = client("sts")
    for _ in range(3):
        assert sts.get_caller_identity()["Account"] == ACCOUNT
    assert client("iam").list_users()["Users"] == []
    assert proxy.fired(rule) == 3
    assert proxy.injected == {("sts", "GetCallerIdentity", "latency"): 3}
    assert proxy.calls[("iam", "ListUsers")] == 1


def test_latency_and_fault_rules_combine(proxy: FaultProxy, client: ClientFactory) -> None:
    proxy.add_rule(FaultRule(service="iam", fault="latency", latency=0.01))
    proxy.add_rule(FaultRule(service="iam", operation="ListRoles", fault="access_denied"))
    iam = client("iam")
    with pytest.raises(ClientError) as denied:
        iam.list_roles()
    assert error_code(denied) == "AccessDenied"
    assert proxy.injected == {("iam", "ListRoles", "latency"): 1, ("iam", "ListRoles", "access_denied"): 1}


def test_timeout_holds_the_connection_until_the_client_gives_up(proxy: FaultProxy, client: ClientFactory) -> None:
    proxy.add_rule(FaultRule(service="sts", fault="timeout", times=1))
    sts = client("sts", read_timeout=0.3, connect_timeout=1)
    with pytest.raises((ReadTimeoutError, ConnectionClosedError)):
        sts.get_caller_identity()
    assert sts.get_caller_identity()["Account"] == ACCOUNT  # the rule fired once; the proxy still serves
    assert proxy.injected == {("sts", "GetCallerIdentity", "timeout"): 1}


def _outcomes(proxy: FaultProxy, client: ClientFactory, seed: int, count: int) -> list[bool]:
    proxy.clear()
    proxy.reseed(seed)
    proxy.add_rule(FaultRule(service="iam", operation="ListUsers", fault="access_denied", probability=0.5))
    iam = client("iam")
    codes: list[str] = []
    for _ in range(count):
        try:
            iam.list_users()
        except ClientError as exc:
            codes.append(str(exc.response["Error"]["Code"]))
        else:
            codes.append("ok")
    assert set(codes) <= {"ok", "AccessDenied"}
    return [code == "ok" for code in codes]


def test_probability_is_deterministic_for_a_seed(proxy: FaultProxy, client: ClientFactory) -> None:
    first = _outcomes(proxy, client, seed=42, count=24)
    second = _outcomes(proxy, client, seed=42, count=24)
    other = _outcomes(proxy, client, seed=7, count=24)
    assert first == second
    assert first != other
    assert 0 < first.count(False) < len(first)
    assert proxy.injected[("iam", "ListUsers", "access_denied")] == 2 * first.count(False) + other.count(False)


def test_clear_removes_rules(proxy: FaultProxy, client: ClientFactory) -> None:
    proxy.add_rule(FaultRule(service="sts", fault="access_denied"))
    sts = client("sts")
    with pytest.raises(ClientError):
        sts.get_caller_identity()
    proxy.clear()
    assert sts.get_caller_identity()["Account"] == ACCOUNT


# --- concurrency with aiobotocore and keep-alive ---------------------------------------------


async def test_concurrent_aiobotocore_calls_share_a_times_limited_rule(proxy: FaultProxy) -> None:
    rule = proxy.add_rule(FaultRule(service="ec2", operation="DescribeVpcs", fault="access_denied", times=5))
    config = AioConfig(
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=8,
        s3={"addressing_style": "path"},
    )
    session = get_session()
    async with (
        session.create_client(
            "ec2",
            region_name="us-east-1",
            endpoint_url=proxy.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        ) as ec2,
        session.create_client(
            "s3",
            region_name="us-east-1",
            endpoint_url=proxy.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        ) as s3,
    ):

        async def describe() -> str:
            try:
                await ec2.describe_vpcs()
            except ClientError as exc:
                return str(exc.response["Error"]["Code"])
            return "ok"

        async def list_buckets() -> str:
            answer = await s3.list_buckets()
            return "ok" if answer["Buckets"] == [] else "unexpected"

        results = await asyncio.gather(*(describe() for _ in range(40)), *(list_buckets() for _ in range(40)))
    assert results[:40].count("UnauthorizedOperation") == 5
    assert results[:40].count("ok") == 35
    assert results[40:] == ["ok"] * 40
    assert proxy.fired(rule) == 5
    assert proxy.calls[("ec2", "DescribeVpcs")] == 40
    assert proxy.calls[("s3", "ListBuckets")] == 40


# --- request identification (no network) -----------------------------------------------------

S3_AUTH = "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"


@pytest.mark.parametrize(
    ("method", "target", "operation"),
    [
        ("GET", "/", "ListBuckets"),
        ("GET", "/bkt?encryption", "GetBucketEncryption"),
        ("PUT", "/bkt?encryption", "PutBucketEncryption"),
        ("GET", "/bkt?policy", "GetBucketPolicy"),
        ("DELETE", "/bkt?policy", "DeleteBucketPolicy"),
        ("GET", "/bkt?policyStatus", "GetBucketPolicyStatus"),
        ("GET", "/bkt?publicAccessBlock", "GetPublicAccessBlock"),
        ("GET", "/bkt?acl", "GetBucketAcl"),
        ("GET", "/bkt/key?acl", "GetObjectAcl"),
        ("GET", "/bkt?logging", "GetBucketLogging"),
        ("GET", "/bkt?versioning", "GetBucketVersioning"),
        ("GET", "/bkt?tagging", "GetBucketTagging"),
        ("GET", "/bkt?location", "GetBucketLocation"),
        ("GET", "/bkt?replication", "GetBucketReplication"),
        ("GET", "/bkt?lifecycle", "GetBucketLifecycleConfiguration"),
        ("DELETE", "/bkt?lifecycle", "DeleteBucketLifecycle"),
        ("GET", "/bkt?list-type=2&prefix=a", "ListObjectsV2"),
        ("HEAD", "/bkt", "HeadBucket"),
        ("PUT", "/bkt", "CreateBucket"),
        ("GET", "/bkt/some/key.txt", "GetObject"),
        ("GET", "/bkt?analytics", None),
        ("GET", "/bkt?metrics&id=a", None),
        ("POST", "/bkt?delete", "DeleteObjects"),
        ("GET", "/bkt/key?x-id=GetObject", "GetObject"),
        ("POST", "/", None),
    ],
)
def test_s3_operations_are_named(method: str, target: str, operation: str | None) -> None:
    info = identify(method, target, {"authorization": S3_AUTH}, b"")
    assert info == RequestInfo("s3", operation, "s3")


def test_other_protocols_are_identified() -> None:
    def auth(service: str) -> dict[str, str]:
        return {"authorization": S3_AUTH.replace("/s3/", f"/{service}/")}

    control = identify("GET", "/v20180820/configuration/publicAccessBlock", auth("s3"), b"")
    assert control == RequestInfo("s3control", "GetPublicAccessBlock", "s3")
    logs = identify("POST", "/", {**auth("logs"), "x-amz-target": "Logs_20140328.DescribeLogGroups"}, b"")
    assert logs == RequestInfo("logs", "DescribeLogGroups", "json")
    trail_target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails"
    trail = identify("POST", "/", {**auth("cloudtrail"), "x-amz-target": trail_target}, b"")
    assert trail == RequestInfo("cloudtrail", "DescribeTrails", "json")
    form = {**auth("iam"), "content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    assert identify("POST", "/", form, b"Action=ListUsers&Version=2010-05-08") == RequestInfo(
        "iam", "ListUsers", "query"
    )
    assert identify("GET", "/?Action=DescribeVpcs&Version=2016-11-15", auth("ec2"), b"") == RequestInfo(
        "ec2", "DescribeVpcs", "ec2"
    )
    presigned = "/bkt/key?X-Amz-Credential=AKID%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x"
    assert identify("GET", presigned, {}, b"") == RequestInfo("s3", "GetObject", "s3")
    assert identify("GET", "/", {}, b"") == RequestInfo(None, None, "json")


def test_a_rule_can_match_one_parameter_value() -> None:
    form = {
        "authorization": S3_AUTH.replace("/s3/", "/sts/"),
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
    }
    body = b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FGuardian&Version=2011-06-15"
    info = identify("POST", "/", form, body)
    assert info == RequestInfo("sts", "AssumeRole", "query")
    only_that_account = FaultRule(service="sts", operation="AssumeRole", contains="::111122223333:role/")
    assert only_that_account.matches(info.service, info.operation, info.text)
    other = FaultRule(service="sts", operation="AssumeRole", contains="::444455556666:role/")
    assert not other.matches(info.service, info.operation, info.text)


def test_error_bodies_are_escaped_xml() -> None:
    status, headers, body = error_response("access_denied", RequestInfo("sts", "Get<Thing>", "query"))
    assert status == 403
    assert headers["Content-Type"] == "text/xml"
    assert b"<Code>AccessDenied</Code>" in body
    assert b"Get&lt;Thing&gt;" in body


def test_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FaultRule(service="s3", fault="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="probability"):
        FaultRule(service="s3", probability=1.5)
    with pytest.raises(ValueError, match="http://"):
        FaultProxy("ftp://127.0.0.1:1")
