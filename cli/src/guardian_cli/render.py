"""What the CLI prints: progress while a scan runs, the readiness and failing controls after."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {
    "PASS": "green",
    "FAIL": "bold red",
    "ERROR": "bold yellow",
    "EVIDENCE_REQUIRED": "cyan",
    "NOT_APPLICABLE": "dim",
    "complete": "green",
    "partial": "yellow",
    "failed": "bold red",
    "pending": "dim",
}


def progress_table(collection: dict[str, Any], evaluation: dict[str, Any] | None) -> Group:
    table = Table(title=f"Scan {collection['scan_id']}  account {collection['account_id']}", expand=False)
    table.add_column("service")
    table.add_column("region")
    table.add_column("status")
    table.add_column("resources", justify="right")
    table.add_column("errors", justify="right")
    for unit in collection.get("units", []):
        status = unit["status"]
        table.add_row(
            unit["service"],
            unit["region"],
            Text(status, style=STATUS_STYLE.get(status, "")),
            str(unit["snapshots"]),
            str(unit["errors"]),
        )
    if evaluation is None:
        line = "evaluation: waiting"
    else:
        total = evaluation.get("total_snapshots")
        line = f"evaluation: {evaluation['evaluated']}/{total if total is not None else '?'} ({evaluation['state']})"
    return Group(table, Text(f"collection: {collection['state']}   {line}"))


def summary(console: Console, outcome: Any, framework: str = "soc2", limit: int = 8) -> None:
    if outcome.collection_failed:
        console.print(f"[bold red]The scan could not run:[/] {outcome.collection.get('error')}")
        return
    if not outcome.final:
        console.print("[bold red]The scan did not reach a final state in time.[/]")
        return
    readiness = outcome.readiness["readiness"]
    score = readiness["score"]
    console.print()
    console.print(
        f"[bold]{framework.upper()} readiness: {score if score is not None else 'n/a'}%[/]  "
        f"({readiness['passing']} of {readiness['applicable']} applicable controls pass; "
        f"{readiness['not_applicable']} not applicable)"
    )
    console.print(f"[dim]{readiness['formula']}[/]")
    cats = Table(show_header=True, header_style="bold")
    cats.add_column("category")
    cats.add_column("readiness", justify="right")
    cats.add_column("passing / applicable", justify="right")
    for cat in readiness["by_category"]:
        cats.add_row(
            cat["name"],
            f"{cat['score']}%" if cat["score"] is not None else "n/a",
            f"{cat['passing']} / {cat['applicable']}",
        )
    console.print(cats)
    counts = ", ".join(f"{k} {v}" for k, v in readiness["by_status"].items() if v)
    console.print(f"Controls by status: {counts}")
    if outcome.unread_units:
        console.print("[bold yellow]Partial scan. Could not fully read:[/]")
        for unit in outcome.unread_units:
            console.print(f"  - {unit['service']} in {unit['region']}: {unit['status']} ({unit.get('first_error')})")
    if not outcome.failing_controls:
        console.print("[green]No control fails or errors.[/]")
        return
    console.print()
    console.print(f"[bold]Failing controls ({len(outcome.failing_controls)}):[/]")
    for control in outcome.failing_controls:
        style = STATUS_STYLE.get(control["status"], "")
        console.print(
            f"[{style}]{control['status']:5}[/] {control['id']}  {control['title']}  "
            f"[dim]({', '.join(control['requirements'])})[/]"
        )
        detail = outcome.control_details.get(control["id"])
        if not detail:
            continue
        resources = detail["failing_resources"]
        for res in resources[:limit]:
            console.print(
                f"        {res['status']:5} {res['check_id']}  {res['resource_name']}  [dim]{res['reason']}[/]"
            )
        if len(resources) > limit:
            console.print(f"        … and {len(resources) - limit} more")
