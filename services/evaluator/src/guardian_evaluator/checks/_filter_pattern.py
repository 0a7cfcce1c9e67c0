"""CloudWatch Logs JSON filter patterns: a parser and an evaluator against a JSON log event.

Used to decide whether a metric filter covers a class of CloudTrail events: a filter covers the
class when its pattern matches every sample event of the class (see ``monitoring.py``). Judging by
behaviour rather than by the text means whitespace, quoting, term order and extra alternatives do
not matter, while a pattern that misses one of the class's key event names, or adds a condition
the events do not meet, does not count.

Supported syntax (the JSON form of filter patterns)::

    { $.a.b[0].c = "text*" && ($.x != 12 || $.y IS TRUE) }
    comparison  := selector ( "=" | "!=" | "<" | "<=" | ">" | ">=" ) value
                 | selector "IS" ( "TRUE" | "FALSE" | "NULL" ) | selector "NOT" "EXISTS"
    value       := "quoted text" | bare-text | %regular expression%

``*`` in a text value is a wildcard. ``&&`` binds tighter than ``||``. A comparison on a property
the event does not have is false (for ``!=`` too), so a filter is never credited with matching an
event through a missing field. Anything else (plain-text term patterns, unsupported forms) is a
:class:`PatternError`: such a filter is reported as not interpretable and does not count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Event = Mapping[str, Any]
_MISSING = object()


class PatternError(ValueError):
    pass


@dataclass(frozen=True)
class Comparison:
    path: tuple[str | int, ...]
    op: str
    value: Any  # str (text), re.Pattern (regex), or None for the IS/NOT EXISTS forms
    kind: str  # "text", "regex", "is_true", "is_false", "is_null", "not_exists"


@dataclass(frozen=True)
class Junction:
    op: str  # "&&" or "||"
    parts: tuple[Node, ...]


Node = Comparison | Junction

_SELECTOR = re.compile(r"\$((?:\.[A-Za-z0-9_\-@:]+|\[\d+\])*)")
_STEP = re.compile(r"\.([A-Za-z0-9_\-@:]+)|\[(\d+)\]")
_OPERATORS = ("!=", ">=", "<=", "=", ">", "<")
_BARE_STOP = set('()&|{}"')


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, what: str) -> PatternError:
        return PatternError(f"{what} at character {self.pos + 1}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def word(self) -> str:
        self.skip()
        match = re.compile(r"[A-Za-z]+").match(self.text, self.pos)
        if not match:
            raise self.error("expected a keyword")
        self.pos = match.end()
        return match.group(0).upper()

    def parse(self) -> Node:
        if not self.take("{"):
            raise self.error("not a JSON filter pattern (it does not start with '{')")
        node = self.disjunction()
        if not self.take("}"):
            raise self.error("expected '}'")
        self.skip()
        if self.pos != len(self.text):
            raise self.error("unexpected text after '}'")
        return node

    def disjunction(self) -> Node:
        parts = [self.conjunction()]
        while self.take("||"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Junction("||", tuple(parts))

    def conjunction(self) -> Node:
        parts = [self.factor()]
        while self.take("&&"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else Junction("&&", tuple(parts))

    def factor(self) -> Node:
        if self.take("("):
            node = self.disjunction()
            if not self.take(")"):
                raise self.error("expected ')'")
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        self.skip()
        match = _SELECTOR.match(self.text, self.pos)
        if not match or not match.group(1):
            raise self.error("expected a property selector such as $.eventName")
        self.pos = match.end()
        path: list[str | int] = []
        for step in _STEP.finditer(match.group(1)):
            path.append(step.group(1) if step.group(1) is not None else int(step.group(2)))
        self.skip()
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                kind, value = self.value()
                return Comparison(tuple(path), op, value, kind)
        keyword = self.word()
        if keyword == "IS":
            what = self.word()
            forms = {"TRUE": "is_true", "FALSE": "is_false", "NULL": "is_null"}
            if what not in forms:
                raise self.error(f"unsupported IS {what}")
            return Comparison(tuple(path), "IS", None, forms[what])
        if keyword == "NOT" and self.word() == "EXISTS":
            return Comparison(tuple(path), "NOT EXISTS", None, "not_exists")
        raise self.error(f"unsupported operator {keyword}")

    def value(self) -> tuple[str, Any]:
        self.skip()
        if self.pos >= len(self.text):
            raise self.error("expected a value")
        first = self.text[self.pos]
        if first == '"':
            out = []
            self.pos += 1
            while self.pos < len(self.text):
                char = self.text[self.pos]
                if char == "\\" and self.pos + 1 < len(self.text):
                    out.append(self.text[self.pos + 1])
                    self.pos += 2
                    continue
                if char == '"':
                    self.pos += 1
                    return "text", "".join(out)
                out.append(char)
                self.pos += 1
            raise self.error("unterminated quoted value")
        if first == "%":
            end = self.text.find("%", self.pos + 1)
            if end < 0:
                raise self.error("unterminated regular expression")
            try:
                pattern = re.compile(self.text[self.pos + 1 : end])
            except re.error as exc:
                raise self.error(f"invalid regular expression ({exc})") from exc
            self.pos = end + 1
            return "regex", pattern
        start = self.pos
        while self.pos < len(self.text) and not self.text[self.pos].isspace() and self.text[self.pos] not in _BARE_STOP:
            self.pos += 1
        if self.pos == start:
            raise self.error("expected a value")
        return "text", self.text[start : self.pos]


def parse(pattern: str) -> Node:
    """The pattern's syntax tree, or :class:`PatternError`."""
    return _Parser(pattern).parse()


def _resolve(event: Any, path: tuple[str | int, ...]) -> Any:
    current = event
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                return _MISSING
            current = current[step]
        else:
            if not isinstance(current, Mapping) or step not in current:
                return _MISSING
            current = current[step]
    return current


def _wildcard(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(node: Comparison, field: Any) -> bool:
    if node.kind == "not_exists":
        return field is _MISSING
    if field is _MISSING:
        return False
    if node.kind == "is_true":
        return field is True
    if node.kind == "is_false":
        return field is False
    if node.kind == "is_null":
        return field is None
    if field is None or isinstance(field, Mapping | list):
        return False
    if node.kind == "regex":
        if node.op not in ("=", "!="):
            return False
        found = bool(node.value.search(str(field)))
        return found if node.op == "=" else not found
    text = str(node.value)
    if isinstance(field, bool):
        field = "true" if field else "false"
    if isinstance(field, int | float):
        number = _number(text)
        if number is None:
            return False
        return {
            "=": field == number,
            "!=": field != number,
            "<": field < number,
            "<=": field <= number,
            ">": field > number,
            ">=": field >= number,
        }[node.op]
    if node.op not in ("=", "!="):
        return False
    equal = bool(_wildcard(text).fullmatch(str(field)))
    return equal if node.op == "=" else not equal


def matches(node: Node, event: Event) -> bool:
    if isinstance(node, Junction):
        results = (matches(part, event) for part in node.parts)
        return all(results) if node.op == "&&" else any(results)
    return _compare(node, _resolve(event, node.path))
