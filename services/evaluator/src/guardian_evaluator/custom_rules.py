"""Custom checks written by the user as YAML rule files, with a CEL condition over one snapshot.

A rule file holds ``rules:``, a list of rules::

    rules:
      - id: custom_s3_bucket_has_owner           # must start with custom_
        title: Buckets name an owner
        description: Every bucket carries an owner tag, so someone answers for its data.
        resource_type: AWS::S3::Bucket           # a type some collector emits, or AWS::::Account
        severity: medium                         # critical | high | medium | low | info
        applies_if: resource.region != "us-west-2"   # optional; false -> not applicable
        condition: '"owner" in resource.tags'
        reasons:
          pass: Bucket {name} names its owner
          fail: Bucket {name} has no owner tag
        remediation: "aws s3api put-bucket-tagging --bucket {name} ..."
        controls: [GRD-DATA-02]                  # the controls this check serves (known ids only)
        version: 1                               # optional; raise it when the rule changes

A condition reads ``resource.configuration``, ``resource.tags``, ``resource.name``,
``resource.region``, ``resource.account_id``, ``resource.arn`` and ``resource.resource_type``.
Reason templates may name ``{id}``, ``{title}``, ``{name}``, ``{arn}``, ``{region}``,
``{account_id}`` and ``{resource_type}``.

Every problem is reported with its file and line, all at once: a YAML error, an unknown or missing
key, a CEL syntax error, a name or function CEL does not know here, a resource type no collector
emits, a duplicate id, a control id that is malformed or that names no known control (the bundled control
library's, plus the company's own listed in ``GUARDIAN_CONTROL_IDS``: see :mod:`control_ids`). The
evaluator refuses to start on any of them; ``guardian checks validate`` exits 2.

Never a false PASS: a configuration field the rule reads that is listed in
``configuration._errors`` makes the verdict ERROR before the condition runs (a rule that reads
the configuration other than by naming its fields is ERROR whenever any field is unreadable), and
a condition that cannot be evaluated (a missing key, a type mismatch) or that yields no boolean is
ERROR too.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import celpy
import lark
import yaml
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, CELUnsupportedError, base_functions

from guardian_common.events import CheckCatalogue, CheckInfo, Severity
from guardian_evaluator.control_ids import CONTROL_ID, ENV_VAR, known_control_ids
from guardian_evaluator.registry import (
    REGISTRY,
    Check,
    Registry,
    Snapshot,
    Verdict,
    errored,
    failed,
    passed,
    unreadable,
)

ACCOUNT_TYPE = "AWS::::Account"
ACCOUNT_SERVICE = "account"
RULE_ID = re.compile(r"^custom_[a-z0-9]+(_[a-z0-9]+)*$")
RESOURCE_FIELDS = ("configuration", "tags", "name", "region", "account_id", "arn", "resource_type")
TEMPLATE_FIELDS = ("id", "title", "name", "arn", "region", "account_id", "resource_type")
REQUIRED_KEYS = ("id", "title", "description", "resource_type", "severity", "condition", "reasons", "remediation")
OPTIONAL_KEYS = ("applies_if", "controls", "version")
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
FUNCTIONS = frozenset(k for k in base_functions if k[:1].isalpha()) | {"has", "dyn"}
RULE_FILE_SUFFIXES = (".yaml", ".yml")


# --------------------------------------------------------------------------------------------- problems


@dataclass(frozen=True, order=True)
class RuleProblem:
    """Why a rule (or a whole file) is refused, and where."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else f"{self.file}: {self.reason}"


class RulesRefused(ValueError):
    """One or more rule files are invalid; nothing of them is installed."""

    def __init__(self, problems: Iterable[RuleProblem]) -> None:
        self.problems = sorted(problems)
        listing = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"custom rules refused ({len(self.problems)} problem(s)):\n{listing}")


# --------------------------------------------------------------------------------------------- YAML with lines


