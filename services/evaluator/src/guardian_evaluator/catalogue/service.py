"""The catalogue as an event: what compliance learns about the checks this evaluator runs."""

from __future__ import annotations

from datetime import UTC, datetime

from guardian_common.events import CheckCatalogue
from guardian_evaluator.checks import load_all
from guardian_evaluator.custom_rules import catalogue_version_of
from guardian_evaluator.registry import REGISTRY


def catalogue() -> CheckCatalogue:
    load_all()
    infos = [c.info() for c in REGISTRY]
    version = catalogue_version_of(REGISTRY)
    return CheckCatalogue(
        event_id=CheckCatalogue.make_id(version),
        catalogue_version=version,
        published_at=datetime.now(UTC),
        checks=infos,
    )


def catalogue_version() -> str:
    load_all()
    return catalogue_version_of(REGISTRY)
