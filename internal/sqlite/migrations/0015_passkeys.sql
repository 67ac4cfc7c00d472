-- WebAuthn passkeys (docs/api.md, "Passkeys").
-- Times are INTEGER Unix microseconds UTC; NULL is the zero time.

-- The WebAuthn user handle of each user who made a passkey: 64 random
-- bytes, never the email or any other personal data (WebAuthn L3 §14.6.1,
-- "user handle contents"). Authenticators store it with discoverable
-- credentials and give it back in every assertion.
CREATE TABLE webauthn_users (
	user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	handle  BLOB NOT NULL UNIQUE CHECK (length(handle) BETWEEN 16 AND 64)
) STRICT, WITHOUT ROWID;

-- Registered public-key credentials. users.passkeys counts them per user
-- (kept in the same transaction as every insert and delete).
CREATE TABLE webauthn_credentials (
	id               TEXT    PRIMARY KEY,
	user_id          TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	-- WebAuthn L3 §7.1 step 28: at most 1023 bytes.
	credential_id    BLOB    NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1023),
	public_key       BLOB    NOT NULL,
	attestation_type TEXT    NOT NULL DEFAULT '',
	aaguid           BLOB,
	sign_count       INTEGER NOT NULL DEFAULT 0 CHECK (sign_count BETWEEN 0 AND 4294967295),
	backup_eligible  INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
	backup_state     INTEGER NOT NULL CHECK (backup_state IN (0, 1)),
	user_verified    INTEGER NOT NULL CHECK (user_verified IN (0, 1)),
	transports       TEXT    NOT NULL DEFAULT '',
	name             TEXT    NOT NULL DEFAULT '',
	created_at       INTEGER NOT NULL,
	last_used_at     INTEGER
) STRICT;

-- Passkeys, excludeCredentials and allowCredentials list a user's passkeys.
CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id, created_at);

-- Issued challenges not yet answered, by SHA-256 of the challenge.
CREATE TABLE webauthn_ceremonies (
	challenge_hash BLOB    PRIMARY KEY,
	kind           TEXT    NOT NULL CHECK (kind IN ('create', 'get')),
	user_id        TEXT    REFERENCES users (id) ON DELETE CASCADE,
	data           BLOB    NOT NULL,
	mfa_token_hash BLOB,
	expires_at     INTEGER NOT NULL,
	failures       INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- Purge deletes expired ceremonies.
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
