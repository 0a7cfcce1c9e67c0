"""ACM, CloudFront, API Gateway and Route 53 availability-monitoring checks on collector-shaped
configurations."""

from __future__ import annotations

from typing import Any

import pytest

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "123456789012"
PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
NOW = "2024-06-01T00:00:00+00:00"


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


# --- ACM -----------------------------------------------------------------------------------


def certificate(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "domain_name": "example.com",
        "status": "ISSUED",
        "type": "AMAZON_ISSUED",
        "key_algorithm": "RSA_2048",
        "not_before": "2024-01-01T00:00:00+00:00",
        "not_after": "2025-01-01T00:00:00+00:00",
        "in_use_by": [],
        "renewal_eligibility": "ELIGIBLE",
        "renewal_status": None,
        "subject_alternative_names": ["example.com"],
    }
    config.update(overrides)
    return snap("AWS::CertificateManager::Certificate", config, name="example.com")


def test_certificate_expiry() -> None:
    assert run("acm_certificate_not_expiring", certificate(), now=NOW) == (
        PASS,
        "Certificate example.com (amazon-issued) is valid until 2025-01-01 (214 days left)",
    )
    soon = certificate(not_after="2024-06-20T00:00:00+00:00", renewal_status="PENDING_VALIDATION", in_use_by=["lb"])
    assert run("acm_certificate_not_expiring", soon, now=NOW) == (
        FAIL,
        "Certificate example.com (amazon-issued) expires in 19 day(s), on 2024-06-20, inside the 30-day window; "
        "renewal status PENDING_VALIDATION; used by 1 resource(s)",
    )
    assert status("acm_certificate_not_expiring", soon, now=NOW, days_before_expiry=10) == PASS
    unused = certificate(not_after="2024-06-20T00:00:00+00:00")
    assert status("acm_certificate_not_expiring", unused, now=NOW) == FAIL
    assert status("acm_certificate_not_expiring", unused, now=NOW, ignore_unused=True) is None
    assert status("acm_certificate_not_expiring", soon, now=NOW, ignore_unused=True) == FAIL
    usage_unknown = certificate(in_use_by=None, _errors={"in_use_by": "AccessDeniedException"})
    assert status("acm_certificate_not_expiring", usage_unknown, now=NOW, ignore_unused=True) == ERROR
    expired = certificate(status="EXPIRED", not_after="2024-05-01T00:00:00+00:00")
    assert run("acm_certificate_not_expiring", expired, now=NOW) == (
        FAIL,
        "Certificate example.com (amazon-issued) expired on 2024-05-01",
    )
    lapsed_but_issued = certificate(not_after="2024-05-31T00:00:00Z")
    assert status("acm_certificate_not_expiring", lapsed_but_issued, now=NOW) == FAIL


def test_certificate_expiry_applicability_and_errors() -> None:
    assert status("acm_certificate_not_expiring", certificate(status="PENDING_VALIDATION"), now=NOW) is None
    assert status("acm_certificate_not_expiring", certificate(not_after=None), now=NOW) == ERROR
    assert status("acm_certificate_not_expiring", certificate(not_after="soon"), now=NOW) == ERROR
    denied = certificate(status=None, _errors={"status": "AccessDeniedException on describe_certificate: no"})
    assert status("acm_certificate_not_expiring", denied, now=NOW) == ERROR
    # Without a pinned time the wall clock is used: a date far in the past has certainly passed.
    assert status("acm_certificate_not_expiring", certificate(not_after="2001-01-01T00:00:00+00:00")) == FAIL


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("RSA_2048", PASS),
        ("RSA-4096", PASS),
        ("EC_prime256v1", PASS),
        ("EC_secp384r1", PASS),
        ("RSA_1024", FAIL),
        ("EC_brainpool", FAIL),
        ("DSA_1024", ERROR),
        (None, ERROR),
    ],
)
def test_certificate_key(algorithm: str | None, expected: Status) -> None:
    assert status("acm_certificate_strong_key", certificate(key_algorithm=algorithm)) == expected


def test_certificate_key_reason_and_applicability() -> None:
    assert run("acm_certificate_strong_key", certificate(key_algorithm="RSA_1024")) == (
        FAIL,
        "Certificate example.com (amazon-issued) uses an RSA 1024-bit key, below the 2048-bit minimum",
    )
    assert status("acm_certificate_strong_key", certificate(key_algorithm="RSA_2048"), min_rsa_bits=3072) == FAIL
    assert status("acm_certificate_strong_key", certificate(status="FAILED", key_algorithm="RSA_1024")) is None


