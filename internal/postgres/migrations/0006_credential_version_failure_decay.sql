-- credential_version counts the password changes and resets of a user: a
-- session, refresh family or device token records the version it was
-- created under and stops counting once it moves.
ALTER TABLE users ADD COLUMN credential_version bigint NOT NULL DEFAULT 1;

-- A login-failure row counts only until expires_at (the end of its window or
-- of its lock, whichever is later); Purge deletes it after that. Rows from
-- before this column get a window of the default lockout period (15 min).
ALTER TABLE login_failures ADD COLUMN expires_at timestamptz;
UPDATE login_failures SET expires_at = GREATEST(locked_until, updated_at + interval '15 minutes');
ALTER TABLE login_failures ALTER COLUMN expires_at SET NOT NULL;
DROP INDEX login_failures_locked_until;
CREATE INDEX login_failures_expires_at ON login_failures (expires_at);
