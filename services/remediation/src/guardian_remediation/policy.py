"""The write role's IAM policy, generated from the catalogue's declared permissions.

``python -m guardian_remediation.policy`` prints it; ``--write`` updates
``deploy/aws/remediation-write-policy.json`` (a test keeps that file current).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from guardian_remediation.actions import catalogue

POLICY_PATH = Path("deploy/aws/remediation-write-policy.json")


def policy_document() -> dict[str, Any]:
    by_prefix: dict[str, set[str]] = {}
    for action in catalogue().values():
        for permission in action.permissions:
            prefix = permission.split(":", 1)[0]
            by_prefix.setdefault(prefix, set()).add(permission)
    statements = [
        {
            "Sid": "GuardianRemediation" + "".join(part.capitalize() for part in prefix.replace("-", " ").split()),
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": "*",
        }
        for prefix, actions in sorted(by_prefix.items())
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def render() -> str:
    return json.dumps(policy_document(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, nargs="?", const=POLICY_PATH, help="write the policy to this file")
    args = parser.parse_args(argv)
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(render())
    else:
        print(render(), end="")


if __name__ == "__main__":
    main()
