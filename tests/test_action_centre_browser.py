"""The Action Centre in a real browser: Debian's Chromium driven by Playwright, through the gateway.

Every service runs on loopback (the ``running`` fixture) and scans a moto bucket without default
encryption. An editor signs in at the gateway and plans its fix from the failing finding; a second
person, an admin, signs in in a browser of their own, approves the plan, runs it and verifies it,
and sees the finding PASS. Every step is a plain HTML form posted with the session cookie and its
CSRF token. Each page is screenshotted (into the test's tmp directory, as the dashboard's browser
test does) and checked with axe-core: no serious or critical accessibility violation is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Running
from test_dashboard_browser import CHROMIUM, blocking_violations

from guardian_cli.follow import run_scan
from guardian_common.auth import Role
from guardian_gateway.keys.service import bootstrap_key
from guardian_testkit.moto import MotoServer

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
)

BUCKET = "acme-unencrypted-reports"
CHECK = "s3_bucket_default_encryption"


async def test_plan_approve_by_a_second_admin_run_and_verify_a_fix_in_the_browser(
    running: Running, moto: MotoServer, tmp_path: Path
) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright

    moto.client("s3").create_bucket(Bucket=BUCKET)
    outcome = await run_scan(
        running.client, regions=["us-east-1"], services=["s3"], poll_seconds=0.1, timeout_seconds=120
    )
    assert outcome.final, outcome
    planner = await bootstrap_key(running.database_url, "browser-planner", Role.EDITOR)
    approver = await bootstrap_key(running.database_url, "browser-approver", Role.ADMIN)
    gateway = running.stack.url("gateway")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    axe = Axe()
    checked: dict[str, list[str]] = {}

    async def audit(page: Any, name: str) -> None:
        await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        checked[name] = blocking_violations(await axe.run(page))

    async def sign_in(page: Any, path: str, key: str) -> None:
        await page.goto(f"{gateway}{path}")
        assert "/login" in page.url
        await page.fill("#api-key", key)
        await page.click("button[type=submit]")
        await page.wait_for_url(re.compile(re.escape(path.split("?")[0]) + r"(\?|$)"))

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            # The editor: from the Action Centre to the failing finding, then the plan.
            planning = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
            await sign_in(planning, "/dashboard/actions", planner.key)
            assert await planning.inner_text("h1") == "Action Centre"
            await audit(planning, "01-action-centre")
            await planning.click("nav[aria-label='Action Centre pages'] a:text-is('Catalogue')")
            await planning.wait_for_url(re.compile(r"/dashboard/actions/catalogue"))
            assert "s3:PutEncryptionConfiguration" in await planning.inner_text("#content")
            await audit(planning, "02-catalogue")
            await planning.click("nav[aria-label='Action Centre pages'] a:text-is('Plan a fix')")
            await planning.wait_for_url(re.compile(r"/dashboard/actions/new"))
            await audit(planning, "03-failing-findings")
            await planning.click(f"a[aria-label='Plan a fix of {CHECK} for {BUCKET}']")
            await planning.wait_for_url(re.compile(r"/dashboard/actions/new\?.*resource="))
            await audit(planning, "04-plan-form")
            await planning.click("button:text-is('Create the plan')")
            await planning.wait_for_url(re.compile(r"/dashboard/actions/plans/plan-"))
            plan_path = "/dashboard/actions/plans/" + planning.url.split("/dashboard/actions/plans/")[1].split("?")[0]
            content = await planning.inner_text("#content")
            assert "s3:PutBucketEncryption" in content
            assert f'"Bucket": "{BUCKET}"' in content
            assert "Awaiting approval by an admin other than browser-planner (editor)" in content
            assert await planning.locator("#approve").count() == 0
            await audit(planning, "05-plan-proposed")

            # A second person, an admin, in a browser of their own: approve, run, verify.
            approving = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
            await sign_in(approving, plan_path, approver.key)
            async with approving.expect_navigation():
                await approving.click("#approve")
            assert "browser-approver (admin)" in await approving.inner_text("#approval")
            await audit(approving, "06-plan-approved")
            async with approving.expect_navigation():
                await approving.click("#execute")
            assert "fixed" in await approving.inner_text(".result")
            await audit(approving, "07-plan-executed")
            async with approving.expect_navigation():
                await approving.click("#verify")
            for _ in range(240):
                state = await approving.inner_text("#plan-state")
                if state.strip() != "verifying":
                    break
                await approving.wait_for_timeout(500)
                await approving.reload()
            assert (await approving.inner_text("#plan-state")).strip() == "verified"
            assert (await approving.inner_text(".verdict")).startswith("PASS")
            assert "1 of 1 resource(s) pass" in await approving.inner_text("#verification")
            await audit(approving, "08-plan-verified")

            # The plans list, filtered to verified plans, shows it.
            await approving.goto(f"{gateway}/dashboard/actions?state=verified")
            assert plan_path.rsplit("/", 1)[1] in await approving.inner_text("#plans")
            await audit(approving, "09-verified-plans")
        finally:
            await browser.close()

    # Compliance agrees: the bucket's finding now passes.
    async with httpx.AsyncClient(base_url=running.stack.url("compliance"), timeout=60) as client:
        answer = await client.get(
            "/api/v1/findings",
            params={"check_id": CHECK},
            headers={"Authorization": f"Bearer {running.key(Role.AUDITOR)}"},
        )
    assert {f["resource_arn"]: f["status"] for f in answer.json()["items"]}[f"arn:aws:s3:::{BUCKET}"] == "PASS"
    assert sorted(p.name for p in shots.iterdir()) == sorted(f"{name}.png" for name in checked)
    assert all((shots / f"{name}.png").stat().st_size > 1000 for name in checked)
    assert {name: v for name, v in checked.items() if v} == {}
