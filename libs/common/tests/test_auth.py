"""API keys: minted and verified with the deployment's secret, carrying a role and an optional expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer

from guardian_common import auth
from guardian_common.auth import KEY_PREFIX, Principal, Role, mint_key, verify_key
from guardian_common.errors import Unauthenticated

SECRET = "deployment-secret-4c1f0e9a7b"
OTHER_SECRET = "another-deployment-secret-88d2"
NOON = datetime(2024, 6, 3, 12, 0, 0, tzinfo=UTC)


def _refusal(key: str, *, secret: str = SECRET, now: datetime | None = None) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as info:
        verify_key(secret, key, now=now)
    return info.value


@pytest.mark.parametrize("role", list(Role))
def test_a_minted_key_verifies_to_its_role_and_name(role: Role) -> None:
    key_id, key = mint_key(SECRET, role, f"ci-{role.value}")
    assert key.startswith(KEY_PREFIX)
    principal = verify_key(SECRET, key)
    assert principal == Principal(key_id=key_id, role=role, name=f"ci-{role.value}")


def test_each_minted_key_has_its_own_id() -> None:
    minted = [mint_key(SECRET, Role.EDITOR, "same name") for _ in range(5)]
    assert len({key_id for key_id, _ in minted}) == 5
    assert len({key for _, key in minted}) == 5


def test_a_key_is_valid_until_its_expiry() -> None:
    _, key = mint_key(SECRET, Role.AUDITOR, "auditor-portal", expires_at=NOON)
    assert verify_key(SECRET, key, now=NOON - timedelta(seconds=1)).role is Role.AUDITOR
    assert verify_key(SECRET, key, now=NOON - timedelta(days=30)).name == "auditor-portal"


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1), timedelta(days=400)])
def test_a_key_is_refused_from_its_expiry_on(after: timedelta) -> None:
    _, key = mint_key(SECRET, Role.ADMIN, "temporary", expires_at=NOON)
    error = _refusal(key, now=NOON + after)
    assert error.code == "expired_api_key"
    assert error.status == 401


def test_a_key_without_expiry_does_not_expire() -> None:
    _, key = mint_key(SECRET, Role.EDITOR, "long-lived")
    assert verify_key(SECRET, key, now=NOON + timedelta(days=3650)).role is Role.EDITOR


def test_a_key_signed_with_another_secret_is_refused() -> None:
    _, key = mint_key(OTHER_SECRET, Role.ADMIN, "from another deployment")
    error = _refusal(key)
    assert error.code == "invalid_api_key"
    assert error.status == 401
    assert "not valid for this deployment" in error.detail


def test_a_tampered_key_is_refused() -> None:
    _, key = mint_key(SECRET, Role.AUDITOR, "reader")
    # Change a character inside the signature (not the last one, whose low bits base64 may ignore).
    i = len(key) - 5
    tampered = key[:i] + ("A" if key[i] != "A" else "B") + key[i + 1 :]
    assert _refusal(tampered).code == "invalid_api_key"


def test_a_role_cannot_be_raised_by_editing_the_payload() -> None:
    _, auditor_key = mint_key(SECRET, Role.AUDITOR, "reader")
    _, admin_key = mint_key(SECRET, Role.ADMIN, "admin")
    # Graft the admin payload onto the auditor's signature.
    admin_payload = admin_key.split(".")[1]
    auditor_signature = auditor_key.split(".")[2]
    forged = f"{KEY_PREFIX}{admin_payload}.{auditor_signature}"
    assert _refusal(forged).code == "invalid_api_key"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "not-a-key",
        "gk0.eyJpZCI6IngifQ.c2ln",
        KEY_PREFIX,
        KEY_PREFIX + "no-separator-here",
        KEY_PREFIX + "eyJpZCI6IngifQ.c2lnbmF0dXJl",
    ],
)
def test_a_malformed_key_is_refused(key: str) -> None:
    error = _refusal(key)
    assert error.code == "invalid_api_key"
    assert error.status == 401


@pytest.mark.parametrize("payload", [{"id": "k1", "role": "superuser", "name": "x"}, {"id": "k1"}, ["admin"]])
def test_a_correctly_signed_key_with_an_unknown_role_or_shape_is_refused(payload: object) -> None:
    # Signed with the right secret and salt, so only the payload check can refuse it.
    token = URLSafeSerializer(SECRET, salt=auth._SALT).dumps(payload)
    error = _refusal(KEY_PREFIX + str(token))
    assert error.code == "invalid_api_key"
    assert "malformed" in error.detail


def test_role_ranks_order_auditor_editor_admin() -> None:
    assert Role.AUDITOR.rank < Role.EDITOR.rank < Role.ADMIN.rank
    assert sorted(Role, key=lambda r: r.rank) == [Role.AUDITOR, Role.EDITOR, Role.ADMIN]


@pytest.mark.parametrize(
    ("holder", "needed", "allowed"),
    [
        (Role.AUDITOR, Role.AUDITOR, True),
        (Role.AUDITOR, Role.EDITOR, False),
        (Role.AUDITOR, Role.ADMIN, False),
        (Role.EDITOR, Role.AUDITOR, True),
        (Role.EDITOR, Role.EDITOR, True),
        (Role.EDITOR, Role.ADMIN, False),
        (Role.ADMIN, Role.AUDITOR, True),
        (Role.ADMIN, Role.EDITOR, True),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_a_principal_can_do_what_its_role_or_a_lower_one_may(holder: Role, needed: Role, allowed: bool) -> None:
    assert Principal(key_id="k", role=holder, name="n").can(needed) is allowed
