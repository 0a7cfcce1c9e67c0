"""The per-account read-only role as CloudFormation and Terraform: current with the collectors, and the
CloudFormation template deploys (moto's CloudFormation) to a role with exactly the declared permissions."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml

from guardian_collector.policy import read_only_policy
from guardian_collector.role_templates import CFN_FILE, TF_DIR, cloudformation, terraform_files
from guardian_testkit.moto import MotoServer

DEPLOY_AWS = Path(__file__).resolve().parents[3] / "deploy" / "aws"
REGENERATE = "python -m guardian_collector.role_templates deploy/aws"


def declared_actions() -> set[str]:
    return set(read_only_policy()["Statement"][0]["Action"])


def test_committed_templates_are_current() -> None:
    assert (DEPLOY_AWS / CFN_FILE).read_text() == cloudformation(), f"stale: run {REGENERATE}"
    for name, text in terraform_files().items():
        assert (DEPLOY_AWS / TF_DIR / name).read_text() == text, f"stale {name}: run {REGENERATE}"


def test_terraform_module_grants_exactly_the_declared_actions_behind_the_external_id() -> None:
    files = terraform_files()
    assert set(json.loads(files["policy.json"])["Statement"][0]["Action"]) == declared_actions()
    assert 'file("${path.module}/policy.json")' in files["main.tf"]
    assert '"sts:ExternalId" = var.external_id' in files["main.tf"]
    assert "sensitive   = true" in files["variables.tf"]


def test_cloudformation_deploys_a_role_with_exactly_the_declared_permissions(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml.safe_load(cloudformation())
    trust = template["Resources"]["GuardianReadOnlyRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}

    cfn = boto3.client("cloudformation", endpoint_url=moto.url)
    cfn.create_stack(
        StackName="guardian-role",
        TemplateBody=cloudformation(),
        Parameters=[
            {"ParameterKey": "GuardianPrincipalArn", "ParameterValue": "arn:aws:iam::999988887777:role/guardian"},
            {"ParameterKey": "ExternalId", "ParameterValue": "acme-guardian-7f3a"},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    iam = boto3.client("iam", endpoint_url=moto.url)
    role = iam.get_role(RoleName="GuardianReadOnly")["Role"]
    principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"]
    assert principal == "arn:aws:iam::999988887777:role/guardian"
    attached = iam.list_attached_role_policies(RoleName="GuardianReadOnly")["AttachedPolicies"]
    assert len(attached) == 1
    policy = iam.get_policy(PolicyArn=attached[0]["PolicyArn"])["Policy"]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    if isinstance(document, str):
        document = json.loads(document)
    granted = {
        a for s in document["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert granted == declared_actions()
    assert all(s["Effect"] == "Allow" and s["Resource"] == "*" for s in document["Statement"])
