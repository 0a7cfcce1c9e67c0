"""The Action Centre's pages and forms over plain HTTP, against a real remediation and compliance.

One stack per module (every service on loopback, one scratch database, a bus prefix of its own) scans
a small moto environment once: unencrypted buckets, each test planning on a bucket of its own. The
pages are read and the forms posted straight to the reporting service with API keys of each role, as
the gateway forwards them; reporting reaches remediation at ``GUARDIAN_REMEDIATION_URL``, the way a
deployment configures it. What the pages say is compared with remediation's own API.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from reporting_stack import scanned_stack

from guardian_cli.stack import LocalStack
from guardian_common.auth import Role, mint_key
from guardian_testkit.moto import MotoServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHECK = "s3_bucket_default_encryption"
BUCKETS = ("ac-flow", "ac-refused", "ac-roles", "ac-listed")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class World:
    stack: LocalStack
    reporting: str
    remediation: str
    keys: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture(scope="module")
def moto_env() -> Iterator[MotoServer]:
    with pytest.MonkeyPatch.context() as mp, MotoServer() as server:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        s3 = server.client("s3")
        for name in BUCKETS:
            s3.create_bucket(Bucket=name)
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    moto_env: MotoServer, postgres_base: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    home = tmp_path_factory.mktemp("stack")
    async with scanned_stack(postgres_base, nats_url, home, moto_env.url, "ac", ["s3"]) as (stack, _):
        keys = {role.value: mint_key(stack.auth_secret, role, f"ac-{role.value}")[1] for role in Role}
        keys["second-admin"] = mint_key(stack.auth_secret, Role.ADMIN, "ac-second-admin")[1]
        yield World(stack, stack.url("reporting"), stack.url("remediation"), keys)


@pytest_asyncio.fixture(loop_scope="module")
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=world.reporting, timeout=120) as client:
        yield client


async def api(world: World, path: str) -> Any:
    async with httpx.AsyncClient(base_url=world.remediation, timeout=60, headers=world.auth("auditor")) as client:
        response = await client.get(f"/api/v1/remediation{path}")
        assert response.status_code == 200, response.text
        return response.json()


def text_of(response: httpx.Response) -> str:
    """The page's text as a person reads it: tags dropped, entities decoded, spaces collapsed."""
    assert response.headers["content-type"].startswith("text/html"), response.headers
    spaced = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())
    return re.sub(r" ([,.:;)])", r"\1", spaced)


def forms(response: httpx.Response) -> list[str]:
    """The actions of the page's POST forms."""
    return [html.unescape(a) for a in re.findall(r'<form method="post" action="([^"]+)"', response.text)]


async def read(http: httpx.AsyncClient, world: World, who: str, path: str, **params: str) -> httpx.Response:
    response = await http.get(path, params=params, headers=world.auth(who))
    assert response.status_code == 200, response.text[:2000]
    return response


async def post(http: httpx.AsyncClient, world: World, who: str, path: str, fields: dict[str, str]) -> httpx.Response:
    return await http.post(path, data=fields, headers={**world.auth(who), **FORM})


async def plan_for(http: httpx.AsyncClient, world: World, bucket: str, who: str = "editor") -> str:
    """Plan the fix of one bucket through the form; the plan's id, from where the form leads."""
    answer = await post(
        http,
        world,
        who,
        "/dashboard/actions/plans?scope=default",
        {"check_id": CHECK, "action_id": CHECK, "resource_arn": f"arn:aws:s3:::{bucket}", "param.algorithm": ""},
    )
    assert answer.status_code == 303, answer.text[:2000]
    location = answer.headers["location"]
    assert location.startswith("/dashboard/actions/plans/plan-"), location
    assert location.endswith("?scope=default"), location
    return location.split("/")[-1].split("?")[0]


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:2000]
    assert code in response.text, response.text[:2000]


