"""IAM checks: users (console MFA, key rotation, unused credentials, direct policies),
customer-managed policies (full administrator grants) and the account's root user and
password policy (from the global ``AWS::::Account`` context snapshot).

Checks that depend on the current time take it from ``params["now"]`` when given (an ISO-8601
string or a datetime; tests pin it), else the wall clock in UTC. Durations compare strictly: a key
exactly ``max_key_age_days`` old is still compliant, one a second older is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed, unreadable

USER = "AWS::IAM::User"
POLICY = "AWS::IAM::Policy"
ACCOUNT = "AWS::::Account"


# -- helpers ---------------------------------------------------------------------------------------


class BadValue(ValueError):
    """A configuration value the check cannot interpret (becomes ERROR, never PASS)."""


def _missing(snap: Snapshot, *fields: str) -> Verdict | None:
    """ERROR when a field the check needs is not in the configuration at all."""
    absent = [f for f in fields if f not in snap.configuration]
    if not absent:
        return None
    return errored(f"The configuration has no {', '.join(absent)}: the collector did not supply it", missing=absent)


def _needs(snap: Snapshot, *fields: str) -> Verdict | None:
    """Unreadable (listed in ``_errors``) or absent fields make the check ERROR."""
    return unreadable(snap, *fields) or _missing(snap, *fields)


def _moment(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise BadValue(f"{what} is not an ISO-8601 date: {value!r}") from exc
    else:
        raise BadValue(f"{what} is not a date: {value!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _now(params: Mapping[str, Any]) -> datetime:
    value = params.get("now")
    return datetime.now(UTC) if value is None else _moment(value, "params['now']")


def _whole_days(delta: timedelta) -> int:
    return delta.days


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _active_keys(keys: Any) -> list[Mapping[str, Any]]:
    if not isinstance(keys, list):
        raise BadValue(f"access_keys is not a list: {keys!r}")
    out = []
    for key in keys:
        if not isinstance(key, Mapping) or "status" not in key:
            raise BadValue(f"access key entry without a status: {key!r}")
        if key["status"] == "Active":
            out.append(key)
    return out


def _account_scope(snap: Snapshot) -> bool:
    return snap.configuration.get("scope") == "account"


# -- users -----------------------------------------------------------------------------------------


@check(
    id="iam_user_console_mfa",
    title="IAM users with a console password have MFA",
    description=(
        "Every IAM user who can sign in to the AWS console with a password has at least one MFA "
        "device. Users without a console password are not evaluated."
    ),
    severity=Severity.HIGH,
    resource_type=USER,
    service="iam",
    remediation=(
        "Enable a virtual or hardware MFA device for the user, or remove the console password if it is "
        "not needed: `aws iam enable-mfa-device --user-name USER --serial-number ARN "
        "--authentication-code1 CODE1 --authentication-code2 CODE2`."
    ),
    permissions=("iam:GetLoginProfile", "iam:ListMFADevices"),
)
def iam_user_console_mfa(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    # Whether the user has a console password decides whether the rule applies at all.
    if (err := _needs(snap, "console_access")) is not None:
        return err
    console = snap.configuration["console_access"]
    if not isinstance(console, bool):
        return errored(f"IAM user {snap.name}: console_access is not true or false: {console!r}")
    if not console:
        return None
    if (err := _needs(snap, "mfa_devices")) is not None:
        return err
    devices = _as_list(snap.configuration["mfa_devices"])
    if not devices:
        return failed(
            f"IAM user {snap.name} can sign in to the console with a password but has no MFA device",
            console_access=True,
            mfa_devices=[],
        )
    return passed(
        f"IAM user {snap.name} has a console password and {len(devices)} MFA device(s): "
        f"{', '.join(str(d) for d in devices)}",
        mfa_devices=devices,
    )


@check(
    id="iam_user_access_key_rotated",
    title="IAM user access keys are rotated",
    description=(
        "Every active access key of an IAM user was created no more than max_key_age_days ago. "
        "Inactive keys are ignored; users without an active key are not evaluated."
    ),
    severity=Severity.MEDIUM,
    resource_type=USER,
    service="iam",
    remediation=(
        "Create a new access key, move its consumers to it, then deactivate and delete the old one: "
        "`aws iam create-access-key --user-name USER` then "
        "`aws iam delete-access-key --user-name USER --access-key-id OLD_KEY_ID`."
    ),
    permissions=("iam:ListAccessKeys",),
    parameters={"max_key_age_days": 90},
)
def iam_user_access_key_rotated(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := _needs(snap, "access_keys")) is not None:
        return err
    max_days = int(params["max_key_age_days"])
    try:
        now = _now(params)
        active = _active_keys(snap.configuration["access_keys"])
        ages = {
            str(k.get("id")): now - _moment(k.get("created"), f"creation date of key {k.get('id')}") for k in active
        }
    except BadValue as exc:
        return errored(f"IAM user {snap.name}: {exc}")
    if not active:
        return None
    limit = timedelta(days=max_days)
    stale = {key: age for key, age in sorted(ages.items()) if age > limit}
    evidence = {"key_age_days": {k: _whole_days(a) for k, a in ages.items()}, "max_key_age_days": max_days}
    if stale:
        listed = ", ".join(f"{key} ({_whole_days(age)} days old)" for key, age in stale.items())
        return failed(f"IAM user {snap.name} has active access key(s) older than {max_days} days: {listed}", **evidence)
    return passed(
        f"Every active access key of IAM user {snap.name} is at most {max_days} days old "
        f"({', '.join(f'{k}: {_whole_days(a)} days' for k, a in sorted(ages.items()))})",
        **evidence,
    )


@check(
    id="iam_user_unused_credentials",
    title="IAM users have no unused credentials",
    description=(
        "An IAM user's console password and active access keys were each used within max_unused_days. "
        "A credential never used counts from its creation (the password's, else the user's; the key's). "
        "Users with neither a console password nor an active key are not evaluated."
    ),
    severity=Severity.MEDIUM,
    resource_type=USER,
    service="iam",
    remediation=(
        "Remove credentials nobody uses: `aws iam delete-login-profile --user-name USER` for the password, "
        "`aws iam update-access-key --user-name USER --access-key-id KEY_ID --status Inactive` for a key."
    ),
    permissions=("iam:GetLoginProfile", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:ListUsers"),
    parameters={"max_unused_days": 90},
)
def iam_user_unused_credentials(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := _needs(snap, "console_access", "access_keys", "password_last_used", "created")) is not None:
        return err
    cfg = snap.configuration
    max_days = int(params["max_unused_days"])
    limit = timedelta(days=max_days)
    idle: list[str] = []
    fine: list[str] = []
    if not isinstance(cfg["console_access"], bool):
        return errored(f"IAM user {snap.name}: console_access is not true or false: {cfg['console_access']!r}")
    try:
        now = _now(params)
        active = _active_keys(cfg["access_keys"])
        if active and (err := unreadable(snap, "access_key_last_used")) is not None:
            return err
        if cfg["console_access"]:
            if cfg["password_last_used"] is not None:
                since = now - _moment(cfg["password_last_used"], "password_last_used")
                text = f"console password last used {_whole_days(since)} days ago"
            else:
                created = cfg.get("password_created") or cfg["created"]
                since = now - _moment(created, "password creation date")
                text = f"console password never used, set {_whole_days(since)} days ago"
            (idle if since > limit else fine).append(text)
        for key in active:
            key_id = key.get("id")
            if key.get("last_used") is not None:
                since = now - _moment(key["last_used"], f"last use of key {key_id}")
                text = f"access key {key_id} last used {_whole_days(since)} days ago"
            else:
                since = now - _moment(key.get("created"), f"creation date of key {key_id}")
                text = f"access key {key_id} never used, created {_whole_days(since)} days ago"
            (idle if since > limit else fine).append(text)
    except BadValue as exc:
        return errored(f"IAM user {snap.name}: {exc}")
    if not idle and not fine:
        return None
    if idle:
        return failed(
            f"IAM user {snap.name} has credentials unused for more than {max_days} days: {'; '.join(idle)}",
            unused=idle,
            max_unused_days=max_days,
        )
    return passed(
        f"Every credential of IAM user {snap.name} was used within {max_days} days: {'; '.join(fine)}",
        max_unused_days=max_days,
    )


@check(
    id="iam_user_no_direct_policies",
    title="IAM users get permissions only through groups or roles",
    description="An IAM user has no inline policies and no managed policies attached directly to it.",
    severity=Severity.LOW,
    resource_type=USER,
    service="iam",
    remediation=(
        "Grant the permissions through a group (or a role) and remove them from the user: "
        "`aws iam add-user-to-group --user-name USER --group-name GROUP` then "
        "`aws iam detach-user-policy --user-name USER --policy-arn ARN` / `aws iam delete-user-policy`."
    ),
    permissions=("iam:ListUserPolicies", "iam:ListAttachedUserPolicies"),
)
def iam_user_no_direct_policies(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := _needs(snap, "inline_policies", "attached_policies")) is not None:
        return err
    inline = [str(p) for p in _as_list(snap.configuration["inline_policies"])]
    attached = [
        str(p.get("name") or p.get("arn")) if isinstance(p, Mapping) else str(p)
        for p in _as_list(snap.configuration["attached_policies"])
    ]
    problems = []
    if inline:
        problems.append(f"inline policies {', '.join(inline)}")
    if attached:
        problems.append(f"directly attached managed policies {', '.join(attached)}")
    if problems:
        return failed(
            f"IAM user {snap.name} has {' and '.join(problems)}",
            inline_policies=inline,
            attached_policies=attached,
        )
    return passed(f"IAM user {snap.name} has no inline or directly attached policies")


# -- customer-managed policies ---------------------------------------------------------------------

FULL_ACTIONS = frozenset({"*", "*:*"})


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        raise BadValue(f"the policy document is not a JSON object: {document!r}")
    statements = _as_list(document.get("Statement"))
    if not all(isinstance(s, Mapping) for s in statements):
        raise BadValue("the policy document has a statement that is not a JSON object")
    return statements


def _full_admin(statement: Mapping[str, Any]) -> bool:
    """Allow, Action "*" (or "*:*"), Resource "*". Conditions do not soften it (a condition limits
    when, not what). NotAction/NotResource statements are not matched: see the check's description."""
    if statement.get("Effect") != "Allow" or "Action" not in statement or "Resource" not in statement:
        return False
    actions = {str(a).strip() for a in _as_list(statement["Action"])}
    resources = {str(r).strip() for r in _as_list(statement["Resource"])}
    return bool(actions & FULL_ACTIONS) and "*" in resources