# --- CloudFront ----------------------------------------------------------------------------


def distribution(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "id": "E1",
        "domain_name": "d1.cloudfront.net",
        "status": "Deployed",
        "enabled": True,
        "aliases": ["www.example.com"],
        "viewer_protocol_policies": [
            {"path": "default", "policy": "redirect-to-https"},
            {"path": "/api/*", "policy": "https-only"},
        ],
        "viewer_certificate": {
            "default_certificate": False,
            "minimum_protocol_version": "TLSv1.2_2021",
            "ssl_support_method": "sni-only",
            "acm_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/1",
            "iam_certificate_id": None,
        },
        "logging": {"enabled": True, "bucket": "logs.s3.amazonaws.com", "prefix": "cf/"},
        "log_deliveries": [],
        "web_acl_id": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/edge/1",
        "origins": [
            {
                "id": "site",
                "domain_name": "site.s3.us-east-1.amazonaws.com",
                "kind": "s3",
                "origin_access_control_id": "E2OAC",
                "origin_access_identity": None,
                "origin_protocol_policy": None,
            }
        ],
    }
    config.update(overrides)
    return snap("AWS::CloudFront::Distribution", config, name="E1", region="global")


def test_cloudfront_viewer_protocol() -> None:
    assert status("cloudfront_viewer_https_only", distribution()) == PASS
    mixed = distribution(
        viewer_protocol_policies=[
            {"path": "default", "policy": "redirect-to-https"},
            {"path": "/img/*", "policy": "allow-all"},
        ]
    )
    assert run("cloudfront_viewer_https_only", mixed) == (
        FAIL,
        "Distribution E1 (d1.cloudfront.net) serves viewers over plain HTTP: path /img/* uses allow-all",
    )
    assert status("cloudfront_viewer_https_only", distribution(viewer_protocol_policies=[])) == ERROR
    denied = distribution(viewer_protocol_policies=None, _errors={"viewer_protocol_policies": "AccessDenied"})
    assert status("cloudfront_viewer_https_only", denied) == ERROR


def test_cloudfront_tls_version() -> None:
    assert status("cloudfront_tls_minimum_version", distribution()) == PASS
    default_cert = distribution(viewer_certificate={"default_certificate": True, "minimum_protocol_version": "TLSv1"})
    assert run("cloudfront_tls_minimum_version", default_cert) == (
        FAIL,
        "Distribution E1 (d1.cloudfront.net) uses the default CloudFront certificate, whose security policy is "
        "fixed at TLSv1",
    )
    old = distribution(viewer_certificate={"default_certificate": False, "minimum_protocol_version": "TLSv1.1_2016"})
    assert status("cloudfront_tls_minimum_version", old) == FAIL
    assert status("cloudfront_tls_minimum_version", old, allowed_versions=["TLSv1.1_2016"]) == PASS
    blank = distribution(viewer_certificate={"default_certificate": False, "minimum_protocol_version": None})
    assert status("cloudfront_tls_minimum_version", blank) == ERROR


def test_cloudfront_logging() -> None:
    assert status("cloudfront_logging_enabled", distribution()) == PASS
    off = {"enabled": False, "bucket": None, "prefix": None}
    assert run("cloudfront_logging_enabled", distribution(logging=off)) == (
        FAIL,
        "Distribution E1 (d1.cloudfront.net) has standard logging off and no CloudWatch Logs delivery of its "
        "access logs",
    )
    delivered = distribution(
        logging=off, log_deliveries=[{"id": "d-1", "destination_type": "S3", "log_type": "ACCESS_LOGS"}]
    )
    assert status("cloudfront_logging_enabled", delivered) == PASS
    unknown = distribution(logging=off, log_deliveries=None, _errors={"log_deliveries": "AccessDeniedException"})
    assert status("cloudfront_logging_enabled", unknown) == ERROR
    # Legacy logging on settles it, whatever happened to the CloudWatch Logs read.
    legacy = distribution(log_deliveries=None, _errors={"log_deliveries": "AccessDeniedException"})
    assert status("cloudfront_logging_enabled", legacy) == PASS
    assert status("cloudfront_logging_enabled", distribution(logging={})) == ERROR


