"""``guardian audit``: read the audit log, prove it intact, keep its head somewhere else.

The audit log lives in the gateway, so these commands talk to a gateway: GUARDIAN_URL with
GUARDIAN_API_KEY (an admin or auditor key). ``verify`` asks the gateway to walk the chain (and the
heads it exports itself); ``--heads FILE`` also compares the chain with heads kept elsewhere (written
by ``export-head`` or the gateway's scheduled export), which catches a chain rewritten from the
first entry on; ``--recompute`` downloads the chain and checks every hash here, trusting nothing the
gateway computed. Exit statuses: 0 intact (or success); 1 the chain is broken, the first broken entry
is named; 2 bad usage or a request the gateway refused; 3 the gateway could not be reached or failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.table import Table

from guardian_cli.client import ApiError, Endpoints, GuardianClient
from guardian_gateway.audit.chain import Break, ChainWalker, Entry, Head, canonical_json, check_heads, verify

EXIT_OK, EXIT_BROKEN, EXIT_USAGE, EXIT_CANNOT_RUN = 0, 1, 2, 3
PAGE = 1000

T = TypeVar("T")

audit_app = typer.Typer(help="The tamper-evident audit log: list, verify, export the chain head.", no_args_is_help=True)

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text")]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


class AuditClient:
    def __init__(self, client: GuardianClient) -> None:
        self.client = client

    def _url(self, path: str) -> str:
        return f"{self.client.endpoints.compliance}/api/v1/audit{path}"

    async def _json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return (await self.client.request("GET", self._url(path), params=params)).json()

    async def page(self, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("", params)
        return result

    async def head(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("/head")
        return result

    async def verify(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("/verify")
        return result

    async def entry(self, seq: int) -> dict[str, Any] | None:
        items = (await self.page({"after": seq - 1, "limit": 1}))["items"]
        return items[0] if items and items[0]["seq"] == seq else None

    async def entries(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        after = int(params.pop("after", 0))
        while True:
            answer = await self.page({**params, "after": after, "limit": PAGE})
            for item in answer["items"]:
                yield item
            if answer["next_after"] is None:
                return
            after = int(answer["next_after"])


def _run(work: Callable[[AuditClient], Awaitable[T]]) -> T:
    url = os.environ.get("GUARDIAN_URL")
    key = os.environ.get("GUARDIAN_API_KEY")
    if not url or not key:
        raise _fail(
            "the audit log is read through the gateway: set GUARDIAN_URL and GUARDIAN_API_KEY (admin or auditor)",
            EXIT_USAGE,
        )

    async def main() -> T:
        async with GuardianClient(Endpoints.gateway(url), key) as client:
            try:
                return await work(AuditClient(client))
            except ApiError as exc:
                code = EXIT_USAGE if 400 <= exc.status < 500 else EXIT_CANNOT_RUN
                raise _fail(f"{exc.code} ({exc.status}): {exc.detail}", code) from exc
            except httpx.HTTPError as exc:
                raise _fail(f"could not reach the gateway: {exc}", EXIT_CANNOT_RUN) from exc

    return asyncio.run(main())


def _moment(value: str | None, option: str, end_of_day: bool) -> str | None:
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max if end_of_day else time.min, UTC).isoformat()
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} must be a date or an ISO 8601 time, not {value!r}", EXIT_USAGE) from None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


def _read_heads(paths: list[Path]) -> list[Head]:
    # Imported here: the exporter brings aiobotocore, which every other command can do without.
    from guardian_gateway.audit.export import HeadsUnreadable, parse_lines

    heads: list[Head] = []
    for path in paths:
        try:
            heads.extend(parse_lines(path.read_text(encoding="utf-8"), str(path)))
        except OSError as exc:
            raise _fail(f"cannot read the heads file {path}: {exc.strerror or exc}", EXIT_USAGE) from exc
        except HeadsUnreadable as exc:
            raise _fail(f"the heads file is damaged: {exc}", EXIT_USAGE) from exc
    return heads


def _entry_of(item: dict[str, Any]) -> Entry:
    return Entry(
        seq=int(item["seq"]),
        entry_id=item["entry_id"],
        source=item["source"],
        actor=dict(item["actor"]),
        action=item["action"],
        target_type=item["target"]["type"],
        target_id=item["target"]["id"],
        before=item["before"],
        after=item["after"],
        at=datetime.fromisoformat(item["at"]),
        recorded_at=datetime.fromisoformat(item["recorded_at"]),
        prev_hash=item["prev_hash"],
        hash=item["hash"],
    )


async def _heads_break(api: AuditClient, heads: list[Head]) -> Break | None:
    """Compare each head kept outside with the chain's entry at its seq (fetched one by one)."""
    walker = ChainWalker()
    for seq in sorted({h.seq for h in heads}):
        item = await api.entry(seq)
        if item is not None:
            walker.hashes[seq] = (item["hash"], item["entry_id"])
    return check_heads(walker, heads)


