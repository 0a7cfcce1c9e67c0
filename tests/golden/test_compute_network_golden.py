"""Golden test: EC2 fleet (instances, snapshots, AMIs, subnets, network ACLs), Data Lifecycle Manager and
Auto Scaling, seeded in moto, collected by the real collectors and judged by the real checks.

Every check is shown PASS on a good resource and FAIL on a bad one, and the status of every check on
every resource the collectors emit is asserted exactly (moto's default VPCs, subnets and ACLs included).
moto is seeded once for the module; each test runs its own collection, some with injected faults.

What moto lacks, and how this module makes up for it:

- Data Lifecycle Manager is not implemented at all (moto answers an HTML 500 page). GetLifecyclePolicies
  is answered by a botocore ``before-call`` handler with a response validated against botocore's DLM
  model first (as botocore's Stubber does), one answer per region. One test keeps moto's answer and
  shows the unit FAILED and the check ERROR.
- moto gives new network ACLs no entries at all (AWS adds the final deny-all rules); the ACL check
  reads rule order, so that difference does not change its verdicts.
- moto does not apply a launch template's metadata options or monitoring to the instances an Auto
  Scaling group launches; the group's instance is expected with IMDSv1 allowed and basic monitoring.
- moto creates an extra (unencrypted, private) snapshot for every registered AMI; those snapshots are
  expected too.
- Faults (access denied) are injected with ``before-call`` handlers answering an AWS error, which
  aiobotocore turns into the ``ClientError`` a real denial raises.
"""

from __future__ import annotations

from typing import Any

from golden_support import (
    ACCOUNT,
    Emitted,
    Handler,
    Shortcut,
    by_type,
    collector,
    contexts,
    fixed,
    judged,
    model_checked,
    refusal,
    seeded_once,
    short_circuit,
    status,
    unit_status,
    verdict,
    with_metadata,
)
from golden_support import StatusTable as Expected
from golden_support import aws_env_fixture as aws_env_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import load_all
from guardian_testkit.moto import MotoServer

OTHER_ACCOUNT = "210987654321"
EAST = "us-east-1"
WEST = "eu-west-1"
REGIONS = [EAST, WEST]
SERVICES = ["ec2fleet", "dlm", "autoscaling"]

INSTANCE = "AWS::EC2::Instance"
SNAPSHOT = "AWS::EC2::Snapshot"
IMAGE = "AWS::EC2::Image"
SUBNET = "AWS::EC2::Subnet"
NETWORK_ACL = "AWS::EC2::NetworkAcl"
GROUP = "AWS::AutoScaling::AutoScalingGroup"
POLICY = "AWS::DLM::LifecyclePolicy"
JUDGED_TYPES = (INSTANCE, SNAPSHOT, IMAGE, SUBNET, NETWORK_ACL, GROUP)

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR

load_all()


# --- moto, collection and verdict helpers --------------------------------------------------


collect = collector(regions=REGIONS)
"""The real collectors against moto; ``handlers`` answer chosen operations instead of moto."""


def actual_statuses(emitted: Emitted) -> Expected:
    return judged(emitted, JUDGED_TYPES)


def answer_by_region(service: str, operation: str, responses: dict[str, dict[str, Any]]) -> Handler:
    """A ``before-call`` handler answering ``operation`` per client region with model-validated responses."""
    parsed = {
        region: with_metadata(model_checked(service, operation, response)) for region, response in responses.items()
    }

    def answer(context: dict[str, Any], **_: Any) -> Shortcut:
        return short_circuit((200, parsed[str(context.get("client_region"))]))

    return answer


def denied(code: str = "UnauthorizedOperation") -> Handler:
    return fixed(refusal(code, "You are not authorized to perform this operation.", metadata=True))


