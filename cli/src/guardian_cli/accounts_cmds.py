"""``guardian accounts``: the registry of AWS accounts Guardian scans (add, discover, list, show, retire, scan).

Talks to the collector of a running deployment (GUARDIAN_URL, or GUARDIAN_COLLECTOR_URL with
GUARDIAN_COMPLIANCE_URL, and GUARDIAN_API_KEY), or to a local stack for the one command. Exit
statuses: 0 success; 2 the API refused the request or the arguments were wrong; 3 could not run.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from guardian_cli.model_cmds import AsJson, _run

accounts_app = typer.Typer(
    help="AWS accounts: register, discover from Organizations, list, retire, scan.", no_args_is_help=True
)
out = Console(soft_wrap=True, highlight=False)


def _url(client: Any, path: str = "") -> str:
    return f"{client.client.endpoints.collector}/api/v1/accounts{path}"


def _request(method: str, path: str, **kwargs: Any) -> Any:
    async def work(model: Any) -> Any:
        response = await model.client.request(method, _url(model, path), **kwargs)
        return response.json()

    return _run(work)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _accounts_table(items: list[dict[str, Any]]) -> None:
    table = Table(title=f"{len(items)} account(s)")
    for column in ("Account", "Name", "Environment", "Regions", "Source", "State", "Role"):
        table.add_column(column)
    for a in items:
        regions = ", ".join(a["regions"]) if a["regions"] else "all enabled"
        state = a["state"] if a["state"] == "active" else f"retired: {a['retired_reason']}"
        table.add_row(
            a["account_id"], a["name"], a["environment"] or "-", regions, a["source"], state, a["role_arn"] or "(own)"
        )
    out.print(table)


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _tags(values: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--tag")
        tags[key] = tag_value
    return tags


@accounts_app.command("list")
def accounts_list(
    state: Annotated[str | None, typer.Option(help="active or retired")] = None,
    environment: Annotated[str | None, typer.Option(help="Only this environment")] = None,
    as_json: AsJson = False,
) -> None:
    """Registered accounts."""
    params = {k: v for k, v in {"state": state, "environment": environment}.items() if v}
    data = _request("GET", "", params=params)
    if as_json:
        _print_json(data)
    else:
        _accounts_table(data["items"])


@accounts_app.command("show")
def accounts_show(
    account_id: Annotated[str, typer.Argument(help="12-digit account id")], as_json: AsJson = False
) -> None:
    """One account."""
    data = _request("GET", f"/{account_id}")
    if as_json:
        _print_json(data)
    else:
        _accounts_table([data])


@accounts_app.command("add")
def accounts_add(
    account_id: Annotated[str, typer.Argument(help="12-digit account id")],
    role_arn: Annotated[
        str | None, typer.Option(help="Role to assume there; omit for this collector's own account")
    ] = None,
    external_id: Annotated[str | None, typer.Option(help="External id the role's trust policy requires")] = None,
    name: Annotated[str | None, typer.Option(help="A name people recognise")] = None,
    environment: Annotated[str | None, typer.Option(help="production, staging, ...")] = None,
    region: Annotated[list[str], typer.Option("--region", help="Region in scope (repeat; default: all enabled)")] = [],  # noqa: B006
    exclude_region: Annotated[list[str], typer.Option("--exclude-region", help="Region left out (repeat)")] = [],  # noqa: B006
    tag: Annotated[list[str], typer.Option("--tag", help="KEY=VALUE (repeat)")] = [],  # noqa: B006
    as_json: AsJson = False,
) -> None:
    """Register an account and the role Guardian assumes in it."""
    body: dict[str, Any] = {"account_id": account_id}
    for key, value in (
        ("role_arn", role_arn),
        ("external_id", external_id),
        ("name", name),
        ("environment", environment),
    ):
        if value is not None:
            body[key] = value
    if region:
        body["regions"] = _split(region)
    if exclude_region:
        body["exclude_regions"] = _split(exclude_region)
    if tag:
        body["tags"] = _tags(tag)
    data = _request("POST", "", json=body)
    if as_json:
        _print_json(data)
    else:
        _accounts_table([data])


@accounts_app.command("discover")
def accounts_discover(
    management_role_arn: Annotated[
        str | None, typer.Option(help="Role in the management account; omit to use this collector's credentials")
    ] = None,
    external_id: Annotated[str | None, typer.Option(help="External id for the management role")] = None,
    member_role_name: Annotated[str, typer.Option(help="Role name in every member account")] = "GuardianReadOnly",
    environment_tag: Annotated[str, typer.Option(help="Organizations tag read as the environment")] = "environment",
    as_json: AsJson = False,
) -> None:
    """Register every member of the AWS Organization; retire members that closed or left."""
    body: dict[str, Any] = {"member_role_name": member_role_name, "environment_tag": environment_tag}
    if management_role_arn:
        body["management_role_arn"] = management_role_arn
    if external_id:
        body["external_id"] = external_id
    data = _request("POST", "/discover", json=body)
    if as_json:
        _print_json(data)
        return
    out.print(f"Organisation managed by {data['management_account_id']}")
    for key in ("added", "reactivated", "updated", "retired", "unchanged"):
        out.print(f"  {key}: {', '.join(data[key]) if data[key] else '-'}")


@accounts_app.command("retire")
def accounts_retire(
    account_id: Annotated[str, typer.Argument(help="12-digit account id")],
    reason: Annotated[str, typer.Option(help="Why it is no longer scanned (kept in its history)")],
    as_json: AsJson = False,
) -> None:
    """Stop scanning an account; it stays in the registry with the reason."""
    data = _request("POST", f"/{account_id}/retire", json={"reason": reason})
    if as_json:
        _print_json(data)
    else:
        _accounts_table([data])


@accounts_app.command("scan")
def accounts_scan(
    account: Annotated[
        list[str], typer.Option("--account", help="Account id (repeat; default: every active one)")
    ] = [],  # noqa: B006
    environment: Annotated[str | None, typer.Option(help="Only accounts of this environment")] = None,
    service: Annotated[list[str], typer.Option("--service", help="Service to scan (repeat; default: all)")] = [],  # noqa: B006
    as_json: AsJson = False,
) -> None:
    """Start one scan per registered account, in parallel."""
    body: dict[str, Any] = {}
    if account:
        body["accounts"] = _split(account)
    if environment:
        body["environment"] = environment
    if service:
        body["services"] = _split(service)
    data = _request("POST", "/scans", json=body)
    if as_json:
        _print_json(data)
        return
    table = Table(title="Scans started")
    for column in ("Account", "Scan", "State"):
        table.add_column(column)
    for scan in data["items"]:
        table.add_row(
            scan["account_id"], scan["scan_id"], scan["state"] + (f" ({scan['error']})" if scan["error"] else "")
        )
    out.print(table)
