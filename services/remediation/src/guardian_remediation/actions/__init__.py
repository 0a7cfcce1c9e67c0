"""The remediation catalogue: one module per area; importing them registers their actions.

Modules are discovered, so adding actions for an area is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil

from guardian_remediation.actions.base import CATALOGUE, Action


def catalogue() -> dict[str, Action]:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    return CATALOGUE


def for_check(check_id: str) -> list[Action]:
    return [a for _, a in sorted(catalogue().items()) if check_id in a.checks]