def dlm_policy(policy_id: str, state: str) -> dict[str, Any]:
    return {
        "PolicyId": policy_id,
        "Description": "daily EBS snapshots",
        "State": state,
        "Tags": {"team": "platform"},
        "PolicyType": "EBS_SNAPSHOT_MANAGEMENT",
        "DefaultPolicy": False,
    }


DLM_STUB = {
    "before-call.dlm.GetLifecyclePolicies": answer_by_region(
        "dlm",
        "GetLifecyclePolicies",
        {
            EAST: {"Policies": [dlm_policy("policy-0east", "ENABLED")]},
            WEST: {"Policies": [dlm_policy("policy-0west", "DISABLED")]},
        },
    )
}


# --- seeding -------------------------------------------------------------------------------


def tags(resource_type: str, **values: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in values.items()]}]


def seed(moto: MotoServer) -> dict[str, Any]:
    """Good and bad resources in us-east-1 (eu-west-1 keeps only moto's defaults and one volume)."""
    ids: dict[str, Any] = {}
    ec2 = moto.client("ec2", EAST)
    west = moto.client("ec2", WEST)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ids["vpc"] = vpc
    for key, cidr, zone in (("sub_a", "10.9.1.0/24", "a"), ("sub_b", "10.9.2.0/24", "b")):
        ids[key] = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{EAST}{zone}")["Subnet"]["SubnetId"]
    ids["sub_public"] = ec2.create_subnet(
        VpcId=vpc,
        CidrBlock="10.9.3.0/24",
        AvailabilityZone=f"{EAST}a",
        TagSpecifications=tags("subnet", **{"guardian:public": "true"}),
    )["Subnet"]["SubnetId"]
    ids["sub_open"] = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.4.0/24", AvailabilityZone=f"{EAST}b")["Subnet"][
        "SubnetId"
    ]
    for key in ("sub_public", "sub_open"):
        ec2.modify_subnet_attribute(SubnetId=ids[key], MapPublicIpOnLaunch={"Value": True})
    default_subnet = [{"Name": "default-for-az", "Values": ["true"]}]
    default_acl = [{"Name": "default", "Values": ["true"]}]
    ids["default_subnets"] = {
        region: [s["SubnetId"] for s in client.describe_subnets(Filters=default_subnet)["Subnets"]]
        for region, client in ((EAST, ec2), (WEST, west))
    }

    # Network ACLs: one admits SSH from anywhere, one denies the admin ports before allowing the rest.
    ids["acl_open"] = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(
        NetworkAclId=ids["acl_open"],
        RuleNumber=100,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 22, "To": 22},
    )
    ids["acl_guarded"] = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    for number, protocol, ports in ((50, "6", (22, 3389)), (60, "17", (3389, 3389))):
        ec2.create_network_acl_entry(
            NetworkAclId=ids["acl_guarded"],
            RuleNumber=number,
            Protocol=protocol,
            RuleAction="deny",
            Egress=False,
            CidrBlock="0.0.0.0/0",
            PortRange={"From": ports[0], "To": ports[1]},
        )
    ec2.create_network_acl_entry(
        NetworkAclId=ids["acl_guarded"],
        RuleNumber=100,
        Protocol="-1",
        RuleAction="allow",
        Egress=False,
        CidrBlock="0.0.0.0/0",
    )
    # Every VPC's default ACL (the new VPC's included) admits all traffic from anywhere.
    ids["default_acls"] = {
        region: [a["NetworkAclId"] for a in client.describe_network_acls(Filters=default_acl)["NetworkAcls"]]
        for region, client in ((EAST, ec2), (WEST, west))
    }

    # Instances launched directly (the Auto Scaling group adds one more below).
    def launch(**kwargs: Any) -> str:
        answer = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, **kwargs)
        return str(answer["Instances"][0]["InstanceId"])

    ids["i_bastion"] = launch(MetadataOptions={"HttpTokens": "optional"})
    iam = moto.client("iam")
    iam.create_role(RoleName="api", AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}')
    iam.create_instance_profile(InstanceProfileName="api")
    iam.add_role_to_instance_profile(InstanceProfileName="api", RoleName="api")
    ids["i_api"] = launch(
        IamInstanceProfile={"Name": "api"},
        SubnetId=ids["sub_a"],
        MetadataOptions={"HttpTokens": "required"},
        Monitoring={"Enabled": True},
        TagSpecifications=tags("instance", **{"guardian:standalone": "true"}),
    )
    ids["i_edge"] = launch(
        MetadataOptions={"HttpEndpoint": "disabled"},
        Monitoring={"Enabled": True},
        TagSpecifications=tags("instance", **{"guardian:public": "true"}),
    )

    # Snapshots and images.
    encrypted = ec2.create_volume(AvailabilityZone=f"{EAST}a", Size=8, Encrypted=True)["VolumeId"]
    plain = ec2.create_volume(AvailabilityZone=f"{EAST}a", Size=8, Encrypted=False)["VolumeId"]
    ids["snap_good"] = ec2.create_snapshot(VolumeId=encrypted)["SnapshotId"]
    ids["snap_shared"] = ec2.create_snapshot(VolumeId=encrypted)["SnapshotId"]
    ids["snap_bad"] = ec2.create_snapshot(VolumeId=plain)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=ids["snap_shared"], Attribute="createVolumePermission", OperationType="add", UserIds=[OTHER_ACCOUNT]
    )
    ec2.modify_snapshot_attribute(
        SnapshotId=ids["snap_bad"], Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    for key, name in (("ami_private", "golden-private"), ("ami_public", "golden-public")):
        ids[key] = ec2.register_image(
            Name=name,
            RootDeviceName="/dev/sda1",
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": ids["snap_good"]}}],
        )["ImageId"]
    ec2.modify_image_attribute(ImageId=ids["ami_public"], LaunchPermission={"Add": [{"Group": "all"}]})
    known = {ids["snap_good"], ids["snap_shared"], ids["snap_bad"]}
    ids["image_snapshots"] = [
        s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] if s["SnapshotId"] not in known
    ]
    west.create_volume(AvailabilityZone=f"{WEST}a", Size=8)

    # Auto Scaling groups, two of them behind a Classic Load Balancer.
    moto.client("elb", EAST).create_load_balancer(
        LoadBalancerName="web",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
        Subnets=[ids["sub_a"], ids["sub_b"]],
    )
    ec2.create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={
            "ImageId": "ami-12345678",
            "InstanceType": "t3.micro",
            "MetadataOptions": {"HttpTokens": "required"},
        },
    )
    autoscaling = moto.client("autoscaling", EAST)
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="legacy-lc", ImageId="ami-12345678", InstanceType="t3.micro"
    )
    template = {"LaunchTemplateName": "web", "Version": "$Latest"}
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate=template,
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        VPCZoneIdentifier=f"{ids['sub_a']},{ids['sub_b']}",
        LoadBalancerNames=["web"],
        HealthCheckType="ELB",
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="legacy",
        LaunchConfigurationName="legacy-lc",
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        VPCZoneIdentifier=ids["sub_a"],
        LoadBalancerNames=["web"],
        HealthCheckType="EC2",
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="batch",
        LaunchTemplate=template,
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        VPCZoneIdentifier=ids["sub_b"],
    )
    [group] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"]
    [member] = group["Instances"]
    ids["i_asg"] = member["InstanceId"]
    return ids


