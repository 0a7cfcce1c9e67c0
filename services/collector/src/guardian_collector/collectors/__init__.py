"""One module per AWS service; importing them registers their collectors."""

from __future__ import annotations

import importlib

SERVICE_MODULES = ("cloudtrail", "ec2", "iam", "rds", "s3")


def all_collectors() -> None:
    for name in SERVICE_MODULES:
        importlib.import_module(f"guardian_collector.collectors.{name}")
