"""``guardian checks`` and ``guardian frameworks``: the check catalogue and the framework mappings.

Everything but ``frameworks mapping`` reads the code and data files installed with Guardian (the check
registry, the bundled frameworks and control library) and, when given, a folder of custom rule files;
no service needs to run. ``frameworks mapping`` asks the compliance API of a deployment (GUARDIAN_URL,
or GUARDIAN_COMPLIANCE_URL, with GUARDIAN_API_KEY; the local stack when none is set) for the mapping
as it is in force there: the edited control matrix and the custom checks its evaluator publishes.
Exit statuses follow the rest of the CLI: 0 success, 2 bad usage, an invalid rule file or a request
the API refused, 3 the services could not be reached.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console

from guardian_cli.client import ApiError
from guardian_common.events import Severity
from guardian_compliance.frameworks.model import (
    BUNDLED_FRAMEWORKS,
    Control,
    ControlLibrary,
    bundled_framework,
    bundled_library,
)
from guardian_evaluator.checks import load_all
from guardian_evaluator.control_ids import ENV_VAR as CONTROL_IDS_ENV
from guardian_evaluator.control_ids import known_control_ids, parse_control_ids
from guardian_evaluator.custom_rules import CustomCheck, RulesRefused, load_rule_files, rule_files
from guardian_evaluator.registry import REGISTRY, Check

EXIT_OK, EXIT_USAGE, EXIT_CANNOT_RUN = 0, 2, 3
SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}

checks_app = typer.Typer(help="The check catalogue: list, show, validate custom rules.", no_args_is_help=True)
frameworks_app = typer.Typer(help="Frameworks and what maps to their criteria.", no_args_is_help=True)

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

RulesDir = Annotated[
    Path | None,
    typer.Option(
        "--rules-dir",
        envvar="GUARDIAN_RULES_DIR",
        help="Folder of custom rule files to include (default: $GUARDIAN_RULES_DIR)",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text")]


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _refused(exc: RulesRefused) -> typer.Exit:
    for problem in exc.problems:
        err.print(str(problem), markup=False)
    return _fail(f"{len(exc.problems)} problem(s) in the custom rules: nothing was loaded")


def _catalogue(rules_dir: Path | None) -> list[Check]:
    """The built-in checks plus the custom ones of ``rules_dir``, by id (nothing is registered)."""
    load_all()
    builtin = [c for c in REGISTRY if not isinstance(c, CustomCheck)]
    custom: list[Check] = []
    if rules_dir is not None:
        try:
            custom.extend(load_rule_files(rule_files(rules_dir), existing={c.id for c in builtin}))
        except RulesRefused as exc:
            raise _refused(exc) from None
    return sorted([*builtin, *custom], key=lambda c: c.id)


def _controls_by_check(library: ControlLibrary, checks: Iterable[Check]) -> dict[str, list[str]]:
    """The controls each check serves: from the control library, and a custom rule's own ``controls``."""
    serving: dict[str, list[str]] = {}
    for control in library.controls:
        for check_id in control.checks:
            serving.setdefault(check_id, []).append(control.id)
    for chk in checks:
        if isinstance(chk, CustomCheck):
            for control_id in chk.controls:
                if control_id not in serving.setdefault(chk.id, []):
                    serving[chk.id].append(control_id)
    return serving


def _describe(chk: Check, controls: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = chk.info().model_dump(mode="json")
    data["parameters"] = dict(chk.parameters)
    data["controls"] = controls
    if isinstance(chk, CustomCheck):
        data["source"] = chk.source
    return data


# --------------------------------------------------------------------------------------------- checks


@checks_app.command("list")
def checks_list(
    service: Annotated[str | None, typer.Option("--service", "-s", help="Only checks of this service, e.g. s3")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="critical, high, medium, low or info")] = None,
    resource_type: Annotated[str | None, typer.Option("--resource-type", help="e.g. AWS::S3::Bucket")] = None,
    as_json: AsJson = False,
    rules_dir: RulesDir = None,
) -> None:
    """List the checks, optionally filtered by service, severity or resource type."""
    wanted: Severity | None = None
    if severity is not None:
        try:
            wanted = Severity(severity.lower())
        except ValueError:
            raise _fail(f"unknown severity {severity!r}: use {', '.join(s.value for s in Severity)}") from None
    checks = [
        c
        for c in _catalogue(rules_dir)
        if (service is None or c.service == service)
        and (wanted is None or c.severity is wanted)
        and (resource_type is None or c.resource_type == resource_type)
    ]
    serving = _controls_by_check(bundled_library(), checks)
    if as_json:
        _print_json({"total": len(checks), "items": [_describe(c, serving.get(c.id, [])) for c in checks]})
        return
    if not checks:
        err.print("No check matches these filters.")
        return
    width = max(len(c.id) for c in checks)
    for chk in checks:
        out.print(
            f"{chk.id:<{width}}  {chk.severity.value:<8}  {chk.service:<12}  {chk.resource_type:<28}  {chk.title}",
            markup=False,
        )
    services = len({c.service for c in checks})
    out.print(f"{len(checks)} check(s) over {services} service(s)", markup=False)


