"""Golden tests: Lambda, ECR, EKS, ECS and CloudFormation seeded in moto, collected by the real
collectors and judged by the real checks: every check PASS on a good resource, FAIL on a bad one.

What moto lacks, and how this module makes up for it:

- CloudFormation ``DescribeStacks`` in moto carries no ``DriftInformation`` (moto has no drift
  detection). The main test adds it to moto's own answer with an ``after-call`` handler (the added
  part validated against botocore's model of the operation); a separate test keeps moto's answer
  and shows the drift check turns ERROR and the unit PARTIAL, never PASS.
- Everything else (Lambda functions, policies and event invoke configurations, ECR repositories,
  policies and registry scanning rules, EKS clusters, ECS clusters, services and task definitions,
  Application Auto Scaling targets) is moto's own answer.

Faults (access denied) are injected with ``before-call`` handlers answering an AWS error in moto's
place, so the collectors' own error handling runs and the affected checks turn ERROR.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import golden_support
from golden_support import (
    ACCOUNT,
    Answer,
    Emitted,
    Handler,
    Intercept,
    answering,
    by_type,
    model_checked,
    refusal,
    units,
    verdict,
)
from golden_support import moto_fixture as moto_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_collector.collection import CollectionOutcome
from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY
from guardian_testkit.moto import MotoServer

EAST = "us-east-1"
REGIONS = [EAST]  # one region keeps the module fast; regional iteration is shown by the other modules
SERVICES = ["cloudformation", "ecr", "ecs", "eks", "lambda"]
ROLE = f"arn:aws:iam::{ACCOUNT}:role/golden-service-role"
KEY = f"arn:aws:kms:{EAST}:{ACCOUNT}:key/5f3c8a52-0000-4000-8000-00000000beef"
NOW = datetime.now(UTC)

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR

load_all()


def denied(code: str) -> Answer:
    return refusal(code)


def drift_added(drift: dict[str, dict[str, Any]]) -> Handler:
    """An ``after-call`` handler adding DriftInformation (by stack name) to moto's DescribeStacks answer."""
    for info in drift.values():
        # Each added part must be a valid DescribeStacks answer on its own.
        stack = {"StackName": "x", "CreationTime": NOW, "StackStatus": "CREATE_COMPLETE", "DriftInformation": info}
        model_checked("cloudformation", "DescribeStacks", {"Stacks": [stack]})

    def add(parsed: dict[str, Any], **_: Any) -> None:
        for stack in parsed.get("Stacks") or []:
            if stack.get("StackName") in drift:
                stack["DriftInformation"] = drift[stack["StackName"]]

    return add


async def collect(
    moto: MotoServer, *, intercept: Intercept | None = None, after: Handler | None = None
) -> tuple[Emitted, CollectionOutcome]:
    handlers: dict[str, Handler] = {}
    if intercept is not None:
        handlers["before-call"] = answering(intercept)
    if after is not None:
        handlers["after-call.cloudformation.DescribeStacks"] = after
    return await golden_support.collect(moto, SERVICES, regions=REGIONS, handlers=handlers)


def statuses(emitted: Emitted, resource_type: str) -> dict[str, dict[str, Status | None]]:
    out: dict[str, dict[str, Status | None]] = {}
    for resource, _, _ in emitted:
        if resource.resource_type != resource_type:
            continue
        out[resource.name] = {}
        for chk in REGISTRY.for_type(resource_type):
            result = verdict(chk.id, resource)
            out[resource.name][chk.id] = None if result is None else result[0]
    return out


# --- seeding ---------------------------------------------------------------------------------


