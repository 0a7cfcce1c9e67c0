"""``guardian scopes``, ``guardian periods``, ``guardian controls`` and ``guardian exceptions``.

These edit the compliance model (scope, audit periods, control matrix, risk acceptances) through the
compliance REST API of a running deployment (GUARDIAN_URL, or GUARDIAN_COLLECTOR_URL and
GUARDIAN_COMPLIANCE_URL, with GUARDIAN_API_KEY); with none configured they start the local stack for
the one command, as ``guardian export`` does. Every command prints a table, or the API's JSON with
``--json``. Exit statuses: 0 success; 2 the API refused the request (its error code and detail are
printed) or the arguments were wrong; 3 the services could not be reached or failed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.table import Table

from guardian_cli.client import ApiError
from guardian_cli.model_client import ModelClient

EXIT_USAGE, EXIT_CANNOT_RUN = 2, 3
FORMATS = ("csv", "yaml")

T = TypeVar("T")

scopes_app = typer.Typer(help="Scopes: categories and system boundary.", no_args_is_help=True)
periods_app = typer.Typer(help="Audit periods of a scope.", no_args_is_help=True)
controls_app = typer.Typer(help="The control matrix: list, show, export, import, retire.", no_args_is_help=True)
exceptions_app = typer.Typer(
    help="Exceptions (risk acceptances): request, approve, reject, revoke.", no_args_is_help=True
)

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table")]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _run(work: Callable[[ModelClient], Awaitable[T]]) -> T:
    """Run ``work`` against the configured deployment (or a local one) and map failures to exit codes."""
    # Imported here: main registers these commands, so importing it at module level would be circular.
    from guardian_cli.main import target

    async def main() -> T:
        async with target() as tgt:
            try:
                return await work(ModelClient(tgt.client))
            except ApiError as exc:
                code = EXIT_USAGE if 400 <= exc.status < 500 else EXIT_CANNOT_RUN
                raise _fail(f"{exc.code} ({exc.status}): {exc.detail}", code) from exc
            except httpx.HTTPError as exc:
                raise _fail(f"could not reach the Guardian services: {exc}", EXIT_CANNOT_RUN) from exc

    return asyncio.run(main())


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} must be a date like 2026-01-31, not {value!r}", EXIT_USAGE) from None


def _moment(value: str, option: str) -> datetime:
    """A bare date means the end of that day in UTC; a datetime without a zone is taken as UTC."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(23, 59, 59), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} must be a date or an ISO 8601 time, not {value!r}", EXIT_USAGE) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _fields(pairs: list[tuple[str, Any]]) -> None:
    width = max(len(name) for name, _ in pairs)
    for name, value in pairs:
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else value
        out.print(f"{name:<{width}}  {'—' if shown in (None, '') else shown}", markup=False)


def _day(value: str | None) -> str:
    return value[:10] if value else "—"


# Scopes ---------------------------------------------------------------------------------------


def _boundary_text(boundary: dict[str, Any]) -> list[tuple[str, Any]]:
    tags = boundary.get("tags") or {}
    tag_text = "; ".join(f"{k}={'|'.join(v) if v else '*'}" for k, v in sorted(tags.items()))
    return [
        ("accounts", boundary.get("account_ids") or "any"),
        ("regions", boundary.get("regions") or "any"),
        ("tags", tag_text or "any"),
    ]


def _periods_table(title: str, periods: list[dict[str, Any]]) -> None:
    rows = [
        [
            p["id"],
            p["name"],
            p["type"],
            p["start_date"],
            p["end_date"],
            f"locked {_day(p['locked_at'])} by {p['locked_by']}" if p["locked"] else "open",
        ]
        for p in periods
    ]
    _table(title, ["id", "name", "type", "start", "end", "state"], rows)


def _show_scope(scope: dict[str, Any]) -> None:
    _fields(
        [
            ("scope", f"{scope['id']} ({scope['name']})"),
            ("version", scope["version"]),
            ("categories", scope["categories"]),
            *_boundary_text(scope["boundary"]),
            ("carve-outs", [s["name"] for s in scope["subservice_organisations"]] or "none"),
            ("not applicable", [f"{m['kind']} {m['id']}" for m in scope["not_applicable"]] or "none"),
        ]
    )
    _periods_table("Audit periods", scope["periods"])


@scopes_app.command("list")
def scopes_list(as_json: AsJson = False) -> None:
    """List every scope."""
    scopes = _run(lambda m: m.scopes())
    if as_json:
        _print_json(scopes)
        return
    rows = [
        [
            s["id"],
            s["name"],
            ", ".join(s["categories"]),
            str(len(s["periods"])),
            str(sum(1 for p in s["periods"] if p["locked"])),
            str(s["version"]),
        ]
        for s in scopes
    ]
    _table("Scopes", ["id", "name", "categories", "periods", "locked", "version"], rows)