@checks_app.command("show")
def checks_show(
    check_id: Annotated[str, typer.Argument(help="The check id, e.g. s3_bucket_default_encryption")],
    as_json: AsJson = False,
    rules_dir: RulesDir = None,
) -> None:
    """Everything about one check: what it tests, remediation, permissions, parameters and controls."""
    checks = {c.id: c for c in _catalogue(rules_dir)}
    chk = checks.get(check_id)
    if chk is None:
        near = sorted(i for i in checks if check_id in i)[:5]
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise _fail(f"no check has the id {check_id!r}{hint}")
    data = _describe(chk, _controls_by_check(bundled_library(), [chk]).get(chk.id, []))
    if as_json:
        _print_json(data)
        return
    lines = [
        f"{chk.id} (version {chk.version})",
        f"  title:         {chk.title}",
        f"  severity:      {chk.severity.value}",
        f"  resource type: {chk.resource_type}",
        f"  service:       {chk.service}",
        f"  controls:      {', '.join(data['controls']) or 'none'}",
        f"  permissions:   {', '.join(chk.permissions)}",
        f"  parameters:    {json.dumps(dict(chk.parameters)) if chk.parameters else 'none'}",
    ]
    if isinstance(chk, CustomCheck):
        lines.append(f"  defined in:    {chk.source}")
    lines += ["", "What it checks:", f"  {chk.description}", "", "Remediation:"]
    lines += [f"  {line}" for line in chk.remediation.splitlines()]
    out.print("\n".join(lines), markup=False)


@checks_app.command("validate")
def checks_validate(
    paths: Annotated[list[Path], typer.Argument(help="Rule files, or folders of them", show_default=False)],
    control_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--control-id",
            help=(
                "A company control id rules may name, besides the bundled library's "
                f"(repeatable; default: ${CONTROL_IDS_ENV})"
            ),
        ),
    ] = None,
) -> None:
    """Validate custom rule files as the evaluator does at start-up; exit 2 with file:line: reason if any is bad."""
    try:
        company = parse_control_ids(control_ids) if control_ids else parse_control_ids(os.environ.get(CONTROL_IDS_ENV))
    except ValueError as exc:
        raise _fail(str(exc)) from None
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(rule_files(path))
        elif path.is_file():
            files.append(path)
        else:
            raise _fail(f"{path}: no such file or folder")
    load_all()
    builtin = {c.id for c in REGISTRY if not isinstance(c, CustomCheck)}
    try:
        checks = load_rule_files(files, existing=builtin, known_controls=known_control_ids(company))
    except RulesRefused as exc:
        raise _refused(exc) from None
    for chk in checks:
        mapped = ", ".join(chk.controls) or "no control"
        out.print(
            f"ok  {chk.id}  ({chk.resource_type}, {chk.severity.value}, service {chk.service}) -> {mapped}",
            markup=False,
        )
        if not chk.controls:
            err.print(f"warning: {chk.source}: {chk.id} maps no control, so no criterion reflects it", markup=False)
    out.print(f"{len(checks)} rule(s) in {len(files)} file(s) are valid", markup=False)


# --------------------------------------------------------------------------------------------- frameworks


def _control_entry(control: Control, extra_checks: list[str]) -> dict[str, Any]:
    checks = [*control.checks, *(c for c in extra_checks if c not in control.checks)]
    kind = "hybrid" if checks and control.evidence else ("automated" if checks else "procedural")
    return {
        "id": control.id,
        "title": control.title,
        "kind": kind,
        "frequency": control.frequency,
        "rationale": "",
        "checks": checks,
        "evidence": [e.description for e in control.evidence],
    }


def framework_mapping(framework_id: str, custom: Iterable[CustomCheck] = ()) -> dict[str, Any]:
    """Each criterion of a bundled framework with the controls mapped to it and their checks."""
    framework = bundled_framework(framework_id)
    library = bundled_library()
    custom_by_control: dict[str, list[str]] = {}
    for chk in custom:
        for control_id in chk.controls:
            custom_by_control.setdefault(control_id, []).append(chk.id)
    categories = {c.id: c for c in framework.categories}
    criteria = []
    for requirement in framework.requirements:
        controls = []
        for control in library.for_requirement(requirement.id):
            entry = _control_entry(control, custom_by_control.get(control.id, []))
            entry["rationale"] = next(m.rationale for m in control.requirements if m.id == requirement.id)
            controls.append(entry)
        checks = sorted({c for entry in controls for c in entry["checks"]})
        criteria.append(
            {
                "id": requirement.id,
                "category": requirement.category,
                "category_name": categories[requirement.category].name,
                "title": requirement.title,
                "controls": controls,
                "checks": checks,
            }
        )
    automated = sum(1 for c in criteria if c["checks"])
    return {
        "framework": {
            "id": framework.id,
            "name": framework.name,
            "title": framework.title,
            "version": framework.version,
        },
        "control_library": {"library": library.library, "version": library.version},
        "summary": {
            "criteria": len(criteria),
            "with_automated_checks": automated,
            "without_controls": sum(1 for c in criteria if not c["controls"]),
        },
        "criteria": criteria,
    }