def test_cloudfront_waf() -> None:
    assert status("cloudfront_waf_enabled", distribution()) == PASS
    assert run("cloudfront_waf_enabled", distribution(web_acl_id=None)) == (
        FAIL,
        "Distribution E1 (d1.cloudfront.net) has no WAF web ACL associated",
    )
    assert status("cloudfront_waf_enabled", distribution(web_acl_id=None, _errors={"web_acl_id": "x"})) == ERROR


def test_cloudfront_s3_origin_access() -> None:
    assert status("cloudfront_s3_origin_access_control", distribution()) == PASS
    legacy = dict(
        distribution().configuration["origins"][0], origin_access_control_id=None, origin_access_identity="E9"
    )
    result = run("cloudfront_s3_origin_access_control", distribution(origins=[legacy]))
    assert result is not None
    assert result[0] == PASS
    assert "legacy origin access identity" in result[1]
    bare = dict(legacy, origin_access_identity=None)
    assert run("cloudfront_s3_origin_access_control", distribution(origins=[bare])) == (
        FAIL,
        "Distribution E1 (d1.cloudfront.net) reaches S3 origin site (site.s3.us-east-1.amazonaws.com) without "
        "origin access control, so the bucket must allow reads from anyone",
    )
    custom = dict(bare, kind="custom")
    assert status("cloudfront_s3_origin_access_control", distribution(origins=[custom])) is None
    assert status("cloudfront_s3_origin_access_control", distribution(origins=None, _errors={"origins": "x"})) == ERROR


# --- API Gateway ---------------------------------------------------------------------------


def stage(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "rest_api_id": "a1",
        "rest_api_name": "orders",
        "endpoint_types": ["REGIONAL"],
        "stage_name": "prod",
        "deployment_id": "d1",
        "access_log_destination": "arn:aws:logs:us-east-1:123456789012:log-group:api",
        "method_settings": {
            "*/*": {
                "logging_level": "ERROR",
                "data_trace_enabled": False,
                "metrics_enabled": True,
                "caching_enabled": True,
                "cache_data_encrypted": True,
            }
        },
        "cache_cluster_enabled": True,
        "cache_cluster_status": "AVAILABLE",
        "web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/1",
        "tracing_enabled": False,
        "client_certificate_id": None,
        "account_cloudwatch_role_arn": "arn:aws:iam::123456789012:role/apigw-logs",
    }
    config.update(overrides)
    return snap("AWS::ApiGateway::Stage", config, name="a1/prod")


def test_stage_access_logging() -> None:
    assert status("apigateway_stage_access_logging", stage()) == PASS
    assert run("apigateway_stage_access_logging", stage(access_log_destination=None)) == (
        FAIL,
        "Stage prod of API orders (a1) has no access log destination",
    )
    denied = stage(access_log_destination=None, _errors={"access_log_destination": "AccessDenied on get_stages"})
    assert status("apigateway_stage_access_logging", denied) == ERROR


def test_stage_execution_logging() -> None:
    assert run("apigateway_stage_execution_logging", stage()) == (
        PASS,
        "Stage prod of API orders (a1) logs execution at level ERROR for every method",
    )
    settings = {
        "*/*": {"logging_level": "INFO"},
        "orders/POST": {"logging_level": "OFF"},
    }
    result = run(
        "apigateway_stage_execution_logging", stage(method_settings=settings, account_cloudwatch_role_arn=None)
    )
    assert result == (
        FAIL,
        "Stage prod of API orders (a1) writes no complete execution logs: method orders/POST overrides it with OFF; "
        "the API Gateway account settings of us-east-1 name no CloudWatch Logs role",
    )
    assert status("apigateway_stage_execution_logging", stage(method_settings={})) == FAIL
    unknown_role = stage(account_cloudwatch_role_arn=None, _errors={"account_cloudwatch_role_arn": "denied"})
    assert status("apigateway_stage_execution_logging", unknown_role) == ERROR
    # Logging switched off is a failure whether or not the account role could be read.
    off_unknown_role = stage(
        method_settings={}, account_cloudwatch_role_arn=None, _errors={"account_cloudwatch_role_arn": "denied"}
    )
    assert run("apigateway_stage_execution_logging", off_unknown_role) == (
        FAIL,
        "Stage prod of API orders (a1) writes no complete execution logs: the stage-wide logging level is OFF",
    )
    assert status("apigateway_stage_execution_logging", stage(method_settings=None)) == ERROR


