-- A resource deleted after its plan was made: execution reports it as gone ("resource no longer
-- exists") instead of failed; verification records it with the status GONE, never as PASS.
ALTER TABLE results DROP CONSTRAINT results_outcome_check;
ALTER TABLE results ADD CONSTRAINT results_outcome_check
    CHECK (outcome IN ('fixed', 'already_compliant', 'skipped_changed', 'manual', 'unreadable', 'failed', 'gone'));
