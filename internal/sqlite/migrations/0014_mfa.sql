-- Second factors: TOTP, recovery codes, pending logins, and how each
-- session and refresh family was established.

-- A user's second factors, read with the user on every login and every
-- authenticated request: totp_enabled mirrors a confirmed mfa_totp row,
-- passkeys counts webauthn credentials; both are kept in the same
-- transaction as the rows they count.
ALTER TABLE users ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN passkeys INTEGER NOT NULL DEFAULT 0;

-- The methods a session or family was established with, separated by
-- spaces ("password totp"). Every existing one was a password login.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'password';
ALTER TABLE refresh_families ADD COLUMN amr TEXT NOT NULL DEFAULT 'password';

-- One TOTP authenticator per user. secret is sealed under the
-- key-encryption key, bound to the user (never base32 in the clear).
-- confirmed_at is NULL while the enrolment waits for its first code;
-- last_step is the last accepted RFC 6238 time step (replay guard).
CREATE TABLE mfa_totp (
	user_id      TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret       BLOB    NOT NULL,
	created_at   INTEGER NOT NULL,
	confirmed_at INTEGER,
	last_step    INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- Recovery codes: a short keyed tag to find the candidate, and the
-- password hash of the code. used_at is set once.
CREATE TABLE mfa_recovery_codes (
	user_id TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	idx     INTEGER NOT NULL,
	tag     BLOB    NOT NULL,
	hash    TEXT    NOT NULL,
	used_at INTEGER,
	PRIMARY KEY (user_id, idx)
) STRICT, WITHOUT ROWID;

-- Pending logins between a correct password and the second factor, by
-- SHA-256 of the mfa_token.
CREATE TABLE mfa_tokens (
	hash               BLOB    PRIMARY KEY,
	user_id            TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	mode               TEXT    NOT NULL CHECK (mode IN ('cookie', 'token')),
	amr                TEXT    NOT NULL,
	credential_version INTEGER NOT NULL,
	trusted            INTEGER NOT NULL DEFAULT 0,
	created_at         INTEGER NOT NULL,
	expires_at         INTEGER NOT NULL,
	failures           INTEGER NOT NULL DEFAULT 0,
	used_at            INTEGER
) STRICT, WITHOUT ROWID;

-- Purge deletes expired pending logins.
CREATE INDEX mfa_tokens_expires_at ON mfa_tokens (expires_at);
