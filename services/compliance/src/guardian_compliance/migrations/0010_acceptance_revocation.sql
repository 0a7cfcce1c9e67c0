-- Early revocation of an approved risk acceptance, by an admin with a reason, effective at once.
-- An acceptance revoked while in force keeps state 'approved' (its covered interval, starts_at to
-- revoked_at, stays in period data); one revoked before it started never applied and becomes
-- 'revoked', so nothing reading approved acceptances can count it.
ALTER TABLE acceptances ADD COLUMN revoked_at timestamptz;
ALTER TABLE acceptances ADD COLUMN revoked_by text;
ALTER TABLE acceptances ADD COLUMN revocation_reason text;
ALTER TABLE acceptances DROP CONSTRAINT acceptances_state_check;
ALTER TABLE acceptances ADD CONSTRAINT acceptances_state_check
    CHECK (state IN ('pending', 'approved', 'rejected', 'revoked'));
ALTER TABLE acceptances ADD CONSTRAINT acceptances_revocation CHECK (
    (revoked_at IS NULL AND revoked_by IS NULL AND revocation_reason IS NULL)
    OR (revoked_at IS NOT NULL AND revoked_by IS NOT NULL AND length(btrim(revocation_reason)) > 0
        AND state IN ('approved', 'revoked')));
