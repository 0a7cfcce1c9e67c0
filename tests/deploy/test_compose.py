"""docker-compose.yml: valid against the Compose specification, and wired the way the docs say.

No Docker engine runs here, so the file is checked instead of started: against the Compose schema
that ``check-jsonschema`` vendors (offline), then for the properties that matter when it does run.
Each service's environment is also interpolated the way compose would (with stand-in secrets) and
handed to that service's own settings class, so a variable the service would refuse fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings

from guardian_collector.settings import CollectorSettings
from guardian_common.settings import ServiceSettings
from guardian_compliance.settings import ComplianceSettings
from guardian_evaluator.settings import EvaluatorSettings
from guardian_evidence.settings import EvidenceSettings
from guardian_gateway.__main__ import main as gateway_main
from guardian_gateway.settings import GatewaySettings
from guardian_remediation.settings import RemediationSettings
from guardian_reporting.package import key_path
from guardian_reporting.settings import ReportingSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SERVICES = ("gateway", "collector", "evaluator", "compliance", "evidence", "reporting", "remediation")
# Behind the gateway: they refuse API keys sent to them directly.
INTERNAL = ("collector", "evaluator", "compliance", "evidence", "reporting", "remediation")
MIGRATIONS = {
    "migrate-collector": "collector",
    "migrate-compliance": "compliance",
    "migrate-evidence": "evidence",
    "migrate-reporting": "reporting",
    "migrate-remediation": "remediation",
    "migrate-gateway": "gateway",
}
# Besides the gateway, who reads whom over REST (on a user's behalf, signed with the internal secret).
REST_READS = {
    "reporting": {"compliance", "evidence", "collector", "remediation"},
    "remediation": {"compliance", "collector"},
}
SETTINGS: dict[str, type[ServiceSettings]] = {
    "gateway": GatewaySettings,
    "collector": CollectorSettings,
    "evaluator": EvaluatorSettings,
    "compliance": ComplianceSettings,
    "evidence": EvidenceSettings,
    "reporting": ReportingSettings,
    "remediation": RemediationSettings,
    "collector-demo": CollectorSettings,
}
# A reference that makes compose stop with an error when the variable is unset or empty.
REQUIRED_VARIABLE = re.compile(r"\$\{(GUARDIAN_[A-Z_]+):\?[^}]+\}")
REFERENCE = re.compile(r"\$\{([A-Z_]+)(?::([?-])([^}]*))?\}")
# Stand-ins for what .env holds: long enough for production, never used anywhere else.
DOTENV = {
    "GUARDIAN_AUTH_SECRET": "a" * 48,
    "GUARDIAN_INTERNAL_SECRET": "b" * 48,
    "GUARDIAN_POSTGRES_PASSWORD": "c" * 24,
}


def check_jsonschema(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} against ``variables``."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if variables.get(name):
            return variables[name]
        if kind == "?":
            raise LookupError(f"{name}: {rest}")
        return rest if kind == "-" else ""

    return REFERENCE.sub(one, value)


def use_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Make ``env`` the only GUARDIAN_* variables this process has, as in the container."""
    for variable in [v for v in os.environ if v.startswith("GUARDIAN_")]:
        monkeypatch.delenv(variable)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)


def environment(service: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    """The variables a container gets: entries without a value pass through from the shell (unset here)."""
    return {
        name: interpolate(str(value), variables) for name, value in service["environment"].items() if value is not None
    }


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_compose_file_matches_the_compose_specification() -> None:
    result = check_jsonschema("--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_schema_check_catches_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    stop_grace_period: 30s", "    stop_grace_periods: 30s", 1))
    result = check_jsonschema("--builtin-schema", "vendor.compose-spec", str(broken))
    assert result.returncode == 1
    assert "stop_grace_periods" in result.stdout