class _Located(dict[str, Any]):
    """A YAML mapping that remembers the line of itself and of each key's value (1-based)."""

    line: int = 1
    lines: dict[str, int]
    # For a folded (>) block scalar: the length of each source line it was folded from.
    folded: dict[str, list[int]]


class _RuleLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Located:
    loader.flatten_mapping(node)
    out = _Located()
    out.line = node.start_mark.line + 1
    out.lines = {}
    out.folded = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(None, None, f"keys must be text, not {key!r}", key_node.start_mark)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} appears twice in one mapping", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        # A block scalar (| or >) starts on the line after its indicator.
        extra = 1 if isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">") else 0
        out.lines[key] = value_node.start_mark.line + 1 + extra
        if extra and value_node.style == ">" and value_node.start_mark.buffer is not None:
            raw = value_node.start_mark.buffer[value_node.start_mark.pointer : value_node.end_mark.pointer]
            out.folded[key] = [len(line.strip()) for line in raw.splitlines()[1:]]
    return out


def _source_line(rule: _Located, key: str, cel_line: int, column: int | None) -> int:
    """The file line of a position (1-based line and column) inside the expression stored under ``key``."""
    start = rule.lines.get(key, rule.line)
    widths = rule.folded.get(key)
    if widths is None or cel_line != 1 or not column:
        return start + max(cel_line - 1, 0)
    # Folding joined the source lines with single spaces: walk them to the column.
    offset = column - 1
    for index, width in enumerate(widths):
        if offset <= width:
            return start + index
        offset -= width + 1
    return start + max(len(widths) - 1, 0)


_RuleLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# --------------------------------------------------------------------------------------------- CEL analysis


@dataclass(frozen=True)
class _Reads:
    """The snapshot fields an expression reads (configuration fields by name, and ``tags``); ``dynamic`` when
    it reads the configuration in a way no static look can pin down."""

    fields: frozenset[str] = frozenset()
    dynamic: bool = False

    def __or__(self, other: _Reads) -> _Reads:
        return _Reads(self.fields | other.fields, self.dynamic or other.dynamic)


def _rule_name(tree: lark.Tree[Any]) -> str:
    return str(tree.data)


def _subtrees(tree: lark.Tree[Any]) -> list[lark.Tree[Any]]:
    return [c for c in tree.children if isinstance(c, lark.Tree)]


def _tokens(tree: lark.Tree[Any]) -> list[lark.Token]:
    return [c for c in tree.children if isinstance(c, lark.Token)]


def _ident_of(member: Any) -> str | None:
    """The identifier when ``member`` is a bare name (``member > primary > ident``)."""
    if not isinstance(member, lark.Tree) or _rule_name(member) != "member" or len(member.children) != 1:
        return None
    primary = member.children[0]
    if not isinstance(primary, lark.Tree) or _rule_name(primary) != "primary" or len(primary.children) != 1:
        return None
    ident = primary.children[0]
    if not isinstance(ident, lark.Tree) or _rule_name(ident) != "ident":
        return None
    tokens = _tokens(ident)
    return str(tokens[0]) if tokens else None


def _resource_attr(member: Any) -> str | None:
    """``configuration`` when ``member`` is ``resource.configuration``, and so on; else None."""
    if not isinstance(member, lark.Tree) or _rule_name(member) != "member" or len(member.children) != 1:
        return None
    dot = member.children[0]
    if not isinstance(dot, lark.Tree) or _rule_name(dot) != "member_dot" or len(dot.children) != 2:
        return None
    target, attr = dot.children
    if _ident_of(target) != "resource" or not isinstance(attr, lark.Token):
        return None
    return str(attr)


