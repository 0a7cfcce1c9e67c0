"""``guardian history``: monitoring coverage, deviations, populations, drift and trends for any period.

Reads compliance's history API through the configured deployment (GUARDIAN_URL with
GUARDIAN_API_KEY, as every other command), or the local stack for the one command. A period is an
audit period of the scope (``--period``) or ``--from``/``--to`` (dates or ISO 8601 times; a ``--to``
date includes that day); without either, the last 30 days. Exit statuses: 0 success; 2 wrong
arguments or the API refused them (its code and detail are printed); 3 the services could not be
reached or failed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from guardian_cli.client import ApiError, GuardianClient

EXIT_USAGE, EXIT_CANNOT_RUN = 2, 3

history_app = typer.Typer(
    help="Monitoring history: coverage, deviations, populations, drift, trends.", no_args_is_help=True
)
populations_app = typer.Typer(help="In-scope resources as they were on a date.", no_args_is_help=True)
history_app.add_typer(populations_app, name="populations")

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

ScopeOpt = Annotated[str, typer.Option("--scope", help="Scope id")]
PeriodOpt = Annotated[str | None, typer.Option("--period", help="An audit period id of the scope")]
FromOpt = Annotated[str | None, typer.Option("--from", help="Start: a date or an ISO 8601 time")]
ToOpt = Annotated[str | None, typer.Option("--to", help="End: a date (included) or an ISO 8601 time")]
FrameworkOpt = Annotated[str, typer.Option("--framework", help="Framework id")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table")]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def _moment(value: str | None, option: str) -> str | None:
    """Refuse what the API would refuse before starting anything; pass the text on unchanged."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} must be a date like 2026-03-01 or an ISO 8601 time, not {value!r}", EXIT_USAGE) from None
    return value


def _period(scope: str, period: str | None, start: str | None, end: str | None) -> dict[str, str]:
    if period is not None and (start is not None or end is not None):
        raise _fail("give either --period or --from/--to, not both", EXIT_USAGE)
    params = {"scope_id": scope}
    if period is not None:
        params["period_id"] = period
    for key, value, option in (("from", start, "--from"), ("to", end, "--to")):
        checked = _moment(value, option)
        if checked is not None:
            params[key] = checked
    return params


async def _get(client: GuardianClient, path: str, params: dict[str, str]) -> httpx.Response:
    return await client.request("GET", f"{client.endpoints.compliance}/api/v1/{path}", params=params)


def _run(work: Callable[[GuardianClient], Awaitable[httpx.Response]]) -> httpx.Response:
    # Imported here: main registers these commands, so importing it at module level would be circular.
    from guardian_cli.main import target

    async def main() -> httpx.Response:
        async with target() as tgt:
            try:
                return await work(tgt.client)
            except ApiError as exc:
                code = EXIT_USAGE if 400 <= exc.status < 500 else EXIT_CANNOT_RUN
                raise _fail(f"{exc.code} ({exc.status}): {exc.detail}", code) from exc
            except httpx.HTTPError as exc:
                raise _fail(f"could not reach the Guardian services: {exc}", EXIT_CANNOT_RUN) from exc

    return asyncio.run(main())


def _json(path: str, params: dict[str, str]) -> Any:
    return _run(lambda client: _get(client, path, params)).json()


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "—"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _period_line(period: dict[str, Any]) -> None:
    out.print(
        f"scope {period['scope_id']}, {_when(period['start'])} to {_when(period['end'])}"
        f" (judged until {_when(period['elapsed_until'])})",
        markup=False,
    )


@history_app.command("coverage")
def coverage(
    scope: ScopeOpt = "default",
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    as_json: AsJson = False,
) -> None:
    """When each account, region and service was completely scanned; the rest is not monitored."""
    body = _json("coverage", _period(scope, period, start, end))
    if as_json:
        _print_json(body)
        return
    _period_line(body["period"])
    rows = [
        [
            u["account_id"],
            u["region"],
            u["service"],
            str(u["complete_collections"]),
            _share(u["share_monitored"]),
            "; ".join(f"{_when(g['start'])} → {_when(g['end'])}" for g in u["not_monitored"]) or "none",
        ]
        for u in body["units"]
    ]
    _table("Coverage", ["account", "region", "service", "complete scans", "monitored", "not monitored"], rows)