def test_nats_postgres_and_evidence_keep_their_data_in_volumes(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    nats = services["nats"]
    assert "--jetstream" in nats["command"]
    store = nats["command"][nats["command"].index("--store_dir") + 1]
    assert f"nats-data:{store}" in nats["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert set(compose["volumes"]) == {"nats-data", "postgres-data", "evidence-data", "reporting-keys"}
    for name in ("nats", "postgres"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"
        assert services[name]["restart"] == "unless-stopped"


def test_evidence_is_stored_on_its_volume_owned_by_the_service_user(services: dict[str, dict[str, Any]]) -> None:
    evidence = services["evidence"]
    env = evidence["environment"]
    assert env["GUARDIAN_STORAGE_BACKEND"] == "local"
    assert evidence["volumes"] == [f"evidence-data:{env['GUARDIAN_STORAGE_DIR']}"]
    # A new named volume belongs to root: a one-shot step hands it to the image's user (10001) first.
    owner = services["evidence-volume"]
    assert owner["volumes"] == evidence["volumes"]
    assert owner["command"] == ["chown", "10001:10001", env["GUARDIAN_STORAGE_DIR"]]
    assert owner["user"] == "0:0"
    # Root in that step keeps only the capability it needs.
    assert owner["cap_drop"] == ["ALL"]
    assert owner["cap_add"] == ["CHOWN"]
    assert owner["read_only"] is True
    assert owner["restart"] == "no"
    assert evidence["depends_on"]["evidence-volume"] == {"condition": "service_completed_successfully"}


def test_the_reporting_signing_key_is_kept_on_its_volume_owned_by_the_service_user(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    reporting = services["reporting"]
    (volume,) = reporting["volumes"]
    name, _, directory = volume.partition(":")
    assert name == "reporting-keys"
    # The service makes its key there on first use (mode 0600) and reads it back after a restart:
    # the key path its own settings compute lies on the volume, not on the tmpfs that dies with it.
    use_environment(monkeypatch, environment(reporting, DOTENV))
    path = key_path(ReportingSettings())
    assert str(path.parent) == directory
    assert not str(path).startswith("/tmp")
    # A new named volume belongs to root: a one-shot step hands it to the image's user (10001) first,
    # as root with the one capability it needs.
    owner = services["reporting-volume"]
    assert owner["volumes"] == reporting["volumes"]
    assert owner["command"] == ["chown", "10001:10001", directory]
    assert owner["user"] == "0:0"
    assert owner["cap_drop"] == ["ALL"]
    assert owner["cap_add"] == ["CHOWN"]
    assert owner["read_only"] is True
    assert owner["restart"] == "no"
    assert owner["build"]["args"]["SERVICE"] == "reporting"
    assert reporting["depends_on"]["reporting-volume"] == {"condition": "service_completed_successfully"}
    # No other service mounts the key.
    holders = {n for n, s in services.items() if any(v.startswith("reporting-keys:") for v in s.get("volumes", []))}
    assert holders == {"reporting", "reporting-volume"}


def test_remediation_gets_its_own_aws_credentials_never_the_collectors(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    collector_keys = {"AWS_ACCESS_KEY_ID": "AKIACOLLECTOR", "AWS_SECRET_ACCESS_KEY": "collector-secret"}
    remediation_keys = {
        "GUARDIAN_REMEDIATION_AWS_ACCESS_KEY_ID": "AKIAREMEDIATION",
        "GUARDIAN_REMEDIATION_AWS_SECRET_ACCESS_KEY": "remediation-secret",
        "GUARDIAN_REMEDIATION_AWS_SESSION_TOKEN": "remediation-token",
        "GUARDIAN_REMEDIATION_ROLE_ARN": "arn:aws:iam::123456789012:role/guardian-remediation-write",
        "GUARDIAN_REMEDIATION_AWS_REGION": "eu-west-1",
    }
    remediation = services["remediation"]
    # A shell holding only the collector's credentials gives remediation none of them.
    env = environment(remediation, {**DOTENV, **collector_keys})
    assert {name: env[name] for name in env if name.startswith("AWS_")} == {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
    }
    use_environment(monkeypatch, env)
    assert not RemediationSettings().aws_role_arn
    # Its own variables reach it, and only it.
    env = environment(remediation, {**DOTENV, **collector_keys, **remediation_keys})
    assert env["AWS_ACCESS_KEY_ID"] == "AKIAREMEDIATION"
    assert env["AWS_SECRET_ACCESS_KEY"] == "remediation-secret"
    assert env["AWS_SESSION_TOKEN"] == "remediation-token"
    use_environment(monkeypatch, env)
    settings = RemediationSettings()
    assert settings.aws_role_arn == remediation_keys["GUARDIAN_REMEDIATION_ROLE_ARN"]
    assert settings.aws_region == "eu-west-1"
    assert settings.aws_endpoint_url is None
    for name, service in services.items():
        values = " ".join(str(v) for v in (service.get("environment") or {}).values())
        if name != "remediation":
            assert "GUARDIAN_REMEDIATION_" not in values, name
    # The collector's AWS variables pass through from the shell; remediation never names them.
    assert all(services["collector"]["environment"][name] is None for name in collector_keys)
    assert "${AWS_" not in " ".join(str(v) for v in remediation["environment"].values())


def test_reporting_and_remediation_read_the_services_on_the_compose_network(
    services: dict[str, dict[str, Any]],
) -> None:
    for caller, reads in REST_READS.items():
        env = environment(services[caller], DOTENV)
        urls = {
            name.removeprefix("GUARDIAN_").removesuffix("_URL").lower(): value
            for name, value in env.items()
            if name.endswith("_URL") and name not in ("GUARDIAN_DATABASE_URL", "GUARDIAN_NATS_URL")
        }
        assert set(urls) == reads, caller
        for service, url in urls.items():
            parts = urlsplit(url)
            assert (parts.hostname, parts.port) == (service, 8080)
            assert services[caller]["depends_on"][service] == {"condition": "service_healthy"}


def test_migrations_run_once_before_the_services_that_own_a_schema(services: dict[str, dict[str, Any]]) -> None:
    assert {name for name in services if name.startswith("migrate-")} == set(MIGRATIONS)
    for step, owner in MIGRATIONS.items():
        migrate = services[step]
        assert migrate["command"] == ["python", "-m", "guardian_common.migrate_cli", "--service", owner]
        assert migrate["image"] == services[owner]["image"]
        assert migrate["build"]["args"]["SERVICE"] == owner
        assert migrate["restart"] == "no"
        assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
        # A migration is never handed either signing secret.
        assert "GUARDIAN_AUTH_SECRET" not in migrate["environment"]
        assert "GUARDIAN_INTERNAL_SECRET" not in migrate["environment"]
        assert services[owner]["depends_on"][step] == {"condition": "service_completed_successfully"}
    assert not any(step in services["evaluator"]["depends_on"] for step in MIGRATIONS)


@pytest.mark.parametrize("name", [*SERVICES, "collector-demo"])
def test_services_are_health_checked_restarted_and_hardened(services: dict[str, dict[str, Any]], name: str) -> None:
    service = services[name]
    assert service["restart"] == "unless-stopped"
    check = service["healthcheck"]
    assert check["test"][:2] == ["CMD", "python"]
    assert "/readyz" in check["test"][-1]
    assert service["read_only"] is True
    assert service["tmpfs"] == ["/tmp"]
    assert service["cap_drop"] == ["ALL"]
    assert "cap_add" not in service
    assert service["depends_on"]["nats"]["condition"] == "service_healthy"
    build = service["build"]
    assert build["dockerfile"] == "deploy/docker/Dockerfile"
    assert build["context"] == "."
    assert build["args"]["SERVICE"] == name.removesuffix("-demo")


def test_secrets_are_required_variables_never_values(services: dict[str, dict[str, Any]]) -> None:
    for name in (*SERVICES, "collector-demo", *MIGRATIONS, "bootstrap-key"):
        env = services[name]["environment"]
        if name != "evaluator":
            assert REQUIRED_VARIABLE.search(env["GUARDIAN_DATABASE_URL"])
        for secret in ("GUARDIAN_AUTH_SECRET", "GUARDIAN_INTERNAL_SECRET"):
            if secret in env:
                assert REQUIRED_VARIABLE.fullmatch(env[secret]), (name, secret)
        assert env["GUARDIAN_ENVIRONMENT"] == "production"
    assert REQUIRED_VARIABLE.fullmatch(services["postgres"]["environment"]["POSTGRES_PASSWORD"])
    # The evaluator keeps no state: it is not given the database password.
    assert "GUARDIAN_DATABASE_URL" not in services["evaluator"]["environment"]
    # Without the internal secret nothing starts.
    with pytest.raises(LookupError, match="GUARDIAN_INTERNAL_SECRET"):
        environment(services["gateway"], {k: v for k, v in DOTENV.items() if k != "GUARDIAN_INTERNAL_SECRET"})


@pytest.mark.parametrize("name", [*SERVICES, "collector-demo"])
def test_every_service_accepts_its_compose_environment(
    services: dict[str, dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = environment(services[name], DOTENV)
    # Every service has the internal secret and leaves migrating to the migrate-* steps.
    assert env["GUARDIAN_INTERNAL_SECRET"] == DOTENV["GUARDIAN_INTERNAL_SECRET"]
    assert env["GUARDIAN_RUN_MIGRATIONS"] == "false"
    internal = name != "gateway"
    assert ("GUARDIAN_REQUIRE_GATEWAY" in env) is internal
    # The service's own settings class, reading the environment as it would in the container.
    use_environment(monkeypatch, env)
    settings: BaseSettings = SETTINGS[name]()
    assert isinstance(settings, ServiceSettings)
    assert settings.environment == "production"
    assert settings.run_migrations is False
    assert settings.internal_secret == DOTENV["GUARDIAN_INTERNAL_SECRET"]
    assert settings.require_gateway is internal
    if name != "evaluator":
        assert (
            settings.database_url
            == f"postgresql://guardian:{DOTENV['GUARDIAN_POSTGRES_PASSWORD']}@postgres:5432/guardian"
        )


def test_only_the_gateway_is_published(services: dict[str, dict[str, Any]]) -> None:
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert published == {"gateway": ["${GUARDIAN_PUBLISH_ADDRESS:-127.0.0.1}:8080:8080"]}
    assert interpolate(published["gateway"][0], {}) == "127.0.0.1:8080:8080"


def test_the_gateway_routes_to_the_services_on_the_compose_network(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = services["gateway"]
    use_environment(monkeypatch, environment(gateway, DOTENV))
    upstreams = GatewaySettings().upstreams()
    assert set(upstreams) == set(INTERNAL)
    for name, url in upstreams.items():
        parts = urlsplit(url)
        # Each upstream is a compose service on the container port every image listens on.
        assert parts.hostname == name
        assert parts.port == 8080
        assert services[name]["build"]["args"]["SERVICE"] == name
        assert gateway["depends_on"][name] == {"condition": "service_healthy"}
    # Big enough for the largest evidence upload.
    env = environment(gateway, DOTENV)
    assert int(env["GUARDIAN_MAX_BODY_BYTES"]) >= int(services["evidence"]["environment"]["GUARDIAN_MAX_UPLOAD_BYTES"])
    assert json.loads(env["GUARDIAN_EXTRA_UPSTREAMS"]) == {
        "evidence": "http://evidence:8080",
        "reporting": "http://reporting:8080",
        "remediation": "http://remediation:8080",
    }


def test_the_demo_collector_can_take_the_gateways_scans(services: dict[str, dict[str, Any]]) -> None:
    gateway = services["gateway"]
    env = environment(gateway, {**DOTENV, "GUARDIAN_SCAN_COLLECTOR": "collector-demo"})
    assert env["GUARDIAN_COLLECTOR_URL"] == "http://collector-demo:8080"
    assert "demo" in services["collector-demo"]["profiles"]
    # Waited for when the demo profile runs; not needed (and not an error) without it.
    assert gateway["depends_on"]["collector-demo"] == {"condition": "service_healthy", "required": False}


def test_the_first_admin_key_comes_from_the_tools_profile(
    services: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = services["bootstrap-key"]
    assert "tools" in bootstrap["profiles"]
    assert bootstrap["image"] == services["gateway"]["image"]
    assert bootstrap["entrypoint"] == ["python", "-m", "guardian_gateway", "bootstrap-key"]
    env = environment(bootstrap, DOTENV)
    assert "GUARDIAN_DATABASE_URL" in env
    # It writes the key into the gateway's schema: it needs the database, not the internal secret.
    assert "GUARDIAN_INTERNAL_SECRET" not in env
    assert bootstrap["depends_on"]["migrate-gateway"] == {"condition": "service_completed_successfully"}
    # The documented `run --rm -T bootstrap-key --name me` is what the gateway's command accepts.
    with pytest.raises(SystemExit) as exited:
        gateway_main([*bootstrap["entrypoint"][3:], *bootstrap["command"]])
    assert exited.value.code == 0
    assert "--name" in capsys.readouterr().out
    # The cli talks to the gateway only, and is not given a secret to mint keys with.
    cli = services["cli"]
    assert {"tools", "demo"} <= set(cli["profiles"])
    urls = {k: v for k, v in cli["environment"].items() if k.endswith("_URL")}
    assert set(urls) == {
        "GUARDIAN_COLLECTOR_URL",
        "GUARDIAN_COMPLIANCE_URL",
        "GUARDIAN_EVALUATOR_URL",
        "GUARDIAN_EVIDENCE_URL",
        # The report, remediation, webhooks and audit commands.
        "GUARDIAN_URL",
    }
    assert set(urls.values()) == {"http://gateway:8080"}
    assert "GUARDIAN_AUTH_SECRET" not in cli["environment"]


def test_the_demo_profile_seeds_moto_and_points_a_collector_at_it(services: dict[str, dict[str, Any]]) -> None:
    demo = {name for name, s in services.items() if "demo" in s.get("profiles", [])}
    assert {"moto", "demo-seed", "collector-demo"} <= demo
    assert "motoserver/moto:" in services["moto"]["image"]
    seed = services["demo-seed"]
    assert 'seed("http://moto:5000")' in seed["command"][-1]
    assert seed["depends_on"]["moto"]["condition"] == "service_healthy"
    collector = services["collector-demo"]
    assert collector["environment"]["GUARDIAN_AWS_ENDPOINT_URL"] == "http://moto:5000"
    assert collector["depends_on"]["demo-seed"] == {"condition": "service_completed_successfully"}
    # Everything outside the profiles starts with a plain `docker compose up`.
    assert {name for name, s in services.items() if "profiles" not in s} == {
        "nats",
        "postgres",
        "evidence-volume",
        "reporting-volume",
        *MIGRATIONS,
        *SERVICES,
    }


def test_the_demo_seed_command_is_valid_python(services: dict[str, dict[str, Any]]) -> None:
    command = services["demo-seed"]["command"]
    assert command[:2] == ["python", "-c"]
    compile(command[2], "demo-seed", "exec")
