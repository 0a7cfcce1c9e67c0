"""The catalogue itself: declarations that hold together, the generated write policy, and every
action against moto (read, plan the calls, make them, read again: the resource is then as expected)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore import xform_name
from remediation_support import ACCOUNT, CASES, MANUAL, Case, seed

from guardian_collector.collectors import all_collectors
from guardian_collector.collectors.base import COLLECTORS
from guardian_evaluator.checks import load_all
from guardian_evaluator.engine import feeding_services
from guardian_evaluator.registry import REGISTRY
from guardian_remediation.actions import catalogue, for_check
from guardian_remediation.actions.base import ApiCall, ParameterError, Target, managed_as_code
from guardian_remediation.aws import AwsClients
from guardian_remediation.policy import main as policy_main
from guardian_remediation.policy import render
from guardian_remediation.repository import content_hash
from guardian_remediation.settings import RemediationSettings
from guardian_testkit.moto import MotoServer

REPO = Path(__file__).resolve().parents[3]


def registered_checks() -> dict[str, Any]:
    load_all()
    return {c.id: c for c in REGISTRY}


def test_the_write_policy_file_is_generated_from_the_catalogue() -> None:
    path = REPO / "deploy" / "aws" / "remediation-write-policy.json"
    assert path.read_text() == render(), "run: python -m guardian_remediation.policy --write"
    granted = {a for s in json.loads(path.read_text())["Statement"] for a in s["Action"]}
    assert granted == {p for a in catalogue().values() for p in a.permissions}
    # A write role, not an administrator: no wildcard action.
    assert all("*" not in action for action in granted)


def test_the_write_role_passes_only_the_flow_logs_delivery_role_to_vpc_flow_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statements = json.loads(render())["Statement"]
    passing = [s for s in statements if "iam:PassRole" in s["Action"]]
    assert passing == [
        {
            "Sid": "GuardianRemediationPassRoleVpcFlowLogs",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": "arn:aws:iam::*:role/guardian-flow-logs-*",
            "Condition": {"StringEquals": {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"}},
        }
    ]
    # Every action that passes a role declares which roles, to which service.
    for action in catalogue().values():
        assert ("iam:PassRole" in action.permissions) == bool(action.passes_roles), action.id
    # Another naming convention: the generator takes the prefix; it never takes a wildcard.
    target = tmp_path / "policy.json"
    policy_main(["--write", str(target), "--pass-role-prefix", "acme-vpc-logs-"])
    custom = [s for s in json.loads(target.read_text())["Statement"] if "iam:PassRole" in s["Action"]]
    assert custom[0]["Resource"] == "arn:aws:iam::*:role/acme-vpc-logs-*"
    assert custom[0]["Condition"] == passing[0]["Condition"]
    with pytest.raises(SystemExit) as refused:
        policy_main(["--pass-role-prefix", "*"])
    assert refused.value.code == 2
    assert "no wildcard" in capsys.readouterr().err


def test_the_write_policy_is_a_document_iam_accepts(moto: MotoServer) -> None:
    iam = moto.client("iam", "us-east-1")
    created = iam.create_policy(PolicyName="guardian-remediation-write", PolicyDocument=render())
    assert created["Policy"]["Arn"].endswith(":policy/guardian-remediation-write")
    assert len(render().encode()) < 6144  # IAM's limit for a managed policy document


@pytest.mark.parametrize("action_id", sorted(catalogue()))
def test_each_action_names_real_checks_and_collectors(action_id: str) -> None:
    action = catalogue()[action_id]
    checks = registered_checks()
    all_collectors()
    for check_id in action.checks:
        assert check_id in checks, f"{action_id} names unknown check {check_id}"
        assert checks[check_id].resource_type == action.resource_type
    assert set(action.verify_services) <= set(COLLECTORS)
    # The collectors re-read at verification feed the checks the action fixes.
    for check_id in action.checks:
        feeding = feeding_services(checks[check_id].permissions)
        assert not feeding or feeding & set(action.verify_services), (check_id, feeding)
    assert action.title
    assert action.description
    assert action.reads
    assert all(":" in p for p in action.permissions)


def test_the_catalogue_is_large_enough_and_the_check_index_works() -> None:
    assert len(catalogue()) >= 15
    assert [a.id for a in for_check("kms_key_rotation_enabled")] == ["kms_key_rotation"]
    assert for_check("iam_root_mfa") == []


def test_parameters_are_checked() -> None:
    s3 = catalogue()["s3_bucket_default_encryption"]
    assert s3.resolve({}) == {"algorithm": "AES256", "kms_key_id": None, "bucket_key": True}
    with pytest.raises(ParameterError, match="one of"):
        s3.resolve({"algorithm": "DES"})
    with pytest.raises(ParameterError, match="unknown"):
        s3.resolve({"colour": "blue"})
    with pytest.raises(ParameterError, match="only to the aws:kms"):
        s3.resolve({"kms_key_id": "alias/x"})
    rds = catalogue()["rds_instance_backup_retention"]
    with pytest.raises(ParameterError, match="at most 35"):
        rds.resolve({"retention_days": 90})
    with pytest.raises(ParameterError, match="whole number"):
        rds.resolve({"retention_days": True})
    with pytest.raises(ParameterError, match="destination is required"):
        catalogue()["ec2_vpc_flow_logs"].resolve({})
    with pytest.raises(ParameterError, match="IAM role's ARN"):
        catalogue()["ec2_vpc_flow_logs"].resolve(
            {"destination_type": "cloud-watch-logs", "destination": "/vpc/flow", "deliver_logs_role_arn": "admin"}
        )


def test_infrastructure_as_code_is_recognised_by_its_tags() -> None:
    assert managed_as_code({"aws:cloudformation:stack-name": "web"}) == ["aws:cloudformation:stack-name=web"]
    assert managed_as_code({"ManagedBy": "Terraform", "team": "data"}) == ["ManagedBy=Terraform"]
    assert managed_as_code({"team": "data", "env": "prod"}) == []


def test_the_content_hash_covers_the_calls() -> None:
    call = ApiCall("s3", "PutPublicAccessBlock", "us-east-1", {"Bucket": "a"}, "s3:PutBucketPublicAccessBlock")
    content: dict[str, Any] = {"action_id": "x", "items": [{"calls": [call.as_dict()]}]}
    other = {"action_id": "x", "items": [{"calls": [{**call.as_dict(), "arguments": {"Bucket": "b"}}]}]}
    assert content_hash(content) != content_hash(other)
    assert content_hash(content) == content_hash(json.loads(json.dumps(content)))


def target_of(case: Case, ids: dict[str, str]) -> Target:
    arn = case.arn(ids)
    region = arn.split(":")[3] or "global"
    return Target(
        arn=arn, name=arn, resource_type=catalogue()[case.action_id].resource_type, account_id=ACCOUNT, region=region
    )


@pytest.mark.parametrize("case", CASES, ids=[c.action_id for c in CASES])
async def test_each_action_fixes_its_resource_in_moto(case: Case, moto: MotoServer) -> None:
    ids = seed(moto)
    action = catalogue()[case.action_id]
    params = action.resolve(case.params)
    target = target_of(case, ids)
    async with AwsClients(RemediationSettings(aws_endpoint_url=moto.url, aws_max_attempts=1)) as aws:
        before = await action.read(aws, target)
        assert not action.satisfied(before.state, params), before.state
        calls = action.calls(aws, target, before.state, params)
        assert calls
        for call in calls:
            assert call.permission in action.permissions
            json.dumps(call.as_dict())  # the plan stores and shows them as JSON
            client = await aws.client(call.service, call.region)
            await getattr(client, xform_name(call.operation))(**call.arguments)
        after = await action.read(aws, target)
        assert action.satisfied(after.state, params), after.state
        assert after.digest() != before.digest()


@pytest.mark.parametrize("case", MANUAL, ids=[c.action_id for c in MANUAL])
async def test_actions_that_cannot_act_in_place_only_list_steps(case: Case, moto: MotoServer) -> None:
    ids = seed(moto)
    action = catalogue()[case.action_id]
    params = action.resolve(case.params)
    target = target_of(case, ids)
    async with AwsClients(RemediationSettings(aws_endpoint_url=moto.url, aws_max_attempts=1)) as aws:
        reading = await action.read(aws, target)
        assert not action.satisfied(reading.state, params)
        assert action.calls(aws, target, reading.state, params) == []
    assert len(action.steps(target, params)) >= 3
