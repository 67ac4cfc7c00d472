-- API clients: resource servers that call introspection and the revocation
-- feed with HTTP Basic authentication. Only the SHA-256 of the secret is kept
-- (the secret is 256 random bits, see internal/auth's clients.go).
CREATE TABLE api_clients (
	id          TEXT    PRIMARY KEY,
	name        TEXT    NOT NULL,
	secret_hash BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	revoked_at  INTEGER
) STRICT;

-- The revocation feed: one row per revocation, in commit order (one writer,
-- AUTOINCREMENT never reuses an id). The triggers below write it in the same
-- transaction as the revocation itself, whichever statement makes it: a
-- deny-list insert or later expiry for a jti or sid, and a move of a user's
-- revocation epoch, credential version or disabled flag. exp and not_before
-- are Unix seconds; a user row carries the user's whole new state.
CREATE TABLE revocation_events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	kind       TEXT    NOT NULL CHECK (kind IN ('jti', 'sid', 'user')),
	subject    TEXT    NOT NULL,
	exp        INTEGER NOT NULL DEFAULT 0,
	not_before INTEGER NOT NULL DEFAULT 0,
	cv         INTEGER NOT NULL DEFAULT 0,
	disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created_at INTEGER NOT NULL
) STRICT;

-- Purge deletes old events by creation time.
CREATE INDEX revocation_events_created_at ON revocation_events (created_at);

-- created_at is Unix microseconds from SQLite's clock (the store has no
-- other inside a trigger); exp rounds the deny-list expiry up to the second.
CREATE TRIGGER deny_list_insert_revocation AFTER INSERT ON deny_list
WHEN substr(NEW.key, 1, 4) IN ('jti:', 'sid:')
BEGIN
	INSERT INTO revocation_events (kind, subject, exp, created_at)
	VALUES (substr(NEW.key, 1, 3), substr(NEW.key, 5), (NEW.expires_at + 999999) / 1000000,
		CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

CREATE TRIGGER deny_list_update_revocation AFTER UPDATE OF expires_at ON deny_list
WHEN substr(NEW.key, 1, 4) IN ('jti:', 'sid:') AND NEW.expires_at IS NOT OLD.expires_at
BEGIN
	INSERT INTO revocation_events (kind, subject, exp, created_at)
	VALUES (substr(NEW.key, 1, 3), substr(NEW.key, 5), (NEW.expires_at + 999999) / 1000000,
		CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

-- not_before is the epoch in whole seconds, rounded down as the server's own
-- check (iat < epoch, both in seconds) rounds it.
CREATE TRIGGER users_revocation AFTER UPDATE OF tokens_valid_after, credential_version, disabled ON users
WHEN NEW.tokens_valid_after IS NOT OLD.tokens_valid_after
	OR NEW.credential_version IS NOT OLD.credential_version
	OR NEW.disabled IS NOT OLD.disabled
BEGIN
	INSERT INTO revocation_events (kind, subject, not_before, cv, disabled, created_at)
	VALUES ('user', NEW.id, COALESCE(NEW.tokens_valid_after, 0) / 1000000, NEW.credential_version, NEW.disabled,
		CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
