"""``guardian report`` (exports from the reporting service) and ``guardian verify`` (auditor packages).

``guardian report`` asks a running deployment: ``GUARDIAN_URL`` (the gateway) or
``GUARDIAN_REPORTING_URL`` (the reporting service directly), with ``GUARDIAN_API_KEY``. Exit
statuses: 0 written; 2 bad usage or the API refused (its code and detail are printed); 3 the
service could not be reached or failed.

``guardian verify`` works offline: it checks an auditor package against a public key the auditor
obtained separately (never one shipped inside the package). Exit statuses: 0 every file and the
signature check out; 1 something is wrong (each problem is named); 2 bad usage.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import httpx
import typer
from rich.console import Console

from guardian_reporting.package import fingerprint, load_public_key, verify

EXIT_OK, EXIT_BAD, EXIT_USAGE, EXIT_CANNOT_RUN = 0, 1, 2, 3
FORMATS = ("pdf", "csv", "json", "ocsf", "package")
TABLES = ("controls", "findings", "deviations", "populations")

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def _reporting_url() -> str:
    url = os.environ.get("GUARDIAN_REPORTING_URL") or os.environ.get("GUARDIAN_URL")
    if not url:
        raise _fail("set GUARDIAN_URL (the gateway) or GUARDIAN_REPORTING_URL, and GUARDIAN_API_KEY", EXIT_USAGE)
    return url.rstrip("/")


def _fetch(url: str, key: str, params: dict[str, str]) -> httpx.Response:
    with httpx.Client(timeout=300, headers={"Authorization": f"Bearer {key}"}) as http:
        return http.get(url, params=params)


def report_command(
    scope: Annotated[str, typer.Option("--scope", help="The scope to report on")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="pdf, csv, json, ocsf or package")] = "pdf",
    period: Annotated[str | None, typer.Option("--period", help="An audit period of the scope (id or name)")] = None,
    at: Annotated[str | None, typer.Option("--at", help="A point in time, ISO 8601 with a zone")] = None,
    table: Annotated[str, typer.Option("--table", help="With --format csv: " + ", ".join(TABLES))] = "controls",
    framework: Annotated[str, typer.Option(help="Framework id")] = "soc2",
) -> None:
    """Write a report for a scope, now, at a point in time or over an audit period."""
    if fmt not in FORMATS:
        raise _fail(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}", EXIT_USAGE)
    if table not in TABLES:
        raise _fail(f"unknown table {table!r}: use one of {', '.join(TABLES)}", EXIT_USAGE)
    if period is not None and at is not None:
        raise _fail("give --period or --at, not both", EXIT_USAGE)
    if at is not None:
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(f"--at {at!r} is not an ISO 8601 date and time", EXIT_USAGE) from None
        if when.tzinfo is None:
            raise _fail("--at needs a time zone, e.g. 2026-01-31T23:59:59Z", EXIT_USAGE)
        at = when.isoformat()
    base = _reporting_url()
    key = os.environ.get("GUARDIAN_API_KEY")
    if not key:
        raise _fail("GUARDIAN_API_KEY is required", EXIT_USAGE)
    params = {"format": fmt, "framework": framework}
    if fmt == "csv":
        params["table"] = table
    if period is not None:
        params["period"] = period
    if at is not None:
        params["at"] = at
    url = f"{base}/api/v1/reports/scopes/{quote(scope, safe='')}"
    try:
        response = _fetch(url, key, params)
    except httpx.HTTPError as exc:
        raise _fail(f"could not reach the reporting service at {base}: {exc}", EXIT_CANNOT_RUN) from exc
    if response.status_code >= 400:
        try:
            body = response.json()
            message = f"{body.get('error')}: {body.get('detail')}"
        except ValueError:
            message = response.text[:300]
        raise _fail(message, EXIT_USAGE if response.status_code < 500 else EXIT_CANNOT_RUN)
    try:
        output.write_bytes(response.content)
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror}", EXIT_CANNOT_RUN) from exc
    out.print(f"Wrote {output} ({fmt}, {len(response.content)} bytes)")


def verify_command(
    package: Annotated[Path, typer.Argument(help="The auditor package (zip)")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="The deployment's public key (PEM), obtained separately")
    ],
) -> None:
    """Check an auditor package: each file's SHA-256 against the manifest, the manifest's signature against the key."""
    try:
        data = package.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {package}: {exc.strerror}", EXIT_USAGE) from exc
    try:
        key = load_public_key(public_key.read_bytes())
    except OSError as exc:
        raise _fail(f"cannot read {public_key}: {exc.strerror}", EXIT_USAGE) from exc
    except ValueError as exc:
        raise _fail(f"{public_key} is not an Ed25519 public key: {exc}", EXIT_USAGE) from exc
    result = verify(data, key)
    if result.ok:
        out.print(f"OK: {result.checked} files match the manifest, signed by key {fingerprint(key)[:16]}...")
        raise typer.Exit(EXIT_OK)
    err.print(f"[bold red]FAILED:[/] {package} does not verify against key {fingerprint(key)[:16]}...", markup=True)
    for problem in result.problems:
        err.print(f"  {problem.kind}: {problem}", markup=False)
    raise typer.Exit(EXIT_BAD)
