"""The machine a benchmark ran on, and where its results go."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

RESULTS = Path(__file__).parent / "results"
POSTGRES = os.environ.get("GUARDIAN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
NATS = os.environ.get("GUARDIAN_BENCH_NATS", "nats://127.0.0.1:4222")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


async def _postgres_version() -> str:
    import asyncpg

    try:
        conn = await asyncpg.connect(f"{POSTGRES}/postgres", timeout=3)
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def _nats_version() -> str:
    import nats

    try:
        nc = await nats.connect(NATS, connect_timeout=3, max_reconnect_attempts=0)
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    try:
        return str(nc._server_info.get("version", "unknown"))
    finally:
        await nc.close()


def describe() -> dict[str, Any]:
    async def versions() -> tuple[str, str]:
        return await _postgres_version(), await _nats_version()

    postgres, nats_version = asyncio.run(versions())
    return {
        "cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "postgresql": postgres,
        "nats": nats_version,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write(name: str, figures: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (machine described) atomically; returns the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"benchmark": name, "machine": describe(), **figures}, indent=2, sort_keys=False))
    tmp.replace(path)
    return path
