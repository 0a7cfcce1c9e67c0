"""Golden: Macie per region (CIS 2.1.3) and the AWS managed AdministratorAccess policy (CIS 1.16), from moto
through the real ``macie`` and ``iamadmin`` collectors, judged by the real checks.

What moto does not give:

- moto has GetMacieSession, EnableMacie and DisableMacie (a fresh moto account starts with Macie on, and
  one session serves every region behind a custom endpoint, so each test collects one region, or answers
  per region) but not GetAutomatedDiscoveryConfiguration: that answer is given
  by a ``before-call`` handler in moto's place, validated against the Macie service model first (as
  botocore's Stubber does);
- moto answers GetMacieSession in a region where Macie is off with ``ResourceNotFoundException``; real AWS
  answers ``AccessDeniedException`` "Macie is not enabled.". Both shapes are shown to mean "off" (FAIL),
  while an AccessDenied for a missing permission is ERROR;
- moto loads no AWS managed policies unless told to (seconds on every reset), so AdministratorAccess
  cannot be attached there: the ``ListEntitiesForPolicy`` answer naming its holders is a model-validated
  stand-in too. moto's own (empty) answer is the passing case.
"""

from __future__ import annotations

from typing import Any

import golden_support
from golden_support import (
    Answer,
    Emitted,
    account_context,
    answering,
    answering_with,
    model_checked,
    refusal,
    request_body,
    status,
    unit_of,
    verdict,
    with_metadata,
)
from golden_support import moto_fixture as moto_fixture
from golden_support import moto_server_fixture as moto_server_fixture

from guardian_collector.collection import CollectionOutcome
from guardian_common.events import Status, UnitStatus
from guardian_evaluator.checks import load_all
from guardian_testkit.moto import MotoServer

load_all()

P, F, E = Status.PASS, Status.FAIL, Status.ERROR
MACIE = "macie_sensitive_data_discovery"
ADMIN = "iam_admin_access_policy_not_attached"
ON, OFF = "us-east-1", "eu-west-1"
REGIONS = [ON, OFF]


def discovery(state: str) -> Answer:
    answer = {
        "status": state,
        "classificationScopeId": "117aff7ed76b59a59c2d8b5a3a0c9e4f",
        "sensitivityInspectionTemplateId": "9a0b5c6a1d2e3f40",
    }
    return 200, with_metadata(model_checked("macie2", "GetAutomatedDiscoveryConfiguration", answer))


async def collect_macie(
    moto: MotoServer, intercept: Any = None, regions: list[str] = REGIONS
) -> tuple[Emitted, CollectionOutcome]:
    handlers = None if intercept is None else {"before-call": answering(intercept)}
    return await golden_support.collect(moto, ["macie"], regions=regions, handlers=handlers)


async def test_macie_on_with_automated_discovery_passes(moto: MotoServer) -> None:
    macie = moto.client("macie2", ON)
    macie.disable_macie()
    macie.enable_macie()

    def intercept(service: str, operation: str, region: str) -> Answer | None:
        return discovery("ENABLED") if operation == "GetAutomatedDiscoveryConfiguration" else None

    emitted, outcome = await collect_macie(moto, intercept, regions=[ON])

    assert unit_of(outcome, "macie", ON).status is UnitStatus.COMPLETE
    on = account_context(emitted, ON)
    assert on.configuration["macie"]["status"] == "ENABLED"
    assert on.configuration["macie_automated_discovery"] == "ENABLED"
    assert status(MACIE, on) is P  # PASS
    # The account-wide context carries no Macie data and is not judged.
    assert status(MACIE, account_context(emitted)) is None


async def test_a_region_without_macie_fails(moto: MotoServer) -> None:
    moto.client("macie2", OFF).disable_macie()
    emitted, outcome = await collect_macie(moto, regions=[OFF])

    # moto's ResourceNotFoundException where Macie is off is a fact, not a failed read.
    assert unit_of(outcome, "macie", OFF).status is UnitStatus.COMPLETE
    off = account_context(emitted, OFF)
    assert off.configuration["macie"]["enabled"] is False
    assert off.configuration["macie_automated_discovery"] is None
    result = verdict(MACIE, off)
    assert result is not None
    assert result[0] is F  # FAIL
    assert f"not enabled in {OFF}" in result[1]