@scopes_app.command("show")
def scopes_show(scope_id: Annotated[str, typer.Argument(help="Scope id")], as_json: AsJson = False) -> None:
    """Show one scope: categories, boundary, carve-outs and periods."""
    scope = _run(lambda m: m.scope(scope_id))
    if as_json:
        _print_json(scope)
    else:
        _show_scope(scope)


@scopes_app.command("set-categories")
def scopes_set_categories(
    scope_id: Annotated[str, typer.Argument(help="Scope id")],
    categories: Annotated[list[str], typer.Argument(help="Trust services categories, e.g. security availability")],
    as_json: AsJson = False,
) -> None:
    """Replace the trust services categories of a scope (security is always required)."""
    scope = _run(lambda m: m.update_scope(scope_id, {"categories": categories}))
    if as_json:
        _print_json(scope)
    else:
        out.print(f"Scope {scope['id']} is now version {scope['version']}.", markup=False)
        _show_scope(scope)


def _tags(values: list[str]) -> dict[str, list[str]]:
    """``key=value`` allows that value (repeat for more); a bare ``key`` allows any value of the key."""
    tags: dict[str, list[str]] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key or (sep and not value):
            raise _fail(f"--tag takes key=value or key, not {item!r}", EXIT_USAGE)
        allowed = tags.setdefault(key, [])
        if sep and value not in allowed:
            allowed.append(value)
    return tags


