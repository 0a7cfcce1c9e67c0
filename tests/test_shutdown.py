"""Graceful shutdown: a collector asked to stop lets a running scan finish (within its drain time)
rather than abandoning it, and a scan still running when the drain time ends is recorded abandoned."""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
import httpx
from conftest import Running

from guardian_common.auth import Role
from guardian_testkit.moto import MotoServer


def scans_of(running: Running) -> Any:
    app = running.stack.services["collector"].server.config.app
    return app.state.runtime.extras["scans"]


async def collector_scan(running: Running, scan_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {running.key(Role.AUDITOR)}"}
    async with httpx.AsyncClient(base_url=running.stack.url("collector"), headers=headers, timeout=60) as http:
        response = await http.get(f"/api/v1/scans/{scan_id}")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def start(running: Running) -> str:
    headers = {"Authorization": f"Bearer {running.key(Role.EDITOR)}"}
    async with httpx.AsyncClient(base_url=running.stack.url("collector"), headers=headers, timeout=60) as http:
        response = await http.post("/api/v1/scans", json={"regions": ["us-east-1"], "services": ["s3", "sqs"]})
    assert response.status_code == 202, response.text
    scan_id: str = response.json()["scan_id"]
    return scan_id


async def test_stopping_drains_a_running_scan(running: Running, moto: MotoServer) -> None:
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    for i in range(5):
        s3.create_bucket(Bucket=f"drain-{i}")
    running.proxy.delay_all(0.05)  # slow enough that the scan is still running when stop is asked
    scan_id = await start(running)
    assert (await collector_scan(running, scan_id))["state"] == "running"

    await scans_of(running).stop(drain_seconds=120)

    assert (await collector_scan(running, scan_id))["state"] == "completed"


async def test_a_scan_outlasting_the_drain_is_recorded_abandoned(running: Running, moto: MotoServer) -> None:
    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket="slow")
    running.proxy.delay_all(2.0)
    scan_id = await start(running)

    await scans_of(running).stop(drain_seconds=0.1)

    scan = await collector_scan(running, scan_id)
    assert scan["state"] == "abandoned"
    assert scan["error"] == "the collector stopped"
    running.proxy.delay_all(0.0)
    await asyncio.sleep(0)