ids = seeded_once(seed)
"""What ``seed`` made, once for the module; the tests only read it."""


# --- the golden expectations ---------------------------------------------------------------

INSTANCE_CHECKS = (
    "ec2_instance_imdsv2_required",
    "ec2_instance_no_public_ip",
    "ec2_instance_in_auto_scaling_group",
    "ec2_instance_detailed_monitoring",
    "ec2_instance_iam_role",
)
SNAPSHOT_CHECKS = ("ec2_snapshot_not_public", "ec2_snapshot_encrypted")
GROUP_CHECKS = ("autoscaling_group_multi_az", "autoscaling_group_elb_health_check", "autoscaling_group_launch_template")


def expected_statuses(ids: dict[str, Any]) -> Expected:
    expected: Expected = {}

    def add(name: str, checks: tuple[str, ...], statuses: tuple[Status | None, ...]) -> None:
        expected.update({(name, c): s for c, s in zip(checks, statuses, strict=True)})

    # IMDSv2, no public IP, in an Auto Scaling group, detailed monitoring, instance role
    add(ids["i_asg"], INSTANCE_CHECKS, (FAIL, PASS, PASS, FAIL, FAIL))
    add(ids["i_bastion"], INSTANCE_CHECKS, (FAIL, FAIL, FAIL, FAIL, FAIL))
    add(ids["i_api"], INSTANCE_CHECKS, (PASS, PASS, PASS, PASS, PASS))
    add(ids["i_edge"], INSTANCE_CHECKS, (PASS, PASS, FAIL, PASS, FAIL))
    add(ids["snap_good"], SNAPSHOT_CHECKS, (PASS, PASS))
    add(ids["snap_shared"], SNAPSHOT_CHECKS, (PASS, PASS))
    add(ids["snap_bad"], SNAPSHOT_CHECKS, (FAIL, FAIL))
    for snapshot_id in ids["image_snapshots"]:
        add(snapshot_id, SNAPSHOT_CHECKS, (PASS, FAIL))
    expected[(ids["ami_private"], "ec2_ami_not_public")] = PASS
    expected[(ids["ami_public"], "ec2_ami_not_public")] = FAIL
    for role, outcome in (("sub_a", PASS), ("sub_b", PASS), ("sub_public", PASS), ("sub_open", FAIL)):
        expected[(ids[role], "ec2_subnet_no_auto_public_ip")] = outcome
    for region in REGIONS:
        expected.update({(s, "ec2_subnet_no_auto_public_ip"): FAIL for s in ids["default_subnets"][region]})
        expected.update({(a, "ec2_nacl_no_open_admin_ports"): FAIL for a in ids["default_acls"][region]})
    expected[(ids["acl_open"], "ec2_nacl_no_open_admin_ports")] = FAIL
    expected[(ids["acl_guarded"], "ec2_nacl_no_open_admin_ports")] = PASS
    add("web", GROUP_CHECKS, (PASS, PASS, PASS))
    add("legacy", GROUP_CHECKS, (FAIL, FAIL, FAIL))
    add("batch", GROUP_CHECKS, (FAIL, None, PASS))
    return expected


