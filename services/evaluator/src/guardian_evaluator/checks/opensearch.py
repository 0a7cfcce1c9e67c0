"""OpenSearch Service checks on domains (``AWS::OpenSearchService::Domain``): encryption between nodes
and at rest, HTTPS with TLS 1.2 or later, audit logs, VPC placement and fine-grained access control."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._data_stores import flag, mapping, need
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

DOMAIN = "AWS::OpenSearchService::Domain"
DESCRIBE = ("es:DescribeDomains",)
TLS_VERSION = re.compile(r"TLS-(\d+)-(\d+)")


@check(
    id="opensearch_domain_node_to_node_encryption",
    title="OpenSearch domains encrypt traffic between nodes",
    description=(
        "Every OpenSearch domain has node-to-node encryption enabled, so data moving between the nodes of the "
        "cluster inside the VPC travels over TLS."
    ),
    severity=Severity.MEDIUM,
    resource_type=DOMAIN,
    service="opensearch",
    remediation=(
        "Enable node-to-node encryption (possible in place on OpenSearch and Elasticsearch 6.7 or later).\n"
        "CLI: aws opensearch update-domain-config --domain-name NAME --node-to-node-encryption-options Enabled=true\n"
        'Terraform: resource "aws_opensearch_domain" "d" { node_to_node_encryption { enabled = true } }'
    ),
    permissions=DESCRIBE,
)
def domain_node_to_node_encryption(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "node_to_node_encryption")
    if isinstance(value, Verdict):
        return value
    if value:
        return passed(f"OpenSearch domain {snap.name} encrypts traffic between its nodes")
    return failed(f"OpenSearch domain {snap.name} sends traffic between its nodes unencrypted")


@check(
    id="opensearch_domain_encrypted_at_rest",
    title="OpenSearch domains encrypt data at rest",
    description=(
        "Every OpenSearch domain has encryption at rest enabled, covering indices, logs, swap files and "
        "automated snapshots."
    ),
    severity=Severity.HIGH,
    resource_type=DOMAIN,
    service="opensearch",
    remediation=(
        "Enable encryption at rest with a KMS key.\n"
        "CLI: aws opensearch update-domain-config --domain-name NAME "
        "--encryption-at-rest-options Enabled=true,KmsKeyId=alias/search-data\n"
        'Terraform: resource "aws_opensearch_domain" "d" { encrypt_at_rest { enabled = true  '
        "kms_key_id = aws_kms_key.search.arn } }"
    ),
    permissions=DESCRIBE,
)
def domain_encrypted_at_rest(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "encryption_at_rest")
    if isinstance(value, Verdict):
        return value
    if value:
        key = snap.configuration.get("encryption_kms_key_id")
        return passed(
            f"OpenSearch domain {snap.name} encrypts its data at rest" + (f" with KMS key {key}" if key else "")
        )
    return failed(f"OpenSearch domain {snap.name} stores its data unencrypted")


def min_tls(policy: str) -> tuple[int, int] | None:
    found = TLS_VERSION.search(policy)
    return (int(found.group(1)), int(found.group(2))) if found else None


@check(
    id="opensearch_domain_https_required",
    title="OpenSearch domains require HTTPS with TLS 1.2 or later",
    description=(
        "Every OpenSearch domain refuses plain HTTP and its endpoint's TLS security policy accepts no protocol "
        "older than the minimum version (default TLS 1.2)."
    ),
    severity=Severity.MEDIUM,
    resource_type=DOMAIN,
    service="opensearch",
    remediation=(
        "Require HTTPS and choose a TLS 1.2 (or later) security policy.\n"
        "CLI: aws opensearch update-domain-config --domain-name NAME "
        "--domain-endpoint-options EnforceHTTPS=true,TLSSecurityPolicy=Policy-Min-TLS-1-2-PFS-2023-10\n"
        'Terraform: resource "aws_opensearch_domain" "d" { domain_endpoint_options { enforce_https = true  '
        'tls_security_policy = "Policy-Min-TLS-1-2-PFS-2023-10" } }'
    ),
    permissions=DESCRIBE,
    parameters={"min_tls_version": "1.2"},
)
def domain_https_required(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    https = flag(snap, "enforce_https")
    if isinstance(https, Verdict):
        return https
    if (err := need(snap, "tls_security_policy")) is not None:
        return err
    wanted_text = str(params.get("min_tls_version", "1.2"))
    try:
        wanted = tuple(int(part) for part in wanted_text.split(".")[:2])
    except ValueError:
        return errored(f"The min_tls_version parameter is not a version number: {wanted_text!r}")
    policy = snap.configuration["tls_security_policy"]
    problems: list[str] = []
    if not https:
        problems.append("accepts plain HTTP (EnforceHTTPS is off)")
    version = min_tls(policy) if isinstance(policy, str) else None
    if version is None:
        if https:
            return errored(f"OpenSearch domain {snap.name} reports an unrecognised TLS security policy ({policy!r})")
    elif version < wanted:
        problems.append(f"its TLS policy {policy} accepts TLS {version[0]}.{version[1]}, older than {wanted_text}")
    if problems:
        return failed(f"OpenSearch domain {snap.name} " + " and ".join(problems), tls_security_policy=policy)
    return passed(
        f"OpenSearch domain {snap.name} requires HTTPS with policy {policy} (TLS {wanted_text} or later)",
        tls_security_policy=policy,
    )


@check(
    id="opensearch_domain_audit_logs",
    title="OpenSearch domains publish audit logs",
    description=(
        "Every OpenSearch domain publishes its audit logs (authentication, index and document access) to "
        "CloudWatch Logs. Audit logging requires fine-grained access control."
    ),
    severity=Severity.MEDIUM,
    resource_type=DOMAIN,
    service="opensearch",
    remediation=(
        "Publish audit logs to a CloudWatch Logs group, then enable audit logging in OpenSearch Dashboards.\n"
        "CLI: aws opensearch update-domain-config --domain-name NAME --log-publishing-options "
        "AUDIT_LOGS={CloudWatchLogsLogGroupArn=arn:aws:logs:REGION:ACCOUNT:log-group:GROUP,Enabled=true}\n"
        'Terraform: resource "aws_opensearch_domain" "d" { log_publishing_options { log_type = "AUDIT_LOGS"  '
        "cloudwatch_log_group_arn = aws_cloudwatch_log_group.audit.arn } }"
    ),
    permissions=DESCRIBE,
)
def domain_audit_logs(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    audit = mapping(snap, "audit_logs")
    if isinstance(audit, Verdict):
        return audit
    if audit.get("enabled") is True:
        return passed(
            f"OpenSearch domain {snap.name} publishes audit logs to {audit.get('destination') or 'CloudWatch Logs'}"
        )
    return failed(f"OpenSearch domain {snap.name} does not publish audit logs")


@check(
    id="opensearch_domain_in_vpc",
    title="OpenSearch domains are reachable only inside a VPC",
    description=(
        "Every OpenSearch domain is placed in a VPC rather than on a public endpoint, so only network paths "
        "inside the VPC can reach it, whatever its access policy says."
    ),
    severity=Severity.HIGH,
    resource_type=DOMAIN,
    service="opensearch",
    remediation=(
        "A domain cannot move from a public endpoint into a VPC: create a VPC domain, restore a snapshot into it "
        "and retire the public one.\n"
        "CLI: aws opensearch create-domain --domain-name NAME --vpc-options "
        "SubnetIds=subnet-aaa,subnet-bbb,SecurityGroupIds=sg-ccc\n"
        'Terraform: resource "aws_opensearch_domain" "d" { vpc_options { subnet_ids = var.private_subnets  '
        "security_group_ids = [aws_security_group.search.id] } }"
    ),
    permissions=DESCRIBE,
)
def domain_in_vpc(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "in_vpc")
    if isinstance(value, Verdict):
        return value
    if value:
        vpc = snap.configuration.get("vpc_id")
        return passed(f"OpenSearch domain {snap.name} is inside a VPC" + (f" ({vpc})" if vpc else ""))
    endpoint = snap.configuration.get("public_endpoint")
    return failed(
        f"OpenSearch domain {snap.name} has a public endpoint" + (f" ({endpoint})" if endpoint else ""),
        public_endpoint=endpoint,
    )


@check(
    id="opensearch_domain_fine_grained_access",
    title="OpenSearch domains use fine-grained access control",
    description=(
        "Every OpenSearch domain has fine-grained access control enabled, giving role-based permissions at "
        "index, document and field level instead of all-or-nothing access."
    ),
    severity=Severity.LOW,
    resource_type=DOMAIN,
    service="opensearch",
    remediation=(
        "Enable fine-grained access control (it needs HTTPS, node-to-node encryption and encryption at rest).\n"
        "CLI: aws opensearch update-domain-config --domain-name NAME --advanced-security-options "
        "Enabled=true,MasterUserOptions={MasterUserARN=arn:aws:iam::ACCOUNT:role/search-admin}\n"
        'Terraform: resource "aws_opensearch_domain" "d" { advanced_security_options { enabled = true  '
        "master_user_options { master_user_arn = aws_iam_role.search_admin.arn } } }"
    ),
    permissions=DESCRIBE,
)
def domain_fine_grained_access(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    value = flag(snap, "fine_grained_access_control")
    if isinstance(value, Verdict):
        return value
    if value:
        return passed(f"OpenSearch domain {snap.name} uses fine-grained access control")
    return failed(f"OpenSearch domain {snap.name} does not use fine-grained access control")
