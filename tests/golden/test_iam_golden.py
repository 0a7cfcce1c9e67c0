"""Golden: IAM from moto, through the real collector, into the real checks.

moto is seeded with users, policies and a password policy; the real IAM collector runs against it
through ``collect_account``; the real checks judge what it emitted. Every IAM check is shown PASS on
a good resource and FAIL on a bad one.

What moto does not give: its credential report has no ``<root_account>`` row and its account
summary always reports the root user without MFA and without access keys. The plain run asserts
exactly that. For the other root verdicts (MFA on, a root access key) and for an AccessDenied,
GetCredentialReport / GetAccountSummary / GetAccountPasswordPolicy are answered by a
``before-call`` hook on the collector's own IAM client (the mechanism botocore's Stubber uses),
with responses validated against the IAM service model first; every other call still goes to moto.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from aiobotocore.awsrequest import AioAWSResponse
from botocore.validate import validate_parameters

from guardian_collector.collection import AwsTarget, ClientPool, CollectionOutcome, collect_account
from guardian_collector.collectors.base import Resource
from guardian_collector.collectors.iam import parse_credential_report, parse_policy_document, root_context
from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import iam as _iam_checks  # noqa: F401  (registers the IAM checks)
from guardian_evaluator.registry import REGISTRY, Snapshot
from guardian_testkit.moto import MotoServer

ACCOUNT = "123456789012"
PASSWORD = "An-initial-Passw0rd!"
Emitted = list[tuple[Resource, str, str]]


# -- fixtures (the pattern of services/collector/tests/conftest.py, one server per module) ----------


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def moto(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    moto_server.reset()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


class AnsweringPool(ClientPool):
    """A client pool whose IAM client answers some operations itself, with model-validated
    responses (or a modelled error), before any request is sent; the rest go to moto."""

    def __init__(self, target: AwsTarget, answers: dict[str, dict[str, Any]]) -> None:
        super().__init__(target)
        self.answers = answers
        self._hooked: set[int] = set()

    async def get(self, service: str, region: str) -> Any:
        client = await super().get(service, region)
        if service == "iam" and id(client) not in self._hooked:
            self._hooked.add(id(client))
            for operation, answer in self.answers.items():
                model = client.meta.service_model.operation_model(operation)
                if "Error" not in answer:
                    validate_parameters(answer, model.output_shape)
                client.meta.events.register(
                    f"before-call.iam.{operation}", self._answer(answer), unique_id=f"golden-{operation}"
                )
        return client

    @staticmethod
    def _answer(answer: dict[str, Any]) -> Any:
        def handler(**_: Any) -> tuple[AioAWSResponse, dict[str, Any]]:
            status = 403 if "Error" in answer else 200
            parsed = copy.deepcopy(answer)
            parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status})
            return AioAWSResponse(None, status, {}, None), parsed

        return handler


async def collect(moto: MotoServer, answers: dict[str, dict[str, Any]] | None = None) -> tuple[Emitted, Any]:
    emitted: Emitted = []

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        emitted.append((resource, unit_region, service))

    target = AwsTarget(endpoint_url=moto.url, max_attempts=2)
    async with AnsweringPool(target, answers or {}) as pool:
        outcome: CollectionOutcome = await collect_account(
            pool, account_id=ACCOUNT, regions=["us-east-1"], services=["iam"], emit=emit
        )
    return emitted, outcome


def by_type(emitted: Emitted, resource_type: str) -> dict[str, Resource]:
    return {r.name: r for r, _, _ in emitted if r.resource_type == resource_type}


def account_context(emitted: Emitted, region: str = "global") -> Resource:
    for resource, _, _ in emitted:
        if resource.resource_type == "AWS::::Account" and resource.region == region:
            return resource
    raise AssertionError(f"no account context for {region}")


def verdict(resource: Resource, check_id: str, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    snapshot = Snapshot(
        resource_type=resource.resource_type,
        arn=resource.arn,
        name=resource.name,
        account_id=ACCOUNT,
        region=resource.region,
        tags=resource.tags,
        configuration=resource.configuration,
    )
    result = chk.fn(snapshot, {**chk.parameters, **params})
    return None if result is None else (result.status, result.reason)


def status_of(resource: Resource, check_id: str, **params: Any) -> Status | None:
    result = verdict(resource, check_id, **params)
    return None if result is None else result[0]


def unit(outcome: Any, service: str = "iam") -> Any:
    return next(u for u in outcome.units if u.service == service)


# -- seeding -------------------------------------------------------------------------------------

ADMIN_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*:*", "Resource": "*"}]}
NARROW_DOC = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::x/*"}],
}


def seed(moto: MotoServer, *, weak_password_policy: bool = True) -> None:
    iam = moto.client("iam")
    iam.create_group(GroupName="engineers")

    # carol: console password with MFA, permissions only through a group, a key in use.
    iam.create_user(UserName="carol")
    iam.create_login_profile(UserName="carol", Password=PASSWORD)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="carol")["VirtualMFADevice"]
    iam.enable_mfa_device(
        UserName="carol",
        SerialNumber=device["SerialNumber"],
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    iam.add_user_to_group(UserName="carol", GroupName="engineers")
    key = iam.create_access_key(UserName="carol")["AccessKey"]
    # One signed request with the key makes moto record its last use.
    boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=moto.url,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    ).get_caller_identity()
    iam.tag_user(UserName="carol", Tags=[{"Key": "team", "Value": "platform"}])

    # dave: console password, no MFA, never signed in.
    iam.create_user(UserName="dave")
    iam.create_login_profile(UserName="dave", Password=PASSWORD)

    # erin: no console password, an inline policy, an access key never used.
    iam.create_user(UserName="erin")
    iam.put_user_policy(UserName="erin", PolicyName="erin-s3", PolicyDocument=json.dumps(NARROW_DOC))
    iam.create_access_key(UserName="erin")

    iam.create_policy(PolicyName="everything", PolicyDocument=json.dumps(ADMIN_DOC))
    iam.create_policy(PolicyName="read-one-bucket", PolicyDocument=json.dumps(NARROW_DOC))

    iam.update_account_password_policy(
        MinimumPasswordLength=8 if weak_password_policy else 14,
        RequireSymbols=not weak_password_policy,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True,
        MaxPasswordAge=90,
        PasswordReusePrevention=24,
    )


# -- the golden runs -----------------------------------------------------------------------------


async def test_users_from_moto(moto: MotoServer) -> None:
    seed(moto)
    emitted, outcome = await collect(moto)
    assert unit(outcome).status is UnitStatus.COMPLETE
    users = by_type(emitted, "AWS::IAM::User")
    assert set(users) == {"carol", "dave", "erin"}
    carol, dave, erin = users["carol"], users["dave"], users["erin"]

    assert carol.tags == {"team": "platform"}
    assert carol.region == "global"
    assert carol.configuration["console_access"] is True
    assert carol.configuration["mfa_devices"] == [f"arn:aws:iam::{ACCOUNT}:mfa/carol"]
    assert carol.configuration["groups"] == ["engineers"]
    assert carol.configuration["access_keys"][0]["last_used"] is not None
    assert erin.configuration["console_access"] is False
    assert erin.configuration["inline_policies"] == ["erin-s3"]
    assert erin.configuration["access_keys"][0]["last_used"] is None
    for user in users.values():
        assert "_errors" not in user.configuration

    # Console MFA: PASS with a device, FAIL without, not evaluated without a console password.
    assert status_of(carol, "iam_user_console_mfa") is Status.PASS
    result = verdict(dave, "iam_user_console_mfa")
    assert result is not None
    assert result[0] is Status.FAIL
    assert "dave" in result[1]
    assert verdict(erin, "iam_user_console_mfa") is None

    # Direct policies: PASS through a group, FAIL with an inline policy.
    assert status_of(carol, "iam_user_no_direct_policies") is Status.PASS
    result = verdict(erin, "iam_user_no_direct_policies")
    assert result is not None
    assert result[0] is Status.FAIL
    assert "erin-s3" in result[1]

    # Keys were created just now: rotated today, overdue 91 days from now.
    later = datetime.now(UTC) + timedelta(days=91)
    assert status_of(erin, "iam_user_access_key_rotated") is Status.PASS
    assert status_of(erin, "iam_user_access_key_rotated", now=later) is Status.FAIL
    assert verdict(dave, "iam_user_access_key_rotated") is None  # no access key

    # Unused credentials: everything is fresh today; 120 days on, dave's never-used password, erin's
    # never-used key and carol's key last used today are all idle.
    much_later = datetime.now(UTC) + timedelta(days=120)
    for user in (carol, dave, erin):
        assert status_of(user, "iam_user_unused_credentials") is Status.PASS
        assert status_of(user, "iam_user_unused_credentials", now=much_later) is Status.FAIL
    result = verdict(dave, "iam_user_unused_credentials", now=much_later)
    assert result is not None
    assert "console password never used" in result[1]


async def test_policies_from_moto(moto: MotoServer) -> None:
    seed(moto)
    emitted, _ = await collect(moto)
    policies = by_type(emitted, "AWS::IAM::Policy")
    # Customer-managed only: AWS-managed policies (moto has hundreds) are not emitted.
    assert set(policies) == {"everything", "read-one-bucket"}
    everything = policies["everything"]
    assert everything.configuration["document"] == ADMIN_DOC
    assert everything.configuration["default_version_id"] == "v1"
    assert everything.configuration["attachment_count"] == 0
    result = verdict(everything, "iam_policy_no_full_admin")
    assert result is not None
    assert result[0] is Status.FAIL
    assert "everything" in result[1]
    assert status_of(policies["read-one-bucket"], "iam_policy_no_full_admin") is Status.PASS


async def test_account_context_from_moto(moto: MotoServer) -> None:
    seed(moto)
    emitted, _ = await collect(moto)
    context = account_context(emitted)
    config = context.configuration
    assert config["scope"] == "account"
    assert "_errors" not in config
    assert config["iam_password_policy"]["minimum_password_length"] == 8
    assert config["iam_password_policy"]["require_symbols"] is False

    result = verdict(context, "iam_password_policy_strong")
    assert result is not None
    assert result[0] is Status.FAIL
    assert "minimum length is 8 (needs 14)" in result[1]
    assert "does not require a symbol" in result[1]
    assert result[1].count(";") == 1  # exactly the two weak settings

    # moto's credential report has no root row; its account summary says: no MFA, no keys.
    assert config["iam_root"] == {
        "mfa_active": False,
        "access_keys_active": 0,
        "access_keys_present": False,
        "password_last_used": None,
        "sources": ["account_summary"],
    }
    assert status_of(context, "iam_root_mfa") is Status.FAIL
    assert status_of(context, "iam_root_no_access_keys") is Status.PASS

    # The regional context carries nothing from IAM, and the account checks skip it.
    regional = account_context(emitted, "us-east-1")
    assert "iam_root" not in regional.configuration
    assert verdict(regional, "iam_root_mfa") is None


async def test_strong_password_policy_passes(moto: MotoServer) -> None:
    seed(moto, weak_password_policy=False)
    emitted, _ = await collect(moto)
    assert status_of(account_context(emitted), "iam_password_policy_strong") is Status.PASS


async def test_no_password_policy_fails(moto: MotoServer) -> None:
    moto.client("iam").create_user(UserName="solo")
    emitted, _ = await collect(moto)
    context = account_context(emitted)
    assert context.configuration["iam_password_policy"] is None
    result = verdict(context, "iam_password_policy_strong")
    assert result is not None
    assert result[0] is Status.FAIL
    assert "no password policy" in result[1]


ROOT_REPORT = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
    "cert_2_active,cert_2_last_rotated\n"
    f"<root_account>,arn:aws:iam::{ACCOUNT}:root,2020-01-01T00:00:00+00:00,not_supported,"
    "2025-05-01T10:00:00+00:00,not_supported,not_supported,true,true,2024-01-01T00:00:00+00:00,"
    "N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
)


async def test_root_with_mfa_and_an_access_key(moto: MotoServer) -> None:
    # Answered by the hook (moto has no root row and a fixed summary); validated against the model.
    seed(moto)
    answers: dict[str, dict[str, Any]] = {
        "GetCredentialReport": {
            "Content": ROOT_REPORT.encode(),
            "ReportFormat": "text/csv",
            "GeneratedTime": datetime(2025, 6, 1, tzinfo=UTC),
        },
        "GetAccountSummary": {"SummaryMap": {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 1}},
    }
    emitted, outcome = await collect(moto, answers)
    assert unit(outcome).status is UnitStatus.COMPLETE
    context = account_context(emitted)
    assert context.configuration["iam_root"] == {
        "mfa_active": True,
        "access_keys_active": 1,
        "access_keys_present": True,
        "password_last_used": "2025-05-01T10:00:00+00:00",
        "sources": ["credential_report", "account_summary"],
    }
    assert status_of(context, "iam_root_mfa") is Status.PASS
    result = verdict(context, "iam_root_no_access_keys")
    assert result is not None
    assert result[0] is Status.FAIL
    assert "1 active access key" in result[1]
    # Users still come from moto and keep their data without the report's user rows.
    assert set(by_type(emitted, "AWS::IAM::User")) == {"carol", "dave", "erin"}


async def test_denied_reads_become_errors(moto: MotoServer) -> None:
    # AccessDenied answered by the hook: moto does not enforce IAM permissions by default.
    seed(moto)
    denied = {"Error": {"Code": "AccessDenied", "Message": "not authorised to read this"}}
    answers = {
        "GetAccountPasswordPolicy": denied,
        "GenerateCredentialReport": denied,
        "GetAccountSummary": denied,
    }
    emitted, outcome = await collect(moto, answers)
    assert unit(outcome).status is UnitStatus.PARTIAL
    context = account_context(emitted)
    errors = context.configuration["_errors"]
    assert "AccessDenied on get_account_password_policy" in errors["iam_password_policy"]
    assert "AccessDenied on generate_credential_report" in errors["iam_root"]
    assert "AccessDenied on get_account_summary" in errors["iam_root"]
    for check_id in ("iam_password_policy_strong", "iam_root_mfa", "iam_root_no_access_keys"):
        assert status_of(context, check_id) is Status.ERROR
    # The users are still collected; their password_last_used comes from ListUsers.
    assert set(by_type(emitted, "AWS::IAM::User")) == {"carol", "dave", "erin"}


# -- the collector's parsing, on shapes moto never produces -----------------------------------------


def test_policy_documents_in_every_shape() -> None:
    as_json = json.dumps(ADMIN_DOC)
    url_encoded = quote(as_json)  # what IAM sends on the wire, before botocore decodes it
    assert parse_policy_document(ADMIN_DOC) == ADMIN_DOC
    assert parse_policy_document(as_json) == ADMIN_DOC
    assert parse_policy_document(url_encoded) == ADMIN_DOC
    with pytest.raises(ValueError, match="JSON object"):
        parse_policy_document("[1, 2]")


def test_credential_report_placeholders_become_none() -> None:
    rows = parse_credential_report(ROOT_REPORT.encode())
    root = rows["<root_account>"]
    assert root["password_enabled"] is None  # not_supported
    assert root["access_key_1_last_used_date"] is None  # N/A
    assert root["mfa_active"] == "true"


def test_root_from_the_report_alone_and_conservative_summary() -> None:
    root_row = parse_credential_report(ROOT_REPORT.encode())["<root_account>"]
    from_report, why = root_context(root_row, None, None, "AccessDenied on GetAccountSummary: no")
    assert why is None
    assert from_report is not None
    assert from_report["mfa_active"] is True
    assert from_report["access_keys_active"] == 1
    # The live summary wins for MFA (the report can be hours old).
    live, _ = root_context(root_row, None, {"AccountMFAEnabled": 0, "AccountAccessKeysPresent": 1}, None)
    assert live is not None
    assert live["mfa_active"] is False
    # Neither source: unreadable, with both reasons.
    none, why = root_context(None, "AccessDenied on GetCredentialReport: no", None, "Throttling on X: slow")
    assert none is None
    assert why is not None
    assert "GetCredentialReport" in why
    assert "Throttling" in why
