-- Monitoring-history queries under 100 ms (issue 5): each item's status changes, kept apart.
--
-- history_statuses holds every control's and requirement's status at every finalised scan (a
-- year of daily scans: ~180 rows a day per scope and framework). A passing share or a failure run
-- needs only the points where an item's status changed; finding them meant reading and ordering
-- every point of the period. This table holds those points, written at finalisation by the
-- history recorder (guardian_compliance.history.recorder.record_status_changes) and filled here
-- from the history already recorded, so old periods answer as before. Append-only like the rest:
-- rows are only ever inserted.
--
-- A row is a history_statuses row whose status differs from the item's previous one in the order
-- (at, scan_id). A scan finalised with an earlier `at` than one already recorded (clocks do not go
-- back, but nothing else forbids it) also adds the item's next point when that point now follows a
-- different status; an earlier row of that point is never removed. The table is thus a superset of
-- the change points that holds every one of them, and readers drop a row equal to the row before
-- it: the result is exactly the change points of history_statuses.
CREATE TABLE history_status_changes (
    scope_id     text NOT NULL,
    framework_id text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('control', 'requirement')),
    item_id      text NOT NULL,
    scan_id      text NOT NULL,
    at           timestamptz NOT NULL,
    status       text NOT NULL,
    CONSTRAINT history_status_changes_pkey PRIMARY KEY (scope_id, framework_id, kind, item_id, scan_id)
);
-- Each item's changes in time order: a period's changes, and the last one before it, by range scans.
CREATE INDEX history_status_changes_item_at ON history_status_changes (scope_id, framework_id, kind, item_id, at);

INSERT INTO history_status_changes (scope_id, framework_id, kind, item_id, scan_id, at, status)
SELECT scope_id, framework_id, kind, item_id, scan_id, at, status
FROM (
    SELECT s.*, lag(s.status) OVER (
        PARTITION BY s.scope_id, s.framework_id, s.kind, s.item_id ORDER BY s.at, s.scan_id
    ) AS before
    FROM history_statuses s
) points
WHERE before IS DISTINCT FROM status;
