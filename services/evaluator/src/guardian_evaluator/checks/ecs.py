"""Checks on ECS services (``AWS::ECS::Service``) and task definitions (``AWS::ECS::TaskDefinition``).

Service configuration (ecs collector): ``desired_count``, ``scheduling_strategy`` (REPLICA or
DAEMON) and ``scalable_target`` (``{"min_capacity", "max_capacity"}`` when Application Auto Scaling
manages the service's desired count, else ``None``). Task definition configuration: ``containers``,
each ``{"name", "image", "privileged", "user", "readonly_root_filesystem"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._gd_shared import needs
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

SERVICE = "AWS::ECS::Service"
TASK_DEFINITION = "AWS::ECS::TaskDefinition"
ROOT_USERS = {"root", "0"}


@check(
    id="ecs_service_redundant",
    title="ECS services run more than one task",
    description=(
        "A replica service keeps at least min_desired_count tasks (2 by default), directly or through an "
        "Application Auto Scaling target whose minimum capacity is at least that, so losing one task or one "
        "availability zone does not take the service down. Daemon services run one task per instance and are "
        "not judged."
    ),
    severity=Severity.MEDIUM,
    resource_type=SERVICE,
    service="ecs",
    remediation=(
        "Raise the desired count, or register the service with auto scaling and a minimum of two tasks.\n"
        "CLI: aws application-autoscaling register-scalable-target --service-namespace ecs --resource-id "
        "service/CLUSTER/SERVICE --scalable-dimension ecs:service:DesiredCount --min-capacity 2 --max-capacity 10\n"
        'Terraform: resource "aws_appautoscaling_target" "svc" { service_namespace = "ecs", resource_id = '
        '"service/CLUSTER/SERVICE", scalable_dimension = "ecs:service:DesiredCount", min_capacity = 2, '
        "max_capacity = 10 }"
    ),
    permissions=("ecs:DescribeServices", "application-autoscaling:DescribeScalableTargets"),
    parameters={"min_desired_count": 2},
)
def ecs_service_redundant(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "desired_count", "scheduling_strategy")) is not None:
        return err
    if str(snap.configuration["scheduling_strategy"]).upper() == "DAEMON":
        return None
    minimum = int(params["min_desired_count"])
    desired = snap.configuration["desired_count"]
    if not isinstance(desired, int):
        return errored(f"The desired count of ECS service {snap.name} is not a number ({desired!r})")
    if desired >= minimum:
        return passed(f"ECS service {snap.name} runs {desired} tasks (at least {minimum})", desired_count=desired)
    if (err := needs(snap, "scalable_target")) is not None:
        return err
    target = snap.configuration["scalable_target"]
    if isinstance(target, Mapping):
        low = target.get("min_capacity")
        if isinstance(low, int) and low >= minimum:
            return passed(
                f"ECS service {snap.name} is auto scaled with a minimum of {low} tasks (desired now {desired})",
                min_capacity=low,
            )
        return failed(
            f"ECS service {snap.name} wants {desired} task(s) and its auto scaling minimum is {low}, below {minimum}",
            desired_count=desired,
            min_capacity=low,
        )
    return failed(
        f"ECS service {snap.name} wants {desired} task(s), below {minimum}, and is not auto scaled",
        desired_count=desired,
    )


def _containers(snap: Snapshot) -> list[Mapping[str, Any]] | Verdict:
    if (err := needs(snap, "containers")) is not None:
        return err
    containers = snap.configuration["containers"]
    if not isinstance(containers, list):
        return errored(f"The containers of task definition {snap.name} are not a list ({containers!r})")
    return [c for c in containers if isinstance(c, Mapping)]


@check(
    id="ecs_task_definition_no_privileged",
    title="ECS task definitions run no privileged containers",
    description=(
        "No container of the task definition runs in privileged mode, which would give it root access to the "
        "host and every other container on it."
    ),
    severity=Severity.HIGH,
    resource_type=TASK_DEFINITION,
    service="ecs",
    remediation=(
        "Register a new revision with privileged set to false (grant only the Linux capabilities needed).\n"
        "CLI: aws ecs register-task-definition --cli-input-json file://task-definition.json "
        '(with "privileged": false in each container definition)\n'
        'Terraform: resource "aws_ecs_task_definition" "app" { container_definitions = jsonencode([{ name = "app", '
        "privileged = false, ... }]) }"
    ),
    permissions=("ecs:DescribeTaskDefinition",),
)
def ecs_task_definition_no_privileged(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    containers = _containers(snap)
    if isinstance(containers, Verdict):
        return containers
    privileged = [str(c.get("name")) for c in containers if c.get("privileged") is True]
    if privileged:
        return failed(
            f"Task definition {snap.name} runs container(s) {', '.join(privileged)} in privileged mode",
            containers=privileged,
        )
    return passed(f"No container of task definition {snap.name} is privileged")


@check(
    id="ecs_task_definition_non_root_user",
    title="ECS containers run as a non-root user",
    description=(
        "Every container of the task definition sets a user other than root (name or UID 0). A container with no "
        "user runs as the image's default user, which is root unless the image says otherwise, so it fails too."
    ),
    severity=Severity.LOW,
    resource_type=TASK_DEFINITION,
    service="ecs",
    remediation=(
        "Set a non-root user in each container definition (and build images that can run as it).\n"
        "CLI: aws ecs register-task-definition --cli-input-json file://task-definition.json "
        '(with "user": "1000:1000" in each container definition)\n'
        'Terraform: resource "aws_ecs_task_definition" "app" { container_definitions = jsonencode([{ name = "app", '
        'user = "1000:1000", ... }]) }'
    ),
    permissions=("ecs:DescribeTaskDefinition",),
)
def ecs_task_definition_non_root_user(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    containers = _containers(snap)
    if isinstance(containers, Verdict):
        return containers
    problems = []
    for container in containers:
        user = container.get("user")
        name = container.get("name")
        if not user:
            problems.append(f"{name} sets no user (the image default, usually root)")
        elif str(user).split(":", 1)[0].strip().lower() in ROOT_USERS:
            problems.append(f"{name} runs as {user}")
    if problems:
        return failed(f"Task definition {snap.name} has root containers: " + "; ".join(problems), problems=problems)
    return passed(f"Every container of task definition {snap.name} runs as a non-root user")
