"""The dashboard's pages over plain HTTP, on every service running on loopback after a real scan.

One stack per module (each service with its own schema in one scratch database and a bus prefix of its
own) scans a small moto environment once: three buckets (one encrypted by default), an unencrypted
EBS volume. The tests read the pages straight from the reporting service with API keys, as the
gateway would forward them, and compare what the pages say with compliance's own API.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from reporting_stack import scanned_stack

from guardian_cli.stack import LocalStack
from guardian_common.auth import Role, mint_key
from guardian_testkit.moto import MotoServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

ENCRYPTION_CONTROL = "GRD-ENC-01"
ENC_CHECK = "s3_bucket_default_encryption"
PLAIN_BUCKETS = ("acme-legacy-exports", "acme-legacy-logs")


@dataclass
class World:
    stack: LocalStack
    reporting: str
    compliance: str
    scan_id: str
    keys: dict[Role, str]

    def auth(self, role: Role = Role.AUDITOR) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="module")
def moto_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with pytest.MonkeyPatch.context() as mp, MotoServer() as server:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        s3 = server.client("s3")
        for name in ("acme-customer-data", *PLAIN_BUCKETS):
            s3.create_bucket(Bucket=name)
        s3.put_bucket_encryption(
            Bucket="acme-customer-data",
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        server.client("ec2").create_volume(AvailabilityZone="us-east-1a", Size=8, Encrypted=False)
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    moto_env: MotoServer, postgres_base: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    home: Path = tmp_path_factory.mktemp("stack")
    async with scanned_stack(postgres_base, nats_url, home, moto_env.url, "web", ["s3", "ec2"]) as (stack, scan_id):
        keys = {role: mint_key(stack.auth_secret, role, f"web-{role.value}")[1] for role in Role}
        yield World(stack, stack.url("reporting"), stack.url("compliance"), scan_id, keys)


@pytest_asyncio.fixture(loop_scope="module")
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=world.reporting, timeout=60, headers=world.auth()) as client:
        yield client


async def api(world: World, path: str, **params: Any) -> Any:
    async with httpx.AsyncClient(base_url=world.compliance, timeout=60, headers=world.auth()) as client:
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


class Outline(HTMLParser):
    """What a page is made of: landmarks, headings, table rows' text, status badges, images' alt text."""

    def __init__(self) -> None:
        super().__init__()
        self.landmarks: list[str] = []
        self.headings: list[str] = []
        self.badges: list[str] = []
        self.alts: list[str] = []
        self.links: list[str] = []
        self.rows: list[str] = []
        # Open elements whose text is collected (nested ones each collect their own).
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("main", "nav", "header"):
            self.landmarks.append(tag)
        if tag == "img":
            self.alts.append(a.get("alt") or "")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag in ("h1", "h2", "h3", "tr"):
            self._open.append((tag, []))
        elif tag == "span" and "status" in (a.get("class") or "").split():
            self._open.append(("badge", []))
        elif tag == "span":
            self._open.append(("span", []))

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            return
        kind, parts = self._open[-1]
        if kind == tag or (kind == "badge" and tag == "span"):
            self._open.pop()
            content = " ".join(" ".join(parts).split())
            if kind == "badge":
                self.badges.append(content)
            elif kind == "tr":
                self.rows.append(content)
            elif kind != "span":
                self.headings.append(content)

    def handle_data(self, data: str) -> None:
        for _, parts in self._open:
            parts.append(data)


def outline(response: httpx.Response) -> Outline:
    assert response.headers["content-type"].startswith("text/html"), response.headers
    parser = Outline()
    parser.feed(response.text)
    return parser


async def page(http: httpx.AsyncClient, path: str, **params: str) -> Outline:
    response = await http.get(path, params=params)
    assert response.status_code == 200, response.text[:2000]
    return outline(response)


# --------------------------------------------------------------------------------------------- overview


async def test_overview_shows_readiness_with_formula_trend_and_the_matrix_by_category(
    world: World, http: httpx.AsyncClient
) -> None:
    ready = (await api(world, "/api/v1/frameworks/soc2/readiness"))["readiness"]
    controls = (await api(world, "/api/v1/frameworks/soc2/controls"))["items"]
    o = await page(http, "/dashboard")
    assert {"header", "nav", "main"} <= set(o.landmarks)
    assert "Overview" in o.headings
    response = await http.get("/dashboard")
    assert f"{ready['score']:.1f}%" in response.text
    assert f"{ready['passing']} of {ready['applicable']} applicable controls pass" in response.text
    assert "PASS controls / in-scope controls" in response.text
    # Both charts are images with a text alternative that states the data, plus a table of it.
    assert any(alt.startswith("Readiness at each final scan: 1 result from") for alt in o.alts), o.alts
    assert any(alt.startswith("Control status by category. Security") for alt in o.alts), o.alts
    # Every in-scope control appears, grouped under its categories, with the status compliance gives.
    for c in controls:
        assert any(row.startswith(f"{c['id']} {c['title']}") and c["status"].replace("_", " ") in row for row in o.rows)
    enc = next(c for c in controls if c["id"] == ENCRYPTION_CONTROL)
    assert enc["status"] == "FAIL"
    assert any(h.startswith("Security") for h in o.headings)


async def test_overview_filters_by_category_status_owner_and_text(world: World, http: httpx.AsyncClient) -> None:
    controls = (await api(world, "/api/v1/frameworks/soc2/controls"))["items"]
    ids = {c["id"] for c in controls}

    def shown(o: Outline) -> set[str]:
        return {row.split(" ", 1)[0] for row in o.rows} & ids

    availability = await page(http, "/dashboard", category="availability")
    categories = [h for h in availability.headings if "· readiness" in h]
    assert len(categories) == 1
    assert categories[0].startswith("Availability")
    assert shown(availability) == {c["id"] for c in controls if "availability" in c["categories"]}

    failing = await page(http, "/dashboard", status="FAIL")
    assert shown(failing) == {c["id"] for c in controls if c["status"] == "FAIL"}
    assert set(failing.badges) == {"FAIL"}

    owner = enc_owner = next(c["owner"] for c in controls if c["id"] == ENCRYPTION_CONTROL)
    by_owner = await page(http, "/dashboard", owner=owner)
    assert shown(by_owner) == {c["id"] for c in controls if c["owner"] == enc_owner}

    text = await page(http, "/dashboard", q="buckets encrypted at rest")
    assert ENCRYPTION_CONTROL in shown(text)
    assert all("buckets encrypted at rest" in row.lower() for row in text.rows if row.split(" ", 1)[0] in ids)

    refused = await http.get("/dashboard", params={"status": "GREEN"})
    assert refused.status_code == 422
    assert "invalid_status" in refused.text
    assert "status must be one of" in refused.text


# --------------------------------------------------------------------------------------------- control


async def test_control_page_shows_checks_failing_resources_values_remediation_and_timeline(
    world: World, http: httpx.AsyncClient
) -> None:
    detail = await api(world, f"/api/v1/frameworks/soc2/controls/{ENCRYPTION_CONTROL}")
    response = await http.get(f"/dashboard/controls/{ENCRYPTION_CONTROL}")
    assert response.status_code == 200, response.text
    o = outline(response)
    assert o.headings[0] == f"Control {ENCRYPTION_CONTROL}: {detail['control']['title']}"
    assert {"Checks", "Failing resources", "Risk acceptances", "Evidence", "Timeline"} <= set(o.headings)
    failing = [f for f in detail["failing_resources"] if f["check_id"] == ENC_CHECK]
    assert sorted(f["resource_name"] for f in failing) == sorted(PLAIN_BUCKETS)
    for f in failing:
        row = next(r for r in o.rows if r.startswith(f["resource_name"]))
        assert f["reason"] in row
        assert f["resource_arn"] in row
        # The values the check read, as setting: value lines.
        for key in f["evidence"]:
            assert key in row
    check = next(c for c in detail["checks"] if c["check_id"] == ENC_CHECK)
    assert check["remediation"]
    assert check["remediation"] in html.unescape(response.text)
    timeline = response.text[response.text.index('id="timeline-title"') :]
    assert "acme-legacy-exports FAIL on s3_bucket_default_encryption" in timeline

    missing = await http.get("/dashboard/controls/NO-SUCH-CONTROL")
    assert missing.status_code == 404
    assert "Cannot show this page" in missing.text


# --------------------------------------------------------------------------------------------- findings


async def test_findings_filter_upstream_and_locally_and_page(world: World, http: httpx.AsyncClient) -> None:
    every = await api(world, "/api/v1/findings", limit=5000)
    assert every["total"] > 0

    def resource_rows(o: Outline) -> list[str]:
        return [r for r in o.rows if " arn:aws:" in r]

    failing = await page(http, "/dashboard/findings", status="FAIL")
    expected_fail = [f for f in every["items"] if f["status"] == "FAIL"]
    assert len(resource_rows(failing)) == min(len(expected_fail), 50)
    assert set(failing.badges) == {"FAIL"}

    s3_high = await page(http, "/dashboard/findings", service="s3", severity="high")
    expected = [f for f in every["items"] if f["service"] == "s3" and f["severity"] == "high"]
    assert len(resource_rows(s3_high)) == min(len(expected), 50)
    assert all(" s3 " in r and " high " in r for r in resource_rows(s3_high))

    legacy = await page(http, "/dashboard/findings", q="legacy-exports", check=ENC_CHECK)
    rows = resource_rows(legacy)
    assert len(rows) == 1
    assert rows[0].startswith("acme-legacy-exports")
    assert ENC_CHECK in rows[0]

    # Paging: pages of 50 cover every finding exactly once.
    seen: list[str] = []
    offset = 0
    while True:
        o = await page(http, "/dashboard/findings", offset=str(offset))
        seen.extend(resource_rows(o))
        if not any(link for link in o.links if "offset=" + str(offset + 50) in link):
            break
        offset += 50
    assert len(seen) == every["total"]
    assert len(set(seen)) == every["total"]

    bad = await http.get("/dashboard/findings", params={"account": "12"})
    assert bad.status_code == 422
    assert "invalid_account" in bad.text


# --------------------------------------------------------------------------------------------- encryption, scans


async def test_encryption_page_lists_every_unencrypted_store(world: World, http: httpx.AsyncClient) -> None:
    inventory = await api(world, "/api/v1/inventory/encryption", state="unencrypted")
    assert inventory["total"] >= 3  # two buckets and the volume
    o = await page(http, "/dashboard/encryption")
    rows = [r for r in o.rows if " arn:aws:" in r]
    assert sorted(r.split(" ", 1)[0] for r in rows) == sorted(i["resource_name"] for i in inventory["items"])
    assert set(o.badges) == {"unencrypted"}
    names = {i["resource_name"] for i in inventory["items"]}
    assert set(PLAIN_BUCKETS) <= names
    assert any(i["resource_type"] == "AWS::EC2::Volume" for i in inventory["items"])

    everything = await page(http, "/dashboard/encryption", state="all")
    assert "encrypted" in everything.badges
    assert "unencrypted" in everything.badges


async def test_scans_page_and_progress_fragment_show_the_finished_scan(world: World, http: httpx.AsyncClient) -> None:
    o = await page(http, "/dashboard/scans")
    row = next(r for r in o.rows if r.startswith(world.scan_id))
    assert "completed" in row
    assert "final" in row
    assert "100%" in row
    fragment = await http.get(f"/dashboard/scans/{world.scan_id}/progress")
    assert fragment.status_code == 200
    assert f'id="scan-{world.scan_id}"' in fragment.text
    # A finished scan's row carries no polling URL: the script stops asking.
    assert "data-progress-url" not in fragment.text
    assert (await http.get("/dashboard/scans/nope/progress")).status_code == 404
    script = await http.get("/dashboard/static/scans.js", headers={"Authorization": ""})
    assert script.status_code == 200
    assert "data-progress-url" in script.text


# --------------------------------------------------------------------------------------------- scope, period, auth


async def test_scope_and_period_are_chosen_on_every_page(world: World, http: httpx.AsyncClient) -> None:
    editor = world.auth(Role.EDITOR)
    async with httpx.AsyncClient(base_url=world.compliance, timeout=30, headers=editor) as c:
        created = await c.post("/api/v1/scopes", json={"id": "sec", "name": "Security only"})
        assert created.status_code == 201, created.text
        past = await c.post(
            "/api/v1/scopes/default/periods",
            json={"name": "FY2020", "start_date": "2020-01-01", "end_date": "2020-12-31", "type": "type2"},
        )
        assert past.status_code == 201, past.text
    period_id = past.json()["id"]
    for path in ("/dashboard", "/dashboard/findings", "/dashboard/encryption", "/dashboard/scans"):
        response = await http.get(path, params={"scope": "sec"})
        assert response.status_code == 200, (path, response.text[:500])
        assert re.search(r'<option value="sec" selected>Security only</option>', response.text), path
        assert "Scope <strong>Security only</strong>" in response.text
        with_period = await http.get(path, params={"period": period_id})
        assert with_period.status_code == 200, with_period.text[:500]
        assert f'<option value="{period_id}" selected>FY2020' in with_period.text
    sec = await page(http, "/dashboard", scope="sec")
    assert not any(h.startswith("Availability") for h in sec.headings)
    # A period that ended before any scan: not monitored, never passing.
    past_view = await http.get("/dashboard", params={"period": period_id})
    assert "not monitored" in past_view.text
    assert "No posture to show" in past_view.text
    assert (await http.get("/dashboard", params={"scope": "nope"})).status_code == 404


async def test_every_page_needs_a_credential(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.reporting, timeout=30) as anonymous:
        for path in (
            "/dashboard",
            "/dashboard/findings",
            f"/dashboard/controls/{ENCRYPTION_CONTROL}",
            "/dashboard/scans",
        ):
            response = await anonymous.get(path)
            assert response.status_code == 401, path
            assert response.json()["error"] == "missing_api_key"
        css = await anonymous.get("/dashboard/static/dashboard.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert (await anonymous.get("/dashboard/static/..%2Fapp.py")).status_code in (404, 422)
    # The pages are not part of the API document the gateway routes from.
    async with httpx.AsyncClient(base_url=world.reporting, timeout=30) as client:
        document = (await client.get("/openapi.json")).json()
    assert not [p for p in document["paths"] if p.startswith("/dashboard")]
