"""The Compliance Dashboard in a real browser: Debian's Chromium driven by Playwright, through the gateway.

Every service runs on loopback (the ``running`` fixture) and scans a small moto environment; a person
signs in at the gateway with an auditor key, filters the controls by a Trust Services category, opens
a failing control and sees its failing resources. Each page is screenshotted (into the test's tmp
directory) and checked with axe-core: no serious or critical accessibility violation is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Running

from guardian_cli.follow import run_scan
from guardian_common.auth import Role
from guardian_gateway.keys.service import bootstrap_key
from guardian_testkit.moto import MotoServer

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
)

PLAIN_BUCKETS = ["acme-legacy-exports", "acme-legacy-logs"]
FAILING_CONTROL = "GRD-ENC-01"
BLOCKING = {"serious", "critical"}


def seed(moto: MotoServer) -> None:
    """Two buckets without default encryption, one with it, and an unencrypted volume."""
    s3 = moto.client("s3")
    for name in ("acme-customer-data", *PLAIN_BUCKETS):
        s3.create_bucket(Bucket=name)
    s3.put_bucket_encryption(
        Bucket="acme-customer-data",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    moto.client("ec2").create_volume(AvailabilityZone="us-east-1a", Size=8, Encrypted=False)


def blocking_violations(results: Any) -> list[str]:
    """axe-core's serious and critical violations, each with where it was found."""
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") in BLOCKING:
            targets = [str(node.get("target")) for node in violation.get("nodes", [])][:5]
            found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return found


async def test_sign_in_filter_by_category_open_a_failing_control_and_every_page_is_accessible(
    running: Running, moto: MotoServer, tmp_path: Path
) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright

    seed(moto)
    outcome = await run_scan(
        running.client, regions=["us-east-1"], services=["s3", "ec2"], poll_seconds=0.1, timeout_seconds=120
    )
    assert outcome.final, outcome
    auditor = await bootstrap_key(running.database_url, "browser-auditor", Role.AUDITOR)
    gateway = running.stack.url("gateway")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    axe = Axe()
    checked: dict[str, list[str]] = {}

    async def audit(page: Any, name: str) -> None:
        await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        checked[name] = blocking_violations(await axe.run(page))

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()

            # Without a session the dashboard sends the browser to the sign-in page, which returns to it.
            await page.goto(f"{gateway}/dashboard")
            assert "/login" in page.url
            await audit(page, "01-sign-in")
            await page.fill("#api-key", auditor.key)
            await page.click("button[type=submit]")
            await page.wait_for_url(re.compile(r"/dashboard(\?|$)"))
            assert await page.inner_text("h1") == "Overview"
            assert "browser-auditor" in await page.inner_text("header")
            assert "PASS controls / in-scope controls" in await page.inner_text("#content")
            await audit(page, "02-overview")

            # Filter by a Trust Services category: only that category's section remains.
            await page.select_option("#f-category", "confidentiality")
            await page.click("form.filters button[type=submit]")
            await page.wait_for_url(re.compile(r"category=confidentiality"))
            sections = await page.locator("h3[id^=cat-]").all_inner_texts()
            assert len(sections) == 1, sections
            assert sections[0].startswith("Confidentiality"), sections
            await audit(page, "03-confidentiality")

            # Open the failing encryption control and see its failing resources with the reason.
            await page.click(f"#cat-confidentiality ~ table a:text-is('{FAILING_CONTROL}')")
            await page.wait_for_url(re.compile(rf"/dashboard/controls/{FAILING_CONTROL}"))
            assert (await page.inner_text("h1")).startswith(f"Control {FAILING_CONTROL}")
            rows = await page.locator("section[aria-labelledby=resources-title] tbody tr").all_inner_texts()
            for bucket in PLAIN_BUCKETS:
                row = next(r for r in rows if r.startswith(bucket))
                assert "FAIL" in row
                assert f"Bucket {bucket} has no default encryption" in row
            assert not any(r.startswith("acme-customer-data") for r in rows)
            await audit(page, "04-control")

            for path, name in (
                ("/dashboard/findings?status=FAIL", "05-findings"),
                ("/dashboard/encryption", "06-encryption"),
                ("/dashboard/scans", "07-scans"),
            ):
                response = await page.goto(f"{gateway}{path}")
                assert response is not None, path
                assert response.status == 200, path
                await audit(page, name)
            encryption_text = await page.goto(f"{gateway}/dashboard/encryption")
            assert encryption_text is not None
            body = await page.inner_text("main")
            for bucket in PLAIN_BUCKETS:
                assert bucket in body
            await context.close()
        finally:
            await browser.close()

    assert sorted(p.name for p in shots.iterdir()) == sorted(f"{name}.png" for name in checked)
    assert all((shots / f"{name}.png").stat().st_size > 1000 for name in checked)
    assert {name: v for name, v in checked.items() if v} == {}