# --- tests ---------------------------------------------------------------------------------


async def test_every_check_on_every_resource(moto_server: MotoServer, ids: dict[str, Any]) -> None:
    emitted, outcome = await collect(moto_server, SERVICES, DLM_STUB)

    for service in SERVICES:
        for region in REGIONS:
            assert unit_status(outcome, service, region) == UnitStatus.COMPLETE, (service, region)
    assert actual_statuses(emitted) == expected_statuses(ids)

    ctx = contexts(emitted)
    assert verdict("dlm_snapshot_policy_present", ctx[EAST]) == (
        PASS,
        f"{EAST} has 1 enabled snapshot lifecycle policy(ies): policy-0east",
    )
    assert verdict("dlm_snapshot_policy_present", ctx[WEST]) == (
        FAIL,
        f"{WEST} has EBS volumes but no enabled snapshot lifecycle policy (policy-0west is DISABLED)",
    )
    assert status("dlm_snapshot_policy_present", ctx["global"]) is None
    policies = by_type(emitted, POLICY)
    assert set(policies) == {"policy-0east", "policy-0west"}
    assert policies["policy-0east"].arn == f"arn:aws:dlm:{EAST}:{ACCOUNT}:policy/policy-0east"
    assert policies["policy-0east"].tags == {"team": "platform"}


