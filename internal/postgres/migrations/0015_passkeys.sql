-- WebAuthn passkeys (docs/api.md, "Passkeys").
-- Times are timestamptz; NULL is the zero time.

-- The WebAuthn user handle of each user who made a passkey: 64 random
-- bytes, never the email or any other personal data (WebAuthn L3 §14.6.1,
-- "user handle contents"). Authenticators store it with discoverable
-- credentials and give it back in every assertion.
CREATE TABLE webauthn_users (
	user_id text  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	handle  bytea NOT NULL UNIQUE CHECK (length(handle) BETWEEN 16 AND 64)
);

-- Registered public-key credentials. users.passkeys counts them per user
-- (kept in the same transaction as every insert and delete).
CREATE TABLE webauthn_credentials (
	id               text        PRIMARY KEY,
	user_id          text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	-- WebAuthn L3 §7.1 step 28: at most 1023 bytes.
	credential_id    bytea       NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1023),
	public_key       bytea       NOT NULL,
	attestation_type text        NOT NULL DEFAULT '',
	aaguid           bytea,
	sign_count       bigint      NOT NULL DEFAULT 0 CHECK (sign_count BETWEEN 0 AND 4294967295),
	backup_eligible  boolean     NOT NULL,
	backup_state     boolean     NOT NULL,
	user_verified    boolean     NOT NULL,
	transports       text        NOT NULL DEFAULT '',
	name             text        NOT NULL DEFAULT '',
	created_at       timestamptz NOT NULL,
	last_used_at     timestamptz
);

-- Passkeys, excludeCredentials and allowCredentials list a user's passkeys.
CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id, created_at);

-- Issued challenges not yet answered, by SHA-256 of the challenge.
CREATE TABLE webauthn_ceremonies (
	challenge_hash bytea       PRIMARY KEY,
	kind           text        NOT NULL CHECK (kind IN ('create', 'get')),
	user_id        text        REFERENCES users (id) ON DELETE CASCADE,
	data           bytea       NOT NULL,
	mfa_token_hash bytea,
	expires_at     timestamptz NOT NULL,
	failures       integer     NOT NULL DEFAULT 0
);

-- Purge deletes expired ceremonies.
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
