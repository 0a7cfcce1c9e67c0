"""``guardian evidence``: add, review and list evidence on a running evidence service.

The service is named by ``GUARDIAN_EVIDENCE_URL`` and the key by ``GUARDIAN_API_KEY``. Exit
statuses: 0 done; 1 the service refused (the reason is printed); 2 bad usage; 3 could not reach it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

EXIT_REFUSED, EXIT_USAGE, EXIT_CANNOT_RUN = 1, 2, 3
TYPES = "policy, procedure, training_record, vendor_assessment, access_review, screenshot, minutes, report, other"

evidence_app = typer.Typer(help="Evidence for procedural controls (needs GUARDIAN_EVIDENCE_URL).", no_args_is_help=True)

console = Console(soft_wrap=True)
err = Console(stderr=True)


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _client() -> httpx.Client:
    url = os.environ.get("GUARDIAN_EVIDENCE_URL")
    key = os.environ.get("GUARDIAN_API_KEY")
    if not url or not key:
        raise _fail("set GUARDIAN_EVIDENCE_URL and GUARDIAN_API_KEY", EXIT_USAGE)
    return httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=300.0)


def _call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    with _client() as client:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise _fail(f"could not reach the evidence service: {exc}", EXIT_CANNOT_RUN) from exc
    if response.status_code >= 400:
        try:
            body = response.json()
            message = f"{body.get('error')}: {body.get('detail')}"
        except ValueError:
            message = response.text[:300]
        raise _fail(message, EXIT_CANNOT_RUN if response.status_code >= 500 else EXIT_REFUSED)
    result: dict[str, Any] = response.json()
    return result


def _describe(item: dict[str, Any]) -> str:
    latest = item["versions"][-1] if item["versions"] else None
    text = f"{item['item_id']}  {item['title']}  status={item['status']}"
    if latest is not None:
        text += f"  v{latest['version']} {latest['media_type']} sha256={latest['sha256'][:16]}…"
    return text


@evidence_app.command("add")
def add(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The document to upload")],
    control: Annotated[list[str], typer.Option("--control", "-c", help="A control it supports (repeatable)")],
    evidence_type: Annotated[str, typer.Option("--type", "-t", help=TYPES)],
    title: Annotated[str, typer.Option("--title")],
    owner: Annotated[str, typer.Option("--owner")] = "unassigned",
    description: Annotated[str, typer.Option("--description")] = "",
    frequency: Annotated[str | None, typer.Option("--frequency", help="continuous … annual")] = None,
    period: Annotated[str | None, typer.Option("--period", help="Occurrence label, e.g. 2027-Q3")] = None,
    period_start: Annotated[str | None, typer.Option("--period-start", help="YYYY-MM-DD")] = None,
    period_end: Annotated[str | None, typer.Option("--period-end", help="YYYY-MM-DD")] = None,
    item: Annotated[str | None, typer.Option("--item", help="Add a new version to this item instead")] = None,
) -> None:
    """Upload FILE as a new evidence item (or, with --item, as its next version)."""
    with file.open("rb") as handle:
        if item is not None:
            result = _call("POST", f"/api/v1/evidence/{item}/versions", files={"file": (file.name, handle)})
        else:
            fields = {
                "title": title,
                "type": evidence_type,
                "owner": owner,
                "description": description,
                "control": control,
                "frequency": frequency,
                "period_label": period,
                "period_start": period_start,
                "period_end": period_end,
            }
            data = {k: v for k, v in fields.items() if v is not None}
            result = _call("POST", "/api/v1/evidence", data=data, files={"file": (file.name, handle)})
    console.print(_describe(result))


@evidence_app.command("review")
def review(
    item_id: Annotated[str, typer.Argument(help="The evidence item id (ev-…)")],
    version: Annotated[int, typer.Option("--version", "-v", min=1)],
    comment: Annotated[str, typer.Option("--comment", "-m")],
    accept: Annotated[bool, typer.Option("--accept", help="Accept the version")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the version")] = False,
) -> None:
    """Accept or reject one version; you cannot review your own upload."""
    if accept == reject:
        raise _fail("give exactly one of --accept or --reject", EXIT_USAGE)
    decision = "accepted" if accept else "rejected"
    result = _call(
        "POST", f"/api/v1/evidence/{item_id}/versions/{version}/review", json={"decision": decision, "comment": comment}
    )
    console.print(_describe(result))


@evidence_app.command("list")
def list_items(
    control: Annotated[str | None, typer.Option("--control", "-c")] = None,
    evidence_type: Annotated[str | None, typer.Option("--type", "-t")] = None,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
    status: Annotated[str | None, typer.Option("--status", help="current, due_soon, overdue, ...")] = None,
    search: Annotated[str | None, typer.Option("--search", "-q")] = None,
) -> None:
    """List evidence, newest first."""
    params = {"control": control, "type": evidence_type, "owner": owner, "status": status, "q": search}
    result = _call("GET", "/api/v1/evidence", params={k: v for k, v in params.items() if v})
    for item in result["items"]:
        valid = f"valid until {item['valid_until'][:10]}" if item["valid_until"] else "not accepted"
        period = item["period"].get("label") or "-"
        console.print(
            f"{item['item_id']}  {item['status']:<14} {item['type']:<17} {','.join(item['control_ids'])}"
            f"  {period}  {valid}  v{item['latest_version']}  {item['title']}",
            overflow="ignore",
            crop=False,
        )
    console.print(f"{result['total']} item(s)")