async def test_the_catalogue_page_shows_what_each_action_fixes_reads_and_may_do(
    world: World, http: httpx.AsyncClient
) -> None:
    actions = (await api(world, "/actions"))["items"]
    page = text_of(await read(http, world, "auditor", "/dashboard/actions/catalogue"))
    assert "Remediation catalogue" in page
    for action in actions:
        assert action["title"] in page
        for name in (*action["checks"], *action["permissions"], *action["reads"]):
            assert name in page, (action["id"], name)
    # The one role an action hands to AWS, and to which service only.
    assert "Only roles named guardian-flow-logs-*, only to vpc-flow-logs.amazonaws.com" in page


async def test_an_auditor_reads_failing_findings_and_plans_but_gets_no_form(
    world: World, http: httpx.AsyncClient
) -> None:
    new = await read(http, world, "auditor", "/dashboard/actions/new")
    page = text_of(new)
    assert "reads the Action Centre; an editor or admin plans fixes" in page
    for bucket in BUCKETS:
        assert f"arn:aws:s3:::{bucket}" in page
    assert "Plan a fix of" not in new.text
    one = await read(http, world, "auditor", "/dashboard/actions/new", check=CHECK, resource="arn:aws:s3:::ac-roles")
    assert forms(one) == []
    # The page leaves the form out; remediation refuses the post anyway.
    answer = await post(
        http, world, "auditor", "/dashboard/actions/plans", {"check_id": CHECK, "resource_arn": "arn:aws:s3:::ac-roles"}
    )
    refused(answer, 403, "insufficient_role")
    assert all(p["requested_by"]["name"] != "ac-auditor" for p in (await api(world, "/plans"))["items"])


async def test_plan_approve_run_and_verify_through_the_forms_each_by_the_role_allowed(
    world: World, http: httpx.AsyncClient
) -> None:
    # An editor starts from the failing finding: its row leads to the plan form for that bucket.
    listing = await read(http, world, "editor", "/dashboard/actions/new")
    assert f"/dashboard/actions/new?scope=default&amp;check={CHECK}&amp;resource=arn%3Aaws%3As3%3A%3A%3Aac-flow" in (
        listing.text
    )
    form = await read(http, world, "editor", "/dashboard/actions/new", check=CHECK, resource="arn:aws:s3:::ac-flow")
    assert forms(form) == ["/dashboard/actions/plans?scope=default"]
    assert 'name="resource_arn" value="arn:aws:s3:::ac-flow"' in form.text
    plan_id = await plan_for(http, world, "ac-flow")
    plan = await api(world, f"/plans/{plan_id}")

    # The plan page: the exact call, the expected result, the state, the approval still to come.
    as_editor = await read(http, world, "editor", f"/dashboard/actions/plans/{plan_id}")
    page = text_of(as_editor)
    assert "s3:PutBucketEncryption" in page
    assert '"Bucket": "ac-flow"' in page
    assert '"SSEAlgorithm": "AES256"' in page
    assert plan["items"][0]["expected"] in page
    assert plan["content_hash"] in page
    assert "Awaiting approval by an admin other than ac-editor (editor)" in page
    assert forms(as_editor) == []  # an editor neither approves nor runs an unapproved plan
    # An admin other than the requester gets the approve and reject forms, with the hash approved.
    as_admin = await read(http, world, "admin", f"/dashboard/actions/plans/{plan_id}")
    steps = forms(as_admin)
    assert [s.split("?")[0].rsplit("/", 1)[1] for s in steps] == ["approve", "reject"]
    assert f'name="content_hash" value="{plan["content_hash"]}"' in as_admin.text

    approved = await post(http, world, "admin", steps[0], {"content_hash": plan["content_hash"], "csrf_token": ""})
    assert approved.status_code == 303, approved.text[:2000]
    assert approved.headers["location"] == f"/dashboard/actions/plans/{plan_id}?scope=default"
    after = await read(http, world, "editor", f"/dashboard/actions/plans/{plan_id}")
    page = text_of(after)
    assert "approved By ac-admin (admin)" in page
    assert "(the plan must run before then)" in page
    run_form = [s for s in forms(after) if "/execute" in s]
    assert len(run_form) == 1

    ran = await post(http, world, "editor", run_form[0], {})
    assert ran.status_code == 303, ran.text[:2000]
    done = await read(http, world, "editor", f"/dashboard/actions/plans/{plan_id}")
    assert "Result fixed New objects are encrypted by default with AES256." in text_of(done)
    verify_form = [s for s in forms(done) if "/verify" in s]
    assert len(verify_form) == 1
    started = await post(http, world, "editor", verify_form[0], {})
    assert started.status_code == 303, started.text[:2000]

    for _ in range(240):
        current = await api(world, f"/plans/{plan_id}")
        if current["state"] != "verifying":
            break
        await asyncio.sleep(0.5)
    assert current["state"] == "verified", current["verification_summary"]
    page = text_of(await read(http, world, "auditor", f"/dashboard/actions/plans/{plan_id}"))
    assert f"Verified by scan {current['verification_scan_id']}: 1 of 1 resource(s) pass." in page
    assert f"Verified PASS {CHECK}" in page

    # The plans list, filtered by status.
    verified = text_of(await read(http, world, "auditor", "/dashboard/actions", state="verified"))
    assert plan_id in verified
    proposed = text_of(await read(http, world, "auditor", "/dashboard/actions", state="proposed"))
    assert plan_id not in proposed


