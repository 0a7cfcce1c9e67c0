"""Auto Scaling group checks: zones, load balancer health checks, launch templates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._compute_network import BadValue, guarded, mappings, needs, strings
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

SERVICE = "autoscaling"
GROUP = "AWS::AutoScaling::AutoScalingGroup"

LOAD_BALANCER_SOURCES = frozenset({"elb", "elbv2"})
LATTICE_SOURCES = frozenset({"vpc-lattice"})


@check(
    id="autoscaling_group_multi_az",
    title="Auto Scaling groups span several availability zones",
    description=(
        "Every Auto Scaling group can launch instances in at least min_zones availability zones, so the "
        "loss of one zone leaves capacity running and the group rebuilds it elsewhere."
    ),
    severity=Severity.MEDIUM,
    resource_type=GROUP,
    service=SERVICE,
    remediation=(
        "Give the group subnets in at least two availability zones.\n"
        "CLI: aws autoscaling update-auto-scaling-group --auto-scaling-group-name GROUP "
        '--vpc-zone-identifier "subnet-aaa,subnet-bbb"\n'
        "Terraform: vpc_zone_identifier = [aws_subnet.a.id, aws_subnet.b.id] in the aws_autoscaling_group"
    ),
    permissions=("autoscaling:DescribeAutoScalingGroups",),
    parameters={"min_zones": 2},
)
@guarded
def group_multi_az(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "availability_zones")) is not None:
        return err
    zones = strings(snap, "availability_zones")
    minimum = int(params.get("min_zones", 2))
    listed = ", ".join(zones) or "none"
    if len(zones) >= minimum:
        return passed(f"Auto Scaling group {snap.name} spans {len(zones)} availability zones ({listed})", zones=zones)
    return failed(
        f"Auto Scaling group {snap.name} spans {len(zones)} availability zone(s) ({listed}); at least {minimum} "
        "are required",
        zones=zones,
    )


@check(
    id="autoscaling_group_elb_health_check",
    title="Auto Scaling groups behind load balancers use their health checks",
    description=(
        "A group that serves traffic through a load balancer (or VPC Lattice) uses that health check, not "
        "only the EC2 status check: an instance whose application has stopped answering is then replaced "
        "instead of staying in service. Groups with no traffic source are not judged."
    ),
    severity=Severity.MEDIUM,
    resource_type=GROUP,
    service=SERVICE,
    remediation=(
        "Switch the group's health check type to ELB, with a grace period long enough for instances to boot.\n"
        "CLI: aws autoscaling update-auto-scaling-group --auto-scaling-group-name GROUP --health-check-type ELB "
        "--health-check-grace-period 300\n"
        'Terraform: health_check_type = "ELB" in the aws_autoscaling_group'
    ),
    permissions=("autoscaling:DescribeAutoScalingGroups",),
)
@guarded
def group_elb_health_check(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    fields = ("load_balancer_names", "target_group_arns", "traffic_sources", "health_check_type")
    if (err := needs(snap, *fields)) is not None:
        return err
    sources = mappings(snap, "traffic_sources")
    balanced = bool(strings(snap, "load_balancer_names") or strings(snap, "target_group_arns")) or any(
        str(s.get("type")) in LOAD_BALANCER_SOURCES for s in sources
    )
    lattice = any(str(s.get("type")) in LATTICE_SOURCES for s in sources)
    if not balanced and not lattice:
        return None
    raw = snap.configuration["health_check_type"]
    if not isinstance(raw, str) or not raw.strip():
        raise BadValue(f"The health check type of {snap.name} is not usable ({raw!r})")
    kinds = {k.strip().upper() for k in raw.split(",") if k.strip()}
    wanted = "ELB" if balanced else "VPC_LATTICE"
    attached = "load balancer" if balanced else "VPC Lattice service"
    if wanted in kinds:
        return passed(
            f"Auto Scaling group {snap.name} is attached to a {attached} and uses its health checks "
            f"(health check type {raw})",
            health_check_type=raw,
        )
    return failed(
        f"Auto Scaling group {snap.name} is attached to a {attached} but its health check type is {raw}: "
        "instances failing the load balancer's health check are not replaced",
        health_check_type=raw,
    )


@check(
    id="autoscaling_group_launch_template",
    title="Auto Scaling groups use launch templates",
    description=(
        "Groups launch instances from a launch template, not a launch configuration. Launch configurations "
        "are deprecated, cannot use newer instance types or features such as IMDSv2 defaults, and are not "
        "versioned, so changes to them leave no history."
    ),
    severity=Severity.LOW,
    resource_type=GROUP,
    service=SERVICE,
    remediation=(
        "Copy the launch configuration to a launch template (the console offers this) and point the group at "
        "it.\n"
        "CLI: aws autoscaling update-auto-scaling-group --auto-scaling-group-name GROUP --launch-template "
        "LaunchTemplateName=TEMPLATE,Version='$Latest'\n"
        'Terraform: launch_template { id = aws_launch_template.app.id, version = "$Latest" } in the '
        "aws_autoscaling_group instead of launch_configuration"
    ),
    permissions=("autoscaling:DescribeAutoScalingGroups",),
)
@guarded
def group_launch_template(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    fields = ("launch_template", "mixed_instances_launch_template", "launch_configuration_name")
    if (err := needs(snap, *fields)) is not None:
        return err
    template = snap.configuration["launch_template"] or snap.configuration["mixed_instances_launch_template"]
    if isinstance(template, Mapping):
        label = template.get("name") or template.get("id")
        return passed(
            f"Auto Scaling group {snap.name} launches from launch template {label} (version {template.get('version')})",
            launch_template=label,
        )
    configuration = snap.configuration["launch_configuration_name"]
    if configuration:
        return failed(
            f"Auto Scaling group {snap.name} still uses launch configuration {configuration}",
            launch_configuration=configuration,
        )
    return errored(f"Auto Scaling group {snap.name} names neither a launch template nor a launch configuration")