def code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def seed_lambda(moto: MotoServer) -> None:
    moto.client("iam", EAST).create_role(
        RoleName="golden-service-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    functions = moto.client("lambda", EAST)
    queue = moto.client("sqs", EAST).create_queue(QueueName="failed-events")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{EAST}:{ACCOUNT}:failed-events"
    assert queue.endswith("/failed-events")
    common: dict[str, Any] = {"Role": ROLE, "Handler": "handler.handler", "Code": {"ZipFile": code_zip()}}
    functions.create_function(FunctionName="orders-worker", Runtime="python3.12", **common)
    functions.put_function_event_invoke_config(
        FunctionName="orders-worker", DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )
    functions.add_permission(
        FunctionName="orders-worker",
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::guardian-golden-uploads",
        SourceAccount=ACCOUNT,
    )
    functions.create_function(FunctionName="legacy-hook", Runtime="python3.7", **common)
    functions.add_permission(
        FunctionName="legacy-hook", StatementId="anyone", Action="lambda:InvokeFunction", Principal="*"
    )


def seed_ecr(moto: MotoServer) -> None:
    ecr = moto.client("ecr", EAST)
    ecr.create_repository(
        repositoryName="api",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
    )
    ecr.create_repository(repositoryName="scratch", imageScanningConfiguration={"scanOnPush": False})
    ecr.set_repository_policy(
        repositoryName="scratch",
        policyText=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "PullForAll", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
                ],
            }
        ),
    )
    ecr.create_repository(repositoryName="mirror-base", imageTagMutability="IMMUTABLE")
    # A registry scanning rule (basic, on push) covers the mirror repositories although their own flag is off.
    ecr.put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "mirror-*", "filterType": "WILDCARD"}]}
        ],
    )


def seed_eks(moto: MotoServer) -> None:
    eks = moto.client("eks", EAST)
    eks.create_cluster(
        name="platform",
        roleArn=ROLE,
        resourcesVpcConfig={
            "subnetIds": ["subnet-0a1b2c3d"],
            "endpointPublicAccess": True,
            "endpointPrivateAccess": True,
            "publicAccessCidrs": ["203.0.113.0/24"],
        },
        logging={"clusterLogging": [{"types": ["api", "audit", "authenticator"], "enabled": True}]},
        encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": KEY}}],
    )
    eks.create_cluster(
        name="sandbox",
        roleArn=ROLE,
        resourcesVpcConfig={
            "subnetIds": ["subnet-0a1b2c3d"],
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
    )


def seed_ecs(moto: MotoServer) -> None:
    ecs = moto.client("ecs", EAST)
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(
        family="api",
        containerDefinitions=[
            {"name": "api", "image": "api:1.0.0", "memory": 512, "user": "1000:1000"},
            {"name": "log-router", "image": "fluent-bit:2", "memory": 128, "user": "fluent"},
        ],
    )
    ecs.register_task_definition(
        family="agent",
        containerDefinitions=[
            {"name": "agent", "image": "agent:3", "memory": 256, "privileged": True},
            {"name": "helper", "image": "helper:1", "memory": 64, "user": "root"},
        ],
    )
    ecs.create_service(cluster="prod", serviceName="api", taskDefinition="api:1", desiredCount=3)
    ecs.create_service(cluster="prod", serviceName="worker", taskDefinition="api:1", desiredCount=1)
    ecs.create_service(cluster="prod", serviceName="scheduler", taskDefinition="agent:1", desiredCount=1)
    moto.client("application-autoscaling", EAST).register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/prod/worker",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=8,
    )


TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})


def seed_stacks(moto: MotoServer) -> None:
    stacks = moto.client("cloudformation", EAST)
    stacks.create_stack(
        StackName="prod-network",
        TemplateBody=TEMPLATE,
        EnableTerminationProtection=True,
        Tags=[{"Key": "environment", "Value": "production"}],
    )
    stacks.create_stack(StackName="prod-data", TemplateBody=TEMPLATE, Tags=[{"Key": "env", "Value": "prod"}])
    stacks.create_stack(StackName="dev-sandbox", TemplateBody=TEMPLATE, Tags=[{"Key": "env", "Value": "dev"}])


DRIFT: dict[str, dict[str, Any]] = {
    "prod-network": {"StackDriftStatus": "IN_SYNC", "LastCheckTimestamp": NOW - timedelta(days=2)},
    "prod-data": {"StackDriftStatus": "DRIFTED", "LastCheckTimestamp": NOW - timedelta(days=1)},
    "dev-sandbox": {"StackDriftStatus": "NOT_CHECKED"},
}


def seed_all(moto: MotoServer) -> None:
    seed_lambda(moto)
    seed_ecr(moto)
    seed_eks(moto)
    seed_ecs(moto)
    seed_stacks(moto)


# --- tests -----------------------------------------------------------------------------------


