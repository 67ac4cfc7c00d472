-- Cookie sessions, refresh-token families and the access-token deny list.
-- Times are INTEGER Unix microseconds UTC; NULL is the zero time.

CREATE TABLE sessions (
	id           TEXT    PRIMARY KEY,
	user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash   BLOB    NOT NULL UNIQUE,
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER,
	expires_at   INTEGER NOT NULL,
	ip           TEXT    NOT NULL DEFAULT '',
	user_agent   TEXT    NOT NULL DEFAULT ''
) STRICT;

-- ListSessions, RevokeUserSessions and DeleteSession look sessions up by user.
CREATE INDEX sessions_user_id ON sessions (user_id, expires_at);
-- DeleteExpiredSessions and Purge.
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE refresh_families (
	id           TEXT    PRIMARY KEY,
	user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER,
	expires_at   INTEGER NOT NULL,
	revoked_at   INTEGER,
	ip           TEXT    NOT NULL DEFAULT '',
	user_agent   TEXT    NOT NULL DEFAULT ''
) STRICT;

-- ListSessions, RevokeUserSessions and RevokeFamily look families up by user.
CREATE INDEX refresh_families_user_id ON refresh_families (user_id, expires_at);
-- Purge deletes expired families.
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);
-- Purge deletes revoked families.
CREATE INDEX refresh_families_revoked_at ON refresh_families (revoked_at) WHERE revoked_at IS NOT NULL;

-- One row per refresh token ever issued, by SHA-256 of the token. A used
-- token is kept until its family dies, for reuse detection.
CREATE TABLE refresh_tokens (
	hash             BLOB    PRIMARY KEY,
	family_id        TEXT    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
	parent_hash      BLOB,
	created_at       INTEGER NOT NULL,
	used_at          INTEGER,
	successor_hash   BLOB,
	sealed_successor BLOB
) STRICT, WITHOUT ROWID;

-- The ON DELETE CASCADE from refresh_families.
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- Revoked access-token identifiers ("jti:..." or "sid:...") until the
-- tokens expire.
CREATE TABLE deny_list (
	key        TEXT    PRIMARY KEY,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- PurgeDenied and Purge.
CREATE INDEX deny_list_expires_at ON deny_list (expires_at);
