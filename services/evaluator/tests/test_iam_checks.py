"""The IAM checks, one snapshot at a time: PASS, FAIL, ERROR (unreadable and missing fields),
not-applicable cases and the boundaries.

Decisions these tests pin down:
* a key or credential exactly at the limit (90 days) is compliant; one second more is not;
* inactive access keys are ignored; a user with no active key (and, for unused credentials, no
  console password) is not evaluated (None);
* a user without a console password is not evaluated by the MFA check, even if its MFA devices
  could not be read;
* an Allow statement whose Action list contains "*" (or "*:*") on Resource "*" is full admin, with
  or without a Condition; NotAction statements are not matched (documented on the check).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guardian_common.events import Status
from guardian_evaluator.checks import iam  # noqa: F401  (registers the IAM checks)
from guardian_evaluator.registry import REGISTRY, Snapshot

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"


def iso(days_ago: float, *, seconds: float = 0) -> str:
    return (NOW - timedelta(days=days_ago, seconds=seconds)).isoformat()


def snap(resource_type: str, configuration: dict[str, Any], *, name: str = "alice") -> Snapshot:
    return Snapshot(
        resource_type=resource_type,
        arn=f"arn:aws:iam::{ACCOUNT}:{name}",
        name=name,
        account_id=ACCOUNT,
        region="global",
        tags={},
        configuration=configuration,
    )


def run(check_id: str, snapshot: Snapshot, **params: Any) -> tuple[Status, str] | None:
    chk = REGISTRY.get(check_id)
    verdict = chk.fn(snapshot, {**chk.parameters, "now": NOW, **params})
    return None if verdict is None else (verdict.status, verdict.reason)


def user(**overrides: Any) -> Snapshot:
    config: dict[str, Any] = {
        "user_name": "alice",
        "user_id": "AIDAEXAMPLE",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "created": iso(400),
        "console_access": True,
        "password_created": iso(400),
        "password_last_used": iso(3),
        "mfa_devices": [f"arn:aws:iam::{ACCOUNT}:mfa/alice"],
        "access_keys": [{"id": "AKIAFRESH", "status": "Active", "created": iso(10), "last_used": iso(1)}],
        "inline_policies": [],
        "attached_policies": [],
        "groups": ["developers"],
    }
    errors = overrides.pop("_errors", None)
    drop = overrides.pop("_drop", ())
    config.update(overrides)
    for key in drop:
        del config[key]
    if errors:
        config["_errors"] = errors
    return snap("AWS::IAM::User", config)


def policy(document: Any, **extra: Any) -> Snapshot:
    config = {
        "policy_name": "p",
        "arn": f"arn:aws:iam::{ACCOUNT}:policy/p",
        "default_version_id": "v3",
        "attachment_count": 1,
        "document": document,
        **extra,
    }
    return snap("AWS::IAM::Policy", config, name="p")


def account(**fields: Any) -> Snapshot:
    config: dict[str, Any] = {"scope": "account", **fields}
    return snap("AWS::::Account", config, name=ACCOUNT)


STRONG_POLICY = {
    "minimum_password_length": 14,
    "require_symbols": True,
    "require_numbers": True,
    "require_uppercase_characters": True,
    "require_lowercase_characters": True,
    "allow_users_to_change_password": True,
    "expire_passwords": True,
    "max_password_age": 90,
    "password_reuse_prevention": 24,
    "hard_expiry": False,
}
DENIED = "AccessDenied on GetLoginProfile: not authorised"


def status(result: tuple[Status, str] | None) -> Status | None:
    return None if result is None else result[0]


def reason(result: tuple[Status, str] | None) -> str:
    assert result is not None
    return result[1]


def test_every_iam_check_is_registered_with_its_service() -> None:
    expected = {
        "iam_user_console_mfa": ("AWS::IAM::User", "iam"),
        "iam_user_access_key_rotated": ("AWS::IAM::User", "iam"),
        "iam_user_unused_credentials": ("AWS::IAM::User", "iam"),
        "iam_user_no_direct_policies": ("AWS::IAM::User", "iam"),
        "iam_policy_no_full_admin": ("AWS::IAM::Policy", "iam"),
        "iam_root_mfa": ("AWS::::Account", "account"),
        "iam_root_no_access_keys": ("AWS::::Account", "account"),
        "iam_password_policy_strong": ("AWS::::Account", "account"),
    }
    for check_id, (resource_type, service) in expected.items():
        chk = REGISTRY.get(check_id)
        assert (chk.resource_type, chk.service) == (resource_type, service)
        assert chk.remediation
        assert "aws iam" in chk.remediation
    assert REGISTRY.get("iam_user_access_key_rotated").parameters == {"max_key_age_days": 90}
    assert REGISTRY.get("iam_user_unused_credentials").parameters == {"max_unused_days": 90}


# -- iam_user_console_mfa --------------------------------------------------------------------------


def test_console_mfa_passes_with_a_device() -> None:
    result = run("iam_user_console_mfa", user())
    assert status(result) is Status.PASS
    assert "mfa/alice" in reason(result)


def test_console_mfa_fails_without_a_device() -> None:
    result = run("iam_user_console_mfa", user(mfa_devices=[]))
    assert status(result) is Status.FAIL
    assert "alice" in reason(result)
    assert "no MFA device" in reason(result)


def test_console_mfa_does_not_apply_without_a_console_password() -> None:
    assert run("iam_user_console_mfa", user(console_access=False, mfa_devices=[])) is None
    # The MFA list is not needed to decide that the rule does not apply.
    unread = user(console_access=False, mfa_devices=None, _errors={"mfa_devices": "AccessDenied on X: no"})
    assert run("iam_user_console_mfa", unread) is None


@pytest.mark.parametrize("field", ["console_access", "mfa_devices"])
def test_console_mfa_errors_when_a_field_is_unreadable(field: str) -> None:
    result = run("iam_user_console_mfa", user(**{field: None, "_errors": {field: DENIED}}))
    assert status(result) is Status.ERROR
    assert field in reason(result)


@pytest.mark.parametrize("field", ["console_access", "mfa_devices"])
def test_console_mfa_errors_when_a_field_is_missing(field: str) -> None:
    result = run("iam_user_console_mfa", user(_drop=(field,)))
    assert status(result) is Status.ERROR
    assert field in reason(result)


def test_console_mfa_errors_on_a_console_flag_that_is_not_boolean() -> None:
    assert status(run("iam_user_console_mfa", user(console_access="yes"))) is Status.ERROR


# -- iam_user_access_key_rotated -------------------------------------------------------------------


def key(key_id: str, created_days: float, *, status: str = "Active", seconds: float = 0) -> dict[str, Any]:
    return {"id": key_id, "status": status, "created": iso(created_days, seconds=seconds), "last_used": None}


def test_key_rotation_passes_for_a_young_key() -> None:
    result = run("iam_user_access_key_rotated", user())
    assert status(result) is Status.PASS
    assert "AKIAFRESH: 10 days" in reason(result)


def test_key_rotation_fails_for_an_old_active_key() -> None:
    keys = [key("AKIAOLD", 200), key("AKIANEW", 5)]
    result = run("iam_user_access_key_rotated", user(access_keys=keys))
    assert status(result) is Status.FAIL
    assert "AKIAOLD (200 days old)" in reason(result)
    assert "AKIANEW" not in reason(result)


def test_key_exactly_at_the_limit_passes_and_one_second_more_fails() -> None:
    assert status(run("iam_user_access_key_rotated", user(access_keys=[key("K", 90)]))) is Status.PASS
    older = user(access_keys=[key("K", 90, seconds=1)])
    assert status(run("iam_user_access_key_rotated", older)) is Status.FAIL


def test_key_rotation_ignores_inactive_keys() -> None:
    only_inactive = user(access_keys=[key("AKIAOLD", 500, status="Inactive")])
    assert run("iam_user_access_key_rotated", only_inactive) is None
    mixed = user(access_keys=[key("AKIAOLD", 500, status="Inactive"), key("AKIANEW", 1)])
    result = run("iam_user_access_key_rotated", mixed)
    assert status(result) is Status.PASS
    assert "AKIAOLD" not in reason(result)


def test_key_rotation_does_not_apply_without_keys() -> None:
    assert run("iam_user_access_key_rotated", user(access_keys=[])) is None


def test_key_rotation_honours_its_parameter_and_a_string_now() -> None:
    keys = [key("K", 40)]
    result = run("iam_user_access_key_rotated", user(access_keys=keys), max_key_age_days=30)
    assert status(result) is Status.FAIL
    assert "older than 30 days" in reason(result)
    later = run("iam_user_access_key_rotated", user(access_keys=keys), now="2025-06-01T12:00:00Z")
    assert status(later) is Status.PASS


def test_key_rotation_errors_when_keys_are_unreadable_or_missing() -> None:
    unread = user(access_keys=None, _errors={"access_keys": "AccessDenied on ListAccessKeys: no"})
    result = run("iam_user_access_key_rotated", unread)
    assert status(result) is Status.ERROR
    assert "access_keys" in reason(result)
    assert status(run("iam_user_access_key_rotated", user(_drop=("access_keys",)))) is Status.ERROR


def test_key_rotation_errors_on_an_unparseable_creation_date() -> None:
    keys = [{"id": "K", "status": "Active", "created": "yesterday", "last_used": None}]
    result = run("iam_user_access_key_rotated", user(access_keys=keys))
    assert status(result) is Status.ERROR
    assert "yesterday" in reason(result)


def test_key_rotation_uses_the_wall_clock_without_now() -> None:
    chk = REGISTRY.get("iam_user_access_key_rotated")
    fresh = [{"id": "K", "status": "Active", "created": datetime.now(UTC).isoformat(), "last_used": None}]
    verdict = chk.fn(user(access_keys=fresh), chk.parameters)
    assert verdict is not None
    assert verdict.status is Status.PASS


# -- iam_user_unused_credentials -------------------------------------------------------------------


def test_unused_credentials_pass_when_everything_was_used_recently() -> None:
    result = run("iam_user_unused_credentials", user())
    assert status(result) is Status.PASS
    assert "console password last used 3 days ago" in reason(result)


def test_unused_credentials_fail_for_an_idle_password() -> None:
    result = run("iam_user_unused_credentials", user(password_last_used=iso(120)))
    assert status(result) is Status.FAIL
    assert "console password last used 120 days ago" in reason(result)


def test_unused_credentials_fail_for_a_password_never_used_and_set_long_ago() -> None:
    result = run("iam_user_unused_credentials", user(password_last_used=None, password_created=iso(100)))
    assert status(result) is Status.FAIL
    assert "never used, set 100 days ago" in reason(result)


def test_a_new_password_never_used_is_not_yet_unused() -> None:
    fresh = user(password_last_used=None, password_created=iso(2), created=iso(900))
    assert status(run("iam_user_unused_credentials", fresh)) is Status.PASS


def test_unused_credentials_fall_back_to_the_user_creation_date() -> None:
    old = user(password_last_used=None, created=iso(300), _drop=("password_created",))
    assert "set 300 days ago" in reason(run("iam_user_unused_credentials", old))


def test_unused_credentials_fail_for_an_active_key_never_used() -> None:
    keys = [key("AKIAIDLE", 150)]
    result = run("iam_user_unused_credentials", user(access_keys=keys))
    assert status(result) is Status.FAIL
    assert "access key AKIAIDLE never used, created 150 days ago" in reason(result)
    assert "console password" not in reason(result)


def test_unused_credentials_fail_for_a_key_last_used_long_ago() -> None:
    keys = [{"id": "AKIAOLD", "status": "Active", "created": iso(400), "last_used": iso(91)}]
    result = run("iam_user_unused_credentials", user(access_keys=keys))
    assert status(result) is Status.FAIL
    assert "AKIAOLD last used 91 days ago" in reason(result)


def test_unused_credentials_boundary_is_inclusive() -> None:
    exactly = user(password_last_used=iso(90))
    assert status(run("iam_user_unused_credentials", exactly)) is Status.PASS
    over = user(password_last_used=iso(90, seconds=1))
    assert status(run("iam_user_unused_credentials", over)) is Status.FAIL


def test_unused_credentials_ignore_inactive_keys() -> None:
    keys = [key("AKIAOFF", 900, status="Inactive")]
    assert status(run("iam_user_unused_credentials", user(access_keys=keys))) is Status.PASS
    nothing = user(console_access=False, password_last_used=None, access_keys=keys)
    assert run("iam_user_unused_credentials", nothing) is None


def test_unused_credentials_do_not_apply_to_a_user_without_credentials() -> None:
    bare = user(console_access=False, password_last_used=None, access_keys=[])
    assert run("iam_user_unused_credentials", bare) is None


def test_unused_credentials_error_when_key_last_use_is_unreadable() -> None:
    errors = {"access_key_last_used": "AccessDenied on GetAccessKeyLastUsed: no"}
    result = run("iam_user_unused_credentials", user(_errors=errors))
    assert status(result) is Status.ERROR
    assert "access_key_last_used" in reason(result)
    # Without an active key, the last use of keys is not needed.
    inactive = user(access_keys=[key("K", 5, status="Inactive")], _errors=errors)
    assert status(run("iam_user_unused_credentials", inactive)) is Status.PASS


@pytest.mark.parametrize("field", ["console_access", "access_keys", "password_last_used", "created"])
def test_unused_credentials_error_on_unreadable_or_missing_fields(field: str) -> None:
    unread = run("iam_user_unused_credentials", user(**{field: None, "_errors": {field: DENIED}}))
    assert status(unread) is Status.ERROR
    assert field in reason(unread)
    missing = run("iam_user_unused_credentials", user(_drop=(field,)))
    assert status(missing) is Status.ERROR
    assert field in reason(missing)


# -- iam_user_no_direct_policies -------------------------------------------------------------------


def test_no_direct_policies_passes_for_a_group_member() -> None:
    assert status(run("iam_user_no_direct_policies", user())) is Status.PASS


def test_no_direct_policies_names_inline_and_attached_policies() -> None:
    attached = [{"name": "AdministratorAccess", "arn": "arn:aws:iam::aws:policy/AdministratorAccess"}]
    result = run("iam_user_no_direct_policies", user(inline_policies=["s3-admin"], attached_policies=attached))
    assert status(result) is Status.FAIL
    assert "inline policies s3-admin" in reason(result)
    assert "directly attached managed policies AdministratorAccess" in reason(result)
    inline_only = run("iam_user_no_direct_policies", user(inline_policies=["x"]))
    assert status(inline_only) is Status.FAIL
    assert "attached" not in reason(inline_only)


@pytest.mark.parametrize("field", ["inline_policies", "attached_policies"])
def test_no_direct_policies_errors_on_unreadable_or_missing_fields(field: str) -> None:
    unread = run("iam_user_no_direct_policies", user(**{field: None, "_errors": {field: DENIED}}))
    assert status(unread) is Status.ERROR
    assert status(run("iam_user_no_direct_policies", user(_drop=(field,)))) is Status.ERROR


# -- iam_policy_no_full_admin ----------------------------------------------------------------------


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_full_admin_passes_for_a_narrow_policy() -> None:
    narrow = doc({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"})
    result = run("iam_policy_no_full_admin", policy(narrow))
    assert status(result) is Status.PASS
    assert "v3" in reason(result)


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*:*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "*"], "Resource": ["arn:aws:s3:::b", "*"]},
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        },
    ],
    ids=["star", "star-colon-star", "in-lists", "with-condition"],
)
def test_full_admin_fails_for_star_on_star(statement: dict[str, Any]) -> None:
    named = {"Sid": "Everything", **statement}
    result = run("iam_policy_no_full_admin", policy(doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, named)))
    assert status(result) is Status.FAIL
    assert "Everything" in reason(result)


def test_full_admin_accepts_a_single_statement_object_and_numbers_unnamed_ones() -> None:
    single = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
    result = run("iam_policy_no_full_admin", policy(single))
    assert status(result) is Status.FAIL
    assert "#1" in reason(result)


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::bucket/*"},
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        # NotAction is not matched: this check is about Action "*" (documented decision).
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::secret"},
    ],
    ids=["deny", "narrow-resource", "service-wildcard", "not-action", "not-resource"],
)
def test_full_admin_passes_for_statements_that_are_not_star_on_star(statement: dict[str, Any]) -> None:
    assert status(run("iam_policy_no_full_admin", policy(doc(statement)))) is Status.PASS


def test_full_admin_errors_on_an_unreadable_missing_or_malformed_document() -> None:
    errors = {"document": "AccessDenied on GetPolicyVersion: no"}
    unread = run("iam_policy_no_full_admin", policy(None, _errors=errors))
    assert status(unread) is Status.ERROR
    assert "document" in reason(unread)
    config = dict(policy(doc()).configuration)
    del config["document"]
    assert status(run("iam_policy_no_full_admin", snap("AWS::IAM::Policy", config))) is Status.ERROR
    assert status(run("iam_policy_no_full_admin", policy("%7B%22Statement"))) is Status.ERROR
    assert status(run("iam_policy_no_full_admin", policy({"Statement": ["oops"]}))) is Status.ERROR


# -- iam_root_mfa / iam_root_no_access_keys --------------------------------------------------------


def root(**fields: Any) -> dict[str, Any]:
    base = {
        "mfa_active": True,
        "access_keys_active": 0,
        "access_keys_present": False,
        "password_last_used": None,
        "sources": ["credential_report", "account_summary"],
    }
    return {**base, **fields}


def test_root_mfa_pass_and_fail() -> None:
    assert status(run("iam_root_mfa", account(iam_root=root()))) is Status.PASS
    result = run("iam_root_mfa", account(iam_root=root(mfa_active=False)))
    assert status(result) is Status.FAIL
    assert ACCOUNT in reason(result)
    assert "no MFA" in reason(result)


def test_root_keys_pass_and_fail() -> None:
    assert status(run("iam_root_no_access_keys", account(iam_root=root()))) is Status.PASS
    active = run("iam_root_no_access_keys", account(iam_root=root(access_keys_active=2, access_keys_present=True)))
    assert status(active) is Status.FAIL
    assert "2 active access key(s)" in reason(active)
    inactive = run("iam_root_no_access_keys", account(iam_root=root(access_keys_present=True)))
    assert status(inactive) is Status.FAIL
    assert "inactive" in reason(inactive)


@pytest.mark.parametrize("check_id", ["iam_root_mfa", "iam_root_no_access_keys", "iam_password_policy_strong"])
def test_account_checks_only_apply_to_the_account_wide_snapshot(check_id: str) -> None:
    regional = snap("AWS::::Account", {"scope": "region"}, name=f"{ACCOUNT} (us-east-1)")
    assert run(check_id, regional) is None


@pytest.mark.parametrize("check_id", ["iam_root_mfa", "iam_root_no_access_keys"])
def test_root_checks_error_when_the_root_user_is_unreadable(check_id: str) -> None:
    why = "credential report: AccessDenied on GenerateCredentialReport: no; account summary: not read"
    result = run(check_id, account(iam_root=None, _errors={"iam_root": why}))
    assert status(result) is Status.ERROR
    assert "iam_root" in reason(result)
    assert status(run(check_id, account())) is Status.ERROR


def test_root_checks_error_when_their_value_is_missing_or_malformed() -> None:
    partial = {"password_last_used": None}
    assert status(run("iam_root_mfa", account(iam_root=partial))) is Status.ERROR
    assert status(run("iam_root_no_access_keys", account(iam_root=partial))) is Status.ERROR
    assert status(run("iam_root_no_access_keys", account(iam_root=root(access_keys_active="0")))) is Status.ERROR
    assert status(run("iam_root_mfa", account(iam_root=root(mfa_active=None)))) is Status.ERROR


# -- iam_password_policy_strong --------------------------------------------------------------------


def test_password_policy_passes_when_strong() -> None:
    result = run("iam_password_policy_strong", account(iam_password_policy=STRONG_POLICY))
    assert status(result) is Status.PASS


def test_password_policy_thresholds_are_inclusive() -> None:
    stronger = {
        **STRONG_POLICY,
        "minimum_password_length": 32,
        "password_reuse_prevention": 24,
        "max_password_age": 30,
    }
    assert status(run("iam_password_policy_strong", account(iam_password_policy=stronger))) is Status.PASS


def test_no_password_policy_fails() -> None:
    result = run("iam_password_policy_strong", account(iam_password_policy=None))
    assert status(result) is Status.FAIL
    assert "no password policy" in reason(result)


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"minimum_password_length": 13}, "minimum length is 13 (needs 14)"),
        ({"require_uppercase_characters": False}, "does not require an uppercase letter"),
        ({"require_lowercase_characters": False}, "does not require a lowercase letter"),
        ({"require_numbers": False}, "does not require a number"),
        ({"require_symbols": False}, "does not require a symbol"),
        ({"password_reuse_prevention": 5}, "reuse prevention is 5 passwords (needs 24)"),
        ({"max_password_age": 91}, "maximum password age is 91 days (needs at most 90)"),
        ({"expire_passwords": False, "max_password_age": 0}, "passwords never expire"),
    ],
)
def test_password_policy_names_the_failing_setting(change: dict[str, Any], phrase: str) -> None:
    result = run("iam_password_policy_strong", account(iam_password_policy={**STRONG_POLICY, **change}))
    assert status(result) is Status.FAIL
    assert phrase in reason(result)
    assert reason(result).count(";") == 0  # only that one setting is named


def test_password_policy_names_every_failing_setting_and_absent_ones() -> None:
    weak = {"minimum_password_length": 8, "require_symbols": True, "expire_passwords": False}
    result = reason(run("iam_password_policy_strong", account(iam_password_policy=weak)))
    for phrase in (
        "minimum length is 8",
        "uppercase",
        "lowercase",
        "a number",
        "reuse prevention is not set",
        "passwords never expire",
    ):
        assert phrase in result
    assert "symbol" not in result


def test_password_policy_parameters_can_relax_a_requirement() -> None:
    never_expires = {**STRONG_POLICY, "expire_passwords": False}
    del never_expires["max_password_age"]
    assert status(run("iam_password_policy_strong", account(iam_password_policy=never_expires))) is Status.FAIL
    relaxed = run("iam_password_policy_strong", account(iam_password_policy=never_expires), max_age_days=0)
    assert status(relaxed) is Status.PASS
    short = {**STRONG_POLICY, "minimum_password_length": 10}
    assert status(run("iam_password_policy_strong", account(iam_password_policy=short), min_length=8)) is Status.PASS


def test_password_policy_errors_when_unreadable_missing_or_malformed() -> None:
    errors = {"iam_password_policy": "AccessDenied on GetAccountPasswordPolicy: no"}
    result = run("iam_password_policy_strong", account(iam_password_policy=None, _errors=errors))
    assert status(result) is Status.ERROR
    assert "iam_password_policy" in reason(result)
    assert status(run("iam_password_policy_strong", account())) is Status.ERROR
    assert status(run("iam_password_policy_strong", account(iam_password_policy="strong"))) is Status.ERROR
