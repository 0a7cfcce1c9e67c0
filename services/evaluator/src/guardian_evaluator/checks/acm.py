"""ACM certificate checks: expiry window and key strength.

Checks that depend on the current time take it from ``params["now"]`` when given (an ISO-8601
string or a datetime; tests pin it), else the UTC wall clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from guardian_common.events import Severity
from guardian_evaluator.checks._compute_network import BadValue, guarded, moment, needs, now
from guardian_evaluator.registry import Snapshot, Verdict, check, errored, failed, passed

SERVICE = "acm"
CERTIFICATE = "AWS::CertificateManager::Certificate"
IN_SERVICE = frozenset({"ISSUED", "EXPIRED"})
USABLE = frozenset({"ISSUED", "PENDING_VALIDATION", "INACTIVE", "EXPIRED"})
KEY = re.compile(r"^(RSA|EC)[-_](.+)$", re.IGNORECASE)


def _label(snap: Snapshot) -> str:
    kind = snap.configuration.get("type")
    return f"Certificate {snap.name}" + (f" ({str(kind).lower().replace('_', '-')})" if kind else "")


@check(
    id="acm_certificate_not_expiring",
    title="ACM certificates are not about to expire",
    description=(
        "Issued certificates stay valid for more than days_before_expiry days. ACM renews certificates it "
        "issued well before that point, so one still this close to expiry has a renewal problem (validation "
        "records removed, or an imported certificate nobody re-imports); when it lapses, clients refuse the "
        "endpoint. With ignore_unused set, certificates no AWS resource uses are not judged."
    ),
    severity=Severity.HIGH,
    resource_type=CERTIFICATE,
    service=SERVICE,
    remediation=(
        "For an ACM-issued certificate, restore its DNS validation record so managed renewal can complete; "
        "re-import a renewed imported certificate before it lapses.\n"
        "CLI: aws acm describe-certificate --certificate-arn CERT_ARN --query Certificate.RenewalSummary && "
        "aws acm import-certificate --certificate-arn CERT_ARN --certificate fileb://cert.pem "
        "--private-key fileb://key.pem --certificate-chain fileb://chain.pem\n"
        'Terraform: resource aws_acm_certificate with validation_method = "DNS" and an '
        "aws_acm_certificate_validation whose aws_route53_record entries stay in place"
    ),
    permissions=("acm:ListCertificates", "acm:DescribeCertificate"),
    parameters={"days_before_expiry": 30, "ignore_unused": False},
)
@guarded
def acm_certificate_not_expiring(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "status")) is not None:
        return err
    status = snap.configuration["status"]
    if status not in IN_SERVICE:
        return None
    if params.get("ignore_unused", False):
        if (err := needs(snap, "in_use_by")) is not None:
            return err
        if not snap.configuration["in_use_by"]:
            return None
    if (err := needs(snap, "not_after")) is not None:
        return err
    not_after = moment(snap.configuration["not_after"], f"The expiry date of {snap.name}")
    at = now(params)
    window = int(params.get("days_before_expiry", 30))
    renewal = snap.configuration.get("renewal_status")
    renewal_note = f"; renewal status {renewal}" if renewal else ""
    used = snap.configuration.get("in_use_by") or []
    use_note = f"; used by {len(used)} resource(s)" if used else ""
    if status == "EXPIRED" or not_after <= at:
        return failed(
            f"{_label(snap)} expired on {not_after.date().isoformat()}{use_note}",
            not_after=not_after.isoformat(),
            days_left=(not_after - at).days,
        )
    left = not_after - at
    if left.days < window:
        return failed(
            f"{_label(snap)} expires in {left.days} day(s), on {not_after.date().isoformat()}, inside the "
            f"{window}-day window{renewal_note}{use_note}",
            not_after=not_after.isoformat(),
            days_left=left.days,
        )
    return passed(
        f"{_label(snap)} is valid until {not_after.date().isoformat()} ({left.days} days left)",
        not_after=not_after.isoformat(),
        days_left=left.days,
    )


@check(
    id="acm_certificate_strong_key",
    title="ACM certificates use strong keys",
    description=(
        "Certificates use an RSA key of at least min_rsa_bits bits or an elliptic-curve key on one of "
        "allowed_ec_curves. RSA 1024 can be factored with resources within reach of a determined attacker "
        "and is refused by current browsers."
    ),
    severity=Severity.MEDIUM,
    resource_type=CERTIFICATE,
    service=SERVICE,
    remediation=(
        "Request (or import) a replacement with an RSA 2048+ or ECDSA P-256/P-384 key, move its users to it "
        "and delete the weak certificate.\n"
        "CLI: aws acm request-certificate --domain-name DOMAIN --validation-method DNS --key-algorithm EC_prime256v1\n"
        'Terraform: key_algorithm = "EC_prime256v1" (or "RSA_2048") in the aws_acm_certificate'
    ),
    permissions=("acm:ListCertificates", "acm:DescribeCertificate"),
    parameters={"min_rsa_bits": 2048, "allowed_ec_curves": ["prime256v1", "secp384r1", "secp521r1"]},
)
@guarded
def acm_certificate_strong_key(snap: Snapshot, params: Mapping[str, Any]) -> Verdict | None:
    if (err := needs(snap, "status")) is not None:
        return err
    if snap.configuration["status"] not in USABLE:
        return None
    if (err := needs(snap, "key_algorithm")) is not None:
        return err
    algorithm = snap.configuration["key_algorithm"]
    parsed = KEY.match(str(algorithm)) if isinstance(algorithm, str) else None
    if parsed is None:
        return errored(f"{_label(snap)} reports a key algorithm this check does not know ({algorithm!r})")
    family, size = parsed.group(1).upper(), parsed.group(2)
    if family == "RSA":
        try:
            bits = int(size)
        except ValueError as exc:
            raise BadValue(f"The RSA key size of {snap.name} is not a number ({algorithm!r})") from exc
        minimum = int(params.get("min_rsa_bits", 2048))
        if bits >= minimum:
            return passed(f"{_label(snap)} uses an RSA {bits}-bit key", key_algorithm=algorithm)
        return failed(
            f"{_label(snap)} uses an RSA {bits}-bit key, below the {minimum}-bit minimum", key_algorithm=algorithm
        )
    curves = {str(c).lower() for c in params.get("allowed_ec_curves", [])}
    if size.lower() in curves:
        return passed(f"{_label(snap)} uses an elliptic-curve key on {size}", key_algorithm=algorithm)
    return failed(f"{_label(snap)} uses an elliptic-curve key on {size}, not an allowed curve", key_algorithm=algorithm)
