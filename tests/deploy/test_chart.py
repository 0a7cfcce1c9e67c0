"""The Helm chart, rendered and linted offline with the Helm SDK embedded in ``helm-python-sdk``.

Every rendered manifest is validated against the Kubernetes OpenAPI schemas bundled with
``kubernetes-validate`` (strict: an unknown field is an error), for the oldest Kubernetes the chart
supports and the newest the package bundles; the chart's values.schema.json must refuse bad values.
The NetworkPolicies are also read the way a CNI enforces them (label selectors matched against the
rendered pods) to show that the gateway is the only service anything outside the release can reach.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import pytest
import yaml
from kubernetes_validate import utils as kube_validate  # type: ignore[import-untyped]
from pydantic_settings import BaseSettings

from guardian_common.settings import ServiceSettings
from guardian_remediation.settings import RemediationSettings
from guardian_reporting.package import key_path
from guardian_reporting.settings import ReportingSettings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "guardian"
PRODUCTION_VALUES = Path(__file__).with_name("values-production.yaml")
RELEASE = "guardian"
NAMESPACE = "guardian"
SERVICES = ("gateway", "collector", "evaluator", "compliance", "evidence", "reporting", "remediation")
# Behind the gateway: they accept only a caller signed with the internal secret.
INTERNAL = ("collector", "evaluator", "compliance", "evidence", "reporting", "remediation")
SCHEMAS = ("collector", "compliance", "evidence", "reporting", "remediation", "gateway")
# Besides the gateway, who calls whom over REST (on a user's behalf, signed with the internal secret).
REST_READS = {
    "reporting": {"compliance", "evidence", "collector", "remediation"},
    "remediation": {"compliance", "collector"},
}
SIGNING_KEY_DIR = "/var/run/secrets/guardian/reporting"
# The chart's kubeVersion floor, and the newest version kubernetes-validate bundles.
KUBE_VERSIONS = ("1.25.0", kube_validate.latest_version())


@dataclass
class Rendered:
    values: dict[str, Any]
    files: dict[str, str]
    docs: list[dict[str, Any]]

    @property
    def notes(self) -> str:
        return self.files[f"{CHART.name}/templates/NOTES.txt"]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def deployment(self, service: str) -> dict[str, Any]:
        return self.one("Deployment", f"{RELEASE}-{service}")

    def container(self, service: str) -> dict[str, Any]:
        (container,) = self.deployment(service)["spec"]["template"]["spec"]["containers"]
        found: dict[str, Any] = container
        return found

    def policy(self, component: str) -> dict[str, Any]:
        return self.one("NetworkPolicy", f"{RELEASE}-{component}")


def render(values: dict[str, Any] | None = None) -> Rendered:
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
        merged = chart.merge_values(values or {})
    docs = [
        doc for path, text in sorted(files.items()) if path.endswith(".yaml") for doc in yaml.safe_load_all(text) if doc
    ]
    return Rendered(values=merged, files=files, docs=docs)


def production_values() -> dict[str, Any]:
    loaded = yaml.safe_load(PRODUCTION_VALUES.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def default() -> Rendered:
    return render()


@pytest.fixture(scope="module")
def production() -> Rendered:
    return render(production_values())


@pytest.fixture(params=["default", "production"])
def rendered(request: pytest.FixtureRequest) -> Rendered:
    value: Rendered = request.getfixturevalue(request.param)
    return value


def containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod_spec.get("initContainers", [])
    yield from pod_spec["containers"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def egress_ports(policy: dict[str, Any]) -> set[int]:
    return {p["port"] for rule in policy["spec"].get("egress", []) for p in rule.get("ports", [])}


# --- lint and schemas ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "production"])
def test_helm_lint_reports_nothing_above_info(which: str) -> None:
    values = production_values() if which == "production" else {}
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version="v1.25.0")
    assert report["errors"] == []
    above_info = [m for m in report["messages"] if m["severity"] > 1]
    assert above_info == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(rendered: Rendered, version: str) -> None:
    failures: list[str] = []
    for doc in rendered.docs:
        try:
            kube_validate.validate(doc, version, strict=True)
        except kube_validate.ValidationError as exc:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        except kube_validate.SchemaNotFoundError as exc:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert failures == []
    assert len(rendered.docs) >= 25


def test_the_default_release_has_every_object_the_chart_promises(default: Rendered) -> None:
    kinds = sorted(d["kind"] for d in default.docs)
    assert {d["metadata"]["name"] for d in default.of_kind("Deployment")} == {f"{RELEASE}-{s}" for s in SERVICES}
    assert kinds.count("Service") == 7
    assert kinds.count("PodDisruptionBudget") == 7
    assert kinds.count("HorizontalPodAutoscaler") == 1
    # The collector's, the evidence service's and the remediation service's own (each may carry an IAM
    # role of its own), and the shared one.
    assert kinds.count("ServiceAccount") == 4
    assert kinds.count("Job") == 1
    # A default deny, one policy per service and one for the migration Job.
    assert kinds.count("NetworkPolicy") == 9
    # Evidence on a claim by default; no Ingress unless asked for.
    assert kinds.count("PersistentVolumeClaim") == 1
    assert kinds.count("Ingress") == 0
    assert all(d["metadata"].get("namespace") == NAMESPACE for d in default.docs)


def test_production_values_satisfy_the_values_schema() -> None:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(production_values())


@pytest.mark.parametrize(
    ("bad_values", "complaint"),
    [
        ("collector:\n  replicas: three\n", "/collector/replicas"),
        ("evaluator:\n  autoscaling:\n    targetCPUUtilizationPercentage: 150\n", "targetCPUUtilizationPercentage"),
        ("collector:\n  serviceAccount:\n    irsaRoleArn: my-role\n", "irsaRoleArn"),
        ("database:\n  existingSecret: ''\n", "/database/existingSecret"),
        ("environment: staging\n", "/environment"),
        ("replicaCount: 3\n", "replicaCount"),
        ("networkPolicy:\n  aws:\n    cidrs: []\n", "/networkPolicy/aws/cidrs"),
        # The S3 backend needs its bucket; a backend the service does not know is refused.
        ("evidence:\n  storage:\n    backend: s3\n", "/evidence/storage/s3/bucket"),
        ("evidence:\n  storage:\n    backend: nfs\n", "/evidence/storage/backend"),
        ("evidence:\n  serviceAccount:\n    irsaRoleArn: evidence-role\n", "irsaRoleArn"),
        ("gateway:\n  service:\n    type: ExternalName\n", "/gateway/service/type"),
        ("gateway:\n  ingress:\n    enabled: true\n    host: Not A Host\n", "/gateway/ingress/host"),
        ("internalSecret:\n  existingSecret: ''\n", "/internalSecret/existingSecret"),
        # The old catch-all that let anything reach every service is gone.
        ("networkPolicy:\n  extraIngressFrom: []\n", "extraIngressFrom"),
        # Reporting signs with a key from a Secret: no Secret, no install.
        ("reporting:\n  signingKey:\n    existingSecret: ''\n", "/reporting/signingKey/existingSecret"),
        ("reporting:\n  signingKey:\n    key: 'my key'\n", "/reporting/signingKey/key"),
        ("reporting:\n  dashboardCacheSeconds: -1\n", "/reporting/dashboardCacheSeconds"),
        ("remediation:\n  serviceAccount:\n    irsaRoleArn: write-role\n", "irsaRoleArn"),
        ("remediation:\n  aws:\n    assumeRoleArn: arn:aws:s3:::bucket\n", "assumeRoleArn"),
        ("remediation:\n  aws:\n    region: Europe\n", "/remediation/aws/region"),
        # One replica resumes the open verifications; two would verify each plan twice.
        ("remediation:\n  replicas: 2\n", "/remediation/replicas"),
        ("remediation:\n  maxPlanResources: 0\n", "/remediation/maxPlanResources"),
    ],
)
def test_the_values_schema_rejects_a_bad_values_file(tmp_path: Path, bad_values: str, complaint: str) -> None:
    values_file = tmp_path / "values-bad.yaml"
    values_file.write_text(bad_values)
    values = helm.values_from_yaml(values_file.read_text())
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError) as rejected:
            chart.validate_schema(values)
        assert complaint in str(rejected.value)
        # An install renders nothing from it either.
        with pytest.raises(helm.HelmValuesError):
            chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    report = helm.lint(CHART, values, namespace=NAMESPACE)
    assert any(complaint in error for error in report["errors"])


# --- workloads ------------------------------------------------------------------------------------


def test_workloads_run_non_root_on_a_read_only_root_filesystem(rendered: Rendered) -> None:
    pods = [d["spec"]["template"]["spec"] for d in rendered.of_kind("Deployment") + rendered.of_kind("Job")]
    assert len(pods) == 8
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes["tmp"]
        for container in containers(pod):
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"]["drop"] == ["ALL"]
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            # /tmp and, for local evidence, its claim are the only writable mounts; reporting's
            # signing key is mounted read-only.
            assert {m["name"] for m in container["volumeMounts"]} <= {"tmp", "evidence", "signing-key"}
            for mount in container["volumeMounts"]:
                if mount["name"] == "signing-key":
                    assert mount["readOnly"] is True
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert "memory" in container["resources"]["limits"]


def test_probes_use_healthz_for_liveness_and_readyz_for_readiness(rendered: Rendered) -> None:
    for service in SERVICES:
        container = rendered.container(service)
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        env = env_of(container)
        assert env["GUARDIAN_HOST"]["value"] == "0.0.0.0"
        assert env["GUARDIAN_PORT"]["value"] == str(rendered.values["service"]["port"])
        assert container["ports"] == [
            {"name": "http", "containerPort": rendered.values["service"]["port"], "protocol": "TCP"}
        ]


def test_secrets_come_from_existing_secrets_and_only_where_needed(rendered: Rendered) -> None:
    values = rendered.values
    for service in SERVICES:
        env = env_of(rendered.container(service))
        assert env["GUARDIAN_AUTH_SECRET"]["valueFrom"]["secretKeyRef"] == {
            "name": values["auth"]["existingSecret"],
            "key": values["auth"]["secretKey"],
        }
        # The gateway signs each forwarded caller with it; the services verify it.
        assert env["GUARDIAN_INTERNAL_SECRET"]["valueFrom"]["secretKeyRef"] == {
            "name": values["internalSecret"]["existingSecret"],
            "key": values["internalSecret"]["secretKey"],
        }
        if service == "evaluator":
            assert "GUARDIAN_DATABASE_URL" not in env  # the evaluator keeps no state
        else:
            assert env["GUARDIAN_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
                "name": values["database"]["existingSecret"],
                "key": values["database"]["urlKey"],
            }
        if values["nats"]["existingSecret"]:
            assert env["GUARDIAN_NATS_URL"]["valueFrom"]["secretKeyRef"]["name"] == values["nats"]["existingSecret"]
        else:
            assert env["GUARDIAN_NATS_URL"]["value"] == values["nats"]["url"]
    # No rendered object carries a database URL or a Secret of its own.
    assert rendered.of_kind("Secret") == []
    assert all("postgresql://" not in text for text in rendered.files.values())


def test_images_follow_registry_prefix_and_tag(default: Rendered, production: Rendered) -> None:
    assert default.container("collector")["image"] == "guardian-collector:0.1.0"
    assert default.container("gateway")["image"] == "guardian-gateway:0.1.0"
    assert default.container("evidence")["image"] == "guardian-evidence:0.1.0"
    assert default.container("reporting")["image"] == "guardian-reporting:0.1.0"
    assert default.container("remediation")["image"] == "guardian-remediation:0.1.0"
    evaluator = production.container("evaluator")
    assert evaluator["image"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/guardian-evaluator:0.1.0"
    assert production.deployment("evaluator")["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "ecr-pull"}]


def test_collector_settings_reach_the_collector(production: Rendered) -> None:
    env = env_of(production.container("collector"))
    assert yaml.safe_load(env["GUARDIAN_REGIONS"]["value"]) == ["eu-west-1", "eu-central-1", "us-east-1"]
    assert env["GUARDIAN_AWS_HOME_REGION"]["value"] == "eu-west-1"
    assert env["GUARDIAN_PER_SERVICE_CONCURRENCY"]["value"] == "12"
    assert env["GUARDIAN_AWS_MAX_ATTEMPTS"]["value"] == "8"


def test_the_collector_service_account_carries_the_irsa_role(default: Rendered, production: Rendered) -> None:
    account = production.one("ServiceAccount", "guardian-collector")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == (
        "arn:aws:iam::123456789012:role/guardian-collector-read-only"
    )
    assert production.deployment("collector")["spec"]["template"]["spec"]["serviceAccountName"] == "guardian-collector"
    # The other services run under an account without the role.
    shared = production.deployment("compliance")["spec"]["template"]["spec"]["serviceAccountName"]
    assert "eks.amazonaws.com/role-arn" not in production.one("ServiceAccount", shared)["metadata"].get(
        "annotations", {}
    )
    # Without a role the chart says so after install.
    assert "annotations" not in default.one("ServiceAccount", f"{RELEASE}-collector")["metadata"]
    assert "irsaRoleArn is empty" in default.notes
    assert "irsaRoleArn is empty" not in production.notes


def test_the_evidence_service_account_carries_its_own_role(default: Rendered, production: Rendered) -> None:
    account = production.one("ServiceAccount", "guardian-evidence")
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/guardian-evidence-bucket"
    }
    assert production.deployment("evidence")["spec"]["template"]["spec"]["serviceAccountName"] == "guardian-evidence"
    # Neither identity borrows the other's role: the read-only scanner cannot write the bucket.
    collector_role = production.one("ServiceAccount", "guardian-collector")["metadata"]["annotations"]
    assert collector_role["eks.amazonaws.com/role-arn"].endswith("/guardian-collector-read-only")
    assert default.deployment("evidence")["spec"]["template"]["spec"]["serviceAccountName"] == f"{RELEASE}-evidence"
    # S3 without a role: the notes warn, as they do for the collector.
    s3_without_role = render({"evidence": {"storage": {"backend": "s3", "s3": {"bucket": "acme-evidence"}}}})
    assert "evidence.serviceAccount.irsaRoleArn is empty" in s3_without_role.notes
    assert "evidence.serviceAccount.irsaRoleArn is empty" not in production.notes


def test_the_remediation_service_account_carries_its_own_write_role(default: Rendered, production: Rendered) -> None:
    account = production.one("ServiceAccount", "guardian-remediation")
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/guardian-remediation-write",
        "eks.amazonaws.com/sts-regional-endpoints": "true",
    }
    assert account["automountServiceAccountToken"] is False
    # Only the remediation pods run as the account holding the write role; the collector keeps its
    # read-only one, so the scanner can never change what it scans.
    accounts = {s: production.deployment(s)["spec"]["template"]["spec"]["serviceAccountName"] for s in SERVICES}
    assert [s for s, name in accounts.items() if name == "guardian-remediation"] == ["remediation"]
    roles = {
        a["metadata"]["name"]: a["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn")
        for a in production.of_kind("ServiceAccount")
    }
    assert roles["guardian-remediation"] != roles["guardian-collector"]
    assert roles["guardian-collector"].endswith("/guardian-collector-read-only")
    assert default.deployment("remediation")["spec"]["template"]["spec"]["serviceAccountName"] == (
        f"{RELEASE}-remediation"
    )
    assert "annotations" not in default.one("ServiceAccount", f"{RELEASE}-remediation")["metadata"]
    # Without a role the chart says so, naming the generated policy the role must hold.
    assert "remediation.serviceAccount.irsaRoleArn is empty" in default.notes
    assert "deploy/aws/remediation-write-policy.json" in default.notes
    assert (REPO / "deploy" / "aws" / "remediation-write-policy.json").is_file()
    assert "remediation.serviceAccount.irsaRoleArn is empty" not in production.notes


def settings_from(container: dict[str, Any], settings_class: type[ServiceSettings], mp: pytest.MonkeyPatch) -> Any:
    """The service's own settings class reading the rendered environment, as it would in its pod.

    Variables from Secrets get stand-ins long enough for production; plain values are used as rendered.
    """
    for variable in [v for v in os.environ if v.startswith(("GUARDIAN_", "AWS_"))]:
        mp.delenv(variable)
    for name, entry in env_of(container).items():
        if "value" in entry:
            mp.setenv(name, entry["value"])
        else:
            assert "secretKeyRef" in entry["valueFrom"], name
            mp.setenv(name, "postgresql://app@db:5432/guardian" if name.endswith("_URL") else "s" * 48)
    settings: BaseSettings = settings_class()
    return settings


def test_reporting_signs_with_the_key_from_an_existing_secret(
    rendered: Rendered, monkeypatch: pytest.MonkeyPatch
) -> None:
    signing = rendered.values["reporting"]["signingKey"]
    pod = rendered.deployment("reporting")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["signing-key"]["secret"] == {
        "secretName": signing["existingSecret"],
        "items": [{"key": signing["key"], "path": "signing-key.pem"}],
        # Read by the pod's group (fsGroup, the service's own group), by nobody else, never written.
        "defaultMode": 0o440,
    }
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    container = rendered.container("reporting")
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "signing-key"]
    assert mount == {"name": "signing-key", "mountPath": SIGNING_KEY_DIR, "readOnly": True}
    # The service reads its key where the Secret is mounted, so every replica signs with the same key
    # and a restart keeps it (a key made in the pod would land in /tmp and die with it).
    settings = settings_from(container, ReportingSettings, monkeypatch)
    assert str(key_path(settings)) == f"{SIGNING_KEY_DIR}/signing-key.pem"
    # No other workload sees the key.
    others = [
        d
        for d in rendered.of_kind("Deployment") + rendered.of_kind("Job")
        if not d["metadata"]["name"].endswith("-reporting")
    ]
    for workload in others:
        assert "signing-key" not in {v["name"] for v in workload["spec"]["template"]["spec"]["volumes"]}
    assert f'Secret "{signing["existingSecret"]}"' in rendered.notes


def test_production_reporting_and_remediation_settings_reach_them(
    production: Rendered, monkeypatch: pytest.MonkeyPatch
) -> None:
    reporting = settings_from(production.container("reporting"), ReportingSettings, monkeypatch)
    assert isinstance(reporting, ReportingSettings)
    assert (reporting.upstream_timeout_seconds, reporting.dashboard_cache_seconds) == (120.0, 30.0)
    assert reporting.environment == "production"
    assert reporting.require_gateway is True
    assert reporting.run_migrations is False
    assert production.deployment("reporting")["spec"]["replicas"] == 2
    remediation = settings_from(production.container("remediation"), RemediationSettings, monkeypatch)
    assert isinstance(remediation, RemediationSettings)
    assert remediation.aws_region == "eu-west-1"
    assert remediation.aws_max_attempts == 5
    # IRSA's own role writes; no role is assumed on top of it unless asked for.
    assert remediation.aws_role_arn is None
    assert remediation.aws_endpoint_url is None
    assert (remediation.approval_ttl_seconds, remediation.max_plan_resources) == (43200, 200)
    assert remediation.verify_timeout_seconds == 900.0
    assert remediation.allow_self_approval is False
    assert remediation.require_gateway is True
    assert production.deployment("remediation")["spec"]["replicas"] == 1
    # No AWS credentials are ever put in its environment: the web-identity token is IRSA's.
    assert not [name for name in env_of(production.container("remediation")) if name.startswith("AWS_")]
    assumed = render({"remediation": {"aws": {"assumeRoleArn": "arn:aws:iam::210987654321:role/guardian-write"}}})
    env = env_of(assumed.container("remediation"))
    assert env["GUARDIAN_AWS_ROLE_ARN"]["value"] == "arn:aws:iam::210987654321:role/guardian-write"


def test_reporting_and_remediation_read_the_services_of_their_own_release(rendered: Rendered) -> None:
    port = rendered.values["service"]["port"]
    for caller, reads in REST_READS.items():
        env = env_of(rendered.container(caller))
        urls = {
            name.removeprefix("GUARDIAN_").removesuffix("_URL").lower(): entry["value"]
            for name, entry in env.items()
            if name.endswith("_URL") and name not in ("GUARDIAN_DATABASE_URL", "GUARDIAN_NATS_URL")
        }
        assert set(urls) == reads, caller
        for service, url in urls.items():
            parts = urlsplit(url)
            assert (parts.scheme, parts.port) == ("http", port)
            name, namespace, svc = (parts.hostname or "").split(".")
            assert (namespace, svc) == (NAMESPACE, "svc")
            target = rendered.one("Service", name)
            assert target["spec"]["selector"] == rendered.deployment(service)["spec"]["selector"]["matchLabels"]


def test_the_services_behind_the_gateway_refuse_direct_keys_and_none_migrates(rendered: Rendered) -> None:
    for service in SERVICES:
        env = env_of(rendered.container(service))
        # The hook Job migrates every schema, so no service needs DDL rights at start.
        assert env["GUARDIAN_RUN_MIGRATIONS"]["value"] == "false", service
        if service == "gateway":
            assert "GUARDIAN_REQUIRE_GATEWAY" not in env
        else:
            assert env["GUARDIAN_REQUIRE_GATEWAY"]["value"] == "true", service


def test_the_gateway_routes_to_the_services_of_its_own_release(rendered: Rendered) -> None:
    env = env_of(rendered.container("gateway"))
    upstreams = {
        "collector": env["GUARDIAN_COLLECTOR_URL"]["value"],
        "evaluator": env["GUARDIAN_EVALUATOR_URL"]["value"],
        "compliance": env["GUARDIAN_COMPLIANCE_URL"]["value"],
        **json.loads(env["GUARDIAN_EXTRA_UPSTREAMS"]["value"]),
    }
    assert set(upstreams) == set(INTERNAL)
    port = rendered.values["service"]["port"]
    for service, url in upstreams.items():
        parts = urlsplit(url)
        assert parts.scheme == "http"
        assert parts.port == port
        # <service>.<namespace>.svc names the rendered Service, whose selector picks that Deployment's pods.
        name, namespace, svc = (parts.hostname or "").split(".")
        assert (namespace, svc) == (NAMESPACE, "svc")
        target = rendered.one("Service", name)
        assert target["spec"]["selector"] == rendered.deployment(service)["spec"]["selector"]["matchLabels"]
    # Big enough for the largest evidence upload.
    assert int(env["GUARDIAN_MAX_BODY_BYTES"]["value"]) >= int(
        env_of(rendered.container("evidence"))["GUARDIAN_MAX_UPLOAD_BYTES"]["value"]
    )
    # A gateway waiting for late services gives up before its startup probe would kill it.
    assert int(env["GUARDIAN_UPSTREAM_WAIT_SECONDS"]["value"]) < (
        rendered.values["probes"]["startup"]["periodSeconds"] * rendered.values["probes"]["startup"]["failureThreshold"]
    )


def test_production_gateway_settings_reach_the_gateway(production: Rendered) -> None:
    env = env_of(production.container("gateway"))
    assert env["GUARDIAN_MAX_BODY_BYTES"]["value"] == "105906176"
    assert env["GUARDIAN_RATE_LIMIT_PER_MINUTE"]["value"] == "1200"
    assert env["GUARDIAN_UPSTREAM_TIMEOUT_SECONDS"]["value"] == "90"
    assert production.deployment("gateway")["spec"]["replicas"] == 3


def test_the_gateway_must_accept_what_the_evidence_service_accepts() -> None:
    with pytest.raises(helm.HelmRenderError, match=r"gateway\.maxBodyBytes must be at least evidence\.maxUploadBytes"):
        render({"gateway": {"maxBodyBytes": 1024 * 1024}})


def test_evidence_is_kept_on_a_retained_claim_by_default(default: Rendered) -> None:
    (claim,) = default.of_kind("PersistentVolumeClaim")
    assert claim["metadata"]["name"] == f"{RELEASE}-evidence"
    # Uninstalling the release must not delete what auditors rely on.
    assert claim["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    deployment = default.deployment("evidence")
    # A ReadWriteOnce volume cannot be shared by the old and the new pod of a rolling update.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "evidence", "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}} in pod["volumes"]
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "evidence"]
    env = env_of(container)
    assert env["GUARDIAN_STORAGE_BACKEND"]["value"] == "local"
    assert env["GUARDIAN_STORAGE_DIR"]["value"] == mount["mountPath"]
    assert "GUARDIAN_S3_BUCKET" not in env
    # The pod's fsGroup makes the claim writable by the non-root user.
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    # A claim of your own is used as is.
    own = render({"evidence": {"storage": {"local": {"existingClaim": "audit-evidence"}}}})
    assert own.of_kind("PersistentVolumeClaim") == []
    own_pod = own.deployment("evidence")["spec"]["template"]["spec"]
    assert {"name": "evidence", "persistentVolumeClaim": {"claimName": "audit-evidence"}} in own_pod["volumes"]
    with pytest.raises(helm.HelmRenderError, match=r"evidence\.replicas must be 1 with the local storage backend"):
        render({"evidence": {"replicas": 2}})


def test_evidence_in_s3_needs_no_volume_and_may_scale(production: Rendered) -> None:
    assert production.of_kind("PersistentVolumeClaim") == []
    deployment = production.deployment("evidence")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = deployment["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]
    env = env_of(production.container("evidence"))
    assert {name: env[name]["value"] for name in env if name.startswith(("GUARDIAN_S3_", "GUARDIAN_STORAGE_"))} == {
        "GUARDIAN_STORAGE_BACKEND": "s3",
        "GUARDIAN_S3_BUCKET": "acme-guardian-evidence",
        "GUARDIAN_S3_REGION": "eu-west-1",
        "GUARDIAN_S3_PREFIX": "evidence/",
    }
    assert env["GUARDIAN_MAX_UPLOAD_BYTES"]["value"] == "104857600"
    assert env["GUARDIAN_DUE_SOON_DAYS"]["value"] == "45"


def test_notes_give_the_gateway_url_and_the_bootstrap_key_command(default: Rendered, production: Rendered) -> None:
    for rendered in (default, production):
        notes = rendered.notes
        assert f"rollout status deployment/{RELEASE}-gateway" in notes
        assert (
            f"kubectl -n {NAMESPACE} exec deploy/{RELEASE}-gateway -- \\\n"
            "       python -m guardian_gateway bootstrap-key --name admin"
        ) in notes
        # No more keys minted from the signing secret: they would be refused behind the gateway.
        assert "mint_key" not in notes
    assert f"port-forward svc/{RELEASE}-gateway 8080:8080" in default.notes
    assert "export GUARDIAN_URL=http://127.0.0.1:8080" in default.notes
    assert "export GUARDIAN_URL=https://guardian.internal.example.com\n" in production.notes
    assert "port-forward" not in production.notes.replace("kubectl port-forward is not subject", "")
    # Only the gateway is offered as a way in.
    for service in INTERNAL:
        assert f"svc/{RELEASE}-{service}" not in default.notes + production.notes


# --- scaling and disruption -----------------------------------------------------------------------


def test_the_evaluator_autoscales_on_cpu_by_default(default: Rendered) -> None:
    (hpa,) = default.of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{RELEASE}-evaluator",
    }
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    # The HPA owns the replica count.
    assert "replicas" not in default.deployment("evaluator")["spec"]
    assert default.deployment("collector")["spec"]["replicas"] == 1


def test_consumer_lag_through_a_metrics_adapter_is_an_option(production: Rendered) -> None:
    (hpa,) = production.of_kind("HorizontalPodAutoscaler")
    external = [m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    assert external == [
        {
            "metric": {
                "name": "nats_consumer_num_pending",
                "selector": {"matchLabels": {"consumer_name": "evaluator"}},
            },
            "target": {"type": "AverageValue", "averageValue": "2k"},
        }
    ]
    # With the option on and no selector given, Guardian's own gauge label is used.
    lag_only = render({"evaluator": {"autoscaling": {"consumerLag": {"enabled": True}}}})
    (hpa,) = lag_only.of_kind("HorizontalPodAutoscaler")
    (metric,) = [m["external"]["metric"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    assert metric == {"name": "guardian_consumer_lag_messages", "selector": {"matchLabels": {"consumer": "evaluator"}}}


def test_without_autoscaling_the_evaluator_has_a_fixed_replica_count() -> None:
    fixed = render({"evaluator": {"replicas": 4, "autoscaling": {"enabled": False}}})
    assert fixed.of_kind("HorizontalPodAutoscaler") == []
    assert fixed.deployment("evaluator")["spec"]["replicas"] == 4


def test_every_service_has_a_disruption_budget(rendered: Rendered) -> None:
    budgets = {b["metadata"]["name"]: b for b in rendered.of_kind("PodDisruptionBudget")}
    assert set(budgets) == {f"{RELEASE}-{s}" for s in SERVICES}
    for service in SERVICES:
        spec = budgets[f"{RELEASE}-{service}"]["spec"]
        assert spec["selector"]["matchLabels"] == rendered.deployment(service)["spec"]["selector"]["matchLabels"]
        assert spec["maxUnavailable"] == 1
    with_min = render({"podDisruptionBudget": {"minAvailable": "50%"}})
    spec = with_min.one("PodDisruptionBudget", f"{RELEASE}-compliance")["spec"]
    assert spec["minAvailable"] == "50%"
    assert "maxUnavailable" not in spec


# --- network --------------------------------------------------------------------------------------


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector with matchLabels only (all the chart and the values files use)."""
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