async def test_refused_steps_show_remediation_code_and_sentence_and_change_nothing(
    world: World, http: httpx.AsyncClient
) -> None:
    plan_id = await plan_for(http, world, "ac-refused", who="admin")
    plan = await api(world, f"/plans/{plan_id}")
    path = f"/dashboard/actions/plans/{plan_id}"

    # The requester, an admin, is told another admin approves; a post anyway is refused by remediation.
    own = await read(http, world, "admin", path)
    assert "You planned this fix: an admin other than you approves it." in text_of(own)
    assert forms(own) == []
    refused(
        await post(http, world, "admin", f"{path}/approve", {"content_hash": plan["content_hash"]}),
        403,
        "self_approval_forbidden",
    )
    refused(
        await post(http, world, "second-admin", f"{path}/approve", {"content_hash": "0" * 64}),
        409,
        "plan_hash_mismatch",
    )
    refused(await post(http, world, "second-admin", f"{path}/approve", {"content_hash": "yes"}), 422, "invalid_hash")
    refused(await post(http, world, "editor", f"{path}/execute", {}), 409, "plan_not_approved")
    refused(await post(http, world, "editor", f"{path}/delete", {}), 422, "invalid_step")
    refused(await post(http, world, "second-admin", f"{path}/reject", {"reason": " "}), 422, "invalid_reason")
    json_post = await http.post(f"{path}/execute", json={}, headers=world.auth("editor"))
    refused(json_post, 422, "invalid_form")
    refused(
        await post(http, world, "editor", "/dashboard/actions/plans", {"check_id": "iam_root_mfa"}),
        422,
        "no_action_for_check",
    )
    refused(
        await http.get("/dashboard/actions", params={"state": "done"}, headers=world.auth("auditor")),
        422,
        "invalid_state",
    )
    refused(
        await http.get("/dashboard/actions/plans/plan-unknown", headers=world.auth("auditor")), 404, "plan_not_found"
    )
    assert (await api(world, f"/plans/{plan_id}"))["state"] == "proposed"

    # A second admin rejects it with a reason; the page then shows the decision and offers no step.
    rejected = await post(http, world, "second-admin", f"{path}/reject", {"reason": "Change freeze this week"})
    assert rejected.status_code == 303, rejected.text[:2000]
    page = await read(http, world, "editor", path)
    assert "rejected By ac-second-admin (admin)" in text_of(page)
    assert "Reason Change freeze this week" in text_of(page)
    assert forms(page) == []
