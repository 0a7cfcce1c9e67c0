"""CloudFront distribution checks: HTTPS to viewers, TLS floor, access logs, WAF, S3 origin access."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._compute_network import guarded, mapping, mappings, needs
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

SERVICE = "cloudfront"
DISTRIBUTION = "AWS::CloudFront::Distribution"
HTTPS_POLICIES = frozenset({"redirect-to-https", "https-only"})


def _label(snap: Snapshot) -> str:
    domain = snap.configuration.get("domain_name")
    return f"Distribution {snap.name}" + (f" ({domain})" if domain else "")


@check(
    id="cloudfront_viewer_https_only",
    title="CloudFront distributions serve viewers only over HTTPS",
    description=(
        "The default cache behaviour and every path-specific behaviour use the viewer protocol policy "
        "redirect-to-https or https-only, so no content reaches viewers over plain HTTP."
    ),
    severity=Severity.HIGH,
    resource_type=DISTRIBUTION,
    service=SERVICE,
    remediation=(
        "Set every cache behaviour's viewer protocol policy to redirect-to-https.\n"
        "CLI: aws cloudfront get-distribution-config --id DIST_ID > dist.json; edit ViewerProtocolPolicy in "
        "DefaultCacheBehavior and CacheBehaviors; aws cloudfront update-distribution --id DIST_ID "
        "--if-match ETAG --distribution-config file://config.json\n"
        'Terraform: viewer_protocol_policy = "redirect-to-https" in default_cache_behavior and each '
        "ordered_cache_behavior of the aws_cloudfront_distribution"
    ),
    permissions=("cloudfront:ListDistributions", "cloudfront:GetDistributionConfig"),
)
@guarded
def cloudfront_viewer_https_only(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "viewer_protocol_policies")) is not None:
        return err
    behaviours = mappings(snap, "viewer_protocol_policies")
    if not behaviours:
        return errored(f"{_label(snap)} lists no cache behaviour")
    plain = [b for b in behaviours if b.get("policy") not in HTTPS_POLICIES]
    if plain:
        details = "; ".join(
            ("the default behaviour" if b.get("path") == "default" else f"path {b.get('path')}")
            + f" uses {b.get('policy')}"
            for b in plain
        )
        return failed(f"{_label(snap)} serves viewers over plain HTTP: {details}", behaviours=list(plain))
    return passed(
        f"{_label(snap)} requires HTTPS from viewers in all {len(behaviours)} cache behaviour(s)",
        policies=sorted({str(b.get("policy")) for b in behaviours}),
    )


@check(
    id="cloudfront_tls_minimum_version",
    title="CloudFront distributions require a current TLS version",
    description=(
        "The distribution uses its own certificate with a security policy in allowed_versions (TLSv1.2_2021 "
        "or newer by default). A distribution on the default *.cloudfront.net certificate cannot raise its "
        "floor and accepts TLS 1.0, so it fails."
    ),
    severity=Severity.MEDIUM,
    resource_type=DISTRIBUTION,
    service=SERVICE,
    remediation=(
        "Serve the distribution under your own domain with an ACM certificate (in us-east-1) and set the "
        "minimum protocol version.\n"
        "CLI: aws cloudfront update-distribution --id DIST_ID --if-match ETAG --distribution-config "
        "file://config.json (config from get-distribution-config, with ViewerCertificate set to ACMCertificateArn, "
        "SSLSupportMethod=sni-only, MinimumProtocolVersion=TLSv1.2_2021)\n"
        "Terraform: viewer_certificate { acm_certificate_arn = aws_acm_certificate.site.arn, "
        'ssl_support_method = "sni-only", minimum_protocol_version = "TLSv1.2_2021" }'
    ),
    permissions=("cloudfront:GetDistributionConfig",),
    parameters={"allowed_versions": ["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"]},
)
@guarded
def cloudfront_tls_minimum_version(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "viewer_certificate")) is not None:
        return err
    certificate = mapping(snap, "viewer_certificate")
    version = certificate.get("minimum_protocol_version")
    if certificate.get("default_certificate") is True:
        return failed(
            f"{_label(snap)} uses the default CloudFront certificate, whose security policy is fixed at TLSv1",
            default_certificate=True,
        )
    allowed = [str(v) for v in params.get("allowed_versions", [])]
    if not version:
        return errored(f"{_label(snap)} reports no minimum protocol version")
    if str(version) in allowed:
        return passed(f"{_label(snap)} requires security policy {version}", minimum_protocol_version=version)
    return failed(
        f"{_label(snap)} uses security policy {version}; allowed are {', '.join(allowed)}",
        minimum_protocol_version=version,
    )


@check(
    id="cloudfront_logging_enabled",
    title="CloudFront distributions write access logs",
    description=(
        "Standard access logging is on, either in the distribution's logging setting (to S3) or through a "
        "CloudWatch Logs delivery of its access logs, so every viewer request is recorded."
    ),
    severity=Severity.MEDIUM,
    resource_type=DISTRIBUTION,
    service=SERVICE,
    remediation=(
        "Turn on standard logging to an S3 bucket (with ACLs enabled for log delivery) or set up a log "
        "delivery of ACCESS_LOGS in CloudWatch Logs.\n"
        "CLI: aws logs put-delivery-source --name DIST_ID-access --resource-arn DIST_ARN --log-type ACCESS_LOGS "
        "--region us-east-1 && aws logs create-delivery --delivery-source-name DIST_ID-access "
        "--delivery-destination-arn DESTINATION_ARN --region us-east-1\n"
        'Terraform: logging_config { bucket = aws_s3_bucket.cf_logs.bucket_domain_name, prefix = "cf/" } in '
        "the aws_cloudfront_distribution"
    ),
    permissions=("cloudfront:GetDistributionConfig", "logs:DescribeDeliverySources", "logs:DescribeDeliveries"),
)
@guarded
def cloudfront_logging_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "logging")) is not None:
        return err
    logging = mapping(snap, "logging")
    if logging.get("enabled") is True:
        return passed(
            f"{_label(snap)} writes standard logs to {logging.get('bucket') or 'S3'}", bucket=logging.get("bucket")
        )
    if logging.get("enabled") is not False:
        return errored(f"{_label(snap)} reports no usable logging setting ({logging.get('enabled')!r})")
    if (err := needs(snap, "log_deliveries")) is not None:
        return err
    deliveries = mappings(snap, "log_deliveries")
    if deliveries:
        kinds = ", ".join(sorted({str(d.get("destination_type")) for d in deliveries}))
        return passed(
            f"{_label(snap)} delivers its access logs through CloudWatch Logs ({kinds})",
            deliveries=[d.get("id") for d in deliveries],
        )
    return failed(f"{_label(snap)} has standard logging off and no CloudWatch Logs delivery of its access logs")


@check(
    id="cloudfront_waf_enabled",
    title="CloudFront distributions are protected by AWS WAF",
    description=(
        "A WAF web ACL is associated with the distribution, so common attacks (injection, bad bots, request "
        "floods) are filtered at the edge before they reach the origin."
    ),
    severity=Severity.MEDIUM,
    resource_type=DISTRIBUTION,
    service=SERVICE,
    remediation=(
        "Create a WAFv2 web ACL with scope CLOUDFRONT (in us-east-1), for example with the AWS managed core "
        "rule set, and associate it.\n"
        "CLI: aws cloudfront update-distribution --id DIST_ID --if-match ETAG --distribution-config "
        "file://config.json (config from get-distribution-config, with WebACLId set to the web ACL ARN)\n"
        "Terraform: web_acl_id = aws_wafv2_web_acl.edge.arn in the aws_cloudfront_distribution"
    ),
    permissions=("cloudfront:GetDistributionConfig",),
)
@guarded
def cloudfront_waf_enabled(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "web_acl_id")) is not None:
        return err
    acl = snap.configuration["web_acl_id"]
    if acl:
        return passed(f"{_label(snap)} is protected by web ACL {acl}", web_acl=acl)
    return failed(f"{_label(snap)} has no WAF web ACL associated", web_acl=None)


@check(
    id="cloudfront_s3_origin_access_control",
    title="CloudFront reaches S3 origins through origin access control",
    description=(
        "Every S3 REST origin is reached with origin access control (or a legacy origin access identity), so "
        "the bucket can stay private and grant reads to CloudFront alone. Distributions without S3 origins "
        "are not judged."
    ),
    severity=Severity.LOW,
    resource_type=DISTRIBUTION,
    service=SERVICE,
    remediation=(
        "Create an origin access control, attach it to the S3 origin and allow cloudfront.amazonaws.com in "
        "the bucket policy (conditioned on the distribution ARN), then remove public access to the bucket.\n"
        "CLI: aws cloudfront create-origin-access-control --origin-access-control-config "
        "Name=site,SigningProtocol=sigv4,SigningBehavior=always,OriginAccessControlOriginType=s3\n"
        "Terraform: origin_access_control_id = aws_cloudfront_origin_access_control.site.id in the origin "
        "block of the aws_cloudfront_distribution"
    ),
    permissions=("cloudfront:GetDistributionConfig",),
)
@guarded
def cloudfront_s3_origin_access_control(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "origins")) is not None:
        return err
    s3 = [o for o in mappings(snap, "origins") if o.get("kind") == "s3"]
    if not s3:
        return None
    open_origins = [o for o in s3 if not o.get("origin_access_control_id") and not o.get("origin_access_identity")]
    if open_origins:
        names = ", ".join(f"{o.get('id')} ({o.get('domain_name')})" for o in open_origins)
        return failed(
            f"{_label(snap)} reaches S3 origin {names} without origin access control, so the bucket must allow "
            "reads from anyone",
            origins=[o.get("id") for o in open_origins],
        )
    legacy = [o for o in s3 if not o.get("origin_access_control_id")]
    note = f" ({len(legacy)} through a legacy origin access identity)" if legacy else ""
    return passed(f"{_label(snap)} reaches all {len(s3)} S3 origin(s) through origin access control{note}")