def _string_literal(expr: Any) -> str | None:
    """The value of ``expr`` when it is nothing but a string literal."""
    node = expr
    while isinstance(node, lark.Tree) and _rule_name(node) != "literal":
        if len(node.children) != 1:
            return None
        node = node.children[0]
    if not isinstance(node, lark.Tree):
        return None
    [token] = node.children
    if not isinstance(token, lark.Token) or token.type != "STRING_LIT":
        return None
    try:
        value = json.loads(str(token)) if str(token).startswith('"') else None
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _analyse(tree: lark.Tree[Any]) -> tuple[_Reads, list[str]]:
    """The configuration fields ``tree`` reads, and what in it is not allowed (unknown names, functions)."""
    problems: list[str] = []
    bound: set[str] = set()
    # Variables bound by comprehension macros (``x`` in ``list.exists(x, ...)``) are names too.
    for node in tree.iter_subtrees():
        if _rule_name(node) == "member_dot_arg":
            tokens = _tokens(node)
            lists = [t for t in _subtrees(node) if _rule_name(t) == "exprlist"]
            if tokens and str(tokens[0]) in MACROS and lists and lists[0].children:
                name = _ident_of(_unwrap_member(lists[0].children[0]))
                if name is not None:
                    bound.add(name)

    reads = _Reads()

    def visit(node: lark.Tree[Any], parent: lark.Tree[Any] | None) -> None:
        nonlocal reads
        kind = _rule_name(node)
        first_of_parent = parent is not None and parent.children and parent.children[0] is node
        parent_kind = _rule_name(parent) if parent is not None else ""
        if kind == "ident":
            name = str(_tokens(node)[0])
            if name != "resource" and name not in bound:
                problems.append(f"unknown name {name!r}: a condition reads resource.<{'|'.join(RESOURCE_FIELDS)}>")
        elif kind == "ident_arg":
            name = str(_tokens(node)[0])
            if name not in FUNCTIONS:
                problems.append(f"unknown function {name}()")
        elif kind == "member_dot_arg":
            name = str(_tokens(node)[0])
            if name not in FUNCTIONS and name not in MACROS:
                problems.append(f"unknown method .{name}()")
        elif kind == "member" and _ident_of(node) == "resource":
            if not (first_of_parent and parent_kind == "member_dot"):
                problems.append(f"resource is read through its fields only (resource.<{'|'.join(RESOURCE_FIELDS)}>)")
            elif parent is not None and str(parent.children[1]) not in RESOURCE_FIELDS:
                problems.append(
                    f"resource has no field {str(parent.children[1])!r} (it has {', '.join(RESOURCE_FIELDS)})"
                )
            elif parent is not None and str(parent.children[1]) == "tags":
                # Some collectors read tags with a call of their own (S3's GetBucketTagging); when it
                # failed, ``tags`` is listed among the unreadable fields like any other.
                reads = reads | _Reads(frozenset({"tags"}))
        elif kind == "member" and _resource_attr(node) == "configuration":
            key: str | None = None
            if first_of_parent and parent is not None and parent_kind == "member_dot":
                key = str(parent.children[1])
            elif first_of_parent and parent is not None and parent_kind == "member_index":
                key = _string_literal(parent.children[1])
            # Used whole (size(), ``in``, a macro, an index computed at run time): it reads every field.
            reads = reads | (_Reads(frozenset({key})) if key is not None else _Reads(dynamic=True))
        for child in _subtrees(node):
            visit(child, node)

    visit(tree, None)
    return reads, problems


def _unwrap_member(expr: Any) -> Any:
    """The innermost ``member`` node of an expression that is only a member (e.g. a bare name)."""
    node = expr
    while isinstance(node, lark.Tree) and _rule_name(node) != "member" and len(node.children) == 1:
        node = node.children[0]
    return node


# --------------------------------------------------------------------------------------------- evaluation


def _jsonable(value: Any) -> Any:
    """The snapshot's data as plain JSON values (configurations are JSON on the wire anyway)."""
    return json.loads(json.dumps(value, default=str))