@scopes_app.command("set-boundary")
def scopes_set_boundary(
    scope_id: Annotated[str, typer.Argument(help="Scope id")],
    account: Annotated[list[str] | None, typer.Option("--account", help="AWS account id inside (repeatable)")] = None,
    region: Annotated[list[str] | None, typer.Option("--region", help="Region inside (repeatable)")] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="key=value a resource must carry (repeatable); a bare key accepts any value"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Replace the system boundary of a scope; a part left empty does not restrict."""
    boundary = {"account_ids": account or [], "regions": region or [], "tags": _tags(tag or [])}
    scope = _run(lambda m: m.update_scope(scope_id, {"boundary": boundary}))
    if as_json:
        _print_json(scope)
    else:
        out.print(f"Scope {scope['id']} is now version {scope['version']}.", markup=False)
        _show_scope(scope)


# Periods --------------------------------------------------------------------------------------


@periods_app.command("list")
def periods_list(scope_id: Annotated[str, typer.Argument(help="Scope id")], as_json: AsJson = False) -> None:
    """List the audit periods of a scope."""
    scope = _run(lambda m: m.scope(scope_id))
    if as_json:
        _print_json(scope["periods"])
    else:
        _periods_table(f"Audit periods of {scope['id']}", scope["periods"])


@periods_app.command("add")
def periods_add(
    scope_id: Annotated[str, typer.Argument(help="Scope id")],
    name: Annotated[str, typer.Option("--name", help="Period name, e.g. 'FY2026 Type II'")],
    start: Annotated[str, typer.Option("--start", help="First day (YYYY-MM-DD)")],
    end: Annotated[str, typer.Option("--end", help="Last day (YYYY-MM-DD)")],
    kind: Annotated[str, typer.Option("--type", help="type1 or type2")],
    as_json: AsJson = False,
) -> None:
    """Add an audit period to a scope."""
    if kind not in ("type1", "type2"):
        raise _fail(f"--type must be type1 or type2, not {kind!r}", EXIT_USAGE)
    first, last = _date(start, "--start"), _date(end, "--end")
    period = _run(lambda m: m.add_period(scope_id, name, first.isoformat(), last.isoformat(), kind))
    if as_json:
        _print_json(period)
    else:
        _periods_table(f"Added to {scope_id}", [period])


@periods_app.command("lock")
def periods_lock(
    scope_id: Annotated[str, typer.Argument(help="Scope id")],
    period_id: Annotated[str, typer.Argument(help="Period id")],
    as_json: AsJson = False,
) -> None:
    """Lock a period once its report is issued (admin key); it can never change again."""
    period = _run(lambda m: m.lock_period(scope_id, period_id))
    if as_json:
        _print_json(period)
    else:
        _periods_table(f"Locked in {scope_id}", [period])


# Controls -------------------------------------------------------------------------------------


def _control_rows(items: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            c["id"],
            c["title"],
            c["kind"],
            c["state"],
            c["owner"],
            c["frequency"],
            ", ".join(r["id"] for r in c["requirements"]),
            str(c["version"]),
        ]
        for c in items
    ]


@controls_app.command("list")
def controls_list(
    status: Annotated[str, typer.Option("--status", help="active, retired or all")] = "active",
    as_json: AsJson = False,
) -> None:
    """List the control matrix."""
    if status not in ("active", "retired", "all"):
        raise _fail(f"--status must be active, retired or all, not {status!r}", EXIT_USAGE)
    listing = _run(lambda m: m.controls(include_retired=status != "active"))
    items = [c for c in listing["items"] if status == "all" or c["state"] == status]
    if as_json:
        _print_json({"total": len(items), "items": items})
        return
    columns = ["id", "title", "kind", "state", "owner", "frequency", "criteria", "version"]
    _table(f"Controls ({status}): {len(items)}", columns, _control_rows(items))


@controls_app.command("show")
def controls_show(control_id: Annotated[str, typer.Argument(help="Control id")], as_json: AsJson = False) -> None:
    """Show one control with every version."""
    control = _run(lambda m: m.control(control_id))
    if as_json:
        _print_json(control)
        return
    _fields(
        [
            ("control", f"{control['id']}: {control['title']}"),
            ("state", f"{control['state']} (version {control['version']}, {control['origin']})"),
            ("kind", control["kind"]),
            ("owner", control["owner"]),
            ("frequency", control["frequency"]),
            ("criteria", [r["id"] for r in control["requirements"]]),
            ("checks", control["checks"] or "none"),
            ("description", control["description"]),
        ]
    )
    rows = [
        [str(v["version"]), v["change"], v["state"], v["changed_by"], v["changed_at"][:19], v["note"] or ""]
        for v in control["versions"]
    ]
    _table("Versions", ["version", "change", "state", "by", "at", "note"], rows)


def _format(fmt: str | None, path: Path) -> str:
    chosen = fmt or {".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower())
    if chosen not in FORMATS:
        shown = fmt or f"the suffix of {path.name}"
        raise _fail(f"--format must be csv or yaml (could not use {shown})", EXIT_USAGE)
    return chosen


@controls_app.command("export")
def controls_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or yaml (default: from the file suffix)")] = None,
) -> None:
    """Write the control matrix to a CSV or YAML file that `controls import` reads back."""
    chosen = _format(fmt, output)
    text = _run(lambda m: m.export_controls(chosen))
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror}", EXIT_CANNOT_RUN) from exc
    out.print(f"Wrote the control matrix to {output} ({chosen}).", markup=False)


@controls_app.command("import")
def controls_import(
    file: Annotated[Path, typer.Argument(help="CSV or YAML file of controls")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or yaml (default: from the file suffix)")] = None,
    as_json: AsJson = False,
) -> None:
    """Import controls from a file: all or nothing; a refused file names its faulty lines."""
    chosen = _format(fmt, file)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {file}: {exc}", EXIT_USAGE) from exc
    result = _run(lambda m: m.import_controls(chosen, text))
    if as_json:
        _print_json(result)
        return
    for label in ("created", "updated", "retired"):
        names = result[label]
        out.print(f"{label:9} {len(names)}" + (f": {', '.join(names)}" if names else ""), markup=False)
    out.print(f"unchanged {result['unchanged']}", markup=False)


@controls_app.command("retire")
def controls_retire(
    control_id: Annotated[str, typer.Argument(help="Control id")],
    note: Annotated[str | None, typer.Option("--note", help="Why it is retired")] = None,
    as_json: AsJson = False,
) -> None:
    """Retire a control (it is kept with its history, never deleted)."""
    control = _run(lambda m: m.retire_control(control_id, note))
    if as_json:
        _print_json(control)
    else:
        out.print(f"Retired {control['id']} (version {control['version']}).", markup=False)


# Exceptions (risk acceptances) ----------------------------------------------------------------


def _selector(a: dict[str, Any]) -> str:
    parts = [
        f"control {a['control_id']}" if a["control_id"] else "",
        f"check {a['check_id']}" if a["check_id"] else "",
        f"resource {a['arn_pattern']}" if a["arn_pattern"] else "",
        f"account {a['account_id']}" if a["account_id"] else "",
        f"region {a['region']}" if a["region"] else "",
        f"tag {a['tag_key']}={a['tag_value']}" if a["tag_key"] else "",
    ]
    return "; ".join(p for p in parts if p)


def _acceptance_rows(items: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            a["id"],
            a["status"],
            _selector(a),
            a["requested_by"],
            a["approver"] or "—",
            _day(a["starts_at"]),
            _day(a.get("ends_at") or a["expires_at"]),
        ]
        for a in items
    ]


ACCEPTANCE_COLUMNS = ["id", "status", "covers", "requested by", "decided by", "from", "until"]


def _show_acceptance(title: str, acceptance: dict[str, Any]) -> None:
    _table(title, ACCEPTANCE_COLUMNS, _acceptance_rows([acceptance]))
    _fields(
        [
            ("justification", acceptance["justification"]),
            ("compensating", acceptance["compensating_control"]),
            ("decision note", acceptance["decision_note"]),
            *(
                [("revoked", f"{acceptance['revoked_at'][:19]} by {acceptance['revoked_by']}")]
                if acceptance.get("revoked_at")
                else []
            ),
            *([("reason", acceptance["revocation_reason"])] if acceptance.get("revoked_at") else []),
        ]
    )


@exceptions_app.command("list")
def exceptions_list(
    status: Annotated[
        str | None, typer.Option("--status", help="pending, rejected, scheduled, in_force, expired or revoked")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List exceptions (risk acceptances)."""
    listing = _run(lambda m: m.acceptances(status))
    if as_json:
        _print_json(listing)
    else:
        _table(f"Exceptions: {listing['total']}", ACCEPTANCE_COLUMNS, _acceptance_rows(listing["items"]))


@exceptions_app.command("show")
def exceptions_show(
    acceptance_id: Annotated[str, typer.Argument(help="Exception id")], as_json: AsJson = False
) -> None:
    """Show one exception with its history."""
    acceptance = _run(lambda m: m.acceptance(acceptance_id))
    if as_json:
        _print_json(acceptance)
        return
    _show_acceptance(f"Exception {acceptance['id']}", acceptance)
    rows = [[e["action"], e["actor"], e["at"][:19], e["note"] or ""] for e in acceptance["events"]]
    _table("History", ["action", "by", "at", "note"], rows)


@exceptions_app.command("request")
def exceptions_request(
    expires: Annotated[str, typer.Option("--expires", help="Last day (YYYY-MM-DD, to 23:59:59 UTC) or ISO time")],
    control: Annotated[str | None, typer.Option("--control", help="Control id it covers")] = None,
    check: Annotated[str | None, typer.Option("--check", help="Check id it covers")] = None,
    resource: Annotated[str | None, typer.Option("--resource", help="ARN glob (* ? [...])")] = None,
    account: Annotated[str | None, typer.Option("--account", help="AWS account id")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="key=value the resource carries")] = None,
    justification: Annotated[str, typer.Option("--justification", help="Why the risk is accepted")] = "",
    compensating: Annotated[str, typer.Option("--compensating", help="The compensating control")] = "",
    starts: Annotated[str | None, typer.Option("--starts", help="First moment in force (default: now)")] = None,
    as_json: AsJson = False,
) -> None:
    """Request an exception; it covers findings matching every selector given, once another admin approves."""
    if not any((control, check, resource, account, region, tag)):
        raise _fail("give at least one of --control, --check, --resource, --account, --region, --tag", EXIT_USAGE)
    body: dict[str, Any] = {
        "control_id": control,
        "check_id": check,
        "arn_pattern": resource,
        "account_id": account,
        "region": region,
        "tag": tag,
        "justification": justification,
        "compensating_control": compensating,
        "expires_at": _moment(expires, "--expires").isoformat(),
    }
    if starts is not None:
        body["starts_at"] = _moment(starts, "--starts").isoformat()
    acceptance = _run(lambda m: m.request_acceptance(body))
    if as_json:
        _print_json(acceptance)
    else:
        _show_acceptance("Requested (another admin must approve it)", acceptance)


