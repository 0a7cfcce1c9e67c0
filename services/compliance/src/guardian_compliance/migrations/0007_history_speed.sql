-- Monitoring-history queries, faster (issue 5). Only indexes: no data or behaviour changes.

-- Complete collections per unit in time order. Coverage, deviations and control timelines merge
-- each unit's collection windows with a window function over exactly these rows, populations take
-- each unit's newest complete collection before a date, and coverage counts them: all read this
-- index in its order instead of filtering and sorting every unit's history (complete or not).
CREATE INDEX history_units_complete ON history_units (account_id, region, service, at) WHERE complete;

-- Failure intervals by check and the end of their failure (an open one never ends). An interval
-- overlaps a period when it was opened before the period's end and ends after its start; for a
-- recent period the second condition is the selective one, and the queries that ask it
-- (deviations, finding history) write it as COALESCE(closed_at, 'infinity') > start to use this.
CREATE INDEX finding_intervals_check_until ON finding_intervals (check_id, COALESCE(closed_at, 'infinity'));
