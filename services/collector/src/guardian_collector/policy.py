"""The collector's least-privilege IAM policy, generated from what the collectors declare."""

from __future__ import annotations

from typing import Any

from guardian_collector.collectors import all_collectors
from guardian_collector.collectors.base import COLLECTORS

# Calls the scan runner itself makes, outside any collector.
RUNNER_PERMISSIONS = ("sts:GetCallerIdentity", "ec2:DescribeRegions")


def read_only_policy() -> dict[str, Any]:
    all_collectors()
    actions = set(RUNNER_PERMISSIONS)
    for collector in COLLECTORS.values():
        actions.update(collector.permissions)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GuardianReadOnlyCollection",
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": "*",
            }
        ],
    }


def main() -> None:
    """Write the policy as JSON (``python -m guardian_collector.policy > FILE``)."""
    import json
    import sys

    sys.stdout.write(json.dumps(read_only_policy(), indent=2) + "\n")


if __name__ == "__main__":
    main()
