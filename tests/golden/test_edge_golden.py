"""Golden test: the entry points of a service (Classic and v2 load balancers, target groups, ACM
certificates, CloudFront distributions, API Gateway stages) and its availability monitoring (Route 53
health checks, Synthetics canaries), seeded in moto, collected by the real collectors and judged by
the real checks.

Every check is shown PASS on a good resource and FAIL on a bad one; the status of every check on every
resource the collectors emit is asserted exactly. moto is seeded once for the module; each test runs its
own collection, some with injected faults.

What moto lacks, and how this module makes up for it:

- CloudFront: moto drops ``OriginAccessControlId`` and ``S3OriginConfig`` from the origins it returns.
  GetDistributionConfig of the one distribution that uses origin access control is answered by a
  botocore ``before-call`` handler with moto's own answer plus those two origin settings, validated
  against botocore's CloudFront model first (as botocore's Stubber does). The other distributions are
  answered by moto.
- Synthetics: moto cannot start a canary (they stay READY). The test of the canary path answers
  DescribeCanaries in eu-west-1 with a model-validated response holding a RUNNING canary.
- Faults (access denied) are injected with ``before-call`` handlers answering an AWS error, which
  aiobotocore turns into the ``ClientError`` a real denial raises.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from golden_support import (
    ACCOUNT,
    Emitted,
    Handler,
    Shortcut,
    by_arn,
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

EAST = "us-east-1"
WEST = "eu-west-1"
REGIONS = [EAST, WEST]
SERVICES = ["elb", "elbv2", "acm", "cloudfront", "apigateway", "route53"]

CLASSIC = "AWS::ElasticLoadBalancing::LoadBalancer"
V2 = "AWS::ElasticLoadBalancingV2::LoadBalancer"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
CERTIFICATE = "AWS::CertificateManager::Certificate"
DISTRIBUTION = "AWS::CloudFront::Distribution"
STAGE = "AWS::ApiGateway::Stage"
HEALTH_CHECK = "AWS::Route53::HealthCheck"
JUDGED_TYPES = (CLASSIC, V2, TARGET_GROUP, CERTIFICATE, DISTRIBUTION, STAGE)

GOOD_TLS = "ELBSecurityPolicy-TLS13-1-2-2021-06"
OLD_TLS = "ELBSecurityPolicy-2016-08"
WAF_EDGE = f"arn:aws:wafv2:{EAST}:{ACCOUNT}:global/webacl/edge/0d7c1c52-0000-4000-8000-000000000001"
LOG_ROLE = f"arn:aws:iam::{ACCOUNT}:role/apigateway-cloudwatch"
LOG_GROUP = f"arn:aws:logs:{EAST}:{ACCOUNT}:log-group:api-access"
CACHE_POLICY = "658327ea-f89d-4fab-a63d-7e88639e58f6"

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR

load_all()


# --- moto, collection and verdict helpers --------------------------------------------------


collect = collector(regions=REGIONS)
"""The real collectors against moto; ``handlers`` answer chosen operations instead of moto."""


def actual_statuses(emitted: Emitted) -> Expected:
    """(resource ARN, check id) -> status for every check on every judged resource."""
    return judged(emitted, JUDGED_TYPES, key=by_arn)


def validated(service: str, operation: str, response: dict[str, Any]) -> dict[str, Any]:
    """A response checked against botocore's model of the operation's output, as Stubber does."""
    return with_metadata(model_checked(service, operation, response))


def denied(code: str = "AccessDenied") -> Handler:
    return fixed(refusal(code, "User is not authorized to perform this operation", metadata=True))


def distribution_config_stub(distribution_id: str, response: dict[str, Any]) -> Handler:
    """Answer GetDistributionConfig for one distribution; let moto answer the others."""
    parsed = validated("cloudfront", "GetDistributionConfig", response)

    def answer(params: dict[str, Any], **_: Any) -> Shortcut | None:
        if f"/distribution/{distribution_id}/" not in str(params.get("url_path", "")):
            return None
        return short_circuit((200, parsed))

    return answer


def canaries_stub(region: str, canaries: list[dict[str, Any]]) -> Handler:
    parsed = validated("synthetics", "DescribeCanaries", {"Canaries": canaries})
    empty = validated("synthetics", "DescribeCanaries", {"Canaries": []})

    def answer(context: dict[str, Any], **_: Any) -> Shortcut:
        return short_circuit((200, parsed if context.get("client_region") == region else empty))

    return answer


# --- seeding -------------------------------------------------------------------------------


def certificate(domain: str, bits: int, days: int) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return pem, private


def distribution_config(reference: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "CallerReference": reference,
        "Comment": reference,
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "site",
                    "DomainName": f"{reference}.s3.us-east-1.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "site",
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": CACHE_POLICY,
        },
    }
    config.update(overrides)
    return config


def seed(moto: MotoServer) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    ec2 = moto.client("ec2", EAST)
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"] for s in subnets}
    two = [by_zone[f"{EAST}a"], by_zone[f"{EAST}b"]]
    vpc = subnets[0]["VpcId"]

    # Certificates: a sound imported one, a weak one about to lapse, one awaiting validation.
    acm = moto.client("acm", EAST)
    good_pem, good_key = certificate("www.example.com", 2048, 365)
    weak_pem, weak_key = certificate("legacy.example.com", 1024, 10)
    ids["cert_good"] = acm.import_certificate(Certificate=good_pem, PrivateKey=good_key)["CertificateArn"]
    ids["cert_weak"] = acm.import_certificate(Certificate=weak_pem, PrivateKey=weak_key)["CertificateArn"]
    ids["cert_pending"] = acm.request_certificate(DomainName="new.example.com", ValidationMethod="DNS")[
        "CertificateArn"
    ]

    # Classic Load Balancers.
    elb = moto.client("elb", EAST)
    elb.create_load_balancer(
        LoadBalancerName="classic-good",
        Listeners=[
            {
                "Protocol": "HTTPS",
                "LoadBalancerPort": 443,
                "InstanceProtocol": "HTTP",
                "InstancePort": 80,
                "SSLCertificateId": ids["cert_good"],
            }
        ],
        AvailabilityZones=[f"{EAST}a", f"{EAST}b"],
        Scheme="internet-facing",
    )
    elb.create_load_balancer(
        LoadBalancerName="classic-bad",
        Listeners=[
            {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80},
            {
                "Protocol": "HTTPS",
                "LoadBalancerPort": 443,
                "InstanceProtocol": "HTTP",
                "InstancePort": 80,
                "SSLCertificateId": ids["cert_weak"],
            },
        ],
        AvailabilityZones=[f"{EAST}a"],
        Scheme="internet-facing",
    )
    for name, reference in (("classic-good", "ELBSecurityPolicy-TLS-1-2-2017-01"), ("classic-bad", OLD_TLS)):
        elb.create_load_balancer_policy(
            LoadBalancerName=name,
            PolicyName="tls",
            PolicyTypeName="SSLNegotiationPolicyType",
            PolicyAttributes=[{"AttributeName": "Reference-Security-Policy", "AttributeValue": reference}],
        )
        elb.set_load_balancer_policies_of_listener(LoadBalancerName=name, LoadBalancerPort=443, PolicyNames=["tls"])
    elb.modify_load_balancer_attributes(
        LoadBalancerName="classic-good",
        LoadBalancerAttributes={
            "AccessLog": {"Enabled": True, "S3BucketName": "lb-logs", "EmitInterval": 5},
            "CrossZoneLoadBalancing": {"Enabled": True},
        },
    )

    # Application and Network Load Balancers with their target groups.
    v2 = moto.client("elbv2", EAST)
    good = v2.create_load_balancer(Name="alb-good", Subnets=two, Scheme="internet-facing", Type="application")
    bad = v2.create_load_balancer(Name="alb-bad", Subnets=two, Scheme="internet-facing", Type="application")
    single = v2.create_load_balancer(Name="nlb-single", Subnets=two[:1], Scheme="internal", Type="network")
    ids["alb_good"] = good["LoadBalancers"][0]["LoadBalancerArn"]
    ids["alb_bad"] = bad["LoadBalancers"][0]["LoadBalancerArn"]
    ids["nlb_single"] = single["LoadBalancers"][0]["LoadBalancerArn"]
    ids["tg_good"] = v2.create_target_group(Name="tg-good", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    ids["tg_unchecked"] = v2.create_target_group(Name="tg-unchecked", Protocol="HTTP", Port=80, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    # moto ignores HealthCheckEnabled=False on creation; modifying the group afterwards works.
    v2.modify_target_group(TargetGroupArn=ids["tg_unchecked"], HealthCheckEnabled=False)
    ids["tg_idle"] = v2.create_target_group(Name="tg-idle", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    ids["tg_tcp"] = v2.create_target_group(Name="tg-tcp", Protocol="TCP", Port=443, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    forward = {"good": ids["tg_good"], "bad": ids["tg_unchecked"]}
    for key, policy in (("good", GOOD_TLS), ("bad", OLD_TLS)):
        arn = ids[f"alb_{key}"]
        v2.create_listener(
            LoadBalancerArn=arn,
            Protocol="HTTPS",
            Port=443,
            SslPolicy=policy,
            Certificates=[{"CertificateArn": ids["cert_good"]}],
            DefaultActions=[{"Type": "forward", "TargetGroupArn": forward[key]}],
        )
    v2.create_listener(
        LoadBalancerArn=ids["alb_good"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
        ],
    )
    v2.create_listener(
        LoadBalancerArn=ids["alb_bad"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": ids["tg_unchecked"]}],
    )
    v2.create_listener(
        LoadBalancerArn=ids["nlb_single"],
        Protocol="TLS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-FS-1-2-Res-2020-10",
        Certificates=[{"CertificateArn": ids["cert_good"]}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": ids["tg_tcp"]}],
    )
    v2.modify_load_balancer_attributes(
        LoadBalancerArn=ids["alb_good"],
        Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": "lb-logs"},
            {"Key": "deletion_protection.enabled", "Value": "true"},
            {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
        ],
    )

    # CloudFront: a well-configured distribution, a careless one, one logging through CloudWatch Logs.
    cloudfront = moto.client("cloudfront", EAST)
    good_config = distribution_config(
        "shop",
        ViewerCertificate={
            "CloudFrontDefaultCertificate": False,
            "ACMCertificateArn": ids["cert_good"],
            "SSLSupportMethod": "sni-only",
            "MinimumProtocolVersion": "TLSv1.2_2021",
        },
        Logging={"Enabled": True, "IncludeCookies": False, "Bucket": "cf-logs.s3.amazonaws.com", "Prefix": "shop/"},
        WebACLId=WAF_EDGE,
    )
    ids["cf_good"] = cloudfront.create_distribution(DistributionConfig=good_config)["Distribution"]["Id"]
    ids["cf_bad"] = cloudfront.create_distribution(
        DistributionConfig=distribution_config(
            "blog",
            DefaultCacheBehavior={
                "TargetOriginId": "site",
                "ViewerProtocolPolicy": "allow-all",
                "CachePolicyId": CACHE_POLICY,
            },
        )
    )["Distribution"]["Id"]
    v2_logged = cloudfront.create_distribution(
        DistributionConfig=distribution_config(
            "docs",
            Origins={
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "site",
                        "DomainName": "docs.example.com",
                        "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"},
                    }
                ],
            },
        )
    )["Distribution"]
    ids["cf_docs"] = v2_logged["Id"]
    logs = moto.client("logs", EAST)
    logs.put_delivery_source(name="docs-access", resourceArn=v2_logged["ARN"], logType="ACCESS_LOGS")
    destination = logs.put_delivery_destination(
        name="cf-logs", deliveryDestinationConfiguration={"destinationResourceArn": "arn:aws:s3:::cf-logs"}
    )["deliveryDestination"]["arn"]
    logs.create_delivery(deliverySourceName="docs-access", deliveryDestinationArn=destination)
    # moto's own answer for the good distribution, with the origin access control it drops put back.
    answer = cloudfront.get_distribution_config(Id=ids["cf_good"])
    config = answer["DistributionConfig"]
    config["Origins"]["Items"][0].update(
        S3OriginConfig={"OriginAccessIdentity": ""}, OriginAccessControlId="E2OACGOLDEN"
    )
    ids["cf_good_config"] = {"DistributionConfig": config, "ETag": answer["ETag"]}

    # API Gateway: one stage with everything on, one with nothing, one caching in clear.
    apigateway = moto.client("apigateway", EAST)
    apigateway.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": LOG_ROLE}])
    for name in ("orders", "legacy"):
        api = apigateway.create_rest_api(name=name)["id"]
        ids[f"api_{name}"] = api
        root = apigateway.get_resources(restApiId=api)["items"][0]["id"]
        apigateway.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
        apigateway.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
        ids[f"deployment_{name}"] = apigateway.create_deployment(restApiId=api)["id"]
    apigateway.create_stage(
        restApiId=ids["api_orders"],
        stageName="prod",
        deploymentId=ids["deployment_orders"],
        cacheClusterEnabled=True,
        cacheClusterSize="0.5",
    )
    apigateway.update_stage(
        restApiId=ids["api_orders"],
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"},
            {"op": "replace", "path": "/*/*/caching/enabled", "value": "true"},
            {"op": "replace", "path": "/*/*/caching/dataEncrypted", "value": "true"},
            {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": LOG_GROUP},
            {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId"},
        ],
    )
    apigateway.create_stage(restApiId=ids["api_legacy"], stageName="dev", deploymentId=ids["deployment_legacy"])
    apigateway.create_stage(
        restApiId=ids["api_legacy"],
        stageName="beta",
        deploymentId=ids["deployment_legacy"],
        cacheClusterEnabled=True,
        cacheClusterSize="0.5",
    )
    apigateway.update_stage(
        restApiId=ids["api_legacy"],
        stageName="beta",
        # moto turns cache encryption on by default (AWS leaves it off), so it is switched off explicitly.
        patchOperations=[
            {"op": "replace", "path": "/*/*/caching/enabled", "value": "true"},
            {"op": "replace", "path": "/*/*/caching/dataEncrypted", "value": "false"},
        ],
    )
    waf = moto.client("wafv2", EAST)
    web_acl = waf.create_web_acl(
        Name="api",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "api"},
    )["Summary"]["ARN"]
    waf.associate_web_acl(
        WebACLArn=web_acl, ResourceArn=f"arn:aws:apigateway:{EAST}::/restapis/{ids['api_orders']}/stages/prod"
    )
    ids["web_acl_api"] = web_acl

    # Availability monitoring: one health check; a canary moto can create but not start.
    route53 = moto.client("route53", EAST)
    ids["health_check"] = route53.create_health_check(
        CallerReference="golden",
        HealthCheckConfig={
            "Type": "HTTPS",
            "FullyQualifiedDomainName": "www.example.com",
            "Port": 443,
            "ResourcePath": "/health",
        },
    )["HealthCheck"]["Id"]
    moto.client("synthetics", EAST).create_canary(
        Name="home",
        Code={"Handler": "index.handler", "S3Bucket": "canaries", "S3Key": "home.zip"},
        ArtifactS3Location="s3://canaries/results",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/canary",
        Schedule={"Expression": "rate(5 minutes)"},
        RuntimeVersion="syn-nodejs-puppeteer-9.0",
    )
    return ids


ids = seeded_once(seed)
"""What ``seed`` made, once for the module; the tests only read it."""


def cloudfront_stub(ids: dict[str, Any]) -> dict[str, Handler]:
    return {
        "before-call.cloudfront.GetDistributionConfig": distribution_config_stub(ids["cf_good"], ids["cf_good_config"])
    }


def stage_arn(ids: dict[str, Any], api: str, stage: str) -> str:
    return f"arn:aws:apigateway:{EAST}::/restapis/{ids[f'api_{api}']}/stages/{stage}"


def distribution_arn(ids: dict[str, Any], key: str) -> str:
    return f"arn:aws:cloudfront::{ACCOUNT}:distribution/{ids[key]}"


# --- the golden expectations ---------------------------------------------------------------

CLASSIC_CHECKS = (
    "elb_listeners_encrypted",
    "elb_tls_policy_current",
    "elb_access_logs_enabled",
    "elb_multi_az_cross_zone",
)
V2_CHECKS = (
    "elbv2_listeners_encrypted",
    "elbv2_tls_policy_current",
    "elbv2_access_logs_enabled",
    "elbv2_deletion_protection",
    "elbv2_multi_az",
    "elbv2_alb_drop_invalid_headers",
)
CERTIFICATE_CHECKS = ("acm_certificate_not_expiring", "acm_certificate_strong_key")
DISTRIBUTION_CHECKS = (
    "cloudfront_viewer_https_only",
    "cloudfront_tls_minimum_version",
    "cloudfront_logging_enabled",
    "cloudfront_waf_enabled",
    "cloudfront_s3_origin_access_control",
)
STAGE_CHECKS = (
    "apigateway_stage_access_logging",
    "apigateway_stage_execution_logging",
    "apigateway_stage_waf",
    "apigateway_stage_cache_encrypted",
)


def expected_statuses(ids: dict[str, Any]) -> Expected:
    expected: Expected = {}

    def add(arn: str, checks: tuple[str, ...], statuses: tuple[Status | None, ...]) -> None:
        expected.update({(arn, c): s for c, s in zip(checks, statuses, strict=True)})

    classic = f"arn:aws:elasticloadbalancing:{EAST}:{ACCOUNT}:loadbalancer/"
    add(classic + "classic-good", CLASSIC_CHECKS, (PASS, PASS, PASS, PASS))
    add(classic + "classic-bad", CLASSIC_CHECKS, (FAIL, FAIL, FAIL, FAIL))
    add(ids["alb_good"], V2_CHECKS, (PASS, PASS, PASS, PASS, PASS, PASS))
    add(ids["alb_bad"], V2_CHECKS, (FAIL, FAIL, FAIL, FAIL, PASS, FAIL))
    # Internal Network Load Balancer in one zone: listeners not judged, TLS policy current.
    add(ids["nlb_single"], V2_CHECKS, (None, PASS, FAIL, FAIL, FAIL, None))
    expected[(ids["tg_good"], "elbv2_target_group_health_check")] = PASS
    expected[(ids["tg_unchecked"], "elbv2_target_group_health_check")] = FAIL
    expected[(ids["tg_idle"], "elbv2_target_group_health_check")] = None
    expected[(ids["tg_tcp"], "elbv2_target_group_health_check")] = PASS
    add(ids["cert_good"], CERTIFICATE_CHECKS, (PASS, PASS))
    add(ids["cert_weak"], CERTIFICATE_CHECKS, (FAIL, FAIL))
    add(ids["cert_pending"], CERTIFICATE_CHECKS, (None, PASS))
    add(distribution_arn(ids, "cf_good"), DISTRIBUTION_CHECKS, (PASS, PASS, PASS, PASS, PASS))
    add(distribution_arn(ids, "cf_bad"), DISTRIBUTION_CHECKS, (FAIL, FAIL, FAIL, FAIL, FAIL))
    add(distribution_arn(ids, "cf_docs"), DISTRIBUTION_CHECKS, (PASS, FAIL, PASS, FAIL, None))
    add(stage_arn(ids, "orders", "prod"), STAGE_CHECKS, (PASS, PASS, PASS, PASS))
    add(stage_arn(ids, "legacy", "dev"), STAGE_CHECKS, (FAIL, FAIL, FAIL, None))
    add(stage_arn(ids, "legacy", "beta"), STAGE_CHECKS, (FAIL, FAIL, FAIL, FAIL))
    return expected


# --- tests ---------------------------------------------------------------------------------


async def test_every_check_on_every_resource(moto_server: MotoServer, ids: dict[str, Any]) -> None:
    emitted, outcome = await collect(moto_server, SERVICES, cloudfront_stub(ids))

    for unit in outcome.units:
        assert unit.status == UnitStatus.COMPLETE, (unit.service, unit.region, unit.first_error)
    assert actual_statuses(emitted) == expected_statuses(ids)

    health_checks = by_type(emitted, HEALTH_CHECK)
    assert set(health_checks) == {ids["health_check"]}
    assert health_checks[ids["health_check"]].configuration["fqdn"] == "www.example.com"
    ctx = contexts(emitted)["global"]
    assert verdict("route53_health_checks_present", ctx) == (
        PASS,
        f"The account has 1 availability monitor: health check {ids['health_check']}",
    )
    # moto's canary never runs, so it is listed but not counted.
    assert ctx.configuration["synthetics_canaries"] == [{"name": "home", "region": EAST, "state": "READY"}]
    kinds = sorted((e["kind"], e["name"]) for e in ctx.configuration["public_endpoints"])
    assert kinds == sorted(
        [
            ("elb", "classic-good"),
            ("elb", "classic-bad"),
            ("elbv2:application", "alb-good"),
            ("elbv2:application", "alb-bad"),
            ("cloudfront", ids["cf_good"]),
            ("cloudfront", ids["cf_bad"]),
            ("cloudfront", ids["cf_docs"]),
        ]
    )
    assert status("route53_health_checks_present", ctx) == PASS
    assert status("route53_health_checks_present", contexts(emitted)[EAST]) is None


async def test_reasons_and_configuration_shapes(moto_server: MotoServer, ids: dict[str, Any]) -> None:
    emitted, _ = await collect(moto_server, SERVICES, cloudfront_stub(ids))
    classic = by_type(emitted, CLASSIC)
    assert classic["classic-bad"].configuration["ssl_policies"] == {"tls": {"reference": OLD_TLS, "protocols": []}}
    assert verdict("elb_listeners_encrypted", classic["classic-bad"]) == (
        FAIL,
        "Classic load balancer classic-bad (internet-facing) accepts unencrypted HTTP on port 80",
    )
    assert classic["classic-good"].configuration["access_log"] == {"enabled": True, "bucket": "lb-logs"}

    balancers = by_arn(emitted, V2)
    bad = balancers[ids["alb_bad"]]
    assert bad.configuration["http_listener_actions"] == {"80": [{"type": "forward", "redirect_protocol": None}]}
    assert [(li["protocol"], li["port"], li["ssl_policy"]) for li in bad.configuration["listeners"]] == [
        ("HTTP", 80, None),
        ("HTTPS", 443, OLD_TLS),
    ]
    assert verdict("elbv2_listeners_encrypted", bad) == (
        FAIL,
        "Application load balancer alb-bad (internet-facing) serves unencrypted HTTP: the HTTP listener on port 80 "
        "has rules that forward without TLS",
    )
    result = verdict("elbv2_access_logs_enabled", bad)
    assert result is not None
    assert "access_logs.s3.enabled is absent, which AWS reads as false" in result[1]

    certificates = by_arn(emitted, CERTIFICATE)
    weak = certificates[ids["cert_weak"]]
    assert (weak.name, weak.configuration["key_algorithm"], weak.configuration["type"]) == (
        "legacy.example.com",
        "RSA_1024",
        "IMPORTED",
    )
    result = verdict("acm_certificate_not_expiring", weak)
    assert result is not None
    assert result[1].startswith("Certificate legacy.example.com (imported) expires in ")
    assert verdict("acm_certificate_strong_key", weak) == (
        FAIL,
        "Certificate legacy.example.com (imported) uses an RSA 1024-bit key, below the 2048-bit minimum",
    )

    distributions = by_type(emitted, DISTRIBUTION)
    good = distributions[ids["cf_good"]]
    assert good.region == "global"
    [origin] = good.configuration["origins"]
    assert (origin["kind"], origin["origin_access_control_id"]) == ("s3", "E2OACGOLDEN")
    docs = distributions[ids["cf_docs"]]
    [delivery] = docs.configuration["log_deliveries"]
    assert (delivery["destination_type"], delivery["log_type"]) == ("S3", "ACCESS_LOGS")
    careless = verdict("cloudfront_viewer_https_only", distributions[ids["cf_bad"]])
    assert careless is not None
    assert careless[1].endswith("serves viewers over plain HTTP: the default behaviour uses allow-all")

    stages = by_arn(emitted, STAGE)
    prod = stages[stage_arn(ids, "orders", "prod")].configuration
    assert (prod["web_acl_arn"], prod["account_cloudwatch_role_arn"]) == (ids["web_acl_api"], LOG_ROLE)
    assert prod["method_settings"]["*/*"]["logging_level"] == "INFO"
    assert verdict("apigateway_stage_cache_encrypted", stages[stage_arn(ids, "legacy", "beta")]) == (
        FAIL,
        f"Stage beta of API legacy ({ids['api_legacy']}) caches responses without encryption for */*",
    )


async def test_denied_detail_reads_are_errors(moto_server: MotoServer, ids: dict[str, Any]) -> None:
    emitted, outcome = await collect(
        moto_server,
        SERVICES,
        {
            "before-call.elastic-load-balancing.DescribeLoadBalancerAttributes": denied(),
            "before-call.elastic-load-balancing-v2.DescribeListeners": denied(),
            "before-call.acm.DescribeCertificate": denied("AccessDeniedException"),
            "before-call.cloudfront.GetDistributionConfig": denied(),
            "before-call.api-gateway.GetAccount": denied("AccessDeniedException"),
        },
    )
    for service in ("elb", "elbv2", "acm", "apigateway"):
        assert unit_status(outcome, service, EAST) == UnitStatus.PARTIAL, service
    assert unit_status(outcome, "cloudfront", "global") == UnitStatus.PARTIAL

    classic = by_type(emitted, CLASSIC)["classic-good"]
    assert classic.configuration["_errors"]["access_log"].startswith(
        "AccessDenied on describe_load_balancer_attributes"
    )
    assert status("elb_access_logs_enabled", classic) == ERROR
    assert status("elb_multi_az_cross_zone", classic) == ERROR
    assert status("elb_listeners_encrypted", classic) == PASS  # read from the listing itself
    alb = by_arn(emitted, V2)[ids["alb_good"]]
    assert status("elbv2_listeners_encrypted", alb) == ERROR
    assert status("elbv2_tls_policy_current", alb) == ERROR
    assert status("elbv2_deletion_protection", alb) == PASS
    for certificate in by_arn(emitted, CERTIFICATE).values():
        for check_id in CERTIFICATE_CHECKS:
            assert status(check_id, certificate) == ERROR, (certificate.name, check_id)
    for distribution in by_type(emitted, DISTRIBUTION).values():
        for check_id in DISTRIBUTION_CHECKS:
            assert status(check_id, distribution) == ERROR, (distribution.name, check_id)
    prod = by_arn(emitted, STAGE)[stage_arn(ids, "orders", "prod")]
    assert status("apigateway_stage_execution_logging", prod) == ERROR
    assert status("apigateway_stage_access_logging", prod) == PASS


async def test_denied_listings_fail_their_units(moto_server: MotoServer, ids: dict[str, Any]) -> None:
    emitted, outcome = await collect(
        moto_server,
        SERVICES,
        {
            "before-call.elastic-load-balancing.DescribeLoadBalancers": denied(),
            "before-call.elastic-load-balancing-v2.DescribeTargetGroups": denied(),
            "before-call.acm.ListCertificates": denied("AccessDeniedException"),
            "before-call.cloudfront.ListDistributions": denied(),
            "before-call.api-gateway.GetStages": denied("AccessDeniedException"),
            "before-call.route-53.ListHealthChecks": denied(),
        },
    )
    for service in ("elb", "elbv2", "acm"):
        for region in REGIONS:
            assert unit_status(outcome, service, region) == UnitStatus.FAILED, (service, region)
    assert unit_status(outcome, "cloudfront", "global") == UnitStatus.FAILED
    assert unit_status(outcome, "route53", "global") == UnitStatus.FAILED
    # Stages of an API whose stages cannot be listed are not emitted: the unit is PARTIAL, so they go stale.
    assert unit_status(outcome, "apigateway", EAST) == UnitStatus.PARTIAL
    for resource_type in (CLASSIC, TARGET_GROUP, CERTIFICATE, DISTRIBUTION, STAGE, HEALTH_CHECK):
        assert by_type(emitted, resource_type) == {}, resource_type
    # The load balancers themselves were still listed and judged.
    assert status("elbv2_deletion_protection", by_arn(emitted, V2)[ids["alb_good"]]) == PASS

    ctx = contexts(emitted)["global"]
    errors = ctx.configuration["_errors"]
    assert errors["route53_health_checks"].startswith("AccessDenied on list_health_checks")
    assert "AccessDenied on list_distributions" in errors["public_endpoints"]
    assert "AccessDenied on describe_load_balancers" in errors["public_endpoints"]
    result = verdict("route53_health_checks_present", ctx)
    assert result is not None
    assert result[0] == ERROR
    assert "Whether any health check or canary exists is unknown" in result[1]


async def test_a_running_canary_counts_and_none_at_all_fails(moto_server: MotoServer, ids: dict[str, Any]) -> None:
    # moto cannot run canaries: DescribeCanaries is answered with a model-validated RUNNING canary in eu-west-1.
    canary = {
        "Name": "checkout",
        "Status": {"State": "RUNNING"},
        "Schedule": {"Expression": "rate(1 minute)"},
        "RuntimeVersion": "syn-nodejs-puppeteer-9.0",
    }
    emitted, outcome = await collect(
        moto_server,
        ["route53"],
        {
            "before-call.synthetics.DescribeCanaries": canaries_stub(WEST, [canary]),
            "before-call.route-53.ListHealthChecks": denied(),
        },
    )
    assert unit_status(outcome, "route53", "global") == UnitStatus.FAILED
    # The health checks are unknown, but a running canary already satisfies the rule.
    assert verdict("route53_health_checks_present", contexts(emitted)["global"]) == (
        PASS,
        f"The account has 1 availability monitor: canary checkout ({WEST})",
    )

    # Without the health check (and with moto's canary that never runs) the public endpoints are unwatched.
    route53 = moto_server.client("route53", EAST)
    route53.delete_health_check(HealthCheckId=ids["health_check"])
    try:
        emitted, outcome = await collect(moto_server, ["route53"])
    finally:
        ids["health_check"] = route53.create_health_check(
            CallerReference="golden-again",
            HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": "www.example.com", "Port": 443},
        )["HealthCheck"]["Id"]
    assert unit_status(outcome, "route53", "global") == UnitStatus.COMPLETE
    result = verdict("route53_health_checks_present", contexts(emitted)["global"])
    assert result is not None
    assert result[0] == FAIL
    assert result[1].startswith("The account has 7 public endpoints (")
    assert result[1].endswith("but no enabled Route 53 health check and no running Synthetics canary")
