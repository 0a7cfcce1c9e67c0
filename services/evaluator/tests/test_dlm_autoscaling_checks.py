"""DLM (region account context) and Auto Scaling group checks on collector-shaped configurations."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR


def snap(resource_type: str, configuration: dict[str, Any], *, name: str = "r1", region: str = "us-east-1") -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:test:{region}:{ACCOUNT}:{name}",
        name=name,
        account_id=ACCOUNT,
        region=region,
        tags={},
        configuration=configuration,
    )


def run(check_id: str, snapshot: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snapshot, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, snapshot: Snapshot, **params: Any) -> Status | None:
    result = run(check_id, snapshot, **params)
    return None if result is None else result[0]


# --- DLM -----------------------------------------------------------------------------------


def policy(
    policy_id: str = "policy-1", state: str = "ENABLED", kind: str = "EBS_SNAPSHOT_MANAGEMENT"
) -> dict[str, Any]:
    return {
        "policy_id": policy_id,
        "description": "daily",
        "state": state,
        "policy_type": kind,
        "default_policy": False,
    }


def region_context(**fields: Any) -> Snapshot:
    config: dict[str, Any] = {"scope": "region", "dlm_lifecycle_policies": [policy()], "dlm_region_has_volumes": True}
    config.update(fields)
    return snap("AWS::::Account", config, name="123456789012 (us-east-1)")


def test_dlm_enabled_policy_passes() -> None:
    assert run("dlm_snapshot_policy_present", region_context()) == (
        PASS,
        "us-east-1 has 1 enabled snapshot lifecycle policy(ies): policy-1",
    )
    # An enabled policy is enough even when the volume read failed.
    unknown_volumes = region_context(dlm_region_has_volumes=None, _errors={"dlm_region_has_volumes": "denied"})
    assert status("dlm_snapshot_policy_present", unknown_volumes) == PASS


def test_dlm_missing_or_disabled_policy_fails() -> None:
    assert run("dlm_snapshot_policy_present", region_context(dlm_lifecycle_policies=[])) == (
        FAIL,
        "us-east-1 has EBS volumes but no Data Lifecycle Manager snapshot policy",
    )
    disabled = region_context(dlm_lifecycle_policies=[policy(state="DISABLED")])
    assert run("dlm_snapshot_policy_present", disabled) == (
        FAIL,
        "us-east-1 has EBS volumes but no enabled snapshot lifecycle policy (policy-1 is DISABLED)",
    )
    event_only = region_context(dlm_lifecycle_policies=[policy(kind="EVENT_BASED_POLICY")])
    assert status("dlm_snapshot_policy_present", event_only) == FAIL
    assert status("dlm_snapshot_policy_present", event_only, policy_types=["EVENT_BASED_POLICY"]) == PASS


def test_dlm_not_applicable() -> None:
    assert (
        status("dlm_snapshot_policy_present", region_context(dlm_lifecycle_policies=[], dlm_region_has_volumes=False))
        is None
    )
    assert status("dlm_snapshot_policy_present", snap("AWS::::Account", {"scope": "account"})) is None


def test_dlm_unreadable_is_error() -> None:
    denied = region_context(
        dlm_lifecycle_policies=None,
        _errors={"dlm_lifecycle_policies": "AccessDeniedException on get_lifecycle_policies: no"},
    )
    result = run("dlm_snapshot_policy_present", denied)
    assert result is not None
    assert result[0] == ERROR
    assert "AccessDeniedException" in result[1]
    volumes_unknown = region_context(
        dlm_lifecycle_policies=[], dlm_region_has_volumes=None, _errors={"dlm_region_has_volumes": "denied"}
    )
    assert status("dlm_snapshot_policy_present", volumes_unknown) == ERROR
    assert status("dlm_snapshot_policy_present", snap("AWS::::Account", {"scope": "region"})) == ERROR


# --- Auto Scaling --------------------------------------------------------------------------


def group(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "name": "web",
        "availability_zones": ["us-east-1a", "us-east-1b"],
        "subnets": ["subnet-a", "subnet-b"],
        "min_size": 2,
        "max_size": 4,
        "desired_capacity": 2,
        "load_balancer_names": [],
        "target_group_arns": ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/1"],
        "traffic_sources": [],
        "health_check_type": "ELB",
        "health_check_grace_period": 300,
        "launch_template": {"id": "lt-1", "name": "web", "version": "$Latest"},
        "mixed_instances_launch_template": None,
        "launch_configuration_name": None,
        "instances": 2,
    }
    config.update(overrides)
    return snap("AWS::AutoScaling::AutoScalingGroup", config, name="web")


def test_group_zones() -> None:
    assert run("autoscaling_group_multi_az", group()) == (
        PASS,
        "Auto Scaling group web spans 2 availability zones (us-east-1a, us-east-1b)",
    )
    assert run("autoscaling_group_multi_az", group(availability_zones=["us-east-1a"])) == (
        FAIL,
        "Auto Scaling group web spans 1 availability zone(s) (us-east-1a); at least 2 are required",
    )
    assert status("autoscaling_group_multi_az", group(), min_zones=3) == FAIL
    assert status("autoscaling_group_multi_az", group(availability_zones=None)) == ERROR


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, PASS),
        ({"health_check_type": "EC2"}, FAIL),
        ({"health_check_type": "EC2,ELB"}, PASS),
        ({"target_group_arns": [], "load_balancer_names": ["classic"], "health_check_type": "EC2"}, FAIL),
        ({"target_group_arns": [], "traffic_sources": [{"identifier": "tg", "type": "elbv2"}]}, PASS),
        ({"target_group_arns": [], "traffic_sources": [{"identifier": "svc", "type": "vpc-lattice"}]}, FAIL),
        (
            {
                "target_group_arns": [],
                "traffic_sources": [{"identifier": "svc", "type": "vpc-lattice"}],
                "health_check_type": "VPC_LATTICE",
            },
            PASS,
        ),
        ({"target_group_arns": [], "health_check_type": "EC2"}, None),
        ({"health_check_type": None}, ERROR),
        ({"_errors": {"traffic_sources": "boom"}}, ERROR),
    ],
)
def test_group_health_check(overrides: dict[str, Any], expected: Status | None) -> None:
    assert status("autoscaling_group_elb_health_check", group(**overrides)) == expected


def test_group_health_check_reason() -> None:
    result = run("autoscaling_group_elb_health_check", group(health_check_type="EC2"))
    assert result is not None
    assert result[1].startswith(
        "Auto Scaling group web is attached to a load balancer but its health check type is EC2"
    )


def test_group_launch_template() -> None:
    assert run("autoscaling_group_launch_template", group()) == (
        PASS,
        "Auto Scaling group web launches from launch template web (version $Latest)",
    )
    mixed = group(launch_template=None, mixed_instances_launch_template={"id": "lt-2", "name": None, "version": "3"})
    assert status("autoscaling_group_launch_template", mixed) == PASS
    legacy = group(launch_template=None, launch_configuration_name="web-lc-2019")
    assert run("autoscaling_group_launch_template", legacy) == (
        FAIL,
        "Auto Scaling group web still uses launch configuration web-lc-2019",
    )
    assert status("autoscaling_group_launch_template", group(launch_template=None)) == ERROR
    config = dict(group().configuration)
    del config["launch_configuration_name"]
    assert status("autoscaling_group_launch_template", snap("AWS::AutoScaling::AutoScalingGroup", config)) == ERROR
