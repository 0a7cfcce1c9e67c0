-- A newer bundled library can also drop a check, a criterion mapping or an evidence requirement from
-- a control. On a control the company never edited the removal is applied as a new version; on one it
-- edited, the company's version wins and the update note lists what the library removed, for an editor
-- to accept (removing it too) or dismiss. Notes written before this migration removed nothing.
ALTER TABLE library_updates
    ADD COLUMN removals jsonb NOT NULL DEFAULT '{"checks": [], "requirements": [], "evidence": []}'::jsonb;
