"""One module per AWS service; importing them registers their collectors.

Modules are discovered, so adding a service is adding a file: nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

_SKIP = {"base"}


def all_collectors() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _SKIP and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
