"""The guardian command's usage errors, keys and the documented IAM policy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardian_cli.main import app
from guardian_collector.policy import read_only_policy
from guardian_common.auth import Role, verify_key
from guardian_common.errors import Unauthenticated

README = Path(__file__).resolve().parents[2] / "README.md"
POLICY_FILE = README.parent / "deploy" / "aws" / "collector-read-only-policy.json"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GUARDIAN_HOME", str(tmp_path))
    for var in ("GUARDIAN_COLLECTOR_URL", "GUARDIAN_COMPLIANCE_URL", "GUARDIAN_API_KEY", "GUARDIAN_AUTH_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner()


def test_the_published_policy_file_is_exactly_the_generated_iam_policy() -> None:
    assert json.loads(POLICY_FILE.read_text()) == read_only_policy()
    assert POLICY_FILE.relative_to(README.parent).as_posix() in README.read_text()


def test_iam_policy_command_prints_the_generated_policy(cli: CliRunner) -> None:
    result = cli.invoke(app, ["iam-policy"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == read_only_policy()


def test_keys_create_mints_a_key_verifiable_with_the_deployment_secret(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["keys", "create", "--role", "auditor", "--name", "external auditor"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[0]
    secret = (tmp_path / "auth-secret").read_text().strip()
    principal = verify_key(secret, key)
    assert principal.role is Role.AUDITOR
    assert principal.name == "external auditor"
    assert (tmp_path / "auth-secret").stat().st_mode & 0o077 == 0


def test_keys_with_expiry_stop_working_after_it(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["keys", "create", "--role", "editor", "--expires-in-days", "1"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[0]
    secret = (tmp_path / "auth-secret").read_text().strip()
    assert verify_key(secret, key).role is Role.EDITOR
    with pytest.raises(Unauthenticated):
        verify_key(secret, key, now=datetime.now(UTC) + timedelta(days=2))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["keys", "create", "--role", "root"], "unknown role"),
        (["keys", "create", "--expires-in-days", "0"], "must be positive"),
        (["export", "--output", "x.pdf", "--format", "pdf"], "unsupported format"),
        (["scan", "--bogus"], "No such option"),
    ],
)
def test_bad_usage_exits_2_with_a_message(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_half_configured_remote_services_are_a_usage_error(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDIAN_COLLECTOR_URL", "http://127.0.0.1:9")
    result = cli.invoke(app, ["scan"])
    assert result.exit_code == 2
    assert "GUARDIAN_COMPLIANCE_URL" in result.output


def test_unreachable_services_exit_3(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDIAN_COLLECTOR_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GUARDIAN_COMPLIANCE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GUARDIAN_API_KEY", "gk1.none")
    result = cli.invoke(app, ["scan", "--region", "us-east-1"])
    assert result.exit_code == 3
    assert "could not reach" in result.output
