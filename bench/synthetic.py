"""Synthetic snapshots shaped like the collectors': templates from a real collection, then variations.

``collect_templates()`` seeds a moto server with a small copy of the benchmark environment plus one or
two resources of every other kind moto can serve, runs Guardian's real collectors over it (every
service) and keeps the emitted snapshots, grouped by resource type. ``SnapshotFactory`` then makes
as many snapshots as asked, cycling through the resource types that have checks, each with its own
ARN, name, tags and ``seq``, and (for every other one) the template's boolean settings flipped, so
that both the passing and the failing paths of the checks are taken. Wire bytes are produced exactly
as the collector publishes them (``bus.encode``).

The templates are cached in ``bench/results/snapshot_templates.json`` so that later runs need no
moto server; delete the file to re-collect.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import environment
from guardian_collector.collection import AwsTarget, ClientPool, collect_account
from guardian_collector.collectors.base import Resource
from guardian_common import bus
from guardian_common.events import ResourceSnapshot
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY

RESULTS = Path(__file__).parent / "results"
TEMPLATES = RESULTS / "snapshot_templates.json"


def _try(action: Any, *args: Any, **kwargs: Any) -> Any:
    """Seed what moto supports; a kind moto cannot make is simply missing from the templates."""
    try:
        return action(*args, **kwargs)
    except Exception as exc:  # moto lacks an operation or a parameter: say so, go on
        print(f"  (seeding skipped: {getattr(action, '__name__', action)}: {type(exc).__name__})")
        return None


def seed_extras(url: str) -> None:
    """One or two resources of the kinds the benchmark environment leaves out."""
    c = {
        name: environment._client(url, name)
        for name in [
            "ec2",
            "elbv2",
            "elb",
            "efs",
            "lambda",
            "apigateway",
            "cloudformation",
            "autoscaling",
            "ecs",
            "eks",
            "elasticache",
            "opensearch",
            "redshift",
            "backup",
            "acm",
            "cloudfront",
            "rds",
            "iam",
        ]
    }
    ec2 = c["ec2"]
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    volume = ec2.create_volume(AvailabilityZone=f"{environment.REGION}a", Size=8)["VolumeId"]
    _try(ec2.create_snapshot, VolumeId=volume)
    _try(
        ec2.run_instances,
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        MetadataOptions={"HttpTokens": "optional"},
    )
    instances = ec2.describe_instances().get("Reservations", [])
    if instances:
        _try(ec2.create_image, InstanceId=instances[0]["Instances"][0]["InstanceId"], Name="bench-image")
    lb = _try(c["elbv2"].create_load_balancer, Name="bench-alb", Subnets=subnets, Type="application")
    _try(c["elbv2"].create_target_group, Name="bench-tg", Protocol="HTTP", Port=80, VpcId=vpc)
    if lb is None:
        pass
    _try(
        c["elb"].create_load_balancer,
        LoadBalancerName="bench-clb",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
        AvailabilityZones=[f"{environment.REGION}a"],
    )
    _try(c["efs"].create_file_system, CreationToken="bench-efs", Encrypted=False)
    role = c["iam"].create_role(
        RoleName="bench-lambda",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    _try(
        c["lambda"].create_function,
        FunctionName="bench-fn",
        Runtime="python3.9",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    api = _try(c["apigateway"].create_rest_api, name="bench-api")
    if api:
        root = c["apigateway"].get_resources(restApiId=api["id"])["items"][0]["id"]
        _try(
            c["apigateway"].put_method, restApiId=api["id"], resourceId=root, httpMethod="GET", authorizationType="NONE"
        )
        _try(c["apigateway"].put_integration, restApiId=api["id"], resourceId=root, httpMethod="GET", type="MOCK")
        _try(c["apigateway"].create_deployment, restApiId=api["id"], stageName="prod")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    _try(c["cloudformation"].create_stack, StackName="bench-stack", TemplateBody=json.dumps(template))
    _try(
        c["autoscaling"].create_launch_configuration,
        LaunchConfigurationName="bench-lc",
        ImageId="ami-12c6146b",
        InstanceType="t3.micro",
    )
    _try(
        c["autoscaling"].create_auto_scaling_group,
        AutoScalingGroupName="bench-asg",
        LaunchConfigurationName="bench-lc",
        MinSize=0,
        MaxSize=1,
        AvailabilityZones=[f"{environment.REGION}a"],
    )
    _try(c["ecs"].create_cluster, clusterName="bench-cluster")
    _try(
        c["ecs"].register_task_definition,
        family="bench-task",
        containerDefinitions=[{"name": "app", "image": "nginx", "memory": 128, "privileged": True}],
    )
    _try(c["ecs"].create_service, cluster="bench-cluster", serviceName="bench-svc", taskDefinition="bench-task")
    _try(
        c["eks"].create_cluster,
        name="bench-eks",
        roleArn=role,
        resourcesVpcConfig={"subnetIds": subnets},
    )
    _try(
        c["elasticache"].create_replication_group,
        ReplicationGroupId="bench-redis",
        ReplicationGroupDescription="bench",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
    )
    _try(c["opensearch"].create_domain, DomainName="bench-search")
    _try(
        c["redshift"].create_cluster,
        ClusterIdentifier="bench-dw",
        NodeType="dc2.large",
        MasterUsername="admin",
        MasterUserPassword="Bench-password-1",
    )
    _try(c["backup"].create_backup_vault, BackupVaultName="bench-vault")
    _try(
        c["backup"].create_backup_plan,
        BackupPlan={
            "BackupPlanName": "bench-plan",
            "Rules": [{"RuleName": "daily", "TargetBackupVaultName": "bench-vault"}],
        },
    )
    _try(c["acm"].request_certificate, DomainName="bench.example.com")
    _try(
        c["cloudfront"].create_distribution,
        DistributionConfig={
            "CallerReference": "bench",
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "o",
                        "DomainName": "example.com",
                        "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"},
                    }
                ],
            },
            "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0},
            "Comment": "bench",
            "Enabled": True,
        },
    )
    rds = c["rds"]
    _try(
        rds.create_db_cluster,
        DBClusterIdentifier="bench-aurora",
        Engine="aurora-postgresql",
        MasterUsername="app",
        MasterUserPassword="bench-password-1",
    )
    _try(rds.create_db_cluster_snapshot, DBClusterIdentifier="bench-aurora", DBClusterSnapshotIdentifier="bench-cs")
    _try(rds.create_db_snapshot, DBInstanceIdentifier="bench-db-0000", DBSnapshotIdentifier="bench-snap")
    _try(
        rds.create_db_parameter_group,
        DBParameterGroupName="bench-pg",
        DBParameterGroupFamily="postgres14",
        Description="bench",
    )
    _try(
        rds.create_db_cluster_parameter_group,
        DBClusterParameterGroupName="bench-cpg",
        DBParameterGroupFamily="aurora-postgresql14",
        Description="bench",
    )


async def _collect(url: str) -> list[tuple[Resource, str, str]]:
    emitted: list[tuple[Resource, str, str]] = []

    async def emit(resource: Resource, unit_region: str, service: str) -> None:
        emitted.append((resource, unit_region, service))

    async with ClientPool(AwsTarget(endpoint_url=url, max_attempts=2)) as pool:
        await collect_account(
            pool, account_id=environment.ACCOUNT, regions=[environment.REGION], services=None, emit=emit
        )
    return emitted


def collect_templates() -> dict[str, list[dict[str, Any]]]:
    """Run the real collectors over a seeded moto server; snapshots (as JSON) by resource type."""
    from guardian_testkit.moto import MotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with MotoServer() as moto:
        environment.seed(moto.url, scale=0.02)
        seed_extras(moto.url)
        emitted = asyncio.run(_collect(moto.url))
    by_type: dict[str, list[dict[str, Any]]] = {}
    for seq, (resource, unit_region, service) in enumerate(emitted, start=1):
        snap = to_snapshot(resource, unit_region, service, "template", seq)
        by_type.setdefault(resource.resource_type, []).append(json.loads(snap.model_dump_json()))
    return by_type


def to_snapshot(resource: Resource, unit_region: str, service: str, scan_id: str, seq: int) -> ResourceSnapshot:
    return ResourceSnapshot(
        event_id=ResourceSnapshot.make_id(scan_id, seq),
        scan_id=scan_id,
        seq=seq,
        account_id=environment.ACCOUNT,
        region=resource.region,
        collection_region=unit_region,
        service=service,
        resource_type=resource.resource_type,
        arn=resource.arn,
        name=resource.name,
        tags=resource.tags,
        observed_at=datetime.now(UTC),
        configuration=resource.configuration,
    )


def load_templates(refresh: bool = False) -> dict[str, list[dict[str, Any]]]:
    if TEMPLATES.exists() and not refresh:
        data: dict[str, list[dict[str, Any]]] = json.loads(TEMPLATES.read_text())
        return data
    templates = collect_templates()
    RESULTS.mkdir(parents=True, exist_ok=True)
    TEMPLATES.write_text(json.dumps(templates, indent=1, sort_keys=True))
    return templates


def _flip_booleans(value: Any, rng: random.Random) -> Any:
    """A variation of a configuration: booleans flipped at random (keys and shapes unchanged)."""
    if isinstance(value, bool):
        return not value if rng.random() < 0.5 else value
    if isinstance(value, dict):
        return {k: v if k in ("_errors", "_collected_services") else _flip_booleans(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [_flip_booleans(v, rng) for v in value]
    return value


class SnapshotFactory:
    """Snapshots of every resource type that has checks, round robin, as the collector publishes them."""

    def __init__(self, templates: dict[str, list[dict[str, Any]]], *, seed: int = 7, variants: int = 8) -> None:
        load_all()
        checked = REGISTRY.resource_types()
        self.covered = sorted(t for t in checked if templates.get(t))
        self.missing = sorted(t for t in checked if not templates.get(t))
        rng = random.Random(seed)
        # Per type a few variants (the originals, then flipped copies): decoded shapes stay realistic.
        self._variants: list[dict[str, Any]] = []
        for resource_type in self.covered:
            originals = templates[resource_type]
            for i in range(variants):
                base = copy.deepcopy(originals[i % len(originals)])
                if i >= len(originals):
                    base["configuration"] = _flip_booleans(base["configuration"], rng)
                self._variants.append(base)

    def events(self, count: int, scan_id: str = "bench", start: int = 1) -> Iterator[ResourceSnapshot]:
        n = len(self._variants)
        for k in range(count):
            seq = start + k
            base = self._variants[k % n]
            yield ResourceSnapshot(
                event_id=ResourceSnapshot.make_id(scan_id, seq),
                scan_id=scan_id,
                seq=seq,
                account_id=base["account_id"],
                region=base["region"],
                collection_region=base["collection_region"],
                service=base["service"],
                resource_type=base["resource_type"],
                arn=f"{base['arn']}-{seq}",
                name=f"{base['name']}-{seq}",
                tags={**base["tags"], "bench-seq": str(seq)},
                observed_at=datetime.now(UTC),
                configuration=base["configuration"],
            )

    def wire(self, count: int, scan_id: str = "bench", start: int = 1) -> Iterator[tuple[bytes, dict[str, str]]]:
        """(payload, headers) exactly as the collector publishes each snapshot."""
        for event in self.events(count, scan_id, start):
            payload, headers = bus.encode(event)
            headers.update(bus.resource_headers(event))
            yield payload, headers
