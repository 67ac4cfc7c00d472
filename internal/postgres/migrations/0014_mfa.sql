-- Second factors: TOTP, recovery codes, pending logins, and how each
-- session and refresh family was established.

-- A user's second factors, read with the user on every login and every
-- authenticated request: totp_enabled mirrors a confirmed mfa_totp row,
-- passkeys counts webauthn credentials; both are kept in the same
-- transaction as the rows they count.
ALTER TABLE users ADD COLUMN totp_enabled boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN passkeys integer NOT NULL DEFAULT 0;

-- The methods a session or family was established with, separated by
-- spaces ("password totp"). Every existing one was a password login.
ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT 'password';
ALTER TABLE refresh_families ADD COLUMN amr text NOT NULL DEFAULT 'password';

-- One TOTP authenticator per user. secret is sealed under the
-- key-encryption key, bound to the user (never base32 in the clear).
-- confirmed_at is NULL while the enrolment waits for its first code;
-- last_step is the last accepted RFC 6238 time step (replay guard).
CREATE TABLE mfa_totp (
	user_id      text        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret       bytea       NOT NULL,
	created_at   timestamptz NOT NULL,
	confirmed_at timestamptz,
	last_step    bigint      NOT NULL DEFAULT 0
);

-- Recovery codes: a short keyed tag to find the candidate, and the
-- password hash of the code. used_at is set once.
CREATE TABLE mfa_recovery_codes (
	user_id text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	idx     integer     NOT NULL,
	tag     bytea       NOT NULL,
	hash    text        NOT NULL,
	used_at timestamptz,
	PRIMARY KEY (user_id, idx)
);

-- Pending logins between a correct password and the second factor, by
-- SHA-256 of the mfa_token.
CREATE TABLE mfa_tokens (
	hash               bytea       PRIMARY KEY,
	user_id            text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	mode               text        NOT NULL CHECK (mode IN ('cookie', 'token')),
	amr                text        NOT NULL,
	credential_version bigint      NOT NULL,
	trusted            boolean     NOT NULL DEFAULT false,
	created_at         timestamptz NOT NULL,
	expires_at         timestamptz NOT NULL,
	failures           integer     NOT NULL DEFAULT 0,
	used_at            timestamptz
);

-- Purge deletes expired pending logins.
CREATE INDEX mfa_tokens_expires_at ON mfa_tokens (expires_at);