async def test_every_check_on_every_resource(moto: MotoServer) -> None:
    seed_all(moto)
    emitted, outcome = await collect(moto, after=drift_added(DRIFT))

    assert all(s is UnitStatus.COMPLETE for s in units(outcome).values()), outcome.units
    assert statuses(emitted, "AWS::Lambda::Function") == {
        "orders-worker": {
            "lambda_function_not_public": PASS,
            "lambda_function_runtime_supported": PASS,
            "lambda_function_async_failure_destination": PASS,
        },
        "legacy-hook": {
            "lambda_function_not_public": FAIL,
            "lambda_function_runtime_supported": FAIL,
            "lambda_function_async_failure_destination": FAIL,
        },
    }
    assert statuses(emitted, "AWS::ECR::Repository") == {
        "api": {
            "ecr_repository_scan_on_push": PASS,
            "ecr_repository_tag_immutability": PASS,
            "ecr_repository_not_public": PASS,
        },
        "scratch": {
            "ecr_repository_scan_on_push": FAIL,
            "ecr_repository_tag_immutability": FAIL,
            "ecr_repository_not_public": FAIL,
        },
        "mirror-base": {
            "ecr_repository_scan_on_push": PASS,
            "ecr_repository_tag_immutability": PASS,
            "ecr_repository_not_public": PASS,
        },
    }
    assert statuses(emitted, "AWS::EKS::Cluster") == {
        "platform": {
            "eks_cluster_endpoint_not_public": PASS,
            "eks_cluster_audit_logging": PASS,
            "eks_cluster_secrets_encrypted": PASS,
        },
        "sandbox": {
            "eks_cluster_endpoint_not_public": FAIL,
            "eks_cluster_audit_logging": FAIL,
            "eks_cluster_secrets_encrypted": FAIL,
        },
    }
    assert statuses(emitted, "AWS::ECS::Service") == {
        "api": {"ecs_service_redundant": PASS},
        "worker": {"ecs_service_redundant": PASS},  # desired 1, but auto scaled with a minimum of 2
        "scheduler": {"ecs_service_redundant": FAIL},
    }
    assert statuses(emitted, "AWS::ECS::TaskDefinition") == {
        "api:1": {"ecs_task_definition_no_privileged": PASS, "ecs_task_definition_non_root_user": PASS},
        "agent:1": {"ecs_task_definition_no_privileged": FAIL, "ecs_task_definition_non_root_user": FAIL},
    }
    assert statuses(emitted, "AWS::CloudFormation::Stack") == {
        "prod-network": {
            "cloudformation_stack_drift_checked": PASS,
            "cloudformation_stack_termination_protection": PASS,
        },
        "prod-data": {"cloudformation_stack_drift_checked": FAIL, "cloudformation_stack_termination_protection": FAIL},
        "dev-sandbox": {
            "cloudformation_stack_drift_checked": FAIL,
            "cloudformation_stack_termination_protection": None,
        },
    }

    functions = by_type(emitted, "AWS::Lambda::Function")
    public = verdict("lambda_function_not_public", functions["legacy-hook"])
    assert public is not None
    assert "statement anyone allows lambda:InvokeFunction to any principal" in public[1]
    assert verdict("lambda_function_runtime_supported", functions["legacy-hook"]) == (
        FAIL,
        "Lambda function legacy-hook runs on deprecated runtime python3.7",
    )
    mirror = verdict("ecr_repository_scan_on_push", by_type(emitted, "AWS::ECR::Repository")["mirror-base"])
    assert mirror is not None
    assert "registry basic scanning rule (SCAN_ON_PUSH, filter mirror-*)" in mirror[1]
    assert verdict("eks_cluster_endpoint_not_public", by_type(emitted, "AWS::EKS::Cluster")["sandbox"]) == (
        FAIL,
        "EKS cluster sandbox exposes its API endpoint to the internet (0.0.0.0/0)",
    )
    agent = verdict("ecs_task_definition_non_root_user", by_type(emitted, "AWS::ECS::TaskDefinition")["agent:1"])
    assert agent == (
        FAIL,
        "Task definition agent:1 has root containers: agent sets no user (the image default, usually root); "
        "helper runs as root",
    )
    assert verdict("ecs_service_redundant", by_type(emitted, "AWS::ECS::Service")["scheduler"]) == (
        FAIL,
        "ECS service scheduler wants 1 task(s), below 2, and is not auto scaled",
    )
    drifted = verdict("cloudformation_stack_drift_checked", by_type(emitted, "AWS::CloudFormation::Stack")["prod-data"])
    assert drifted is not None
    assert drifted[1].startswith("Stack prod-data is DRIFTED at its last drift check")