def _eval_error_text(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    text = text.split(" (in activation", 1)[0]
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass(frozen=True)
class CompiledRule:
    """A validated rule, ready to run as a check function."""

    rule_id: str
    title: str
    condition_source: str
    condition: Any  # celpy Runner
    applies_if_source: str | None
    applies_if: Any  # celpy Runner or None
    reads: _Reads
    pass_reason: str
    fail_reason: str

    def _values(self, snap: Snapshot) -> dict[str, str]:
        return {
            "id": self.rule_id,
            "title": self.title,
            "name": snap.name,
            "arn": snap.arn,
            "region": snap.region,
            "account_id": snap.account_id,
            "resource_type": snap.resource_type,
        }

    def _run(self, runner: Any, source: str, activation: Mapping[str, Any], snap: Snapshot) -> bool | Verdict:
        try:
            result = runner.evaluate(activation)
        except (CELEvalError, CELUnsupportedError) as exc:
            return errored(
                f"Custom rule {self.rule_id} could not be evaluated on {snap.name}: {_eval_error_text(exc)}",
                expression=source,
            )
        if isinstance(result, CELEvalError):
            return errored(
                f"Custom rule {self.rule_id} could not be evaluated on {snap.name}: {_eval_error_text(result)}",
                expression=source,
            )
        if not isinstance(result, celtypes.BoolType | bool):
            return errored(
                f"Custom rule {self.rule_id} yielded {result!r} on {snap.name}, not true or false",
                expression=source,
            )
        return bool(result)

    def __call__(self, snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
        needed = sorted(snap.unreadable) if self.reads.dynamic else sorted(self.reads.fields)
        if (err := unreadable(snap, *needed)) is not None:
            return err
        resource = {
            "configuration": _jsonable(dict(snap.configuration)),
            "tags": _jsonable(dict(snap.tags)),
            "name": snap.name,
            "region": snap.region,
            "account_id": snap.account_id,
            "arn": snap.arn,
            "resource_type": snap.resource_type,
        }
        activation = {"resource": json_to_cel(resource)}
        if self.applies_if is not None and self.applies_if_source is not None:
            applies = self._run(self.applies_if, self.applies_if_source, activation, snap)
            if isinstance(applies, Verdict):
                return applies
            if not applies:
                return None
        outcome = self._run(self.condition, self.condition_source, activation, snap)
        if isinstance(outcome, Verdict):
            return outcome
        evidence = {f: resource["configuration"][f] for f in sorted(self.reads.fields) if f in snap.configuration}
        values = self._values(snap)
        if outcome:
            return passed(self.pass_reason.format_map(values), condition=self.condition_source, fields=evidence)
        return failed(self.fail_reason.format_map(values), condition=self.condition_source, fields=evidence)


@dataclass(frozen=True)
class CustomCheck(Check):
    """A registered check defined by a rule file; it also says which controls it serves."""

    controls: tuple[str, ...] = ()
    source: str = ""
    fingerprint: str = ""

    def info(self) -> CheckInfo:
        return super().info().model_copy(update={"controls": list(self.controls)})


# --------------------------------------------------------------------------------------------- providers


@dataclass(frozen=True)
class Provider:
    """The collector service that emits a resource type, and the permissions its data needs."""

    service: str
    permissions: tuple[str, ...]


def providers() -> dict[str, Provider]:
    """Every resource type a collector emits (plus the account context), with its provider."""
    from guardian_collector.collectors import all_collectors
    from guardian_collector.collectors.base import COLLECTORS

    all_collectors()
    out: dict[str, Provider] = {}
    for service in sorted(COLLECTORS):
        collector = COLLECTORS[service]
        for resource_type in collector.resource_types:
            out.setdefault(resource_type, Provider(service, tuple(collector.permissions)))
    # The account context is assembled from every collector's facts.
    every = sorted({p for c in COLLECTORS.values() for p in c.permissions})
    out[ACCOUNT_TYPE] = Provider(ACCOUNT_SERVICE, tuple(every))
    return out


# --------------------------------------------------------------------------------------------- loading


@dataclass
class _FileResult:
    checks: list[CustomCheck] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)


def _template_problem(template: str) -> str | None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"is not a valid template ({exc})"
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            return f"names {{{name}}}; a reason may name {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
    return None


def _compile(
    env: celpy.Environment, source: Any, key: str, rule: _Located, file: str, problems: list[RuleProblem]
) -> tuple[Any, _Reads] | None:
    line = rule.lines.get(key, rule.line)
    if not isinstance(source, str) or not source.strip():
        problems.append(RuleProblem(file, line, f"{key} must be a CEL expression (text)"))
        return None
    try:
        tree = env.compile(source)
    except CELParseError as exc:
        column = getattr(exc, "column", None)
        at = _source_line(rule, key, int(getattr(exc, "line", 1) or 1), column)
        where = f" (column {column})" if column else ""
        message = str(exc.args[0]).strip().splitlines()[0] if exc.args else "syntax error"
        problems.append(RuleProblem(file, at, f"{key} is not valid CEL{where}: {message}"))
        return None
    reads, issues = _analyse(tree)
    if issues:
        problems.extend(RuleProblem(file, line, f"{key}: {issue}") for issue in dict.fromkeys(issues))
        return None
    return env.program(tree), reads


def _control_problems(controls: list[str], known: Collection[str] | None) -> list[str]:
    """Why some of a rule's control ids cannot be mapped: malformed, or (when ``known`` is given) unknown."""
    reasons = []
    for control_id in controls:
        if not CONTROL_ID.match(control_id.strip()):
            reasons.append(
                f"control id {control_id!r} is malformed (capital letters, digits, '-', '_' or '.', "
                "2 to 64 characters, e.g. GRD-DATA-02)"
            )
        elif known is not None and control_id.strip() not in known:
            reasons.append(
                f"control {control_id.strip()} is neither in Guardian's bundled control library nor among the "
                f"company's controls listed in {ENV_VAR}: its findings would count nowhere"
            )
    return reasons


def _rule(
    rule: Any,
    file: str,
    kinds: Mapping[str, Provider],
    env: celpy.Environment,
    known_controls: Collection[str] | None = None,
) -> tuple[CustomCheck | None, list[RuleProblem]]:
    problems: list[RuleProblem] = []
    if not isinstance(rule, _Located):
        return None, [RuleProblem(file, 1, "each entry of rules must be a mapping")]
    rid = rule.get("id")
    label = f"rule {rid}" if isinstance(rid, str) else "rule"

    def refuse(key: str | None, reason: str) -> None:
        line = rule.lines.get(key, rule.line) if key else rule.line
        problems.append(RuleProblem(file, line, f"{label}: {reason}"))

    for key in sorted(set(rule) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)):
        refuse(key, f"unknown key {key!r} (allowed: {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)})")
    missing = [key for key in REQUIRED_KEYS if key not in rule]
    for key in missing:
        refuse(None, f"the required key {key!r} is missing")

    if "id" in rule and (not isinstance(rid, str) or not RULE_ID.match(rid)):
        refuse("id", f"id {rid!r} must start with 'custom_' and use lower-case letters, digits and underscores")
    for key in ("title", "description", "remediation"):
        if key in rule and (not isinstance(rule[key], str) or not rule[key].strip()):
            refuse(key, f"{key} must be non-empty text")
    resource_type = rule.get("resource_type")
    provider = kinds.get(resource_type) if isinstance(resource_type, str) else None
    if "resource_type" in rule and provider is None:
        refuse(
            "resource_type",
            f"unknown resource type {resource_type!r}: no collector emits it (known: {', '.join(sorted(kinds))})",
        )
    severity: Severity | None = None
    if "severity" in rule:
        try:
            severity = Severity(rule["severity"])
        except ValueError:
            refuse("severity", f"severity {rule['severity']!r} is not one of {', '.join(s.value for s in Severity)}")
    version = rule.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        refuse("version", f"version {version!r} must be a whole number of at least 1")
    controls = rule.get("controls", [])
    if not isinstance(controls, list) or not all(isinstance(c, str) and c.strip() for c in controls):
        refuse("controls", "controls must be a list of control ids, e.g. [GRD-DATA-02]")
        controls = []
    elif len(set(controls)) != len(controls):
        refuse("controls", "controls names the same control twice")
    else:
        for reason in _control_problems(controls, known_controls):
            refuse("controls", reason)
    reasons = rule.get("reasons")
    pass_reason = fail_reason = ""
    if "reasons" in rule and (not isinstance(reasons, _Located) or set(reasons) != {"pass", "fail"}):
        refuse("reasons", "reasons must be a mapping with exactly the keys pass and fail")
    elif isinstance(reasons, _Located):
        for outcome in ("pass", "fail"):
            text = reasons[outcome]
            if not isinstance(text, str) or not text.strip():
                problems.append(RuleProblem(file, reasons.lines[outcome], f"{label}: reasons.{outcome} must be text"))
            elif (issue := _template_problem(text)) is not None:
                problems.append(RuleProblem(file, reasons.lines[outcome], f"{label}: reasons.{outcome} {issue}"))
        pass_reason, fail_reason = str(reasons["pass"]), str(reasons["fail"])

    cel_problems: list[RuleProblem] = []
    condition = _compile(env, rule["condition"], "condition", rule, file, cel_problems) if "condition" in rule else None
    applies_if = None
    if "applies_if" in rule:
        applies_if = _compile(env, rule["applies_if"], "applies_if", rule, file, cel_problems)
    problems.extend(RuleProblem(p.file, p.line, f"{label}: {p.reason}") for p in cel_problems)
    if (
        problems
        or condition is None
        or provider is None
        or severity is None
        or not isinstance(rid, str)
        or not isinstance(resource_type, str)
    ):
        return None, problems
    if "applies_if" in rule and applies_if is None:
        return None, problems

    reads = condition[1] | (applies_if[1] if applies_if is not None else _Reads())
    compiled = CompiledRule(
        rule_id=rid,
        title=rule["title"].strip(),
        condition_source=rule["condition"].strip(),
        condition=condition[0],
        applies_if_source=rule["applies_if"].strip() if applies_if is not None else None,
        applies_if=applies_if[0] if applies_if is not None else None,
        reads=reads,
        pass_reason=pass_reason.strip(),
        fail_reason=fail_reason.strip(),
    )
    fingerprint = hashlib.sha256(json.dumps(dict(rule), sort_keys=True, default=str).encode()).hexdigest()[:16]
    check = CustomCheck(
        id=rid,
        version=version,
        title=compiled.title,
        description=rule["description"].strip(),
        severity=severity,
        resource_type=resource_type,
        service=provider.service,
        remediation=rule["remediation"].strip(),
        permissions=provider.permissions,
        parameters={},
        fn=compiled,
        controls=tuple(c.strip() for c in controls),
        source=f"{file}:{rule.line}",
        fingerprint=fingerprint,
    )
    return check, problems


