"""A moto server in a child process, on a free loopback port.

Started the way the brief requires (``MOTO_EC2_LOAD_DEFAULT_AMIS=false``); ``reset()`` empties it
between tests. ``client()`` makes a boto3 client pointed at it, for seeding.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

import boto3
import httpx
from botocore.config import Config

ACCOUNT_ID = "123456789012"  # moto's default account


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PortTaken(Exception):
    """The server exited at once: the port chosen for it was taken before it could bind."""


class MotoServer:
    def __init__(self, port: int | None = None) -> None:
        self._chosen = port is None
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> MotoServer:
        """Start the server; on a port we chose, a port taken meanwhile means another free one."""
        for _ in range(3 if self._chosen else 1):
            try:
                return self._start(timeout)
            except PortTaken:
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
        status = self._proc.returncode if self._proc is not None else None
        raise RuntimeError(f"moto server exited at start on three free ports (last status {status})")

    def _start(self, timeout: float) -> MotoServer:
        env = {
            **os.environ,
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                if self._chosen:
                    raise PortTaken(self.port)  # most likely the port went to someone else meanwhile
                raise RuntimeError(f"moto server exited with status {self._proc.returncode}")
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1.0)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not start in time")

    def reset(self) -> None:
        httpx.post(f"{self.url}/moto-api/reset", timeout=30.0).raise_for_status()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                # Reaped, or the child outlives its Popen as a zombie (a ResourceWarning in tests).
                self._proc.wait()
        self._proc = None

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