async def _recomputed(api: AuditClient, heads: list[Head]) -> dict[str, Any]:
    async def entries() -> AsyncIterator[Entry]:
        async for item in api.entries({}):
            yield _entry_of(item)

    verdict = await verify(entries(), heads)
    return {
        "intact": verdict.intact,
        "entries": verdict.entries,
        "broken": None if verdict.broken is None else verdict.broken.__dict__,
    }


@audit_app.command("verify")
def verify_cmd(
    heads: Annotated[
        list[Path] | None,
        typer.Option("--heads", help="A file of exported chain heads (JSON lines) to compare with; repeatable"),
    ] = None,
    recompute: Annotated[
        bool, typer.Option("--recompute", help="Download the whole chain and recompute every hash here")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Prove the audit chain intact, or name its first broken entry (exit 1)."""
    kept = _read_heads(heads or [])

    async def work(api: AuditClient) -> dict[str, Any]:
        report = await api.verify()
        breaks: list[dict[str, Any]] = [report["broken"]] if report["broken"] else []
        if kept:
            found = await _heads_break(api, kept)
            if found is not None:
                breaks.append(found.__dict__)
        if recompute:
            local = await _recomputed(api, kept)
            report["recomputed"] = local
            if local["broken"]:
                breaks.append(local["broken"])
        report["heads_from_files"] = len(kept)
        report["broken"] = min(breaks, key=lambda b: int(b["seq"])) if breaks else None
        report["intact"] = report["broken"] is None
        return report

    report = _run(work)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    elif report["intact"]:
        head = report["head"]
        where = f", head seq {head['seq']} {head['hash'][:16]}…" if head else ""
        heads_checked = report["heads_checked"] + report["heads_from_files"]
        out.print(f"intact: {report['entries']} entries{where}; {heads_checked} exported heads match", markup=False)
    else:
        broken = report["broken"]
        entry = f" ({broken['entry_id']})" if broken.get("entry_id") else ""
        out.print(f"BROKEN at entry {broken['seq']}{entry}: {broken['reason']}", markup=False)
    raise typer.Exit(EXIT_OK if report["intact"] else EXIT_BROKEN)


@audit_app.command("list")
def list_cmd(
    actor: Annotated[str | None, typer.Option(help="Key id or name of who made the change")] = None,
    action: Annotated[str | None, typer.Option(help="An action (scope.updated) or a prefix (scope.*)")] = None,
    target: Annotated[str | None, typer.Option(help="A target id, or type:id")] = None,
    since: Annotated[str | None, typer.Option("--from", help="Changes at or after (date or ISO time)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Changes up to (a date includes that day)")] = None,
    after: Annotated[int, typer.Option(min=0, help="Entries after this seq")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many entries")] = 100,
    as_json: AsJson = False,
) -> None:
    """Audit entries in chain order."""
    params: dict[str, Any] = {
        k: v
        for k, v in {
            "actor": actor,
            "action": action,
            "target": target,
            "from": _moment(since, "--from", end_of_day=False),
            "to": _moment(until, "--to", end_of_day=True),
        }.items()
        if v is not None
    }
    params["after"] = after

    async def work(api: AuditClient) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async for item in api.entries(params):
            found.append(item)
            if len(found) >= limit:
                break
        return found

    items = _run(work)
    if as_json:
        sys.stdout.write(json.dumps(items, indent=2) + "\n")
        return
    table = Table(title=f"Audit log ({len(items)} entries)", title_justify="left")
    for column in ("seq", "at", "actor", "action", "target", "source"):
        table.add_column(column, overflow="fold")
    for item in items:
        who = item["actor"]
        table.add_row(
            str(item["seq"]),
            item["at"][:19].replace("T", " "),
            f"{who['name'] or who['id']} ({who['role']})",
            item["action"],
            f"{item['target']['type']}:{item['target']['id']}",
            item["source"],
        )
    out.print(table)


@audit_app.command("export-head")
def export_head_cmd(
    to: Annotated[Path, typer.Option("--to", help="Append the head to this JSON-lines file (kept off the database)")],
    as_json: AsJson = False,
) -> None:
    """Append the chain's current head ({seq, hash, at}) to a file, for a later `verify --heads`."""
    existing = _read_heads([to]) if to.exists() else []

    async def work(api: AuditClient) -> dict[str, Any]:
        return await api.head()

    head = Head.from_json(_run(work))
    if any(h.seq == head.seq and h.hash == head.hash for h in existing):
        message = f"head seq {head.seq} is already in {to}"
    else:
        try:
            to.parent.mkdir(parents=True, exist_ok=True)
            with to.open("a", encoding="utf-8") as file:
                file.write(canonical_json(head.to_json()) + "\n")
        except OSError as exc:
            raise _fail(f"cannot write {to}: {exc.strerror or exc}", EXIT_USAGE) from exc
        message = f"head seq {head.seq} {head.hash} appended to {to}"
    if as_json:
        sys.stdout.write(json.dumps(head.to_json()) + "\n")
    else:
        out.print(message, markup=False)