async def test_reasons_and_configuration_shapes(moto_server: MotoServer, ids: dict[str, Any]) -> None:
    emitted, _ = await collect(moto_server, SERVICES, DLM_STUB)
    instances = by_type(emitted, INSTANCE)
    bastion = instances[ids["i_bastion"]]
    assert bastion.arn == f"arn:aws:ec2:{EAST}:{ACCOUNT}:instance/{ids['i_bastion']}"
    assert bastion.configuration["metadata_options"]["http_tokens"] == "optional"
    [address] = bastion.configuration["public_ips"]
    assert verdict("ec2_instance_no_public_ip", bastion) == (
        FAIL,
        f"Instance {ids['i_bastion']} has public IPv4 address {address}",
    )
    assert verdict("ec2_instance_imdsv2_required", bastion) == (
        FAIL,
        f"Instance {ids['i_bastion']} still accepts IMDSv1: its metadata options have HttpTokens=optional",
    )
    member = instances[ids["i_asg"]]
    assert member.configuration["auto_scaling_group_tag"] == "web"
    assert member.configuration["public_ips"] == []
    edge = verdict("ec2_instance_no_public_ip", instances[ids["i_edge"]])
    assert edge is not None
    assert "tagged guardian:public=true" in edge[1]

    snapshots = by_type(emitted, SNAPSHOT)
    assert snapshots[ids["snap_bad"]].arn == f"arn:aws:ec2:{EAST}::snapshot/{ids['snap_bad']}"
    assert snapshots[ids["snap_bad"]].configuration["create_volume_permission"] == {"public": True, "shared_with": []}
    assert snapshots[ids["snap_shared"]].configuration["create_volume_permission"] == {
        "public": False,
        "shared_with": [OTHER_ACCOUNT],
    }
    assert verdict("ec2_snapshot_not_public", snapshots[ids["snap_shared"]]) == (
        PASS,
        f"Snapshot {ids['snap_shared']} is not public (shared with account {OTHER_ACCOUNT})",
    )
    image = by_type(emitted, IMAGE)[ids["ami_public"]]
    assert image.arn == f"arn:aws:ec2:{EAST}::image/{ids['ami_public']}"
    [image_snapshot] = image.configuration["snapshot_ids"]
    assert image_snapshot in ids["image_snapshots"]  # moto's copy of the root snapshot

    acl = by_type(emitted, NETWORK_ACL)[ids["acl_open"]]
    assert acl.configuration["entries"] == [
        {
            "rule_number": 100,
            "egress": False,
            "action": "allow",
            "protocol": "tcp",
            "cidr": "0.0.0.0/0",
            "from_port": 22,
            "to_port": 22,
        }
    ]
    result = verdict("ec2_nacl_no_open_admin_ports", acl)
    assert result is not None
    assert "tcp port 22 (SSH) is open to 0.0.0.0/0 by rule 100" in result[1]

    groups = by_type(emitted, GROUP)
    legacy = groups["legacy"].configuration
    assert (legacy["launch_configuration_name"], legacy["launch_template"]) == ("legacy-lc", None)
    assert legacy["load_balancer_names"] == ["web"]
    assert groups["web"].configuration["launch_template"]["name"] == "web"
    assert verdict("autoscaling_group_elb_health_check", groups["legacy"]) == (
        FAIL,
        "Auto Scaling group legacy is attached to a load balancer but its health check type is EC2: instances "
        "failing the load balancer's health check are not replaced",
    )