@check(
    id="iam_policy_no_full_admin",
    title="Customer-managed IAM policies do not grant full administrator access",
    description=(
        'The default version of a customer-managed policy has no statement that allows Action "*" '
        '(or "*:*") on Resource "*", with or without a condition. Statements written with NotAction '
        "or NotResource are not matched by this check (they are broad grants of a different form)."
    ),
    severity=Severity.HIGH,
    resource_type=POLICY,
    service="iam",
    remediation=(
        "Replace the statement with the specific actions and resources needed, in a new default "
        "version: `aws iam create-policy-version --policy-arn ARN "
        "--policy-document file://policy.json --set-as-default`."
    ),
    permissions=("iam:ListPolicies", "iam:GetPolicyVersion"),
)
def iam_policy_no_full_admin(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := _needs(snap, "document")) is not None:
        return err
    version = snap.configuration.get("default_version_id")
    try:
        statements = _statements(snap.configuration["document"])
    except BadValue as exc:
        return errored(f"IAM policy {snap.name}: {exc}")
    offending = [str(s.get("Sid") or f"#{i + 1}") for i, s in enumerate(statements) if _full_admin(s)]
    if offending:
        return failed(
            f"IAM policy {snap.name} (version {version}) allows every action on every resource "
            f"in statement(s) {', '.join(offending)}",
            statements=offending,
            default_version_id=version,
        )
    return passed(
        f'IAM policy {snap.name} (version {version}) has no statement allowing "*" on "*"',
        default_version_id=version,
    )


