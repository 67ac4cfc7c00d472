-- Cookie sessions, refresh-token families and the access-token deny list.
-- Times are timestamptz; NULL is the zero time.

CREATE TABLE sessions (
	id           text        PRIMARY KEY,
	user_id      text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash   bytea       NOT NULL UNIQUE,
	created_at   timestamptz NOT NULL,
	last_seen_at timestamptz,
	expires_at   timestamptz NOT NULL,
	ip           text        NOT NULL DEFAULT '',
	user_agent   text        NOT NULL DEFAULT ''
);

-- ListSessions, RevokeUserSessions and DeleteSession look sessions up by user.
CREATE INDEX sessions_user_id ON sessions (user_id, expires_at);
-- DeleteExpiredSessions and Purge.
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE refresh_families (
	id           text        PRIMARY KEY,
	user_id      text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   timestamptz NOT NULL,
	last_seen_at timestamptz,
	expires_at   timestamptz NOT NULL,
	revoked_at   timestamptz,
	ip           text        NOT NULL DEFAULT '',
	user_agent   text        NOT NULL DEFAULT ''
);

-- ListSessions, RevokeUserSessions and RevokeFamily look families up by user.
CREATE INDEX refresh_families_user_id ON refresh_families (user_id, expires_at);
-- Purge deletes expired families.
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);
-- Purge deletes revoked families.
CREATE INDEX refresh_families_revoked_at ON refresh_families (revoked_at) WHERE revoked_at IS NOT NULL;

-- One row per refresh token ever issued, by SHA-256 of the token. A used
-- token is kept until its family dies, for reuse detection.
CREATE TABLE refresh_tokens (
	hash             bytea       PRIMARY KEY,
	family_id        text        NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
	parent_hash      bytea,
	created_at       timestamptz NOT NULL,
	used_at          timestamptz,
	successor_hash   bytea,
	sealed_successor bytea
);

-- The ON DELETE CASCADE from refresh_families.
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- Revoked access-token identifiers ("jti:..." or "sid:...") until the
-- tokens expire.
CREATE TABLE deny_list (
	key        text        PRIMARY KEY,
	expires_at timestamptz NOT NULL
);

-- PurgeDenied and Purge.
CREATE INDEX deny_list_expires_at ON deny_list (expires_at);