@dataclass(frozen=True)
class Pod:
    namespace: str
    namespace_labels: dict[str, str]
    labels: dict[str, str]


def peer_admits(peer: dict[str, Any], source: Pod) -> bool:
    """NetworkPolicyPeer semantics for pod sources (ipBlock never matches a pod here)."""
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], source.namespace_labels)
    else:
        in_namespace = source.namespace == NAMESPACE
    return in_namespace and selects(peer.get("podSelector", {}), source.labels)


def admitted_by(rendered: Rendered, source: Pod) -> set[str]:
    """The release's components whose pods accept a connection from ``source`` on their http port."""
    reachable = set()
    for service in SERVICES:
        pod_labels = rendered.deployment(service)["spec"]["template"]["metadata"]["labels"]
        rules = [
            rule
            for policy in rendered.of_kind("NetworkPolicy")
            if selects(policy["spec"]["podSelector"], pod_labels)
            for rule in policy["spec"].get("ingress", [])
        ]
        for rule in rules:
            assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
            if "from" not in rule or any(peer_admits(peer, source) for peer in rule["from"]):
                reachable.add(service)
    return reachable


def release_pod(rendered: Rendered, component: str) -> Pod:
    labels = rendered.deployment(component)["spec"]["template"]["metadata"]["labels"]
    return Pod(NAMESPACE, {"kubernetes.io/metadata.name": NAMESPACE}, labels)


