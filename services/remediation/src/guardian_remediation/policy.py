"""The write role's IAM policy, generated from the catalogue's declared permissions.

``python -m guardian_remediation.policy`` prints it; ``--write`` updates
``deploy/aws/remediation-write-policy.json`` (a test keeps that file current).

Every permission is granted on ``"Resource": "*"`` (the catalogue fixes resources the user picks),
except ``iam:PassRole``: an action that hands a role to an AWS service declares it
(:class:`~guardian_remediation.actions.base.RolePass`), and the policy grants passing only roles
whose name starts with the declared prefix (``--pass-role-prefix`` to use another), only to that
service (condition ``iam:PassedToService``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from guardian_remediation.actions import catalogue

POLICY_PATH = Path("deploy/aws/remediation-write-policy.json")
PASS_ROLE = "iam:PassRole"


def _sid(words: str) -> str:
    return "GuardianRemediation" + "".join(part.capitalize() for part in words.replace("-", " ").split())


def policy_document(pass_role_prefix: str | None = None) -> dict[str, Any]:
    """The policy; ``pass_role_prefix`` replaces every action's declared role-name prefix."""
    by_prefix: dict[str, set[str]] = {}
    # Service receiving the role -> the role ARN patterns it may be handed.
    passes: dict[str, set[str]] = {}
    for action in sorted(catalogue().values(), key=lambda a: a.id):
        for role_pass in action.passes_roles:
            passes.setdefault(role_pass.service, set()).add(role_pass.role_arn_pattern(pass_role_prefix))
        for permission in action.permissions:
            if permission == PASS_ROLE:
                if not action.passes_roles:
                    raise ValueError(f"{action.id} needs {PASS_ROLE} but declares no role it passes (passes_roles)")
                continue
            prefix = permission.split(":", 1)[0]
            by_prefix.setdefault(prefix, set()).add(permission)
    statements: list[dict[str, Any]] = [
        {"Sid": _sid(prefix), "Effect": "Allow", "Action": sorted(actions), "Resource": "*"}
        for prefix, actions in sorted(by_prefix.items())
    ]
    for service, patterns in sorted(passes.items()):
        statements.append(
            {
                "Sid": _sid("pass role " + service.split(".", 1)[0]),
                "Effect": "Allow",
                "Action": [PASS_ROLE],
                "Resource": sorted(patterns) if len(patterns) > 1 else next(iter(patterns)),
                "Condition": {"StringEquals": {"iam:PassedToService": service}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def render(pass_role_prefix: str | None = None) -> str:
    return json.dumps(policy_document(pass_role_prefix), indent=2) + "\n"


def _role_prefix(value: str) -> str:
    # IAM role names: letters, digits and +=,.@_- ; a prefix may not widen the grant with wildcards.
    if not value or any(not (c.isalnum() or c in "+=,.@_-") for c in value):
        raise argparse.ArgumentTypeError("a role name prefix has letters, digits and +=,.@_- only (no wildcard)")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", type=Path, nargs="?", const=POLICY_PATH, help="write the policy to this file")
    parser.add_argument(
        "--pass-role-prefix",
        type=_role_prefix,
        default=None,
        help="name prefix of the roles the write role may pass (default: each action's own)",
    )
    args = parser.parse_args(argv)
    text = render(args.pass_role_prefix)
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