def test_stage_waf() -> None:
    assert status("apigateway_stage_waf", stage()) == PASS
    assert status("apigateway_stage_waf", stage(web_acl_arn=None)) == FAIL
    config = dict(stage().configuration)
    del config["web_acl_arn"]
    assert status("apigateway_stage_waf", snap("AWS::ApiGateway::Stage", config)) == ERROR


def test_stage_cache_encryption() -> None:
    assert status("apigateway_stage_cache_encrypted", stage()) == PASS
    clear = {"*/*": {"caching_enabled": True, "cache_data_encrypted": False}, "x/GET": {"caching_enabled": False}}
    assert run("apigateway_stage_cache_encrypted", stage(method_settings=clear)) == (
        FAIL,
        "Stage prod of API orders (a1) caches responses without encryption for */*",
    )
    assert status("apigateway_stage_cache_encrypted", stage(cache_cluster_enabled=False)) is None
    assert (
        status("apigateway_stage_cache_encrypted", stage(method_settings={"*/*": {"caching_enabled": False}})) is None
    )
    assert (
        status("apigateway_stage_cache_encrypted", stage(method_settings=None, _errors={"method_settings": "x"}))
        == ERROR
    )


# --- Route 53 / Synthetics -----------------------------------------------------------------

HEALTH_CHECK = {"id": "hc-1", "type": "HTTPS", "fqdn": "www.example.com", "disabled": False}
ENDPOINT = {"kind": "elbv2:application", "name": "web", "region": "us-east-1", "dns_name": "web.elb.amazonaws.com"}
CANARY = {"name": "home", "region": "eu-west-1", "state": "RUNNING"}


def account(**fields: Any) -> Snapshot:
    config: dict[str, Any] = {
        "scope": "account",
        "route53_health_checks": [HEALTH_CHECK],
        "synthetics_canaries": [],
        "public_endpoints": [ENDPOINT],
    }
    config.update(fields)
    return snap("AWS::::Account", config, name=ACCOUNT, region="global")


def test_monitoring_present() -> None:
    assert run("route53_health_checks_present", account()) == (
        PASS,
        "The account has 1 availability monitor: health check hc-1",
    )
    by_canary = account(route53_health_checks=[], synthetics_canaries=[CANARY])
    assert status("route53_health_checks_present", by_canary) == PASS
    # A canary that was seen running counts even when another region's canaries could not be read.
    partial = account(route53_health_checks=[], synthetics_canaries=[CANARY], _errors={"synthetics_canaries": "x"})
    assert status("route53_health_checks_present", partial) == PASS


def test_monitoring_missing_fails() -> None:
    disabled = dict(HEALTH_CHECK, disabled=True)
    stopped = dict(CANARY, state="STOPPED")
    result = run(
        "route53_health_checks_present", account(route53_health_checks=[disabled], synthetics_canaries=[stopped])
    )
    assert result == (
        FAIL,
        "The account has 1 public endpoint (elbv2:application web (us-east-1)) but no enabled Route 53 health check "
        "and no running Synthetics canary",
    )
    # A public endpoint that was seen stays a fact even if another region's endpoints were unreadable.
    partial = account(route53_health_checks=[], _errors={"public_endpoints": "AccessDenied in eu-west-1"})
    assert status("route53_health_checks_present", partial) == FAIL


def test_monitoring_not_applicable_and_errors() -> None:
    assert status("route53_health_checks_present", account(route53_health_checks=[], public_endpoints=[])) is None
    assert status("route53_health_checks_present", account(scope="region")) is None
    unknown_checks = account(route53_health_checks=None, _errors={"route53_health_checks": "AccessDenied"})
    assert status("route53_health_checks_present", unknown_checks) == ERROR
    unknown_canaries = account(route53_health_checks=[], _errors={"synthetics_canaries": "AccessDenied"})
    assert status("route53_health_checks_present", unknown_canaries) == ERROR
    unknown_endpoints = account(
        route53_health_checks=[], public_endpoints=[], _errors={"public_endpoints": "AccessDenied"}
    )
    assert status("route53_health_checks_present", unknown_endpoints) == ERROR
    assert status("route53_health_checks_present", snap("AWS::::Account", {"scope": "account"})) == ERROR
