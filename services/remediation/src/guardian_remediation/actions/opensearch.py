"""OpenSearch: encryption settings of a domain (at rest, node to node, HTTPS only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardian_remediation.actions.base import Action, ApiCall, Aws, Param, Reading, Target, action, tag_dict


def domain_name(target: Target) -> str:
    return target.resource.split("/", 1)[-1]


@action
class OpenSearchEncryption(Action):
    id = "opensearch_domain_encryption"
    title = "Turn on an OpenSearch domain's encryption settings"
    description = (
        "Encrypts data at rest, traffic between nodes, and requires HTTPS with a current TLS policy. On a"
        " running domain this starts a blue/green deployment; encryption at rest needs OpenSearch 1.x or later."
    )
    resource_type = "AWS::OpenSearchService::Domain"
    checks = (
        "opensearch_domain_encrypted_at_rest",
        "opensearch_domain_node_to_node_encryption",
        "opensearch_domain_https_required",
    )
    permissions = ("es:DescribeDomain", "es:ListTags", "es:UpdateDomainConfig")
    parameters = (
        Param(
            "tls_policy",
            "string",
            "The TLS security policy",
            default="Policy-Min-TLS-1-2-2019-07",
            choices=("Policy-Min-TLS-1-2-2019-07", "Policy-Min-TLS-1-2-PFS-2023-10"),
        ),
        Param("kms_key_id", "string", "The KMS key for encryption at rest; none uses the AWS owned key"),
    )
    verify_services = ("opensearch",)
    reads = ("es:DescribeDomain", "es:ListTags")

    async def read(self, aws: Aws, target: Target) -> Reading:
        client = await aws.client("opensearch", target.call_region(aws.home_region))
        domain = (await client.describe_domain(DomainName=domain_name(target))).get("DomainStatus", {})
        endpoint = domain.get("DomainEndpointOptions", {})
        tags = (await client.list_tags(ARN=target.arn)).get("TagList")
        return Reading(
            state={
                "encrypted_at_rest": bool(domain.get("EncryptionAtRestOptions", {}).get("Enabled")),
                "node_to_node": bool(domain.get("NodeToNodeEncryptionOptions", {}).get("Enabled")),
                "enforce_https": bool(endpoint.get("EnforceHTTPS")),
                "tls_policy": endpoint.get("TLSSecurityPolicy"),
            },
            tags=tag_dict(tags),
        )

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        return (
            state.get("encrypted_at_rest") is True
            and state.get("node_to_node") is True
            and state.get("enforce_https") is True
            and state.get("tls_policy") == params["tls_policy"]
        )

    def expected(self, params: Mapping[str, Any]) -> str:
        return (
            f"The domain encrypts data at rest and between nodes, and accepts only HTTPS under {params['tls_policy']}."
        )

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        at_rest: dict[str, Any] = {"Enabled": True}
        if params["kms_key_id"]:
            at_rest["KmsKeyId"] = params["kms_key_id"]
        return [
            ApiCall(
                "opensearch",
                "UpdateDomainConfig",
                target.call_region(aws.home_region),
                {
                    "DomainName": domain_name(target),
                    "EncryptionAtRestOptions": at_rest,
                    "NodeToNodeEncryptionOptions": {"Enabled": True},
                    "DomainEndpointOptions": {"EnforceHTTPS": True, "TLSSecurityPolicy": params["tls_policy"]},
                },
                "es:UpdateDomainConfig",
            )
        ]