def _parse_file(
    path: Path, kinds: Mapping[str, Provider], env: celpy.Environment, known_controls: Collection[str] | None
) -> _FileResult:
    result = _FileResult()
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.problems.append(RuleProblem(file, 1, f"cannot read the file: {exc}"))
        return result
    try:
        document = yaml.load(text, Loader=_RuleLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # An error at the end of the stream points past the last line: name the last line instead.
        line = min(mark.line + 1, max(len(text.splitlines()), 1)) if mark is not None else 1
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        result.problems.append(RuleProblem(file, line, f"not valid YAML: {reason or exc}"))
        return result
    except yaml.YAMLError as exc:
        result.problems.append(RuleProblem(file, 1, f"not valid YAML: {exc}"))
        return result
    if not isinstance(document, _Located) or "rules" not in document:
        result.problems.append(RuleProblem(file, 1, "a rule file is a mapping with a 'rules' list"))
        return result
    for key in sorted(set(document) - {"rules"}):
        result.problems.append(RuleProblem(file, document.lines[key], f"unknown top-level key {key!r}"))
    rules = document["rules"]
    if not isinstance(rules, list):
        result.problems.append(RuleProblem(file, document.lines["rules"], "'rules' must be a list of rules"))
        return result
    for rule in rules:
        check, problems = _rule(rule, file, kinds, env, known_controls)
        result.problems.extend(problems)
        if check is not None:
            result.checks.append(check)
    return result


def load_rule_files(
    paths: Iterable[Path], *, existing: Collection[str] = (), known_controls: Collection[str] | None = None
) -> list[CustomCheck]:
    """Parse and validate rule files; every problem of every file is raised together.

    ``existing`` holds the ids already registered (the built-in checks): a rule may not reuse one.
    ``known_controls`` holds the control ids a rule may name (see :func:`control_ids.known_control_ids`);
    ``None`` checks their form only (a tool that does not know the deployment's controls).
    """
    kinds = providers()
    env = celpy.Environment()
    checks: list[CustomCheck] = []
    problems: list[RuleProblem] = []
    seen: dict[str, str] = {}
    for path in paths:
        result = _parse_file(path, kinds, env, known_controls)
        problems.extend(result.problems)
        for chk in result.checks:
            file, _, line = chk.source.rpartition(":")
            if chk.id in seen:
                problems.append(
                    RuleProblem(file, int(line), f"duplicate id {chk.id}: already defined at {seen[chk.id]}")
                )
            elif chk.id in existing:
                problems.append(RuleProblem(file, int(line), f"duplicate id {chk.id}: a built-in check has it"))
            else:
                seen[chk.id] = chk.source
                checks.append(chk)
    if problems:
        raise RulesRefused(problems)
    return checks


def rule_files(directory: Path) -> list[Path]:
    """The rule files of a directory (``*.yaml``, ``*.yml``), in name order."""
    if not directory.is_dir():
        raise RulesRefused([RuleProblem(str(directory), 0, "the custom rules directory does not exist")])
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in RULE_FILE_SUFFIXES)


