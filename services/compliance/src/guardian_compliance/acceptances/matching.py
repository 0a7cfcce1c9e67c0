"""Which risk acceptances cover which findings: a pure function of both.

An acceptance without a control selector covers the finding everywhere (it shows ACCEPTED and
counts as accepted in every control). One with a control selector covers the finding only in
that control; elsewhere it still fails. Only FAIL findings are ever accepted: an ERROR means
"we do not know", which no one can accept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class Rule:
    id: str
    control_id: str | None
    check_id: str | None
    arn_pattern: str | None
    account_id: str | None
    region: str | None
    tag_key: str | None
    tag_value: str | None
    approver: str | None
    starts_at: datetime
    # The end of the covered interval: the expiry, or the revocation when an admin revoked it earlier.
    expires_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Rule:
        return cls(
            id=row["acceptance_id"],
            control_id=row["control_id"],
            check_id=row["check_id"],
            arn_pattern=row["arn_pattern"],
            account_id=row["account_id"],
            region=row["region"],
            tag_key=row["tag_key"],
            tag_value=row["tag_value"],
            approver=row["decided_by"],
            starts_at=row["starts_at"],
            expires_at=covered_until(row),
            revoked_at=row.get("revoked_at"),
        )

    def covers(self, *, check_id: str, arn: str, account_id: str, region: str, tags: Mapping[str, str] | None) -> bool:
        """Every selector given must match (the control selector is applied by the caller)."""
        if self.check_id is not None and self.check_id != check_id:
            return False
        if self.arn_pattern is not None and not fnmatchcase(arn, self.arn_pattern):
            return False
        if self.account_id is not None and self.account_id != account_id:
            return False
        if self.region is not None and self.region != region:
            return False
        return self.tag_key is None or (tags or {}).get(self.tag_key) == self.tag_value


def covered_until(row: Mapping[str, Any]) -> datetime:
    """When an approved acceptance stops covering findings: its expiry, or its revocation if earlier."""
    revoked: datetime | None = row.get("revoked_at")
    expires: datetime = row["expires_at"]
    return expires if revoked is None or revoked >= expires else max(revoked, row["starts_at"])


def in_force(rules: Iterable[Rule], now: datetime) -> list[Rule]:
    return [r for r in rules if r.starts_at <= now < r.expires_at]


@dataclass(frozen=True)
class Coverage:
    everywhere: Rule | None
    # control id -> the acceptance covering the finding in that control only
    per_control: dict[str, Rule]

    @property
    def any(self) -> bool:
        return self.everywhere is not None or bool(self.per_control)


NO_COVERAGE = Coverage(None, {})


def coverage(
    rules: Iterable[Rule],
    *,
    status: str,
    check_id: str,
    arn: str,
    account_id: str,
    region: str,
    tags: Mapping[str, str] | None,
) -> Coverage:
    if status != "FAIL":
        return NO_COVERAGE
    everywhere: Rule | None = None
    per_control: dict[str, Rule] = {}
    for rule in sorted(rules, key=lambda r: r.id):
        if not rule.covers(check_id=check_id, arn=arn, account_id=account_id, region=region, tags=tags):
            continue
        if rule.control_id is None:
            everywhere = everywhere or rule
        else:
            per_control.setdefault(rule.control_id, rule)
    return Coverage(everywhere, per_control) if everywhere or per_control else NO_COVERAGE
