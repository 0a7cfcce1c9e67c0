"""schemathesis over the merged OpenAPI document of a running stack, with an admin key.

Stateless runs of every operation the gateway publishes (the examples and fuzzing phases, positive
and negative data, three cases each, a fixed seed: about 80 s here), checking that no answer is a
5xx and that every answer matches the document: its status code is declared, its content type and
its body fit. The coverage phase is left out for time (it triples the run).

The stack is the one ``running`` builds (AWS through the fault proxy in front of moto), with a rate
limit high enough for a fuzzer; schemathesis runs as its own process so its blocking HTTP client
does not stall the event loop the services run on.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from conftest import local_stack

from guardian_cli.stack import LocalStack
from guardian_gateway.keys.service import bootstrap_key
from guardian_testkit.faults import FaultProxy

REGIONS = ["us-east-1"]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 3
PHASES = "examples,fuzzing"
SEED = "20261126"
TIME_BUDGET_SECONDS = 240
REVOKE_KEYS = "DELETE /api/v1/keys/{key_id}"

# One stack for the module: the regression requests go first (they change nothing: every one is
# refused), then schemathesis, which may change anything, has it.
pytestmark = pytest.mark.asyncio(loop_scope="module")

# Operations left out, each with its reason; everything else in the document is tested.
EXCLUDED: dict[str, str] = {
    # Generated subscriptions name arbitrary internet hosts; the dispatcher would resolve and call
    # them, and tests stay on loopback. Webhook validation has its own tests
    # (services/gateway/tests), and the access walk covers these operations' authentication.
    "POST /api/v1/webhooks": "would deliver to generated internet hosts",
    "PATCH /api/v1/webhooks/{webhook_id}": "would point a subscription at generated internet hosts",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fuzzable(
    postgres_base: str, nats_url: str, module_proxy: FaultProxy, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalStack]:
    """Like ``running``, with a rate limit a fuzzer does not exhaust; one for the module."""
    home = tmp_path_factory.mktemp("fuzzable")
    async with local_stack(
        postgres_base,
        nats_url,
        home,
        module_proxy.url,
        regions=REGIONS,
        log_level="ERROR",
        rate_limit_per_minute=1_000_000,
    ) as stack:
        yield stack


async def schemathesis(gateway: str, key: str, report_dir: Path, selection: list[str]) -> str:
    """Run schemathesis over the gateway's document; its output, after asserting it found nothing."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{gateway}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        PHASES,
        "--workers",
        "2",
        "--seed",
        SEED,
        "--request-timeout",
        "30",
        "--max-failures",
        "50",
        "--suppress-health-check",
        "all",
        "--no-shrink",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
        *selection,
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=report_dir.parent
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=TIME_BUDGET_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    text = output.decode(errors="replace")
    print(text.strip().splitlines()[-1])  # the summary line, with the run's duration (pytest -s shows it)
    assert process.returncode == 0, text[-20000:]
    return text


async def test_what_schemathesis_found_stays_fixed(fuzzable: LocalStack) -> None:
    """One request per bug an earlier run found, so a regression shows without waiting for the fuzzer."""
    admin = (await bootstrap_key(fuzzable.database_url, "regressions")).key
    auth = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=fuzzable.url("gateway"), timeout=60, headers=auth) as http:
        # A schedule's cron set to null was a 500 (AttributeError on None).
        schedule = (await http.get("/api/v1/schedules")).json()[0]["schedule_id"]
        nulled = await http.patch(f"/api/v1/schedules/{schedule}", json={"cron": None, "enabled": None})
        assert nulled.status_code == 422, nulled.text
        assert nulled.json()["error"] == "invalid_schedule"
        # A multipart field name outside latin-1 was a 500 (UnicodeEncodeError in the header parser).
        boundary = "guardian-boundary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="名前"\r\n\r\nvalue\r\n--{boundary}--\r\n'
        ).encode()
        upload = await http.post(
            "/api/v1/evidence", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        assert 400 <= upload.status_code < 500, upload.text
        assert "error" in upload.json()
        # A JSON body that is not even text was FastAPI's bare 400; it is invalid input like any other.
        garbled = await http.patch(
            f"/api/v1/schedules/{schedule}", content=b"\xff\xfe\x00{", headers={"Content-Type": "application/json"}
        )
        assert garbled.status_code == 422, garbled.text
        assert garbled.json()["error"] == "invalid_request"
        # A path no route of the service matches answers in the one error format.
        unmatched = await http.get("/api/v1/evidence/%0A")
        assert unmatched.status_code in (404, 422), unmatched.text
        assert set(unmatched.json()) == {"error", "detail"}
        # /metrics says what it serves.
        document = (await http.get("/openapi.json")).json()
        assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
        assert "503" in document["paths"]["/readyz"]["get"]["responses"]
        assert "424" in document["paths"]["/api/v1/accounts/discover"]["post"]["responses"]


async def test_the_merged_document_holds_under_schemathesis(fuzzable: LocalStack, tmp_path: Path) -> None:
    admin = (await bootstrap_key(fuzzable.database_url, "schemathesis")).key
    gateway = fuzzable.url("gateway")
    excluded = [argument for operation in EXCLUDED for argument in ("--exclude-name", operation)]
    # Revoking keys goes last, on its own: schemathesis reuses identifiers it has seen in responses,
    # so it may well revoke the key it runs with; then everything after it would only see 401s.
    last = [REVOKE_KEYS]
    first = await schemathesis(
        gateway, admin, tmp_path / "everything", [*excluded, *(a for op in last for a in ("--exclude-name", op))]
    )
    tested = re.search(r"Tested: (\d+)", first)
    assert tested is not None, first[-3000:]
    assert int(tested.group(1)) >= 50, "the merged document lost most of its operations"
    await schemathesis(gateway, admin, tmp_path / "revocation", ["--include-name", REVOKE_KEYS])