def load_rules_dir(
    directory: Path, *, existing: Collection[str] = (), known_controls: Collection[str] | None = None
) -> list[CustomCheck]:
    return load_rule_files(rule_files(directory), existing=existing, known_controls=known_controls)


def install(checks: Iterable[CustomCheck], registry: Registry = REGISTRY) -> list[CustomCheck]:
    """Register custom checks. Installing the very same rule again is a no-op; a different one with a
    registered id is refused (nothing is installed then)."""
    fresh: list[CustomCheck] = []
    problems: list[RuleProblem] = []
    for chk in checks:
        if chk.id in registry:
            current = registry.get(chk.id)
            if isinstance(current, CustomCheck) and current.fingerprint == chk.fingerprint:
                continue
            file, _, line = chk.source.rpartition(":")
            problems.append(RuleProblem(file, int(line), f"duplicate id {chk.id}: a check with it is registered"))
        else:
            fresh.append(chk)
    if problems:
        raise RulesRefused(problems)
    for chk in fresh:
        registry.add(chk)
    return fresh


def load_and_install(
    directory: Path | None, registry: Registry = REGISTRY, *, company_controls: Iterable[str] = ()
) -> list[CustomCheck]:
    """What the evaluator does at start-up: every rule of ``directory`` validated, then registered.

    A rule may name the bundled library's controls and ``company_controls`` (``GUARDIAN_CONTROL_IDS``)."""
    if directory is None:
        return []
    builtin = {c.id for c in registry if not isinstance(c, CustomCheck)}
    checks = load_rules_dir(directory, existing=builtin, known_controls=known_control_ids(company_controls))
    install(checks, registry)
    return checks


def catalogue_version_of(checks: Iterable[Check]) -> str:
    """The catalogue's version: the built-in hash of every check's id, version and resource type, plus
    each custom check's content fingerprint (its rule as written: condition, applies_if, severity,
    reasons, controls...), so editing a rule's content changes the version even when its ``version``
    number is left alone. A catalogue without custom checks keeps the plain built-in hash."""
    listed = list(checks)
    base = CheckCatalogue.version_of([c.info() for c in listed])
    custom = sorted((c.id, c.fingerprint) for c in listed if isinstance(c, CustomCheck))
    if not custom:
        return base
    digest = hashlib.sha256(base.encode())
    for check_id, fingerprint in custom:
        digest.update(f"\n{check_id}:{fingerprint}".encode())
    return digest.hexdigest()[:16]
