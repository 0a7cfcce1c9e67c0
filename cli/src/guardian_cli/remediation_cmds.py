"""``guardian actions``: the Action Centre from the command line.

The deployment is named by ``GUARDIAN_URL`` (the gateway) or ``GUARDIAN_REMEDIATION_URL`` (the
remediation service itself), the key by ``GUARDIAN_API_KEY``. Exit statuses: 0 done; 1 the service
refused or a verification failed (the reason is printed); 2 bad usage; 3 could not reach it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

EXIT_REFUSED, EXIT_USAGE, EXIT_CANNOT_RUN = 1, 2, 3
BASE = "/api/v1/remediation"

actions_app = typer.Typer(
    help="The Action Centre: plan, approve, execute and verify fixes (needs GUARDIAN_URL).", no_args_is_help=True
)

console = Console(soft_wrap=True)
err = Console(stderr=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer")]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _client() -> httpx.Client:
    url = os.environ.get("GUARDIAN_REMEDIATION_URL") or os.environ.get("GUARDIAN_URL")
    key = os.environ.get("GUARDIAN_API_KEY")
    if not url or not key:
        raise _fail("set GUARDIAN_URL (or GUARDIAN_REMEDIATION_URL) and GUARDIAN_API_KEY", EXIT_USAGE)
    return httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=600.0)


def _call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    with _client() as client:
        try:
            response = client.request(method, BASE + path, **kwargs)
        except httpx.HTTPError as exc:
            raise _fail(f"could not reach the remediation service: {exc}", EXIT_CANNOT_RUN) from exc
    if response.status_code >= 400:
        try:
            body = response.json()
            message = f"{body.get('error')}: {body.get('detail')}"
        except ValueError:
            message = response.text[:300]
        raise _fail(message, EXIT_CANNOT_RUN if response.status_code >= 500 else EXIT_REFUSED)
    result: dict[str, Any] = response.json()
    return result


def _seg(value: str) -> str:
    return quote(value, safe="")


def _parameters(values: list[str]) -> dict[str, Any]:
    """``name=value`` pairs; values are read as JSON when they parse (numbers, true/false), else text."""
    params: dict[str, Any] = {}
    for pair in values:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise _fail(f"--param takes NAME=VALUE, got {pair!r}", EXIT_USAGE)
        try:
            params[name] = json.loads(raw)
        except ValueError:
            params[name] = raw
    return params


def _say(text: str, style: str | None = None) -> None:
    """Print text that comes from the service as it is (no markup is read into it)."""
    console.print(escape(text), style=style)


def _show_plan(plan: dict[str, Any]) -> None:
    _say(f"{plan['plan_id']}  {plan['action_title']}  ({plan['action_id']} v{plan['action_version']})", "bold")
    _say(f"check {plan['check_id']}  state {plan['state']}  requested by {plan['requested_by']['name']}")
    _say(f"content hash {plan['content_hash']}")
    if plan["parameters"]:
        _say("parameters " + json.dumps(plan["parameters"], sort_keys=True))
    results = {r["resource_arn"]: r for r in (plan.get("execution") or {}).get("results", [])}
    verdicts: dict[str, list[str]] = {}
    for v in plan.get("verifications", []):
        verdicts.setdefault(v["resource_arn"], []).append(f"{v['check_id']}={v['status']}")
    for item in plan["items"]:
        _say(f"\n{item['position']}. {item['resource_arn']}  {item['disposition']}", "bold")
        if item["state_before"] is not None:
            _say(f"   now: {json.dumps(item['state_before'], sort_keys=True)}")
        for call in item["calls"]:
            _say(
                f"   call {call['service']}:{call['operation']} ({call['region']}) "
                f"{json.dumps(call['arguments'], sort_keys=True)}  (needs {call['permission']})"
            )
        for n, step in enumerate(item["steps"], start=1):
            _say(f"   step {n}: {step}")
        _say(f"   expected: {item['expected']}")
        for warning in item["warnings"]:
            _say(f"   warning: {warning}", "yellow")
        if item["resource_arn"] in results:
            result = results[item["resource_arn"]]
            _say(f"   result: {result['outcome']} {result['detail']}")
        if item["resource_arn"] in verdicts:
            _say(f"   verified: {', '.join(verdicts[item['resource_arn']])}")
    approval = plan.get("approval")
    if approval:
        note = " (self-approved)" if approval["self_approved"] else ""
        until = f", expires {approval['expires_at']}" if approval.get("expires_at") else ""
        _say(f"\n{approval['decision']} by {approval['decided_by']['name']}{note}{until}")
    if plan.get("verification_summary"):
        _say("verification " + json.dumps(plan["verification_summary"], sort_keys=True))


@actions_app.command("list")
def list_actions(as_json: AsJson = False) -> None:
    """The remediation catalogue: every action, the checks it fixes, whether it acts in place."""
    answer = _call("GET", "/actions")
    if as_json:
        console.print_json(json.dumps(answer))
        return
    table = Table("action", "fixes", "in place", "permissions")
    for a in answer["items"]:
        table.add_row(
            a["id"], ", ".join(a["checks"]), "yes" if a["in_place"] else "steps only", str(len(a["permissions"]))
        )
    console.print(table)


@actions_app.command("plans")
def list_plans(
    state: Annotated[str | None, typer.Option("--state", help="Only plans in this state")] = None,
    as_json: AsJson = False,
) -> None:
    """Recent plans."""
    answer = _call("GET", "/plans", params={"state": state} if state else None)
    if as_json:
        console.print_json(json.dumps(answer))
        return
    table = Table("plan", "action", "check", "state", "resources", "requested by")
    for p in answer["items"]:
        table.add_row(
            p["plan_id"], p["action_id"], p["check_id"], p["state"], str(p["resources"]), p["requested_by"]["name"]
        )
    console.print(table)


@actions_app.command("plan")
def plan(
    check_id: Annotated[str, typer.Argument(help="The failing check to fix")],
    resource: Annotated[
        str | None, typer.Option("--resource", help="One resource's ARN (default: all failing)")
    ] = None,
    action_id: Annotated[str | None, typer.Option("--action", help="The action, when several fix the check")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Bulk: only this account")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Bulk: only this region")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE (repeatable)")] = None,
    as_json: AsJson = False,
) -> None:
    """Plan a fix for one failing resource (--resource) or every resource failing CHECK_ID."""
    body: dict[str, Any] = {"check_id": check_id, "parameters": _parameters(param or [])}
    for key, value in (
        ("resource_arn", resource),
        ("action_id", action_id),
        ("account_id", account),
        ("region", region),
    ):
        if value is not None:
            body[key] = value
    answer = _call("POST", "/plans", json=body)
    if as_json:
        console.print_json(json.dumps(answer))
    else:
        _show_plan(answer)
        console.print(
            f"\nAn admin other than you approves it with: guardian actions approve {answer['plan_id']} "
            f"--hash {answer['content_hash']}"
        )


@actions_app.command("show")
def show(plan_id: Annotated[str, typer.Argument(help="Plan id")], as_json: AsJson = False) -> None:
    """A plan: its calls and expected result, approval, results per resource, verification."""
    answer = _call("GET", f"/plans/{_seg(plan_id)}")
    if as_json:
        console.print_json(json.dumps(answer))
    else:
        _show_plan(answer)


@actions_app.command("approve")
def approve(
    plan_id: Annotated[str, typer.Argument(help="Plan id")],
    content_hash: Annotated[str, typer.Option("--hash", help="The content hash you reviewed (from `show`)")],
    as_json: AsJson = False,
) -> None:
    """Approve the plan whose content has this hash (an admin other than the requester)."""
    answer = _call("POST", f"/plans/{_seg(plan_id)}/approve", json={"content_hash": content_hash})
    if as_json:
        console.print_json(json.dumps(answer))
    else:
        _show_plan(answer)


@actions_app.command("reject")
def reject(
    plan_id: Annotated[str, typer.Argument(help="Plan id")],
    reason: Annotated[str, typer.Option("--reason", help="Why")],
) -> None:
    """Reject a plan (admin)."""
    answer = _call("POST", f"/plans/{_seg(plan_id)}/reject", json={"reason": reason})
    console.print(f"{answer['plan_id']} {answer['state']}")


@actions_app.command("execute")
def execute(plan_id: Annotated[str, typer.Argument(help="Plan id")], as_json: AsJson = False) -> None:
    """Run an approved plan: each resource is re-read and skipped if it changed since the plan."""
    answer = _call("POST", f"/plans/{_seg(plan_id)}/execute")
    if as_json:
        console.print_json(json.dumps(answer))
        return
    _show_plan(answer)
    if (answer.get("execution") or {}).get("rerun"):
        console.print("\nThe plan had already run: nothing was changed.")


@actions_app.command("verify")
def verify(
    plan_id: Annotated[str, typer.Argument(help="Plan id")],
    wait: Annotated[int, typer.Option("--wait", help="Seconds to wait for the verdicts (0: do not wait)")] = 600,
    as_json: AsJson = False,
) -> None:
    """Re-collect and re-evaluate exactly the changed resources, then print the verdicts."""
    answer = _call("POST", f"/plans/{_seg(plan_id)}/verify")
    deadline = time.monotonic() + wait
    while answer["state"] == "verifying" and time.monotonic() < deadline:
        time.sleep(2)
        answer = _call("GET", f"/plans/{_seg(plan_id)}")
    if as_json:
        console.print_json(json.dumps(answer))
    else:
        _show_plan(answer)
    if answer["state"] == "verification_failed":
        raise typer.Exit(EXIT_REFUSED)