INGRESS_CONTROLLER = Pod(
    "ingress-nginx", {"kubernetes.io/metadata.name": "ingress-nginx"}, {"app.kubernetes.io/name": "ingress-nginx"}
)
PROMETHEUS = Pod("monitoring", {"kubernetes.io/metadata.name": "monitoring"}, {"app.kubernetes.io/name": "prometheus"})
STRANGER = Pod("team-x", {"kubernetes.io/metadata.name": "team-x"}, {"app": "curl"})


def test_the_gateway_is_the_only_service_reachable_from_outside_the_release(rendered: Rendered) -> None:
    assert admitted_by(rendered, INGRESS_CONTROLLER) == {"gateway"}
    assert admitted_by(rendered, STRANGER) == set()
    # Another pod of the same namespace that is not the gateway reaches nothing either.
    neighbour = Pod(NAMESPACE, {"kubernetes.io/metadata.name": NAMESPACE}, {"app": "debug"})
    assert admitted_by(rendered, neighbour) == set()
    # The gateway reaches every service behind it. Those reach nothing of each other (no lateral
    # movement), except reporting and remediation, which reach exactly the services they read.
    assert admitted_by(rendered, release_pod(rendered, "gateway")) == set(INTERNAL)
    for service in INTERNAL:
        assert admitted_by(rendered, release_pod(rendered, service)) == REST_READS.get(service, set()), service
    # Every Service but the gateway's stays inside the cluster, and an Ingress can only name the gateway.
    types = {s["metadata"]["name"]: s["spec"]["type"] for s in rendered.of_kind("Service")}
    assert types == {f"{RELEASE}-{s}": "ClusterIP" for s in SERVICES}
    for ingress in rendered.of_kind("Ingress"):
        backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
        assert backends == {f"{RELEASE}-gateway"}