@frameworks_app.command("show")
def frameworks_show(
    framework_id: Annotated[str, typer.Argument(metavar="FRAMEWORK", help="Framework id")] = "soc2",
    as_json: AsJson = False,
    rules_dir: RulesDir = None,
) -> None:
    """The criteria of a framework, each with the controls mapped to it and the checks behind them."""
    if framework_id not in BUNDLED_FRAMEWORKS:
        raise _fail(f"unknown framework {framework_id!r}: bundled are {', '.join(BUNDLED_FRAMEWORKS)}")
    custom = [c for c in _catalogue(rules_dir) if isinstance(c, CustomCheck)]
    mapping = framework_mapping(framework_id, custom)
    if as_json:
        _print_json(mapping)
        return
    fw = mapping["framework"]
    out.print(f"{fw['name']}: {fw['title']} (version {fw['version']})", markup=False)
    category = None
    for criterion in mapping["criteria"]:
        if criterion["category"] != category:
            category = criterion["category"]
            out.print(f"\n== {criterion['category_name']}", markup=False)
        out.print(f"\n{criterion['id']}  {criterion['title']}", markup=False)
        if not criterion["controls"]:
            out.print("    no control maps this criterion", markup=False)
        for control in criterion["controls"]:
            out.print(f"    {control['id']} [{control['kind']}] {control['title']}", markup=False)
            if control["checks"]:
                out.print(f"        checks:   {', '.join(control['checks'])}", markup=False)
            for evidence in control["evidence"]:
                out.print(f"        evidence: {evidence}", markup=False)
    summary = mapping["summary"]
    out.print(
        f"\n{summary['with_automated_checks']} of {summary['criteria']} criteria have automated checks behind "
        f"their controls; {summary['without_controls']} have no control.",
        markup=False,
    )


async def _remote_mapping(framework_id: str) -> dict[str, Any]:
    # Imported here: main registers these commands, so importing it at module level would be circular.
    from guardian_cli.main import target

    async with target() as tgt:
        url = f"{tgt.client.endpoints.compliance}/api/v1/frameworks/{quote(framework_id, safe='')}/mapping"
        try:
            response = await tgt.client.request("GET", url)
        except ApiError as exc:
            code = EXIT_USAGE if 400 <= exc.status < 500 else EXIT_CANNOT_RUN
            raise _fail(f"{exc.code} ({exc.status}): {exc.detail}", code) from exc
        except httpx.HTTPError as exc:
            raise _fail(f"could not reach the Guardian services: {exc}", EXIT_CANNOT_RUN) from exc
        body: dict[str, Any] = response.json()
        return body


def _check_label(check: dict[str, Any]) -> str:
    label = str(check["id"])
    if check.get("mapped_by") == "rule_file":
        label += " (custom, mapped by its rule file)"
    if not check.get("in_catalogue", True):
        label += " (not in the evaluator's catalogue)"
    return label


@frameworks_app.command("mapping")
def frameworks_mapping(
    framework_id: Annotated[str, typer.Argument(metavar="FRAMEWORK", help="Framework id, e.g. soc2 or cis_aws")],
    as_json: AsJson = False,
) -> None:
    """Every requirement of a framework as the deployment maps it: controls with the rationale of each
    mapping, and the checks and evidence behind each control."""
    mapping = asyncio.run(_remote_mapping(framework_id))
    if as_json:
        _print_json(mapping)
        return
    lines = [f"{mapping['title']} (version {mapping['version']})"]
    catalogue = mapping["catalogue_version"] or "not received"
    lines.append(f"control library {mapping['library_version']}, check catalogue {catalogue}")
    for requirement in mapping["requirements"]:
        lines += ["", f"{requirement['id']}  {requirement['title']}"]
        if not requirement["controls"]:
            lines.append("    no control maps this requirement")
        for control in requirement["controls"]:
            lines.append(f"    {control['id']} [{control['kind']}] {control['title']}")
            lines.append(f"        why:      {control['rationale']}")
            for check in control["checks"]:
                lines.append(f"        check:    {_check_label(check)}")
            for evidence in control["evidence"]:
                lines.append(f"        evidence: {evidence['description']}")
    summary = mapping["summary"]
    lines += [
        "",
        f"{summary['automated']} of {summary['requirements']} requirements have automated checks behind their "
        f"controls; {len(summary['unmapped'])} have no control.",
    ]
    out.print("\n".join(lines), markup=False)
    for unknown in mapping.get("unknown_mappings") or []:
        err.print(f"warning: {unknown['detail']}", markup=False)