async def test_paused_macie_and_discovery_turned_off_fail(moto: MotoServer) -> None:
    macie = moto.client("macie2", ON)
    macie.enable_macie(status="PAUSED")

    def intercept(service: str, operation: str, region: str) -> Answer | None:
        return discovery("DISABLED") if operation == "GetAutomatedDiscoveryConfiguration" else None

    emitted, _ = await collect_macie(moto, intercept, regions=[ON])
    paused = verdict(MACIE, account_context(emitted, ON))
    assert paused is not None
    assert (paused[0], "paused" in paused[1]) == (F, True)

    macie.enable_macie(status="ENABLED")
    emitted, _ = await collect_macie(moto, intercept, regions=[ON])
    no_discovery = verdict(MACIE, account_context(emitted, ON))
    assert no_discovery is not None
    assert no_discovery[0] is F
    assert "automated sensitive-data discovery is off" in no_discovery[1]


async def test_real_aws_not_enabled_answer_fails_but_a_permission_denial_is_an_error(moto: MotoServer) -> None:
    def intercept(service: str, operation: str, region: str) -> Answer | None:
        if operation != "GetMacieSession":
            return None
        if region == ON:
            # Real AWS's answer where Macie is off.
            return refusal("AccessDeniedException", "Macie is not enabled.")
        return refusal("AccessDeniedException", "User is not authorized to perform: macie2:GetMacieSession")

    emitted, outcome = await collect_macie(moto, intercept)

    assert unit_of(outcome, "macie", ON).status is UnitStatus.COMPLETE
    assert status(MACIE, account_context(emitted, ON)) is F
    assert unit_of(outcome, "macie", OFF).status is UnitStatus.PARTIAL
    denied = account_context(emitted, OFF)
    assert "macie" in denied.configuration["_errors"]
    result = verdict(MACIE, denied)
    assert result is not None
    assert result[0] is E
    assert "not authorized" in result[1]


async def test_an_unreadable_discovery_setting_is_an_error_not_a_pass(moto: MotoServer) -> None:
    moto.client("macie2", ON).enable_macie()

    def intercept(service: str, operation: str, region: str) -> Answer | None:
        if operation == "GetAutomatedDiscoveryConfiguration":
            return refusal("AccessDeniedException", "not authorized")
        return None

    emitted, outcome = await collect_macie(moto, intercept)

    assert unit_of(outcome, "macie", ON).status is UnitStatus.PARTIAL
    context = account_context(emitted, ON)
    assert status(MACIE, context) is E
    # With automated discovery not required, Macie being on is enough.
    assert status(MACIE, context, require_automated_discovery=False) is P


# -- AdministratorAccess ---------------------------------------------------------------------------


def admin_holders(users: list[str], groups: list[str], roles: list[str]) -> Answer:
    answer = {
        "PolicyUsers": [{"UserName": u, "UserId": f"AIDA{u.upper():0<17}"} for u in users],
        "PolicyGroups": [{"GroupName": g, "GroupId": f"AGPA{g.upper():0<17}"} for g in groups],
        "PolicyRoles": [{"RoleName": r, "RoleId": f"AROA{r.upper():0<17}"} for r in roles],
        "IsTruncated": False,
    }
    return 200, with_metadata(model_checked("iam", "ListEntitiesForPolicy", answer))


async def collect_admin(moto: MotoServer, intercept: Any = None) -> tuple[Emitted, CollectionOutcome]:
    handlers = None if intercept is None else {"before-call": answering_with(intercept, request_body)}
    return await golden_support.collect(moto, ["iamadmin"], regions=[ON], handlers=handlers)


async def test_administrator_access_attached_to_nobody_passes(moto: MotoServer) -> None:
    moto.client("iam").create_user(UserName="dev")
    emitted, outcome = await collect_admin(moto)

    assert unit_of(outcome, "iamadmin").status is UnitStatus.COMPLETE
    context = account_context(emitted)
    assert context.configuration["iam_admin_policy_attachments"] == {
        "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess",
        "users": [],
        "groups": [],
        "roles": [],
    }
    assert status(ADMIN, context) is P  # PASS


async def test_administrator_access_attached_fails_naming_its_holders(moto: MotoServer) -> None:
    def intercept(service: str, operation: str, region: str, body: Any) -> Answer | None:
        if operation == "ListEntitiesForPolicy" and "AdministratorAccess" in str(body):
            return admin_holders(["alice"], ["admins"], ["break-glass"])
        return None

    emitted, _ = await collect_admin(moto, intercept)

    result = verdict(ADMIN, account_context(emitted))
    assert result is not None
    assert result[0] is F  # FAIL
    assert "user alice, group admins, role break-glass" in result[1]


async def test_a_denied_attachment_listing_is_an_error(moto: MotoServer) -> None:
    def intercept(service: str, operation: str, region: str, body: Any) -> Answer | None:
        return refusal("AccessDenied") if operation == "ListEntitiesForPolicy" else None

    emitted, outcome = await collect_admin(moto, intercept)

    assert unit_of(outcome, "iamadmin").status is UnitStatus.PARTIAL
    assert status(ADMIN, account_context(emitted)) is E
