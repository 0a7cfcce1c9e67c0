"""The credential the gateway forwards, the settings that guard it, and the bootstrap command."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from typing import Any

import asyncpg
import pytest
from pydantic import ValidationError

from guardian_common.auth import Principal, Role, sign_principal, verify_principal
from guardian_common.errors import Unauthenticated
from guardian_common.settings import ServiceSettings
from guardian_gateway.settings import GatewaySettings

SECRET = "internal-secret-0123456789-abcdefghij"
PRINCIPAL = Principal(key_id="0123456789abcdef", role=Role.AUDITOR, name="Auditor Ünal")


def refusal(value: str, *, secret: str = SECRET, max_age: int = 60) -> str:
    with pytest.raises(Unauthenticated) as info:
        verify_principal(secret, value, max_age=max_age)
    return info.value.code


def test_a_signed_principal_verifies_to_itself_and_fits_in_a_header() -> None:
    value = sign_principal(SECRET, PRINCIPAL)
    assert value.isascii()
    assert verify_principal(SECRET, value) == PRINCIPAL


def test_another_secret_a_changed_value_or_an_old_one_is_refused() -> None:
    value = sign_principal(SECRET, PRINCIPAL)
    assert refusal(value, secret="another-secret-entirely-0123456789") == "invalid_internal_credential"
    assert refusal(value[:-2] + ("AA" if not value.endswith("AA") else "BB")) == "invalid_internal_credential"
    assert refusal("not-signed-at-all") == "invalid_internal_credential"
    # An age limit below zero makes any credential too old, without waiting a minute.
    assert refusal(value, max_age=-1) == "expired_internal_credential"


def test_production_refuses_gateway_only_services_without_an_internal_secret() -> None:
    real: dict[str, Any] = {"environment": "production", "auth_secret": "x" * 40}
    with pytest.raises(ValidationError, match="GUARDIAN_INTERNAL_SECRET"):
        ServiceSettings(**real, require_gateway=True)
    assert ServiceSettings(**real, require_gateway=True, internal_secret=SECRET).require_gateway
    assert not ServiceSettings(**real).require_gateway
    assert ServiceSettings(environment="development", require_gateway=True).internal_secret is None


def test_the_gateway_needs_an_internal_secret_long_enough_in_production() -> None:
    with pytest.raises(ValidationError, match="GUARDIAN_INTERNAL_SECRET"):
        GatewaySettings(internal_secret=None)
    with pytest.raises(ValidationError, match="32 characters"):
        GatewaySettings(environment="production", auth_secret="x" * 40, internal_secret="short")
    settings = GatewaySettings(internal_secret="dev", compliance_url="http://c:1/")
    assert settings.port == 8080
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert settings.rate_limit_per_minute == 600
    assert settings.upstreams()["compliance"] == "http://c:1"
    more = GatewaySettings(internal_secret="dev", extra_upstreams={"evidence": "http://e:2/"})
    assert list(more.upstreams()) == ["collector", "evaluator", "compliance", "evidence"]
    assert more.upstreams()["evidence"] == "http://e:2"
    with pytest.raises(ValidationError, match="may not name collector"):
        GatewaySettings(internal_secret="dev", extra_upstreams={"collector": "http://x"})


async def test_bootstrap_key_command_prints_a_working_admin_key_once(fresh_database: str) -> None:
    env = {**os.environ, "GUARDIAN_DATABASE_URL": fresh_database}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "guardian_gateway",
        "bootstrap-key",
        "--name",
        "first-admin",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    key = out.decode().strip()
    assert re.fullmatch(r"gdk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", key)
    assert "not shown again" in err.decode()
    conn = await asyncpg.connect(fresh_database)
    try:
        row = await conn.fetchrow("SELECT name, role, created_by FROM gateway.api_keys WHERE id = $1", key[4:20])
    finally:
        await conn.close()
    assert row is not None
    assert dict(row) == {"name": "first-admin", "role": "admin", "created_by": "bootstrap"}
