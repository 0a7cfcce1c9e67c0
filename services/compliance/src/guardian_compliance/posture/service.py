"""Computing and storing the posture of every subscribed framework."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from guardian_compliance.findings.repository import FindingRepository
from guardian_compliance.frameworks.model import bundled_framework, bundled_library, library_version
from guardian_compliance.posture.repository import PostureRepository
from guardian_compliance.posture.status import Facts, FrameworkPosture, compute
from guardian_compliance.scans.repository import ScanRepository


async def current_facts(conn: asyncpg.Connection) -> tuple[Facts, str | None]:
    scans = ScanRepository(conn)
    version, catalogue, _ = await scans.latest_catalogue()
    collected = await scans.collected_services()
    facts = Facts(
        checks=await FindingRepository(conn).check_facts(),
        catalogue=catalogue,
        collected_services=collected,
        # Scope editing arrives with the SOC 2 model issue; until then every category is in scope.
        categories={c.id for c in bundled_framework("soc2").categories},
    )
    return facts, version


async def compute_framework(conn: asyncpg.Connection, framework_id: str) -> tuple[FrameworkPosture, str | None]:
    facts, catalogue_version = await current_facts(conn)
    framework = bundled_framework(framework_id)
    facts.categories = {c.id for c in framework.categories}
    return compute(framework, bundled_library(), facts), catalogue_version


async def store_for_scan(conn: asyncpg.Connection, scan_id: str, framework_ids: list[str]) -> None:
    repo = PostureRepository(conn)
    library = bundled_library()
    for framework_id in framework_ids:
        posture, catalogue_version = await compute_framework(conn, framework_id)
        framework = bundled_framework(framework_id)
        await repo.store(
            scan_id=scan_id,
            framework_id=framework_id,
            framework_version=framework.version,
            library_version=library_version(library),
            catalogue_version=catalogue_version,
            computed_at=datetime.now(UTC),
            readiness=posture.readiness.model_dump(mode="json"),
            requirements=[r.model_dump(mode="json") for r in posture.requirements],
            controls=[c.model_dump(mode="json") for c in posture.controls],
        )
