-- A targeted scan (remediation's verification) lists the ARNs it re-collected; NULL for a full scan.
-- Its finalisation closes, marks stale and reports gaps for nothing outside those targets.
ALTER TABLE scans ADD COLUMN targets text[];
