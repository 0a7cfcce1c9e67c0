"""Unit tests of the Lambda, ECR, EKS, ECS and CloudFormation checks, on collector-shaped configurations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
DENIED = "AccessDeniedException on describe_cluster: not authorised"
KEY = "arn:aws:kms:us-east-1:123456789012:key/2222"


def run(
    check_id: str,
    resource_type: str,
    configuration: dict[str, Any],
    tags: dict[str, str] | None = None,
    **params: Any,
) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    snap = Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:test:us-east-1:123456789012:{configuration.get('name', 'r1')}",
        name=str(configuration.get("name", "r1")),
        account_id="123456789012",
        region="us-east-1",
        tags=tags or {},
        configuration=configuration,
    )
    verdict = chk.fn(snap, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, resource_type: str, configuration: dict[str, Any], **params: Any) -> Status | None:
    result = run(check_id, resource_type, configuration, **params)
    return None if result is None else result[0]


def unread(configuration: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {**configuration, **dict.fromkeys(fields), "_errors": dict.fromkeys(fields, DENIED)}


def without(configuration: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in configuration.items() if k not in fields}


# --- Lambda ----------------------------------------------------------------------------------

FUNCTION = "AWS::Lambda::Function"


def function(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "worker",
        "runtime": "python3.12",
        "package_type": "Zip",
        "dead_letter_target_arn": None,
        "on_failure_destination": "arn:aws:sqs:us-east-1:123456789012:failed",
        "policy": None,
        **overrides,
    }


def test_lambda_not_public() -> None:
    scoped = {
        "Statement": [
            {
                "Sid": "s3",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"}},
            }
        ]
    }
    assert status("lambda_function_not_public", FUNCTION, function(policy=scoped)) == PASS
    assert status("lambda_function_not_public", FUNCTION, function()) == PASS
    public = {"Statement": [{"Sid": "any", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]}
    assert run("lambda_function_not_public", FUNCTION, function(policy=public)) == (
        FAIL,
        "Lambda function worker can be invoked by anyone: statement any allows lambda:InvokeFunction to any "
        "principal without a restricting condition",
    )
    assert status("lambda_function_not_public", FUNCTION, unread(function(), "policy")) == ERROR
    assert status("lambda_function_not_public", FUNCTION, without(function(), "policy")) == ERROR


def test_lambda_runtime_supported() -> None:
    assert run("lambda_function_runtime_supported", FUNCTION, function()) == (
        PASS,
        "Lambda function worker runs on supported runtime python3.12",
    )
    assert run("lambda_function_runtime_supported", FUNCTION, function(runtime="nodejs16.x")) == (
        FAIL,
        "Lambda function worker runs on deprecated runtime nodejs16.x",
    )
    assert status("lambda_function_runtime_supported", FUNCTION, function(), deprecated_runtimes=["python3.12"]) == FAIL
    assert run("lambda_function_runtime_supported", FUNCTION, function(runtime=None, package_type="Image")) is None
    assert status("lambda_function_runtime_supported", FUNCTION, without(function(), "runtime")) == ERROR


def test_lambda_async_failure_destination() -> None:
    assert status("lambda_function_async_failure_destination", FUNCTION, function()) == PASS
    dlq = function(on_failure_destination=None, dead_letter_target_arn="arn:aws:sqs:us-east-1:1:dlq")
    assert run("lambda_function_async_failure_destination", FUNCTION, dlq) == (
        PASS,
        "Lambda function worker sends failed asynchronous events to dead-letter queue arn:aws:sqs:us-east-1:1:dlq",
    )
    assert run("lambda_function_async_failure_destination", FUNCTION, function(on_failure_destination=None)) == (
        FAIL,
        "Lambda function worker has neither a dead-letter queue nor an on-failure destination",
    )
    unknown = unread(function(), "on_failure_destination")
    assert status("lambda_function_async_failure_destination", FUNCTION, unknown) == ERROR
    # A dead-letter queue is proof enough even when the invoke configuration could not be read.
    assert (
        status(
            "lambda_function_async_failure_destination", FUNCTION, {**unknown, **dlq, "on_failure_destination": None}
        )
        == PASS
    )


# --- ECR -------------------------------------------------------------------------------------

REPOSITORY = "AWS::ECR::Repository"


def repository(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "api",
        "scan_on_push": True,
        "tag_mutability": "IMMUTABLE",
        "policy": None,
        "registry_scanning": {"scan_type": "BASIC", "rules": []},
        **overrides,
    }


def test_ecr_scan_on_push() -> None:
    assert run("ecr_repository_scan_on_push", REPOSITORY, repository()) == (
        PASS,
        "ECR repository api scans images on push",
    )
    enhanced = {"scan_type": "ENHANCED", "rules": [{"scan_frequency": "CONTINUOUS_SCAN", "filters": ["*"]}]}
    assert (
        status("ecr_repository_scan_on_push", REPOSITORY, repository(scan_on_push=False, registry_scanning=enhanced))
        == PASS
    )
    basic = {"scan_type": "BASIC", "rules": [{"scan_frequency": "SCAN_ON_PUSH", "filters": ["a*"]}]}
    assert (
        status("ecr_repository_scan_on_push", REPOSITORY, repository(scan_on_push=False, registry_scanning=basic))
        == PASS
    )
    manual = {"scan_type": "BASIC", "rules": [{"scan_frequency": "MANUAL", "filters": ["*"]}]}
    assert run("ecr_repository_scan_on_push", REPOSITORY, repository(scan_on_push=False, registry_scanning=manual)) == (
        FAIL,
        "ECR repository api does not scan images on push and no registry scanning rule covers it",
    )
    assert (
        status("ecr_repository_scan_on_push", REPOSITORY, unread(repository(scan_on_push=False), "registry_scanning"))
        == ERROR
    )
    # Under enhanced scanning the repository flag does not count, so an unknown registry setting is an error.
    assert status("ecr_repository_scan_on_push", REPOSITORY, unread(repository(), "registry_scanning")) == ERROR
    unmatched = {"scan_type": "ENHANCED", "rules": []}
    assert run("ecr_repository_scan_on_push", REPOSITORY, repository(registry_scanning=unmatched)) == (
        FAIL,
        "ECR repository api matches no rule of the registry's enhanced scanning",
    )
    assert status("ecr_repository_scan_on_push", REPOSITORY, without(repository(), "scan_on_push")) == ERROR


def test_ecr_tag_immutability() -> None:
    assert status("ecr_repository_tag_immutability", REPOSITORY, repository()) == PASS
    assert (
        status("ecr_repository_tag_immutability", REPOSITORY, repository(tag_mutability="IMMUTABLE_WITH_EXCLUSION"))
        == PASS
    )
    assert run("ecr_repository_tag_immutability", REPOSITORY, repository(tag_mutability="MUTABLE")) == (
        FAIL,
        "ECR repository api allows tags to be overwritten (MUTABLE)",
    )
    assert status("ecr_repository_tag_immutability", REPOSITORY, without(repository(), "tag_mutability")) == ERROR


def test_ecr_not_public() -> None:
    org = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "ecr:BatchGetImage",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},
            }
        ]
    }
    assert status("ecr_repository_not_public", REPOSITORY, repository(policy=org)) == PASS
    public = {"Statement": [{"Sid": "all", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:*"}]}
    assert status("ecr_repository_not_public", REPOSITORY, repository(policy=public)) == FAIL
    assert status("ecr_repository_not_public", REPOSITORY, unread(repository(), "policy")) == ERROR


# --- EKS -------------------------------------------------------------------------------------

CLUSTER = "AWS::EKS::Cluster"


def cluster(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "platform",
        "endpoint_public_access": False,
        "endpoint_private_access": True,
        "public_access_cidrs": [],
        "enabled_log_types": ["api", "audit"],
        "secrets_encryption_key": KEY,
        **overrides,
    }


def test_eks_endpoint_not_public() -> None:
    assert run("eks_cluster_endpoint_not_public", CLUSTER, cluster()) == (
        PASS,
        "EKS cluster platform has no public API endpoint",
    )
    restricted = cluster(endpoint_public_access=True, public_access_cidrs=["203.0.113.0/24"])
    assert status("eks_cluster_endpoint_not_public", CLUSTER, restricted) == PASS
    assert run(
        "eks_cluster_endpoint_not_public", CLUSTER, cluster(endpoint_public_access=True, public_access_cidrs=["::/0"])
    ) == (
        FAIL,
        "EKS cluster platform exposes its API endpoint to the internet (::/0)",
    )
    assert run("eks_cluster_endpoint_not_public", CLUSTER, cluster(endpoint_public_access=True)) == (
        FAIL,
        "EKS cluster platform exposes its API endpoint to the internet (no CIDR restriction)",
    )
    assert (
        status(
            "eks_cluster_endpoint_not_public",
            CLUSTER,
            unread(cluster(), "endpoint_public_access", "public_access_cidrs"),
        )
        == ERROR
    )


def test_eks_audit_logging() -> None:
    assert status("eks_cluster_audit_logging", CLUSTER, cluster()) == PASS
    assert run("eks_cluster_audit_logging", CLUSTER, cluster(enabled_log_types=["api"])) == (
        FAIL,
        "EKS cluster platform does not send audit logs to CloudWatch Logs (enabled: api)",
    )
    assert (
        status("eks_cluster_audit_logging", CLUSTER, cluster(), required_log_types=["audit", "authenticator"]) == FAIL
    )
    assert status("eks_cluster_audit_logging", CLUSTER, unread(cluster(), "enabled_log_types")) == ERROR


def test_eks_secrets_encrypted() -> None:
    assert status("eks_cluster_secrets_encrypted", CLUSTER, cluster()) == PASS
    assert run("eks_cluster_secrets_encrypted", CLUSTER, cluster(secrets_encryption_key=None)) == (
        FAIL,
        "EKS cluster platform does not encrypt Kubernetes secrets with a KMS key",
    )
    assert status("eks_cluster_secrets_encrypted", CLUSTER, unread(cluster(), "secrets_encryption_key")) == ERROR


# --- ECS -------------------------------------------------------------------------------------

SERVICE = "AWS::ECS::Service"
TASK = "AWS::ECS::TaskDefinition"


def service(**overrides: Any) -> dict[str, Any]:
    return {"name": "api", "desired_count": 3, "scheduling_strategy": "REPLICA", "scalable_target": None, **overrides}


def test_ecs_service_redundant() -> None:
    assert status("ecs_service_redundant", SERVICE, service()) == PASS
    scaled = service(desired_count=1, scalable_target={"min_capacity": 2, "max_capacity": 6})
    assert run("ecs_service_redundant", SERVICE, scaled) == (
        PASS,
        "ECS service api is auto scaled with a minimum of 2 tasks (desired now 1)",
    )
    thin = service(desired_count=1, scalable_target={"min_capacity": 1, "max_capacity": 6})
    assert run("ecs_service_redundant", SERVICE, thin) == (
        FAIL,
        "ECS service api wants 1 task(s) and its auto scaling minimum is 1, below 2",
    )
    assert status("ecs_service_redundant", SERVICE, service(desired_count=1)) == FAIL
    assert status("ecs_service_redundant", SERVICE, service(desired_count=1), min_desired_count=1) == PASS
    assert run("ecs_service_redundant", SERVICE, service(scheduling_strategy="DAEMON", desired_count=0)) is None
    assert status("ecs_service_redundant", SERVICE, unread(service(desired_count=1), "scalable_target")) == ERROR
    assert status("ecs_service_redundant", SERVICE, without(service(), "desired_count")) == ERROR


def container(name: str, **overrides: Any) -> dict[str, Any]:
    return {"name": name, "image": f"{name}:1", "privileged": False, "user": "1000", **overrides}


def test_ecs_task_definition_no_privileged() -> None:
    assert (
        status("ecs_task_definition_no_privileged", TASK, {"name": "api:3", "containers": [container("api")]}) == PASS
    )
    privileged = {"name": "agent:1", "containers": [container("agent", privileged=True), container("sidecar")]}
    assert run("ecs_task_definition_no_privileged", TASK, privileged) == (
        FAIL,
        "Task definition agent:1 runs container(s) agent in privileged mode",
    )
    assert status("ecs_task_definition_no_privileged", TASK, unread({"name": "x"}, "containers")) == ERROR
    assert status("ecs_task_definition_no_privileged", TASK, {"name": "x", "containers": "api"}) == ERROR


def test_ecs_task_definition_non_root_user() -> None:
    assert (
        status("ecs_task_definition_non_root_user", TASK, {"name": "api:3", "containers": [container("api")]}) == PASS
    )
    rooted = {
        "name": "a:1",
        "containers": [container("a", user=None), container("b", user="0:0"), container("c", user="app")],
    }
    assert run("ecs_task_definition_non_root_user", TASK, rooted) == (
        FAIL,
        "Task definition a:1 has root containers: a sets no user (the image default, usually root); b runs as 0:0",
    )
    assert status("ecs_task_definition_non_root_user", TASK, {"name": "x"}) == ERROR


# --- CloudFormation --------------------------------------------------------------------------

STACK = "AWS::CloudFormation::Stack"


def stack(status_value: str = "IN_SYNC", days: int | None = 3, **overrides: Any) -> dict[str, Any]:
    checked = None if days is None else (datetime.now(UTC) - timedelta(days=days)).isoformat()
    return {
        "name": "network",
        "drift_status": status_value,
        "drift_last_checked": checked,
        "termination_protection": True,
        **overrides,
    }


def test_cloudformation_drift_checked() -> None:
    assert run("cloudformation_stack_drift_checked", STACK, stack()) == (
        PASS,
        "Stack network was IN_SYNC at its drift check 3 day(s) ago",
    )
    assert status("cloudformation_stack_drift_checked", STACK, stack("DRIFTED")) == FAIL
    assert run("cloudformation_stack_drift_checked", STACK, stack("NOT_CHECKED", None)) == (
        FAIL,
        "Stack network has never been checked for drift",
    )
    assert run("cloudformation_stack_drift_checked", STACK, stack(days=45)) == (
        FAIL,
        "Stack network was last checked for drift 45 days ago, more than 30",
    )
    assert status("cloudformation_stack_drift_checked", STACK, stack(days=45), max_days_since_check=60) == PASS
    assert (
        status("cloudformation_stack_drift_checked", STACK, unread(stack(), "drift_status", "drift_last_checked"))
        == ERROR
    )
    assert status("cloudformation_stack_drift_checked", STACK, without(stack(), "drift_status")) == ERROR


def test_cloudformation_termination_protection() -> None:
    prod = {"Environment": "Production"}
    assert run("cloudformation_stack_termination_protection", STACK, stack(), prod) == (
        PASS,
        "Production stack network has termination protection on",
    )
    assert run("cloudformation_stack_termination_protection", STACK, stack(termination_protection=False), prod) == (
        FAIL,
        "Production stack network can be deleted: termination protection is off",
    )
    assert run("cloudformation_stack_termination_protection", STACK, stack(termination_protection=False)) is None
    assert run("cloudformation_stack_termination_protection", STACK, stack(), {"env": "dev"}) is None
    custom = run(
        "cloudformation_stack_termination_protection",
        STACK,
        stack(termination_protection=False),
        {"tier": "live"},
        production_tag_keys=["tier"],
        production_tag_values=["live"],
    )
    assert custom is not None
    assert custom[0] == FAIL
    assert run(
        "cloudformation_stack_termination_protection", STACK, without(stack(), "termination_protection"), prod
    ) == (
        ERROR,
        "The collected configuration of network has no termination_protection data, so it cannot be evaluated",
    )
