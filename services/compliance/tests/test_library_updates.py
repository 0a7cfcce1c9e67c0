"""A newer bundled control library reaching a matrix the company already imported and edited.

The compliance app starts on an emptied, migrated database (the bundled library is imported), the
company edits and retires controls over the API, then the app restarts with a newer library in
place of the bundled one, as after an upgrade of Guardian.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from guardian_common.auth import Role, mint_key
from guardian_compliance.app import create_app
from guardian_compliance.clock import ManualClock
from guardian_compliance.controls import service as control_service
from guardian_compliance.frameworks.model import (
    Control,
    ControlLibrary,
    EvidenceRequirement,
    Mapping,
    bundled_library,
    library_version,
)
from guardian_compliance.settings import ComplianceSettings
from guardian_testkit.resources import delete_streams, empty_schema

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EDITED = "GRD-ENC-01"  # the company changes its owner
UNTOUCHED = "GRD-IAM-01"  # nobody edits it
RETIRED = "GRD-NET-01"  # the company retires it
NEW = "GRD-NEW-90"
LIBRARY_AUTHOR = "guardian (library update)"


@dataclass
class App:
    http: httpx.AsyncClient
    pool: asyncpg.Pool
    keys: dict[str, str]

    async def call(self, method: str, path: str, who: str = "editor", **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, path, headers={"Authorization": f"Bearer {self.keys[who]}"}, **kwargs)

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.call("GET", path, "auditor", params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def settings(servers: tuple[str, str], database: str) -> AsyncIterator[ComplianceSettings]:
    _, nats_url = servers
    token = uuid.uuid4().hex[:10]
    await empty_schema(database, "compliance")
    settings = ComplianceSettings(
        environment="test",
        database_url=database,
        nats_url=nats_url,
        bus_prefix=f"l{token}",
        auth_secret=f"library-test-{token}",
        log_level="WARNING",
        acceptance_poll_seconds=3600,
        outbox_poll_seconds=3600,
        deadline_poll_seconds=3600,
        run_consumers=False,
    )
    yield settings
    await delete_streams(nats_url, settings.bus_prefix)


@pytest.fixture
def start(
    settings: ComplianceSettings, monkeypatch: pytest.MonkeyPatch
) -> Callable[[ControlLibrary | None, datetime], contextlib.AbstractAsyncContextManager[App]]:
    """Start compliance at ``at`` with ``library`` as the bundled library (None: the real one)."""

    @contextlib.asynccontextmanager
    async def run(library: ControlLibrary | None, at: datetime) -> AsyncIterator[App]:
        if library is not None:
            monkeypatch.setattr(control_service, "bundled_library", lambda: library)
        app = create_app(settings, ManualClock(at))
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://compliance") as http:
                    secret = settings.auth_secret
                    yield App(
                        http,
                        app.state.runtime.require_pool(),
                        {
                            "editor": mint_key(secret, Role.EDITOR, "erin-editor")[1],
                            "auditor": mint_key(secret, Role.AUDITOR, "audrey-auditor")[1],
                        },
                    )
        finally:
            monkeypatch.undo()

    return run


def newer(
    version: str,
    changes: dict[str, dict[str, Any]],
    extra: tuple[Control, ...] = (),
    removed: dict[str, dict[str, Any]] | None = None,
) -> ControlLibrary:
    """The bundled library with additions to some controls, removals from some (``removed``: check ids,
    criterion ids, evidence descriptions), and new controls appended."""
    base = bundled_library()
    controls = []
    for control in base.controls:
        add = changes.get(control.id)
        if add is not None:
            control = control.model_copy(
                update={
                    "checks": [*control.checks, *add.get("checks", [])],
                    "requirements": [*control.requirements, *add.get("requirements", [])],
                    "evidence": [*control.evidence, *add.get("evidence", [])],
                }
            )
        drop = (removed or {}).get(control.id)
        if drop is not None:
            control = control.model_copy(
                update={
                    "checks": [c for c in control.checks if c not in drop.get("checks", [])],
                    "requirements": [m for m in control.requirements if m.id not in drop.get("requirements", [])],
                    "evidence": [e for e in control.evidence if e.description not in drop.get("evidence", [])],
                }
            )
        controls.append(control)
    return ControlLibrary(library=base.library, version=version, controls=[*controls, *extra])


def mapping(criterion: str) -> Mapping:
    return Mapping(id=criterion, rationale=f"The library now maps {criterion}")


NEW_CONTROL = (
    bundled_library()
    .controls[0]
    .model_copy(update={"id": NEW, "title": "A control the new library adds", "requirements": [mapping("CC3.1")]})
)
V2 = newer(
    "2.0",
    {
        EDITED: {"checks": ["s3_bucket_customer_kms"], "requirements": [mapping("CC6.7")]},
        UNTOUCHED: {"checks": ["iam_root_mfa"], "requirements": [mapping("CC6.3")]},
        RETIRED: {"requirements": [mapping("CC6.8")]},
    },
    (NEW_CONTROL,),
)
REVIEW = EvidenceRequirement(type="access_review", description="Quarterly review of who can read data")


def versions(control: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(v["version"], v["change"], v["changed_by"]) for v in control["versions"]]


async def audit_actions(pool: asyncpg.Pool) -> list[tuple[str, str, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT payload FROM outbox WHERE event_type = 'audit.recorded' ORDER BY id")
    return [
        (r["payload"]["data"]["action"], r["payload"]["data"]["target"]["id"], r["payload"]["data"]["actor"]["name"])
        for r in rows
        if r["payload"]["data"]["action"].startswith("control.library")
    ]


async def test_a_newer_library_adds_controls_and_updates_unedited_ones_but_only_notes_edited_ones(
    start: Callable[[ControlLibrary | None, datetime], contextlib.AbstractAsyncContextManager[App]],
) -> None:
    async with start(None, T0) as app:
        listing = await app.get("/api/v1/controls/library-updates")
        assert listing["compared_version"] == listing["bundled_version"] == library_version(bundled_library())
        assert listing["items"] == []
        edited = await app.call("PATCH", f"/api/v1/controls/{EDITED}", json={"owner": "Data Platform"})
        assert edited.status_code == 200, edited.text
        retired = await app.call("POST", f"/api/v1/controls/{RETIRED}/retire", json={"note": "no VPCs any more"})
        assert retired.status_code == 200, retired.text

    upgraded_at = T0 + timedelta(days=10)
    async with start(V2, upgraded_at) as app:
        # A new control arrives, attributed to the library update.
        added = await app.get(f"/api/v1/controls/{NEW}")
        assert versions(added) == [(1, "library_update", LIBRARY_AUTHOR)]
        assert added["origin"] == "guardian-default"

        # The control nobody edited takes the new check and criterion as a new version.
        untouched = await app.get(f"/api/v1/controls/{UNTOUCHED}")
        assert versions(untouched) == [(1, "import", "guardian-default"), (2, "library_update", LIBRARY_AUTHOR)]
        assert untouched["checks"][-1] == "iam_root_mfa"
        assert [m["id"] for m in untouched["requirements"]][-1] == "CC6.3"

        # The edited control keeps its edit and gets a note to review instead.
        kept = await app.get(f"/api/v1/controls/{EDITED}")
        assert (kept["version"], kept["owner"]) == (2, "Data Platform")
        assert "s3_bucket_customer_kms" not in kept["checks"]
        # The retired control stays retired and untouched.
        assert (await app.get(f"/api/v1/controls/{RETIRED}"))["version"] == 2

        listing = await app.get("/api/v1/controls/library-updates", state="open")
        assert listing["compared_version"] == library_version(V2)
        [note] = listing["items"]
        assert (note["control_id"], note["library_version"], note["state"]) == (EDITED, library_version(V2), "open")
        assert note["additions"]["checks"] == ["s3_bucket_customer_kms"]
        assert [m["id"] for m in note["additions"]["requirements"]] == ["CC6.7"]
        assert note["additions"]["evidence"] == []
        assert await audit_actions(app.pool) == [
            ("control.library_updated", UNTOUCHED, "Guardian"),
            ("control.library_added", NEW, "Guardian"),
        ]

    # Starting again with the same library changes nothing and notes nothing twice.
    async with start(V2, upgraded_at + timedelta(hours=1)) as app:
        assert len((await app.get("/api/v1/controls/library-updates"))["items"]) == 1
        assert (await app.get(f"/api/v1/controls/{UNTOUCHED}"))["version"] == 2

        url = f"/api/v1/controls/library-updates/{note['id']}"
        refused = await app.call("POST", f"{url}/accept", "auditor")
        assert refused.status_code == 403, refused.text
        missing = await app.call("POST", "/api/v1/controls/library-updates/libupd-nope/accept")
        assert (missing.status_code, missing.json()["error"]) == (404, "library_update_not_found")

        accepted = await app.call("POST", f"{url}/accept", json={"note": "we want the KMS check"})
        assert accepted.status_code == 200, accepted.text
        assert (accepted.json()["state"], accepted.json()["decided_by"]) == ("accepted", "erin-editor")
        control = await app.get(f"/api/v1/controls/{EDITED}")
        assert control["owner"] == "Data Platform"  # the company's edit survives
        assert control["checks"] == ["s3_bucket_default_encryption", "s3_bucket_customer_kms"]
        assert "CC6.7" in [m["id"] for m in control["requirements"]]
        assert versions(control)[-1] == (3, "library_update", LIBRARY_AUTHOR)
        assert "accepted by erin-editor" in control["versions"][-1]["note"]
        again = await app.call("POST", f"{url}/dismiss")
        assert (again.status_code, again.json()["error"]) == (409, "library_update_decided")
        assert ("control.library_update_accepted", EDITED, "erin-editor") in await audit_actions(app.pool)


async def test_a_dismissed_update_is_not_proposed_again_and_a_newer_note_supersedes_an_open_one(
    start: Callable[[ControlLibrary | None, datetime], contextlib.AbstractAsyncContextManager[App]],
) -> None:
    async with start(None, T0) as app:
        edited = await app.call("PATCH", f"/api/v1/controls/{EDITED}", json={"title": "Buckets are encrypted"})
        assert edited.status_code == 200, edited.text

    v2 = newer("2.0", {EDITED: {"requirements": [mapping("CC6.7")]}})
    v3 = newer("3.0", {EDITED: {"requirements": [mapping("CC6.7")], "evidence": [REVIEW]}})
    v4 = newer("4.0", {EDITED: {"requirements": [mapping("CC6.7"), mapping("CC7.1")], "evidence": [REVIEW]}})
    async with start(v2, T0 + timedelta(days=1)) as app:
        [first] = (await app.get("/api/v1/controls/library-updates"))["items"]
    async with start(v3, T0 + timedelta(days=2)) as app:
        notes = {n["library_version"]: n for n in (await app.get("/api/v1/controls/library-updates"))["items"]}
        # Measured against what the company last took: the v3 note carries v2's addition too.
        assert notes[library_version(v2)]["state"] == "superseded"
        latest = notes[library_version(v3)]
        assert [m["id"] for m in latest["additions"]["requirements"]] == ["CC6.7"]
        assert latest["additions"]["evidence"] == [REVIEW.model_dump(mode="json")]
        stale = await app.call("POST", f"/api/v1/controls/library-updates/{first['id']}/accept")
        assert (stale.status_code, stale.json()["error"]) == (409, "library_update_decided")

        dismissed = await app.call(
            "POST", f"/api/v1/controls/library-updates/{latest['id']}/dismiss", json={"note": "reviewed elsewhere"}
        )
        assert dismissed.status_code == 200, dismissed.text
        assert (dismissed.json()["state"], dismissed.json()["note"]) == ("dismissed", "reviewed elsewhere")
        control = await app.get(f"/api/v1/controls/{EDITED}")
        assert (control["version"], control["title"]) == (2, "Buckets are encrypted")
        assert ("control.library_update_dismissed", EDITED, "erin-editor") in await audit_actions(app.pool)

    async with start(v4, T0 + timedelta(days=3)) as app:
        opened = (await app.get("/api/v1/controls/library-updates", state="open"))["items"]
        # Only what v4 adds beyond the dismissed v3 is proposed.
        assert [(n["library_version"], [m["id"] for m in n["additions"]["requirements"]]) for n in opened] == [
            (library_version(v4), ["CC7.1"])
        ]
        assert opened[0]["additions"]["evidence"] == []
        by_control = await app.get("/api/v1/controls/library-updates", control_id="GRD-IAM-01")
        assert by_control["items"] == []


# --------------------------------------------------------------------------------------------- removals

DROPPED_CHECK = "GRD-IAM-A9"  # nobody edits it; the library drops one of its checks and a criterion
DROPPED_EVIDENCE = "GRD-IAM-A5"  # nobody edits it; the library drops its evidence requirement
EDITED_DROP = "GRD-LOG-A8"  # the company edits it; the library drops its read-events check and CIS-3.9


def requirement_ids(control: dict[str, Any]) -> list[str]:
    return [m["id"] for m in control["requirements"]]


async def test_a_newer_library_removes_what_it_dropped_unless_the_company_edited_the_control(
    start: Callable[[ControlLibrary | None, datetime], contextlib.AbstractAsyncContextManager[App]],
) -> None:
    bundled = {c.id: c for c in bundled_library().controls}
    [evidence] = bundled[DROPPED_EVIDENCE].evidence
    v2 = newer(
        "2.0",
        {},
        removed={
            DROPPED_CHECK: {"checks": ["iam_admin_access_policy_not_attached"], "requirements": ["CC6.3"]},
            DROPPED_EVIDENCE: {"evidence": [evidence.description]},
            EDITED_DROP: {"checks": ["cloudtrail_s3_read_data_events"], "requirements": ["CIS-3.9"]},
        },
    )
    async with start(None, T0) as app:
        edited = await app.call("PATCH", f"/api/v1/controls/{EDITED_DROP}", json={"owner": "Detection"})
        assert edited.status_code == 200, edited.text

    async with start(v2, T0 + timedelta(days=5)) as app:
        # Unedited controls lose what the library dropped, as a recorded library change that names it.
        control = await app.get(f"/api/v1/controls/{DROPPED_CHECK}")
        assert versions(control) == [(1, "import", "guardian-default"), (2, "library_update", LIBRARY_AUTHOR)]
        assert control["checks"] == ["iam_policy_no_full_admin"]
        assert requirement_ids(control) == ["CIS-1.16"]
        note = control["versions"][-1]["note"]
        assert "removed check iam_admin_access_policy_not_attached; criterion CC6.3" in note
        no_evidence = await app.get(f"/api/v1/controls/{DROPPED_EVIDENCE}")
        assert no_evidence["evidence"] == []
        assert versions(no_evidence)[-1] == (2, "library_update", LIBRARY_AUTHOR)
        assert evidence.description in no_evidence["versions"][-1]["note"]

        # The edited control keeps the company's version, removals included; the note lists them.
        kept = await app.get(f"/api/v1/controls/{EDITED_DROP}")
        assert (kept["version"], kept["owner"]) == (2, "Detection")
        assert "cloudtrail_s3_read_data_events" in kept["checks"]
        assert "CIS-3.9" in requirement_ids(kept)
        [update] = (await app.get("/api/v1/controls/library-updates", state="open"))["items"]
        assert update["control_id"] == EDITED_DROP
        assert update["additions"] == {"checks": [], "requirements": [], "evidence": []}
        assert update["removals"]["checks"] == ["cloudtrail_s3_read_data_events"]
        assert [m["id"] for m in update["removals"]["requirements"]] == ["CIS-3.9"]
        assert await audit_actions(app.pool) == [
            ("control.library_updated", DROPPED_EVIDENCE, "Guardian"),
            ("control.library_updated", DROPPED_CHECK, "Guardian"),
            ("control.library_removal_withheld", EDITED_DROP, "Guardian"),
        ]

    # The same library again changes nothing and removes nothing twice.
    async with start(v2, T0 + timedelta(days=6)) as app:
        assert (await app.get(f"/api/v1/controls/{DROPPED_CHECK}"))["version"] == 2
        assert len((await app.get("/api/v1/controls/library-updates"))["items"]) == 1

        # Accepting the note applies the removals to the edited control; the company's owner stays.
        accepted = await app.call("POST", f"/api/v1/controls/library-updates/{update['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        control = await app.get(f"/api/v1/controls/{EDITED_DROP}")
        assert control["owner"] == "Detection"
        assert control["checks"] == ["cloudtrail_s3_write_data_events"]
        assert "CIS-3.9" not in requirement_ids(control)
        assert versions(control)[-1] == (3, "library_update", LIBRARY_AUTHOR)
        assert "removed check cloudtrail_s3_read_data_events; criterion CIS-3.9" in control["versions"][-1]["note"]


async def test_a_removal_the_company_already_made_itself_proposes_nothing(
    start: Callable[[ControlLibrary | None, datetime], contextlib.AbstractAsyncContextManager[App]],
) -> None:
    async with start(None, T0) as app:
        edited = await app.call(
            "PATCH", f"/api/v1/controls/{EDITED_DROP}", json={"checks": ["cloudtrail_s3_write_data_events"]}
        )
        assert edited.status_code == 200, edited.text

    v2 = newer("2.0", {}, removed={EDITED_DROP: {"checks": ["cloudtrail_s3_read_data_events"]}})
    async with start(v2, T0 + timedelta(days=1)) as app:
        assert (await app.get("/api/v1/controls/library-updates"))["items"] == []
        control = await app.get(f"/api/v1/controls/{EDITED_DROP}")
        assert (control["version"], control["checks"]) == (2, ["cloudtrail_s3_write_data_events"])
        assert await audit_actions(app.pool) == []
