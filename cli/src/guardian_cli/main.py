"""``guardian``: the demo, scans, exports, keys and the collector's IAM policy.

Exit statuses: 0 success (a scan final and complete); 1 a scan final but partial; 2 bad usage;
3 could not run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.live import Live

from guardian_cli.accounts_cmds import accounts_app
from guardian_cli.audit_cmds import audit_app
from guardian_cli.catalogue_cmds import checks_app, frameworks_app
from guardian_cli.client import ApiError, Endpoints, GuardianClient
from guardian_cli.evidence_cmds import evidence_app
from guardian_cli.follow import ScanOutcome, run_scan
from guardian_cli.history_cmds import history_app
from guardian_cli.model_cmds import controls_app, exceptions_app, periods_app, scopes_app
from guardian_cli.remediation_cmds import actions_app
from guardian_cli.render import progress_table, summary
from guardian_cli.report_cmds import report_command, verify_command
from guardian_cli.stack import LocalStack, StackConfig, load_or_create_secret
from guardian_cli.webhooks_cmds import webhooks_app
from guardian_collector.policy import read_only_policy
from guardian_common.auth import Role, mint_key

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_CANNOT_RUN = 0, 1, 2, 3

app = typer.Typer(
    name="guardian",
    help="Guardian: continuous SOC 2 monitoring for AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(evidence_app, name="evidence")
app.add_typer(checks_app, name="checks")
app.add_typer(frameworks_app, name="frameworks")
app.add_typer(scopes_app, name="scopes")
app.add_typer(periods_app, name="periods")
app.add_typer(controls_app, name="controls")
app.add_typer(exceptions_app, name="exceptions")
app.add_typer(history_app, name="history")
app.add_typer(audit_app, name="audit")
app.add_typer(accounts_app, name="accounts")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(actions_app, name="actions")
app.command("report")(report_command)
app.command("verify")(verify_command)

console = Console(soft_wrap=True)
err = Console(stderr=True)


def home() -> Path:
    return Path(os.environ.get("GUARDIAN_HOME") or Path.home() / ".guardian")


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@dataclass
class Target:
    client: GuardianClient
    stack: LocalStack | None


def remote_endpoints() -> Endpoints | None:
    gateway = os.environ.get("GUARDIAN_URL")
    if gateway:
        return Endpoints.gateway(gateway)
    collector = os.environ.get("GUARDIAN_COLLECTOR_URL")
    compliance = os.environ.get("GUARDIAN_COMPLIANCE_URL")
    if not collector and not compliance:
        return None
    if not collector or not compliance:
        raise fail("set both GUARDIAN_COLLECTOR_URL and GUARDIAN_COMPLIANCE_URL, or neither", EXIT_USAGE)
    evaluator = os.environ.get("GUARDIAN_EVALUATOR_URL", "")
    return Endpoints(collector=collector.rstrip("/"), compliance=compliance.rstrip("/"), evaluator=evaluator)


def stack_config(**overrides: Any) -> StackConfig:
    config = StackConfig(
        home=home(),
        database_url=os.environ.get("GUARDIAN_DATABASE_URL") or None,
        nats_url=os.environ.get("GUARDIAN_NATS_URL") or None,
        auth_secret=os.environ.get("GUARDIAN_AUTH_SECRET") or None,
        aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        log_level=os.environ.get("GUARDIAN_LOG_LEVEL", "WARNING"),
        bus_prefix=os.environ.get("GUARDIAN_BUS_PREFIX", "guardian"),
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def admin_key(secret: str, name: str) -> str:
    _, key = mint_key(secret, Role.ADMIN, name)
    return key


@asynccontextmanager
async def target(config: StackConfig | None = None) -> AsyncIterator[Target]:
    """Running services named by GUARDIAN_*_URL, else every service started here, embedded."""
    endpoints = remote_endpoints()
    if endpoints is not None:
        key = os.environ.get("GUARDIAN_API_KEY")
        if not key:
            raise fail("GUARDIAN_API_KEY is required with GUARDIAN_URL or GUARDIAN_COLLECTOR_URL", EXIT_USAGE)
        async with GuardianClient(endpoints, key) as client:
            yield Target(client, None)
        return
    stack = LocalStack(config or stack_config())
    try:
        await stack.start()
    except Exception as exc:
        raise fail(f"could not start the local services: {exc}", EXIT_CANNOT_RUN) from exc
    try:
        endpoints = Endpoints(stack.url("collector"), stack.url("compliance"), stack.url("evaluator"))
        async with GuardianClient(endpoints, admin_key(stack.auth_secret, "cli")) as client:
            yield Target(client, stack)
    finally:
        await stack.stop()


async def follow(client: GuardianClient, regions: list[str] | None, services: list[str] | None) -> ScanOutcome:
    interactive = console.is_terminal
    with Live(console=console, refresh_per_second=4, transient=False) if interactive else _NoLive() as live:
        last_line = ""

        def progress(collection: dict[str, Any], evaluation: dict[str, Any] | None) -> None:
            nonlocal last_line
            if interactive:
                live.update(progress_table(collection, evaluation))
                return
            done = sum(1 for u in collection.get("units", []) if u["status"] != "pending")
            total = len(collection.get("units", []))
            evaluated = evaluation["evaluated"] if evaluation else 0
            line = f"scan {collection['scan_id']}: collected {done}/{total} units, evaluated {evaluated}"
            if line != last_line:
                console.print(line)
                last_line = line

        return await run_scan(client, regions=regions, services=services, on_progress=progress)


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, _: object) -> None:
        return None


async def scan_and_report(client: GuardianClient, regions: list[str] | None, services: list[str] | None) -> int:
    try:
        outcome = await follow(client, regions, services)
    except ApiError as exc:
        if exc.status in (400, 409, 422):
            raise fail(exc.detail, EXIT_USAGE if exc.status != 409 else EXIT_CANNOT_RUN) from exc
        raise fail(f"{exc.code}: {exc.detail}", EXIT_CANNOT_RUN) from exc
    except httpx.HTTPError as exc:
        raise fail(f"could not reach the Guardian services: {exc}", EXIT_CANNOT_RUN) from exc
    summary(console, outcome)
    code = outcome.exit_code()
    if code == EXIT_PARTIAL:
        names = ", ".join(f"{u['service']} in {u['region']}" for u in outcome.unread_units) or "see above"
        console.print(f"[yellow]Final but partial: could not read {names}.[/]")
    return code


@app.command()
def scan(
    region: Annotated[list[str] | None, typer.Option("--region", "-r", help="Region to scan (repeatable)")] = None,
    service: Annotated[list[str] | None, typer.Option("--service", "-s", help="Service to scan (repeatable)")] = None,
) -> None:
    """Scan the AWS account of the current credentials and print its SOC 2 posture."""

    async def main() -> int:
        async with target() as tgt:
            return await scan_and_report(tgt.client, region, service)

    raise typer.Exit(asyncio.run(main()))


@app.command()
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write")],
    framework: Annotated[str, typer.Option(help="Framework id")] = "soc2",
    fmt: Annotated[str, typer.Option("--format", help="Output format: json")] = "json",
) -> None:
    """Write the latest final results of a framework to a file."""
    if fmt != "json":
        raise fail(f"unsupported format {fmt!r}: this version exports json", EXIT_USAGE)

    async def main() -> dict[str, Any]:
        async with target() as tgt:
            try:
                return await tgt.client.export(framework)
            except ApiError as exc:
                code = EXIT_USAGE if exc.status in (404, 422) else EXIT_CANNOT_RUN
                raise fail(exc.detail, code) from exc

    data = asyncio.run(main())
    try:
        output.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}", EXIT_CANNOT_RUN) from exc
    console.print(f"Wrote {output} ({len(data['controls'])} controls, {len(data['findings'])} findings)")


@app.command()
def demo(
    serve: Annotated[bool, typer.Option(help="Keep the API up after the scan until Ctrl-C")] = True,
    port: Annotated[
        int, typer.Option(help="Port of the collector; the gateway takes the one before, the others follow")
    ] = 8081,
) -> None:
    """Start every service, scan a bundled demo AWS environment (moto) and print its SOC 2 posture."""
    from guardian_cli.demo_env import MOTO_CANNOT_SERVE, demo_services, seed
    from guardian_testkit.moto import MotoServer

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[var] = "demo"  # the demo talks to moto only, never to a real account
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    console.print("Starting the demo AWS environment (moto)…")
    with MotoServer() as moto:
        manifest = seed(moto.url)
        regions = list(manifest.regions)
        config = stack_config(
            aws_endpoint_url=moto.url,
            regions=regions,
            ports={
                "gateway": port - 1,
                "collector": port,
                "evaluator": port + 1,
                "compliance": port + 2,
                "evidence": port + 3,
            },
        )

        async def main() -> int:
            from guardian_gateway.keys.service import bootstrap_key  # the gateway's code: only for the demo

            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            console.print("Starting Guardian (gateway, collector, evaluator, compliance, evidence, NATS, PostgreSQL)…")
            async with target(config) as tgt:
                assert tgt.stack is not None
                key = admin_key(tgt.stack.auth_secret, "demo-admin")
                skipped = ", ".join(f"{name} ({why})" for name, why in sorted(MOTO_CANNOT_SERVE.items()))
                console.print(f"[dim]Not scanned in the demo, as moto cannot serve them: {skipped}.[/]")
                code = await scan_and_report(tgt.client, regions, demo_services())
                console.print()
                console.print("[bold]Guardian is running.[/]")
                gateway_key = (
                    await bootstrap_key(tgt.stack.database_url, "demo-admin", Role.ADMIN, create_database=True)
                ).key
                console.print(f"  gateway    {tgt.stack.url('gateway')}/docs   (one address for every API)")
                console.print(f"  gateway admin key: {gateway_key}")
                console.print(
                    f"  try: curl -H 'Authorization: Bearer {gateway_key}' {tgt.stack.url('gateway')}"
                    "/api/v1/frameworks/soc2/readiness"
                )
                for name in ("collector", "evaluator", "compliance", "evidence"):
                    console.print(f"  {name:10} {tgt.stack.url(name)}/docs")
                console.print(f"  admin API key for the services directly: {key}")
                if serve:
                    console.print("Press Ctrl-C to stop.")
                    await stop.wait()
                    console.print("Stopping…")
                return code

        code = asyncio.run(main())
    raise typer.Exit(EXIT_OK if code in (EXIT_OK, EXIT_PARTIAL) else code)


@app.command("serve")
def serve_cmd() -> None:
    """Start every service locally (embedded NATS and PostgreSQL unless configured) until Ctrl-C."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with target() as tgt:
            assert tgt.stack is not None
            for name in ("collector", "evaluator", "compliance"):
                console.print(f"{name:10} {tgt.stack.url(name)}")
            await stop.wait()

    asyncio.run(main())


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, editor or auditor")] = "admin",
    name: Annotated[str, typer.Option(help="Who or what the key is for")] = "admin",
    expires_in_days: Annotated[int | None, typer.Option(help="Days until the key expires")] = None,
) -> None:
    """Make an API key signed with this deployment's secret; it is shown once."""
    try:
        chosen = Role(role)
    except ValueError:
        raise fail(f"unknown role {role!r}: use admin, editor or auditor", EXIT_USAGE) from None
    if expires_in_days is not None and expires_in_days <= 0:
        raise fail("--expires-in-days must be positive", EXIT_USAGE)
    secret = os.environ.get("GUARDIAN_AUTH_SECRET") or load_or_create_secret(home())
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    key_id, key = mint_key(secret, chosen, name, expires)
    console.print(key, soft_wrap=True)
    err.print(f"key {key_id} ({chosen.value}) for {name}" + (f", expires {expires:%Y-%m-%d}" if expires else ""))


@app.command("iam-policy")
def iam_policy() -> None:
    """Print the read-only IAM policy the collectors need (generated from what they declare)."""
    sys.stdout.write(json.dumps(read_only_policy(), indent=2) + "\n")


if __name__ == "__main__":
    app()