async def test_denied_joined_reads_make_their_checks_error(moto_server: MotoServer, ids: dict[str, Any]) -> None:
    emitted, outcome = await collect(
        moto_server,
        ["ec2fleet"],
        {
            "before-call.ec2.DescribeSnapshotAttribute": denied(),
            "before-call.auto-scaling.DescribeAutoScalingInstances": denied("AccessDenied"),
        },
    )
    # Only us-east-1 has snapshots and instances without the group tag, so only it reads (and fails).
    assert unit_status(outcome, "ec2fleet", EAST) == UnitStatus.PARTIAL
    assert unit_status(outcome, "ec2fleet", WEST) == UnitStatus.COMPLETE
    snapshots = by_type(emitted, SNAPSHOT)
    assert {ids["snap_good"], ids["snap_shared"], ids["snap_bad"]} <= set(snapshots)
    for snapshot in snapshots.values():
        assert snapshot.configuration["_errors"]["create_volume_permission"].startswith(
            "UnauthorizedOperation on describe_snapshot_attribute"
        )
        assert status("ec2_snapshot_not_public", snapshot) == ERROR
    assert status("ec2_snapshot_encrypted", snapshots[ids["snap_bad"]]) == FAIL

    instances = by_type(emitted, INSTANCE)
    assert status("ec2_instance_in_auto_scaling_group", instances[ids["i_bastion"]]) == ERROR
    assert status("ec2_instance_in_auto_scaling_group", instances[ids["i_edge"]]) == ERROR
    # The group tag and the standalone tag settle membership without the failed read.
    assert status("ec2_instance_in_auto_scaling_group", instances[ids["i_asg"]]) == PASS
    assert status("ec2_instance_in_auto_scaling_group", instances[ids["i_api"]]) == PASS


async def test_denied_listings_fail_their_units(moto_server: MotoServer, ids: dict[str, Any]) -> None:
    emitted, outcome = await collect(
        moto_server,
        SERVICES,
        {
            "before-call.ec2.DescribeInstances": denied(),
            "before-call.auto-scaling.DescribeAutoScalingGroups": denied("AccessDenied"),
            "before-call.dlm.GetLifecyclePolicies": denied("AccessDeniedException"),
        },
    )
    for region in REGIONS:
        for service in SERVICES:
            assert unit_status(outcome, service, region) == UnitStatus.FAILED, (service, region)
        result = verdict("dlm_snapshot_policy_present", contexts(emitted)[region])
        assert result is not None
        assert result[0] == ERROR
        assert "AccessDeniedException on get_lifecycle_policies" in result[1]
    assert by_type(emitted, INSTANCE) == {}
    assert by_type(emitted, GROUP) == {}
    assert by_type(emitted, POLICY) == {}
    # The other EC2 listings still ran to their end.
    assert ids["snap_bad"] in by_type(emitted, SNAPSHOT)
    assert status("ec2_nacl_no_open_admin_ports", by_type(emitted, NETWORK_ACL)[ids["acl_guarded"]]) == PASS


async def test_dlm_without_policies_or_volumes_is_error(moto_server: MotoServer, ids: dict[str, Any]) -> None:
    # No stub: moto has no DLM and answers with an HTML 500 page, so nothing proves a policy exists.
    emitted, outcome = await collect(moto_server, ["dlm"])
    for region in REGIONS:
        assert unit_status(outcome, "dlm", region) == UnitStatus.FAILED
        assert status("dlm_snapshot_policy_present", contexts(emitted)[region]) == ERROR

    # Policies readable but none enabled in eu-west-1, and the volume listing denied: whether the rule
    # applies there is unknown.
    emitted, outcome = await collect(moto_server, ["dlm"], {**DLM_STUB, "before-call.ec2.DescribeVolumes": denied()})
    assert unit_status(outcome, "dlm", WEST) == UnitStatus.PARTIAL
    west = contexts(emitted)[WEST]
    assert west.configuration["_errors"]["dlm_region_has_volumes"].startswith(
        "UnauthorizedOperation on describe_volumes"
    )
    assert status("dlm_snapshot_policy_present", west) == ERROR
    # An enabled policy settles it whatever the volumes.
    assert status("dlm_snapshot_policy_present", contexts(emitted)[EAST]) == PASS
