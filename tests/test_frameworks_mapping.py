"""``GET /api/v1/frameworks/{id}/mapping`` through the gateway, and ``guardian frameworks mapping`` against
running services, run as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import Running

from guardian_gateway.keys.service import bootstrap_key


@dataclass
class Result:
    code: int | None
    out: str
    err: str


async def guardian(running: Running, key: str, home: Path, *args: str) -> Result:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")},
        "GUARDIAN_URL": running.stack.url("gateway"),
        "GUARDIAN_API_KEY": key,
        "GUARDIAN_HOME": str(home),
        "COLUMNS": "250",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "guardian_cli.main",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, errs = await asyncio.wait_for(proc.communicate(), timeout=120)
    return Result(proc.returncode, out.decode(), errs.decode())


async def test_the_mapping_through_the_gateway_and_the_cli(running: Running, tmp_path: Path) -> None:
    gateway = running.stack.url("gateway")
    root = (await bootstrap_key(running.database_url, "test-root")).key
    made = await running.client.request(
        "POST",
        f"{gateway}/api/v1/keys",
        json={"name": "mapping-auditor", "role": "auditor"},
        headers={"Authorization": f"Bearer {root}"},
    )
    auditor = str(made.json()["key"])
    headers = {"Authorization": f"Bearer {auditor}"}
    response = await running.client.request("GET", f"{gateway}/api/v1/frameworks/soc2/mapping", headers=headers)
    api: dict[str, Any] = response.json()
    assert api["framework"] == "soc2"
    assert api["summary"]["requirements"] == 61
    assert api["summary"]["automated"] >= 40
    # The evaluator has published its catalogue to compliance by the time the stack is up.
    assert api["catalogue_version"] is not None
    cc61 = next(r for r in api["requirements"] if r["id"] == "CC6.1")
    assert cc61["automated"] is True
    assert all(c["rationale"] for c in cc61["controls"])
    described = [k for c in cc61["controls"] for k in c["checks"]]
    assert described
    assert all(k["in_catalogue"] and k["title"] for k in described)

    as_json, text, unknown = await asyncio.gather(
        guardian(running, auditor, tmp_path, "frameworks", "mapping", "cis_aws", "--json"),
        guardian(running, auditor, tmp_path, "frameworks", "mapping", "cis_aws"),
        guardian(running, auditor, tmp_path, "frameworks", "mapping", "iso27001"),
    )
    assert as_json.code == 0, as_json.err
    cis = json.loads(as_json.out)
    requirements = {r["id"]: r for r in cis["requirements"]}
    [data_events] = requirements["CIS-3.8"]["controls"]
    assert [c["id"] for c in data_events["checks"]] == [
        "cloudtrail_s3_write_data_events",
        "cloudtrail_s3_read_data_events",
    ]
    assert text.code == 0, text.err
    assert "CIS-1.19  Expired IAM server certificates removed" in text.out
    assert "check:    iam_server_certificate_not_expired" in text.out
    assert "why:      iam_server_certificate_not_expired lists the server certificates" in text.out
    assert "evidence: " in text.out  # procedural recommendations name their evidence
    assert f"{cis['summary']['automated']} of {cis['summary']['requirements']} requirements" in text.out
    # An unknown framework: the API's 404, exit 2 with its code.
    assert unknown.code == 2, unknown.out + unknown.err
    assert "framework_not_found (404)" in unknown.err
