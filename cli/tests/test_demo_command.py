"""The README's first command, as a user runs it: ``guardian demo`` in its own process."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from pathlib import Path

from guardian_testkit.moto import free_port
from guardian_testkit.resources import delete_streams


def free_run(length: int) -> int:
    """The first of ``length`` consecutive free loopback ports."""
    for _ in range(50):
        start = free_port()
        sockets = []
        try:
            for port in range(start, start + length):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return start
    raise AssertionError("no run of free ports")


async def test_demo_scans_the_bundled_environment_and_prints_the_posture(
    fresh_database: str, nats_url: str, tmp_path: Path
) -> None:
    prefix = f"demo{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "GUARDIAN_HOME": str(tmp_path),
        "GUARDIAN_DATABASE_URL": fresh_database,
        "GUARDIAN_NATS_URL": nats_url,
        "GUARDIAN_BUS_PREFIX": prefix,
    }
    port = free_run(5) + 1  # the gateway takes the port before the collector's
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "guardian_cli.main",
            "demo",
            "--no-serve",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=240)
    finally:
        await delete_streams(nats_url, prefix)
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    assert "SOC2 readiness:" in text
    assert "Failing controls" in text
    # Classic gaps of the demo company appear with their resource and reason.
    assert "iam_user_console_mfa  theo.brandt" in text
    assert "rds_instance_not_public  larkspur-legacy-mysql" in text
    assert "Partial scan" not in text
    assert f"http://127.0.0.1:{port + 2}/docs" in text
    assert f"gateway    http://127.0.0.1:{port - 1}/docs" in text
    assert "gateway admin key: gdk_" in text
    assert "admin API key for the services directly: gk1." in text
