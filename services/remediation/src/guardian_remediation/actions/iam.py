"""IAM: the account password policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from guardian_remediation.actions.base import Action, ApiCall, Aws, Param, Reading, Target, action, error_code

POLICY_FIELDS = {
    "MinimumPasswordLength": "min_length",
    "RequireUppercaseCharacters": "require_uppercase",
    "RequireLowercaseCharacters": "require_lowercase",
    "RequireNumbers": "require_numbers",
    "RequireSymbols": "require_symbols",
    "PasswordReusePrevention": "reuse_prevention",
    "MaxPasswordAge": "max_age_days",
}


@action
class IamPasswordPolicy(Action):
    id = "iam_password_policy"
    title = "Set a strong account password policy"
    description = "Replaces the account's IAM password policy with one meeting the check's requirements."
    resource_type = "AWS::::Account"
    checks = ("iam_password_policy_strong",)
    permissions = ("iam:GetAccountPasswordPolicy", "iam:UpdateAccountPasswordPolicy")
    parameters = (
        Param("min_length", "integer", "Minimum password length", default=14, minimum=14, maximum=128),
        Param("require_uppercase", "boolean", "Require an uppercase letter", default=True),
        Param("require_lowercase", "boolean", "Require a lowercase letter", default=True),
        Param("require_numbers", "boolean", "Require a number", default=True),
        Param("require_symbols", "boolean", "Require a symbol", default=True),
        Param("reuse_prevention", "integer", "Passwords remembered", default=24, minimum=1, maximum=24),
        Param("max_age_days", "integer", "Days before a password expires", default=90, minimum=1, maximum=90),
    )
    verify_services = ("iam",)
    reads = ("iam:GetAccountPasswordPolicy",)

    async def read(self, aws: Aws, target: Target) -> Reading:
        iam = await aws.client("iam", aws.home_region)
        try:
            policy = (await iam.get_account_password_policy()).get("PasswordPolicy", {})
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            return Reading(state={"policy": None})
        return Reading(state={"policy": {name: policy.get(field) for field, name in POLICY_FIELDS.items()}})

    def satisfied(self, state: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        policy = state.get("policy")
        if not isinstance(policy, Mapping):
            return False
        for name in ("require_uppercase", "require_lowercase", "require_numbers", "require_symbols"):
            if params[name] and policy.get(name) is not True:
                return False
        if int(policy.get("min_length") or 0) < params["min_length"]:
            return False
        if int(policy.get("reuse_prevention") or 0) < params["reuse_prevention"]:
            return False
        age = policy.get("max_age_days")
        return age is not None and 0 < int(age) <= params["max_age_days"]

    def expected(self, params: Mapping[str, Any]) -> str:
        return (
            f"Passwords have at least {params['min_length']} characters, mixed character classes, the last"
            f" {params['reuse_prevention']} cannot be reused, and they expire after {params['max_age_days']} days."
        )

    def calls(self, aws: Aws, target: Target, state: Mapping[str, Any], params: Mapping[str, Any]) -> list[ApiCall]:
        arguments = {field: params[name] for field, name in POLICY_FIELDS.items()}
        arguments["AllowUsersToChangePassword"] = True
        return [
            ApiCall("iam", "UpdateAccountPasswordPolicy", aws.home_region, arguments, "iam:UpdateAccountPasswordPolicy")
        ]
