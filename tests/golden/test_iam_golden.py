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
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import boto3
import golden_support
import pytest
from golden_support import (
    ACCOUNT,
    Emitted,
    Handler,
    account_context,
    by_type,
    fixed,
    model_checked,
    status,
    unit_of,
    verdict,
)
from golden_support import moto_fixture as moto_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_collector.collection import CollectionOutcome
from guardian_collector.collectors.iam import parse_credential_report, parse_policy_document, root_context
from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import iam as _iam_checks  # noqa: F401  (registers the IAM checks)
from guardian_testkit.moto import MotoServer

PASSWORD = "An-initial-Passw0rd!"


def iam_answers(answers: dict[str, dict[str, Any]]) -> dict[str, Handler]:
    """``before-call`` handlers by which the collector's IAM client answers some operations itself, before
    any request is sent: each response is validated against the IAM model first (an answer holding
    ``Error`` is a modelled error, sent with HTTP 403); the rest go to moto."""
    handlers: dict[str, Handler] = {}
    for operation, answer in answers.items():
        status_code = 403 if "Error" in answer else 200
        if status_code == 200:
            model_checked("iam", operation, answer)
        parsed = copy.deepcopy(answer)
        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status_code})
        handlers[f"before-call.iam.{operation}"] = fixed((status_code, parsed))
    return handlers


async def collect(
    moto: MotoServer, answers: dict[str, dict[str, Any]] | None = None
) -> tuple[Emitted, CollectionOutcome]:
    handlers = iam_answers(answers or {})
    return await golden_support.collect(moto, ["iam"], regions=["us-east-1"], handlers=handlers, max_attempts=2)


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
    assert unit_of(outcome, "iam").status is UnitStatus.COMPLETE
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
    assert status("iam_user_console_mfa", carol) is Status.PASS
    result = verdict("iam_user_console_mfa", dave)
    assert result is not None
    assert result[0] is Status.FAIL
    assert "dave" in result[1]
    assert verdict("iam_user_console_mfa", erin) is None

    # Direct policies: PASS through a group, FAIL with an inline policy.
    assert status("iam_user_no_direct_policies", carol) is Status.PASS
    result = verdict("iam_user_no_direct_policies", erin)
    assert result is not None
    assert result[0] is Status.FAIL
    assert "erin-s3" in result[1]

    # Keys were created just now: rotated today, overdue 91 days from now.
    later = datetime.now(UTC) + timedelta(days=91)
    assert status("iam_user_access_key_rotated", erin) is Status.PASS
    assert status("iam_user_access_key_rotated", erin, now=later) is Status.FAIL
    assert verdict("iam_user_access_key_rotated", dave) is None  # no access key

    # Unused credentials: everything is fresh today; 120 days on, dave's never-used password, erin's
    # never-used key and carol's key last used today are all idle.
    much_later = datetime.now(UTC) + timedelta(days=120)
    for user in (carol, dave, erin):
        assert status("iam_user_unused_credentials", user) is Status.PASS
        assert status("iam_user_unused_credentials", user, now=much_later) is Status.FAIL
    result = verdict("iam_user_unused_credentials", dave, now=much_later)
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
    result = verdict("iam_policy_no_full_admin", everything)
    assert result is not None
    assert result[0] is Status.FAIL
    assert "everything" in result[1]
    assert status("iam_policy_no_full_admin", policies["read-one-bucket"]) is Status.PASS


async def test_account_context_from_moto(moto: MotoServer) -> None:
    seed(moto)
    emitted, _ = await collect(moto)
    context = account_context(emitted)
    config = context.configuration
    assert config["scope"] == "account"
    assert "_errors" not in config
    assert config["iam_password_policy"]["minimum_password_length"] == 8
    assert config["iam_password_policy"]["require_symbols"] is False

    result = verdict("iam_password_policy_strong", context)
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
    assert status("iam_root_mfa", context) is Status.FAIL
    assert status("iam_root_no_access_keys", context) is Status.PASS

    # The regional context carries nothing from IAM, and the account checks skip it.
    regional = account_context(emitted, "us-east-1")
    assert "iam_root" not in regional.configuration
    assert verdict("iam_root_mfa", regional) is None


async def test_strong_password_policy_passes(moto: MotoServer) -> None:
    seed(moto, weak_password_policy=False)
    emitted, _ = await collect(moto)
    assert status("iam_password_policy_strong", account_context(emitted)) is Status.PASS


async def test_no_password_policy_fails(moto: MotoServer) -> None:
    moto.client("iam").create_user(UserName="solo")
    emitted, _ = await collect(moto)
    context = account_context(emitted)
    assert context.configuration["iam_password_policy"] is None
    result = verdict("iam_password_policy_strong", context)
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
    assert unit_of(outcome, "iam").status is UnitStatus.COMPLETE
    context = account_context(emitted)
    assert context.configuration["iam_root"] == {
        "mfa_active": True,
        "access_keys_active": 1,
        "access_keys_present": True,
        "password_last_used": "2025-05-01T10:00:00+00:00",
        "sources": ["credential_report", "account_summary"],
    }
    assert status("iam_root_mfa", context) is Status.PASS
    result = verdict("iam_root_no_access_keys", context)
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
    assert unit_of(outcome, "iam").status is UnitStatus.PARTIAL
    context = account_context(emitted)
    errors = context.configuration["_errors"]
    assert "AccessDenied on get_account_password_policy" in errors["iam_password_policy"]
    assert "AccessDenied on generate_credential_report" in errors["iam_root"]
    assert "AccessDenied on get_account_summary" in errors["iam_root"]
    for check_id in ("iam_password_policy_strong", "iam_root_mfa", "iam_root_no_access_keys"):
        assert status(check_id, context) is Status.ERROR
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
