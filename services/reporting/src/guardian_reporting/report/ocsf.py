"""A report as OCSF Compliance Findings (class 2003), built and validated with ``py_ocsf_models``.

One finding per control (its status against the framework), and, when resource-level findings
are known, one per resource evaluation. Ids are deterministic (scan, control or check, resource),
so the same report exported twice gives the same uids.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from py_ocsf_models.events.findings.activity_id import ActivityID  # type: ignore[import-untyped]
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding  # type: ignore[import-untyped]
from py_ocsf_models.events.findings.compliance_finding_type_id import ComplianceFindingTypeID  # type: ignore[import-untyped]
from py_ocsf_models.events.findings.severity_id import SeverityID  # type: ignore[import-untyped]
from py_ocsf_models.events.findings.status_id import StatusID  # type: ignore[import-untyped]
from py_ocsf_models.objects.check import Check  # type: ignore[import-untyped]
from py_ocsf_models.objects.compliance import Compliance  # type: ignore[import-untyped]
from py_ocsf_models.objects.compliance_status import StatusID as ComplianceStatusID  # type: ignore[import-untyped]
from py_ocsf_models.objects.finding_info import FindingInformation  # type: ignore[import-untyped]
from py_ocsf_models.objects.metadata import Metadata  # type: ignore[import-untyped]
from py_ocsf_models.objects.product import Product  # type: ignore[import-untyped]
from py_ocsf_models.objects.resource_details import ResourceDetails  # type: ignore[import-untyped]

from guardian_reporting.report.model import ControlRow, FindingRow, Report

SEVERITY = {
    "critical": SeverityID.Critical,
    "high": SeverityID.High,
    "medium": SeverityID.Medium,
    "low": SeverityID.Low,
    "informational": SeverityID.Informational,
    "info": SeverityID.Informational,
}
# Guardian's statuses as OCSF compliance statuses: ERROR and EVIDENCE_REQUIRED could not be shown
# to pass, which OCSF calls Warning ("did not yield a result due to missing information").
COMPLIANCE_STATUS = {
    "PASS": ComplianceStatusID.Pass,
    "FAIL": ComplianceStatusID.Fail,
    "ERROR": ComplianceStatusID.Warning,
    "EVIDENCE_REQUIRED": ComplianceStatusID.Warning,
    "ACCEPTED": ComplianceStatusID.Fail,
    "NOT_APPLICABLE": ComplianceStatusID.Other,
}
FINDING_STATUS = {
    "FAIL": StatusID.New,
    "ERROR": StatusID.New,
    "EVIDENCE_REQUIRED": StatusID.New,
    "ACCEPTED": StatusID.Suppressed,
    "PASS": StatusID.Resolved,
    "NOT_APPLICABLE": StatusID.Other,
}


def _uid(*parts: str) -> str:
    return "guardian-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _metadata(report: Report) -> Metadata:
    return Metadata(
        product=Product(name="Guardian", vendor_name="Guardian", version=report.generator.schema_version),
        correlation_uid=report.basis.scan_id,
        labels=[f"scope:{report.scope.id}", f"framework:{report.framework['id']}"],
        profiles=["cloud"],
    )


def _standard(report: Report) -> str:
    return f"{report.framework['name']} {report.framework['version']}"


def _worst_severity(control: ControlRow) -> SeverityID:
    ranks = [SEVERITY.get(k.severity.lower(), SeverityID.Unknown) for k in control.checks if k.status != "PASS"]
    return max(ranks, default=SeverityID.Informational)


def control_finding(report: Report, control: ControlRow) -> ComplianceFinding:
    at = report.window.at
    checks = [
        Check(
            uid=k.check_id,
            name=k.title,
            severity=k.severity,
            severity_id=SEVERITY.get(k.severity.lower(), SeverityID.Unknown),
            status=k.status,
            status_id=COMPLIANCE_STATUS.get(k.status, ComplianceStatusID.Unknown),
            version=str(report.versions.checks.get(k.check_id, "")) or None,
            standards=[_standard(report)],
        )
        for k in control.checks
    ]
    resources = [
        ResourceDetails(
            uid=r.resource_arn, name=r.resource_name, type=r.resource_type, region=r.region, cloud_partition="aws"
        )
        for r in control.failing_resources or []
    ]
    return ComplianceFinding(
        activity_id=ActivityID.Create,
        activity_name="Create",
        type_uid=ComplianceFindingTypeID.Create,
        type_name="Compliance Finding: Create",
        severity_id=_worst_severity(control),
        status=control.status,
        status_id=FINDING_STATUS.get(control.status, StatusID.Other),
        status_detail=control.reason or None,
        message=f"{control.id} {control.title}: {control.status}",
        metadata=_metadata(report),
        time=_ms(at),
        time_dt=at,
        compliance=Compliance(
            standards=[_standard(report)],
            requirements=list(control.requirements),
            control=control.id,
            desc=control.title,
            category=", ".join(control.categories) or None,
            checks=checks or None,
            status_id=COMPLIANCE_STATUS.get(control.status, ComplianceStatusID.Unknown),
        ),
        finding_info=FindingInformation(
            uid=_uid(report.basis.scan_id, report.scope.id, "control", control.id),
            title=f"{control.id}: {control.title}",
            desc=control.reason or None,
            types=["control"],
        ),
        resources=resources or None,
    )


def resource_finding(report: Report, finding: FindingRow, requirements: list[str]) -> ComplianceFinding:
    return ComplianceFinding(
        activity_id=ActivityID.Create,
        activity_name="Create",
        type_uid=ComplianceFindingTypeID.Create,
        type_name="Compliance Finding: Create",
        severity_id=SEVERITY.get(finding.severity.lower(), SeverityID.Unknown),
        severity=finding.severity,
        status=finding.status,
        status_id=FINDING_STATUS.get(finding.status, StatusID.Other),
        status_detail=finding.reason or None,
        message=f"{finding.check_id} on {finding.resource_arn}: {finding.status}",
        metadata=_metadata(report),
        time=_ms(finding.observed_at),
        time_dt=finding.observed_at,
        compliance=Compliance(
            standards=[_standard(report)],
            requirements=requirements or None,
            control=", ".join(finding.controls) or None,
            checks=[
                Check(
                    uid=finding.check_id,
                    status=finding.status,
                    status_id=COMPLIANCE_STATUS.get(finding.status, ComplianceStatusID.Unknown),
                    version=str(report.versions.checks.get(finding.check_id, "")) or None,
                )
            ],
            status_id=COMPLIANCE_STATUS.get(finding.status, ComplianceStatusID.Unknown),
        ),
        finding_info=FindingInformation(
            uid=_uid(report.basis.scan_id, "resource", finding.check_id, finding.resource_arn),
            title=f"{finding.check_id}: {finding.resource_name or finding.resource_arn}",
            desc=finding.reason or None,
            types=["resource"],
            first_seen_time_dt=finding.first_seen,
            last_seen_time_dt=finding.observed_at,
        ),
        resources=[
            ResourceDetails(
                uid=finding.resource_arn,
                name=finding.resource_name,
                type=finding.resource_type,
                region=finding.region,
                cloud_partition="aws",
                data={"account_id": finding.account_id},
            )
        ],
    )


def to_ocsf(report: Report) -> list[ComplianceFinding]:
    out = [control_finding(report, c) for c in report.controls]
    requirements_of = {c.id: c.requirements for c in report.controls}
    for f in report.findings or []:
        reqs = sorted({r for cid in f.controls for r in requirements_of.get(cid, [])})
        out.append(resource_finding(report, f, reqs))
    return out


def ocsf_json(report: Report) -> str:
    """The findings as a JSON array; every element re-validates as a ``ComplianceFinding``."""
    events: list[dict[str, Any]] = [e.model_dump(mode="json", exclude_none=True) for e in to_ocsf(report)]
    return json.dumps(events, sort_keys=True, separators=(",", ":")) + "\n"