@exceptions_app.command("approve")
def exceptions_approve(
    acceptance_id: Annotated[str, typer.Argument(help="Exception id")],
    comment: Annotated[str | None, typer.Option("--comment", help="Note kept with the decision")] = None,
    as_json: AsJson = False,
) -> None:
    """Approve an exception (an admin other than the requester)."""
    acceptance = _run(lambda m: m.decide(acceptance_id, True, comment))
    if as_json:
        _print_json(acceptance)
    else:
        _show_acceptance("Approved", acceptance)


@exceptions_app.command("reject")
def exceptions_reject(
    acceptance_id: Annotated[str, typer.Argument(help="Exception id")],
    comment: Annotated[str, typer.Option("--comment", help="Why it is rejected")],
    as_json: AsJson = False,
) -> None:
    """Reject an exception (admin)."""
    acceptance = _run(lambda m: m.decide(acceptance_id, False, comment))
    if as_json:
        _print_json(acceptance)
    else:
        _show_acceptance("Rejected", acceptance)


@exceptions_app.command("revoke")
def exceptions_revoke(
    acceptance_id: Annotated[str, typer.Argument(help="Exception id")],
    reason: Annotated[str, typer.Option("--reason", help="Why it ends early (kept in its history and the audit log)")],
    as_json: AsJson = False,
) -> None:
    """Revoke an approved exception now (admin): the findings it covered fail their controls again."""
    if not reason.strip():
        raise _fail("--reason must say why the exception is revoked", EXIT_USAGE)
    acceptance = _run(lambda m: m.revoke(acceptance_id, reason))
    if as_json:
        _print_json(acceptance)
    else:
        _show_acceptance("Revoked", acceptance)