def test_prometheus_scrapes_every_service_only_where_allowed(default: Rendered, production: Rendered) -> None:
    assert admitted_by(production, PROMETHEUS) == set(SERVICES)
    assert admitted_by(default, PROMETHEUS) == set()


def test_exposing_the_gateway_directly_leaves_the_services_inside() -> None:
    exposed = render({"gateway": {"service": {"type": "LoadBalancer"}}, "networkPolicy": {"gatewayFrom": []}})
    types = {s["metadata"]["name"]: s["spec"]["type"] for s in exposed.of_kind("Service")}
    assert types.pop(f"{RELEASE}-gateway") == "LoadBalancer"
    assert set(types.values()) == {"ClusterIP"}
    # With no gatewayFrom, a LoadBalancer's clients (no selector can name them) may reach the gateway only.
    assert admitted_by(exposed, STRANGER) == {"gateway"}
    assert "from anywhere" in exposed.notes


def test_network_policies_deny_by_default_and_open_only_what_each_service_needs(rendered: Rendered) -> None:
    policies = {p["metadata"]["name"]: p for p in rendered.of_kind("NetworkPolicy")}
    deny = policies[f"{RELEASE}-default-deny"]["spec"]
    assert deny["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "guardian",
        "app.kubernetes.io/instance": RELEASE,
    }
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny

    s3_evidence = rendered.values["evidence"]["storage"]["backend"] == "s3"
    port = rendered.values["service"]["port"]
    expected = {
        "gateway": {53, 4222, 5432, port},
        "collector": {53, 4222, 5432, 443},
        "evaluator": {53, 4222},
        "compliance": {53, 4222, 5432},
        # HTTPS out only to reach its bucket.
        "evidence": {53, 4222, 5432, 443} if s3_evidence else {53, 4222, 5432},
        # The services it reads over REST.
        "reporting": {53, 4222, 5432, port},
        # The services it reads, and HTTPS to AWS for the fixes (the only writer).
        "remediation": {53, 4222, 5432, port, 443},
        "migrations": {53, 5432},
    }
    assert set(policies) == {f"{RELEASE}-{c}" for c in expected} | {f"{RELEASE}-default-deny"}
    for component, ports in expected.items():
        policy = policies[f"{RELEASE}-{component}"]
        assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert egress_ports(policy) == ports, component
    assert policies[f"{RELEASE}-migrations"]["spec"]["ingress"] == []


