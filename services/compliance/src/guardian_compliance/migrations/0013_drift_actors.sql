-- Drift actors (issue 5): CloudTrail management write events as the collector read them, kept apart
-- from the inventory (an event log is not a resource: it has no configuration to drift, and it is
-- never part of a population). Compliance never calls AWS; these arrive as the collector's
-- AWS::CloudTrail::ManagementEvents snapshots, one per region and scan.

-- Each event once (LookupEvents windows overlap from scan to scan). `resources` holds the names
-- and ARNs CloudTrail lists for the event; a drift change is matched by its resource's ARN or name.
CREATE TABLE cloudtrail_events (
    event_id     text PRIMARY KEY,
    account_id   text NOT NULL,
    region       text NOT NULL,
    event_name   text NOT NULL,
    event_time   timestamptz NOT NULL,
    event_source text,
    actor_arn    text,
    resources    text[] NOT NULL,
    scan_id      text NOT NULL
);
CREATE INDEX cloudtrail_events_account_time ON cloudtrail_events (account_id, event_time);
CREATE INDEX cloudtrail_events_resources ON cloudtrail_events USING gin (resources);

-- Each read of a region's event history: the window it covered and whether CloudTrail answered.
-- A change whose window met an unreadable read and no event has an unknown actor, said as such.
CREATE TABLE cloudtrail_reads (
    scan_id      text NOT NULL,
    account_id   text NOT NULL,
    region       text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    readable     boolean NOT NULL,
    truncated    boolean NOT NULL,
    error        text,
    CONSTRAINT cloudtrail_reads_pkey PRIMARY KEY (scan_id, region)
);
CREATE INDEX cloudtrail_reads_account_window ON cloudtrail_reads (account_id, window_end);