# -- account: root user and password policy --------------------------------------------------------


def _root(snap: Snapshot, key: str) -> tuple[Any, Verdict | None]:
    if (err := _needs(snap, "iam_root")) is not None:
        return None, err
    root = snap.configuration["iam_root"]
    if not isinstance(root, Mapping) or key not in root:
        return None, errored(f"The root user's {key} is not in the account context: {root!r}")
    return root[key], None


@check(
    id="iam_root_mfa",
    title="The root user has MFA",
    description="The account's root user has an MFA device enabled.",
    severity=Severity.CRITICAL,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Sign in as the root user and assign an MFA device under Security credentials (the root user's MFA "
        "cannot be enabled through the API); check with `aws iam get-account-summary` (AccountMFAEnabled)."
    ),
    permissions=("iam:GetAccountSummary", "iam:GenerateCredentialReport", "iam:GetCredentialReport"),
)
def iam_root_mfa(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if not _account_scope(snap):
        return None
    mfa, err = _root(snap, "mfa_active")
    if err is not None:
        return err
    if not isinstance(mfa, bool):
        return errored(f"The root user's mfa_active is not true or false: {mfa!r}")
    if mfa:
        return passed(f"The root user of account {snap.account_id} has MFA enabled")
    return failed(f"The root user of account {snap.account_id} has no MFA device", mfa_active=mfa)


@check(
    id="iam_root_no_access_keys",
    title="The root user has no access keys",
    description=(
        "The account's root user has no access keys: none active in the credential report and none "
        "present according to the account summary (an inactive root key still fails: delete it)."
    ),
    severity=Severity.CRITICAL,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Sign in as the root user and delete its access keys under Security credentials; confirm with "
        "`aws iam get-account-summary` (AccountAccessKeysPresent must be 0)."
    ),
    permissions=("iam:GetAccountSummary", "iam:GenerateCredentialReport", "iam:GetCredentialReport"),
)
def iam_root_no_access_keys(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if not _account_scope(snap):
        return None
    active, err = _root(snap, "access_keys_active")
    if err is not None:
        return err
    if not isinstance(active, int) or isinstance(active, bool):
        return errored(f"The root user's access_keys_active is not a count: {active!r}")
    root = snap.configuration["iam_root"]
    present = root.get("access_keys_present") is True
    if active > 0:
        return failed(
            f"The root user of account {snap.account_id} has {active} active access key(s)",
            access_keys_active=active,
        )
    if present:
        return failed(
            f"The root user of account {snap.account_id} has access keys (inactive): delete them",
            access_keys_active=0,
            access_keys_present=True,
        )
    return passed(f"The root user of account {snap.account_id} has no access keys")


def _weaknesses(policy: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    """Each setting of the password policy that misses its threshold, as a phrase."""
    problems: list[str] = []
    min_length = params.get("min_length")
    if min_length:
        length = policy.get("minimum_password_length")
        if not isinstance(length, int) or length < int(min_length):
            problems.append(f"minimum length is {length if length is not None else 'not set'} (needs {min_length})")
    characters: Iterable[tuple[str, str, str]] = (
        ("require_uppercase", "require_uppercase_characters", "an uppercase letter"),
        ("require_lowercase", "require_lowercase_characters", "a lowercase letter"),
        ("require_numbers", "require_numbers", "a number"),
        ("require_symbols", "require_symbols", "a symbol"),
    )
    for param, setting, label in characters:
        if params.get(param) and policy.get(setting) is not True:
            problems.append(f"does not require {label}")
    reuse = params.get("reuse_prevention")
    if reuse:
        remembered = policy.get("password_reuse_prevention")
        if not isinstance(remembered, int) or remembered < int(reuse):
            shown = "not set" if not remembered else f"{remembered} passwords"
            problems.append(f"reuse prevention is {shown} (needs {reuse})")
    max_age = params.get("max_age_days")
    if max_age:
        age = policy.get("max_password_age")
        if policy.get("expire_passwords") is False or not isinstance(age, int) or age <= 0:
            problems.append(f"passwords never expire (needs a maximum age of {max_age} days)")
        elif age > int(max_age):
            problems.append(f"maximum password age is {age} days (needs at most {max_age})")
    return problems


@check(
    id="iam_password_policy_strong",
    title="The account password policy is strong",
    description=(
        "The account has an IAM password policy with a minimum length of at least min_length, requiring "
        "uppercase and lowercase letters, numbers and symbols, preventing reuse of the last "
        "reuse_prevention passwords, and expiring passwords within max_age_days. Setting a threshold "
        "parameter to 0 or false stops requiring that setting."
    ),
    severity=Severity.MEDIUM,
    resource_type=ACCOUNT,
    service="account",
    remediation=(
        "Set a strong policy: `aws iam update-account-password-policy --minimum-password-length 14 "
        "--require-uppercase-characters --require-lowercase-characters --require-numbers --require-symbols "
        "--password-reuse-prevention 24 --max-password-age 90`."
    ),
    permissions=("iam:GetAccountPasswordPolicy",),
    parameters={
        "min_length": 14,
        "require_uppercase": True,
        "require_lowercase": True,
        "require_numbers": True,
        "require_symbols": True,
        "reuse_prevention": 24,
        "max_age_days": 90,
    },
)
def iam_password_policy_strong(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if not _account_scope(snap):
        return None
    if (err := _needs(snap, "iam_password_policy")) is not None:
        return err
    policy = snap.configuration["iam_password_policy"]
    if policy is None:
        return failed(f"Account {snap.account_id} has no password policy (AWS defaults apply)", policy=None)
    if not isinstance(policy, Mapping):
        return errored(f"The account's password policy is not an object: {policy!r}")
    problems = _weaknesses(policy, params)
    if problems:
        return failed(
            f"The password policy of account {snap.account_id} is weak: {'; '.join(problems)}",
            weaknesses=problems,
        )
    return passed(f"The password policy of account {snap.account_id} meets every requirement")