async def test_moto_without_drift_information_is_an_error(moto: MotoServer) -> None:
    seed_stacks(moto)
    emitted, outcome = await collect(moto)

    assert units(outcome)[("cloudformation", EAST)] is UnitStatus.PARTIAL
    stacks = by_type(emitted, "AWS::CloudFormation::Stack")
    for stack in stacks.values():
        result = verdict("cloudformation_stack_drift_checked", stack)
        assert result is not None
        assert result[0] == ERROR
        assert "MissingDriftInformation on describe_stacks" in result[1]
    # Termination protection is read all the same.
    assert verdict("cloudformation_stack_termination_protection", stacks["prod-network"]) == (
        PASS,
        "Production stack prod-network has termination protection on",
    )


async def test_denied_detail_reads_are_errors(moto: MotoServer) -> None:
    seed_all(moto)
    blocked = {
        ("lambda", "GetPolicy"): "AccessDeniedException",
        ("lambda", "GetFunctionEventInvokeConfig"): "AccessDeniedException",
        ("ecr", "GetRepositoryPolicy"): "AccessDeniedException",
        ("ecr", "GetRegistryScanningConfiguration"): "AccessDeniedException",
        ("eks", "DescribeCluster"): "AccessDeniedException",
        ("ecs", "DescribeTaskDefinition"): "AccessDeniedException",
        ("application-autoscaling", "DescribeScalableTargets"): "AccessDeniedException",
    }

    def intercept(service: str, operation: str, region: str) -> Answer | None:
        code = blocked.get((service, operation))
        return None if code is None else denied(code)

    emitted, outcome = await collect(moto, intercept=intercept, after=drift_added(DRIFT))

    for service in ("lambda", "ecr", "eks", "ecs"):
        assert units(outcome)[(service, EAST)] is UnitStatus.PARTIAL, service
    functions = statuses(emitted, "AWS::Lambda::Function")
    assert functions["legacy-hook"]["lambda_function_not_public"] == ERROR
    assert functions["legacy-hook"]["lambda_function_async_failure_destination"] == ERROR
    assert functions["legacy-hook"]["lambda_function_runtime_supported"] == FAIL  # from the listing itself
    repositories = statuses(emitted, "AWS::ECR::Repository")
    assert repositories["scratch"]["ecr_repository_not_public"] == ERROR
    assert repositories["scratch"]["ecr_repository_scan_on_push"] == ERROR
    # Its own flag is on, but without the registry setting enhanced scanning (which ignores it) is possible.
    assert repositories["api"]["ecr_repository_scan_on_push"] == ERROR
    for name, checks in statuses(emitted, "AWS::EKS::Cluster").items():
        assert set(checks.values()) == {ERROR}, name
    for name, checks in statuses(emitted, "AWS::ECS::TaskDefinition").items():
        assert set(checks.values()) == {ERROR}, name
    services = statuses(emitted, "AWS::ECS::Service")
    assert services["worker"]["ecs_service_redundant"] == ERROR
    assert services["api"]["ecs_service_redundant"] == PASS


async def test_denied_listings_fail_the_units(moto: MotoServer) -> None:
    seed_all(moto)
    blocked = {
        ("lambda", "ListFunctions"),
        ("ecr", "DescribeRepositories"),
        ("eks", "ListClusters"),
        ("ecs", "ListClusters"),
        ("cloudformation", "DescribeStacks"),
    }

    def intercept(service: str, operation: str, region: str) -> Answer | None:
        if (service, operation) in blocked:
            return denied("AccessDenied" if service == "cloudformation" else "AccessDeniedException")
        return None

    emitted, outcome = await collect(moto, intercept=intercept)

    for service in SERVICES:
        for region in REGIONS:
            assert units(outcome)[(service, region)] is UnitStatus.FAILED, (service, region)
    assert [r for r, _, _ in emitted if r.resource_type != "AWS::::Account"] == []