def service_port_targets(rendered: Rendered, component: str) -> set[str]:
    """The release's services ``component`` may open connections to on the services' port."""
    port = rendered.values["service"]["port"]
    (rule,) = [r for r in rendered.policy(component)["spec"]["egress"] if r["ports"][0]["port"] == port]
    assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
    targets = set()
    for peer in rule["to"]:
        assert set(peer) == {"podSelector"}  # same namespace, pods of this release only
        targets |= {s for s in SERVICES if selects(peer["podSelector"], release_pod(rendered, s).labels)}
    return targets


def test_the_gateway_egress_reaches_exactly_the_services_behind_it(rendered: Rendered) -> None:
    assert service_port_targets(rendered, "gateway") == set(INTERNAL)
    port = rendered.values["service"]["port"]
    for service in INTERNAL:
        if service in REST_READS:
            # Reporting and remediation open connections to the services they read, and no other.
            assert service_port_targets(rendered, service) == REST_READS[service], service
        else:
            # No other service behind the gateway may open connections to another one's port.
            assert port not in egress_ports(rendered.policy(service)), service


def test_production_egress_is_narrowed_to_the_named_peers(production: Rendered) -> None:
    for component in ("collector", "evidence", "remediation"):
        spec = production.policy(component)["spec"]
        by_port = {rule["ports"][0]["port"]: rule for rule in spec["egress"]}
        assert by_port[4222]["to"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "messaging"
        }
        assert by_port[5432]["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
        # The instance metadata service is out of reach: only the IRSA role can be used.
        assert by_port[443]["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]
    gateway = {rule["ports"][0]["port"]: rule for rule in production.policy("gateway")["spec"]["egress"]}
    assert gateway[5432]["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    assert 443 not in gateway


def test_network_policies_can_be_left_to_the_platform() -> None:
    assert render({"networkPolicy": {"enabled": False}}).of_kind("NetworkPolicy") == []


# --- the gateway's Ingress -----------------------------------------------------------------------


def test_the_ingress_publishes_the_gateway_with_tls(production: Rendered) -> None:
    (ingress,) = production.of_kind("Ingress")
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["guardian.internal.example.com"], "secretName": "guardian-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "guardian.internal.example.com"
    assert rule["http"]["paths"] == [
        {
            "path": "/",
            "pathType": "Prefix",
            "backend": {"service": {"name": f"{RELEASE}-gateway", "port": {"name": "http"}}},
        }
    ]
    # The controller's own body limit is raised for evidence uploads.
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "101m"
    plain = render({"gateway": {"ingress": {"enabled": True, "host": "guardian.example.org"}}})
    (ingress,) = plain.of_kind("Ingress")
    assert "tls" not in ingress["spec"]
    assert "ingressClassName" not in ingress["spec"]
    assert "export GUARDIAN_URL=http://guardian.example.org\n" in plain.notes


# --- migrations -----------------------------------------------------------------------------------


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(rendered: Rendered) -> None:
    (job,) = rendered.of_kind("Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    # One schema after the other, each with its own service's image.
    ordered = list(containers(pod))
    assert [c["command"] for c in ordered] == [
        ["python", "-m", "guardian_common.migrate_cli", "--service", schema] for schema in SCHEMAS
    ]
    assert [c["image"].rsplit("/", 1)[-1].split(":")[0] for c in ordered] == [f"guardian-{s}" for s in SCHEMAS]
    assert len(pod["containers"]) == 1
    # The Job may connect as the schemas' owner while the services use a role without DDL rights.
    migrations = rendered.values["migrations"]
    database = rendered.values["database"]
    expected_ref = (
        {"name": migrations["existingSecret"], "key": migrations["urlKey"]}
        if migrations["existingSecret"]
        else {"name": database["existingSecret"], "key": database["urlKey"]}
    )
    for container in ordered:
        env = env_of(container)
        assert env["GUARDIAN_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == expected_ref
        # Migrations are never handed either signing secret.
        assert "GUARDIAN_AUTH_SECRET" not in env
        assert "GUARDIAN_INTERNAL_SECRET" not in env


def test_production_migrates_as_the_schema_owner_and_runs_as_another_role(production: Rendered) -> None:
    (job,) = production.of_kind("Job")
    refs = {
        env_of(c)["GUARDIAN_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
        for c in containers(job["spec"]["template"]["spec"])
    }
    assert refs == {"guardian-postgres-owner"}
    # The first-key command needs DDL rights the services' role lacks: the notes say so.
    assert "run it with the owner's\n   URL" in production.notes
    for service in SERVICES:
        if service != "evaluator":
            ref = env_of(production.container(service))["GUARDIAN_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "guardian-postgres", "key": "database-url"}


def test_migrations_can_be_turned_off_and_the_services_then_migrate_themselves() -> None:
    without = render({"migrations": {"enabled": False}})
    assert without.of_kind("Job") == []
    assert f"{RELEASE}-migrations" not in {p["metadata"]["name"] for p in without.of_kind("NetworkPolicy")}
    for service in SERVICES:
        assert env_of(without.container(service))["GUARDIAN_RUN_MIGRATIONS"]["value"] == "true", service
    assert "migrations.enabled is false" in without.notes