@history_app.command("deviations")
def deviations(
    scope: ScopeOpt = "default",
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    control: Annotated[str | None, typer.Option("--control", help="One control id")] = None,
    framework: FrameworkOpt = "soc2",
    as_json: AsJson = False,
) -> None:
    """Failure intervals per control with time to resolve against the SLA and the passing share."""
    params = {**_period(scope, period, start, end), "framework": framework}
    if control:
        params["control_id"] = control
    body = _json("deviations", params)
    if as_json:
        _print_json(body)
        return
    _period_line(body["period"])
    summary = [
        [
            c["control_id"],
            _share(c["share_passing"]),
            _hours(c["monitored_seconds"]),
            str(c["deviation_count"]),
            str(c["open_count"]),
            str(c["sla_misses"]),
            str(c["accepted_count"]),
        ]
        for c in body["controls"]
        if c["deviation_count"] or control
    ]
    _table(
        f"Controls with deviations ({body['deviation_count']} deviations, {body['sla_misses']} SLA misses)",
        ["control", "passing", "monitored", "deviations", "open", "SLA misses", "accepted"],
        summary,
    )
    rows = [
        [
            c["control_id"],
            d["check_id"],
            d["resource_arn"],
            d["severity"],
            _when(d["detected_at"]),
            _when(d["resolved_at"]),
            d["sla"],
            ", ".join(d["acceptance_ids"]) or "—",
        ]
        for c in body["controls"]
        for d in c["deviations"]
    ]
    _table(
        "Deviations", ["control", "check", "resource", "severity", "detected", "resolved", "SLA", "accepted by"], rows
    )


@populations_app.command("export")
def populations_export(
    as_of: Annotated[str, typer.Option("--as-of", help="A date (its end) or an ISO 8601 time")],
    scope: ScopeOpt = "default",
    resource_type: Annotated[str | None, typer.Option("--type", help="Only this resource type")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")] = None,
) -> None:
    """In-scope resources (and IAM users) with their configuration as it was then, for sampling."""
    if fmt not in ("csv", "json"):
        raise _fail(f"--format must be csv or json, not {fmt!r}", EXIT_USAGE)
    params = {"scope_id": scope, "as_of": _moment(as_of, "--as-of") or as_of, "format": fmt}
    if resource_type:
        params["resource_type"] = resource_type
    response = _run(lambda client: _get(client, "populations", params))
    text = response.text if fmt == "csv" else json.dumps(response.json(), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    count = len(text.splitlines()) - 1 if fmt == "csv" else response.json()["count"]
    err.print(f"wrote {count} resource(s) to {output}", markup=False)


@history_app.command("drift")
def drift(
    scope: ScopeOpt = "default",
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    account: Annotated[str | None, typer.Option("--account", help="Account id")] = None,
    resource_type: Annotated[str | None, typer.Option("--type", help="Resource type")] = None,
    resource: Annotated[str | None, typer.Option("--resource", help="Resource ARN")] = None,
    as_json: AsJson = False,
) -> None:
    """Field-level configuration changes; those that turned a check from PASS to FAIL are marked."""
    params = _period(scope, period, start, end)
    for key, value in (("account_id", account), ("resource_type", resource_type), ("resource_arn", resource)):
        if value:
            params[key] = value
    body = _json("drift", params)
    if as_json:
        _print_json(body)
        return
    _period_line(body["period"])
    rows = [
        [
            _when(d["at"]),
            d["arn"],
            "; ".join(f"{c['path']}: {json.dumps(c['before'])} → {json.dumps(c['after'])}" for c in d["changes"]),
            ", ".join(d["turned_failing"]) or "—",
        ]
        for d in body["items"]
    ]
    _table(f"Drift ({body['count']} changes)", ["when", "resource", "changes", "broke (PASS → FAIL)"], rows)


@history_app.command("trends")
def trends(
    scope: ScopeOpt = "default",
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    framework: FrameworkOpt = "soc2",
    granularity: Annotated[str, typer.Option("--granularity", help="day or week")] = "day",
    as_json: AsJson = False,
) -> None:
    """Readiness and per-category pass rate over the period, daily or weekly."""
    if granularity not in ("day", "week"):
        raise _fail(f"--granularity must be day or week, not {granularity!r}", EXIT_USAGE)
    body = _json("trends", {**_period(scope, period, start, end), "framework": framework, "granularity": granularity})
    if as_json:
        _print_json(body)
        return
    _period_line(body["period"])
    categories = sorted({c["category"] for p in body["points"] for c in p["categories"]})
    rows = []
    for p in body["points"]:
        per = {c["category"]: c["score"] for c in p["categories"]}
        score = "not monitored" if not p["monitored"] else f"{p['readiness']}"
        rows.append([p["bucket"][:10], str(p["scans"]), score, *[str(per.get(c, "—")) for c in categories]])
    _table(f"Readiness by {granularity}", [granularity, "scans", "readiness", *categories], rows)
