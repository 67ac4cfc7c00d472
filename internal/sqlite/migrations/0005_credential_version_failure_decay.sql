-- credential_version counts the password changes and resets of a user: a
-- session, refresh family or device token records the version it was
-- created under and stops counting once it moves.
ALTER TABLE users ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 1;

-- A login-failure row counts only until expires_at (the end of its window or
-- of its lock, whichever is later); Purge deletes it after that. Rows from
-- before this column get a window of the default lockout period (15 min).
ALTER TABLE login_failures ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE login_failures SET expires_at = MAX(COALESCE(locked_until, 0), updated_at + 900000000);
DROP INDEX login_failures_locked_until;
CREATE INDEX login_failures_expires_at ON login_failures (expires_at);
