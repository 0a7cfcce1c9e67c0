"""Unit tests of the CIS 2.1.3 Macie check and the CIS 1.16 AdministratorAccess check, on account-context
configurations shaped like the ``macie`` and ``iamadmin`` collectors' output."""

from __future__ import annotations

from typing import Any

from guardian_common.events import Status
from guardian_evaluator.checks import load_all
from guardian_evaluator.registry import REGISTRY, Snapshot

load_all()

ACCOUNT = "AWS::::Account"
MACIE = "macie_sensitive_data_discovery"
ADMIN = "iam_admin_access_policy_not_attached"


def judge(check_id: str, configuration: dict[str, Any], **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    scope = configuration.get("scope")
    snap = Snapshot(
        resource_type=ACCOUNT,
        arn="arn:aws:iam::123456789012:root",
        name="123456789012",
        account_id="123456789012",
        region="global" if scope == "account" else "eu-west-1",
        tags={},
        configuration=configuration,
    )
    verdict = chk.fn(snap, {**chk.parameters, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def status(check_id: str, configuration: dict[str, Any], **params: Any) -> Status | None:
    result = judge(check_id, configuration, **params)
    return None if result is None else result[0]


def macie(state: str | None, discovery: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "scope": "region",
        "macie": {
            "enabled": state == "ENABLED",
            "status": state,
            "finding_publishing_frequency": "FIFTEEN_MINUTES" if state else None,
            "service_role": None,
        },
        "macie_automated_discovery": discovery,
        **extra,
    }


# -- Macie (CIS 2.1.3) -----------------------------------------------------------------------------


def test_macie_enabled_with_automated_discovery_passes() -> None:
    result = judge(MACIE, macie("ENABLED", "ENABLED"))
    assert result is not None
    assert result[0] is Status.PASS
    assert "eu-west-1" in result[1]
    assert "automated sensitive-data discovery" in result[1]


def test_macie_not_enabled_fails_and_a_paused_macie_fails() -> None:
    off = judge(MACIE, macie(None, None))
    assert off is not None
    assert off[0] is Status.FAIL
    assert "not enabled in eu-west-1" in off[1]
    paused = judge(MACIE, macie("PAUSED", None))
    assert paused is not None
    assert (paused[0], "paused" in paused[1]) == (Status.FAIL, True)


def test_macie_without_automated_discovery_fails_unless_the_parameter_allows_it() -> None:
    config = macie("ENABLED", "DISABLED")
    result = judge(MACIE, config)
    assert result is not None
    assert result[0] is Status.FAIL
    assert "automated sensitive-data discovery is off" in result[1]
    relaxed = judge(MACIE, config, require_automated_discovery=False)
    assert relaxed is not None
    assert relaxed[0] is Status.PASS


def test_unreadable_macie_data_is_an_error_never_a_pass() -> None:
    denied = {
        "scope": "region",
        "macie": None,
        "macie_automated_discovery": None,
        "_errors": {"macie": "AccessDeniedException on get_macie_session: not authorized"},
    }
    result = judge(MACIE, denied)
    assert result is not None
    assert result[0] is Status.ERROR
    assert "AccessDeniedException" in result[1]
    # Macie is on but its discovery setting could not be read: ERROR while discovery is required.
    partly = macie("ENABLED", None, _errors={"macie_automated_discovery": "ThrottlingException on get_auto..."})
    assert status(MACIE, partly) is Status.ERROR
    assert status(MACIE, partly, require_automated_discovery=False) is Status.PASS
    # Not collected at all (an older collector): ERROR, and a garbled value too.
    assert status(MACIE, {"scope": "region"}) is Status.ERROR
    assert status(MACIE, {"scope": "region", "macie": "on"}) is Status.ERROR
    odd = macie("ENABLED", "SOMETIMES")
    assert status(MACIE, odd) is Status.ERROR


def test_macie_is_judged_per_region_not_on_the_account_wide_context() -> None:
    assert judge(MACIE, {**macie("ENABLED", "ENABLED"), "scope": "account"}) is None


# -- AdministratorAccess (CIS 1.16) ----------------------------------------------------------------


def attachments(users: list[str], groups: list[str], roles: list[str]) -> dict[str, Any]:
    return {
        "scope": "account",
        "iam_admin_policy_attachments": {
            "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess",
            "users": users,
            "groups": groups,
            "roles": roles,
        },
    }


def test_administrator_access_attached_to_nobody_passes() -> None:
    result = judge(ADMIN, attachments([], [], []))
    assert result is not None
    assert result[0] is Status.PASS


def test_administrator_access_attached_to_a_user_group_or_role_fails_naming_each() -> None:
    for held in (attachments(["alice"], [], []), attachments([], ["admins"], []), attachments([], [], ["ops"])):
        result = judge(ADMIN, held)
        assert result is not None
        assert result[0] is Status.FAIL
    every = judge(ADMIN, attachments(["alice"], ["admins"], ["ops"]))
    assert every is not None
    assert every[0] is Status.FAIL
    assert "user alice, group admins, role ops" in every[1]


def test_unreadable_attachments_are_an_error_never_a_pass() -> None:
    denied = {
        "scope": "account",
        "iam_admin_policy_attachments": None,
        "_errors": {"iam_admin_policy_attachments": "AccessDenied on list_entities_for_policy: no"},
    }
    assert status(ADMIN, denied) is Status.ERROR
    assert status(ADMIN, {"scope": "account"}) is Status.ERROR
    garbled = {"scope": "account", "iam_admin_policy_attachments": {"users": "alice"}}
    assert status(ADMIN, garbled) is Status.ERROR
    # Regional contexts do not carry IAM data: not applicable there.
    assert judge(ADMIN, {"scope": "region"}) is None
