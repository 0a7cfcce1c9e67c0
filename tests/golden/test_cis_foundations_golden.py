"""Golden: the CIS Foundations gap checks on IAM and the account, from moto through the real collectors.

moto is seeded with users, a server certificate and (in one test) a security alternate contact; the
IAM and ``iamextra`` collectors run against it and the real checks judge what they emitted (the S3,
CloudTrail and EC2 gap checks are shown beside the other checks of those services, in
``test_s3_cloudtrail_golden.py`` and ``test_compute_network_golden.py``).

What moto does not give:

- moto loads no AWS managed policies unless told to (seconds on every reset), so AWSCloudShellFullAccess
  cannot be attached there: the ``ListEntitiesForPolicy`` answer naming a holder of it is given by a
  ``before-call`` handler in moto's place, validated against the IAM service model first (as
  botocore's Stubber does);
- moto gives every uploaded server certificate the same fixed dates (expiring 2012-05-08), so the
  expiry check is judged at a pinned time before and after that date.

Denied reads (403 answers in moto's place) turn the checks ERROR or leave nothing to judge, never PASS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import golden_support
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from golden_support import (
    Answer,
    Emitted,
    account_context,
    answering_with,
    by_type,
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
CLOUDSHELL = "AWSCloudShellFullAccess"
CERT_TYPE = "AWS::IAM::ServerCertificate"


def certificate(days_left: int) -> tuple[str, str]:
    """A self-signed certificate and its key, PEM, valid until ``days_left`` days from now."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "legacy.example.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=days_left))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), private.decode()


def seed(moto: MotoServer) -> None:
    iam = moto.client("iam")
    iam.create_user(UserName="solo")
    iam.create_access_key(UserName="solo")
    iam.create_user(UserName="pair")
    iam.create_access_key(UserName="pair")
    iam.create_access_key(UserName="pair")
    iam.create_user(UserName="rotated")
    old = iam.create_access_key(UserName="rotated")["AccessKey"]["AccessKeyId"]
    iam.create_access_key(UserName="rotated")
    iam.update_access_key(UserName="rotated", AccessKeyId=old, Status="Inactive")
    # Console users: one whose key has been used (one signed request), one whose key never was.
    for name in ("console-used", "console-fresh"):
        iam.create_user(UserName=name)
        iam.create_login_profile(UserName=name, Password="An-initial-Passw0rd!")
    used = iam.create_access_key(UserName="console-used")["AccessKey"]
    boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=moto.url,
        aws_access_key_id=used["AccessKeyId"],
        aws_secret_access_key=used["SecretAccessKey"],
    ).get_caller_identity()
    iam.create_access_key(UserName="console-fresh")
    body, key = certificate(-10)
    iam.upload_server_certificate(ServerCertificateName="legacy-tls", CertificateBody=body, PrivateKey=key)


def holders(roles: list[str]) -> Answer:
    answer = {
        "PolicyGroups": [],
        "PolicyUsers": [],
        "PolicyRoles": [{"RoleName": r, "RoleId": f"AROA{r.upper().replace('-', ''):0<17}"} for r in roles],
        "IsTruncated": False,
    }
    return 200, with_metadata(model_checked("iam", "ListEntitiesForPolicy", answer))


async def collect(moto: MotoServer, intercept: Any = None) -> tuple[Emitted, CollectionOutcome]:
    handlers = None if intercept is None else {"before-call": answering_with(intercept, request_body)}
    return await golden_support.collect(moto, ["iam", "iamextra"], regions=["us-east-1"], handlers=handlers)


