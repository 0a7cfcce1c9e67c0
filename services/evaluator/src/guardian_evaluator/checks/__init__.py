"""One module per AWS service; importing them registers their checks.

Modules are discovered, so adding checks for a service is adding a file: nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
