"""One module per AWS service; importing them registers their checks."""

from __future__ import annotations

import importlib

CHECK_MODULES = ("cloudtrail", "ec2", "iam", "rds", "s3")


def load_all() -> None:
    for name in CHECK_MODULES:
        importlib.import_module(f"guardian_evaluator.checks.{name}")