async def test_keys_certificates_and_cloudshell_from_moto(moto: MotoServer) -> None:
    seed(moto)
    emitted, outcome = await collect(moto)

    assert unit_of(outcome, "iam").status is UnitStatus.COMPLETE
    assert unit_of(outcome, "iamextra").status is UnitStatus.COMPLETE
    users = by_type(emitted, "AWS::IAM::User")
    assert status("iam_user_single_active_key", users["solo"]) is P
    assert status("iam_user_single_active_key", users["rotated"]) is P
    pair = verdict("iam_user_single_active_key", users["pair"])
    assert pair is not None
    # CIS 1.11: only users with a console password are judged.
    assert status("iam_user_no_unused_key_at_console_setup", users["console-used"]) is P
    assert status("iam_user_no_unused_key_at_console_setup", users["console-fresh"]) is F
    assert status("iam_user_no_unused_key_at_console_setup", users["solo"]) is None
    assert pair[0] is F
    assert "2 active access keys" in pair[1]

    (cert,) = by_type(emitted, CERT_TYPE).values()
    assert cert.name == "legacy-tls"
    assert cert.arn.endswith(":server-certificate/legacy-tls")
    assert cert.configuration["expiration"].startswith("2012-05-08")
    # moto's fixed expiration (2012-05-08), judged before it and at the wall clock.
    assert status("iam_server_certificate_not_expired", cert, now="2011-06-01T00:00:00+00:00") is P
    expired = verdict("iam_server_certificate_not_expired", cert)
    assert expired is not None
    assert expired[0] is F
    assert "expired on 2012-05-08" in expired[1]

    # Nothing holds the CloudShell policy in moto, and no security contact is registered yet.
    context = account_context(emitted)
    assert context.configuration["account_security_contact"] is None
    assert status("account_security_contact_registered", context) is F
    assert context.configuration["iam_cloudshell_full_access"] == {"users": [], "groups": [], "roles": []}
    assert status("iam_cloudshell_full_access_restricted", context) is P


async def test_cloudshell_policy_holders_fail_and_a_security_contact_passes(moto: MotoServer) -> None:
    seed(moto)
    moto.client("account").put_alternate_contact(
        AlternateContactType="SECURITY",
        Name="Security team",
        Title="Security",
        EmailAddress="security@example.com",
        PhoneNumber="+10000000000",
    )

    def intercept(service: str, operation: str, region: str, body: Any) -> Answer | None:
        if operation == "ListEntitiesForPolicy" and CLOUDSHELL in str(body):
            return holders(["ops-console"])
        return None

    emitted, outcome = await collect(moto, intercept)

    assert unit_of(outcome, "iamextra").status is UnitStatus.COMPLETE
    context = account_context(emitted)
    assert status("account_security_contact_registered", context) is P
    assert context.configuration["account_security_contact"]["email"] == "security@example.com"
    result = verdict("iam_cloudshell_full_access_restricted", context)
    assert result is not None
    assert result[0] is F
    assert "role ops-console" in result[1]


async def test_denied_reads_never_pass(moto: MotoServer) -> None:
    seed(moto)

    def intercept(service: str, operation: str, region: str, body: Any) -> Answer | None:
        if operation == "ListEntitiesForPolicy" and CLOUDSHELL in str(body):
            return refusal("AccessDenied")
        if operation == "ListServerCertificates":
            return refusal("AccessDenied")
        if operation == "ListAccessKeys":
            return refusal("AccessDenied")
        if operation == "GetAlternateContact":
            return refusal("AccessDeniedException")
        return None

    emitted, outcome = await collect(moto, intercept)

    # The certificate listing is the unit's primary listing: it fails and no certificate is judged.
    assert unit_of(outcome, "iamextra").status is UnitStatus.FAILED
    assert by_type(emitted, CERT_TYPE) == {}
    context = account_context(emitted)
    assert status("iam_cloudshell_full_access_restricted", context) is E
    assert status("account_security_contact_registered", context) is E
    users = by_type(emitted, "AWS::IAM::User")
    assert users, "users are still listed"
    assert {status("iam_user_single_active_key", u) for u in users.values()} == {E}
    assert status("iam_user_no_unused_key_at_console_setup", users["console-fresh"]) is E
