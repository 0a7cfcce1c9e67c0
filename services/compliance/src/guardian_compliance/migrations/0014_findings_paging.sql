-- Findings lists paged in SQL (issue 7). Only an index: no data or behaviour changes.

-- The default order of /api/v1/findings (failures first, then by severity, check and resource) over
-- open findings. A page of it reads its 50 rows from this index instead of sorting every open finding;
-- the expressions are exactly those of guardian_compliance.findings.queries (a planner matches them
-- literally), and the key ends on the primary key, so the order is total and paging is stable.
CREATE INDEX findings_open_order ON findings (
    (CASE status WHEN 'FAIL' THEN 0 WHEN 'ERROR' THEN 1 ELSE 2 END),
    (CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END),
    check_id,
    resource_arn
) WHERE state <> 'closed';
