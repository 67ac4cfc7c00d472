-- Accounts and what hangs off them before anyone is signed in.
-- Times are INTEGER Unix microseconds UTC; NULL is the zero time.

CREATE TABLE users (
	id                 TEXT    PRIMARY KEY,
	email              TEXT    NOT NULL UNIQUE,
	password_hash      TEXT    NOT NULL DEFAULT '',
	email_verified     INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
	disabled           INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created_at         INTEGER NOT NULL,
	tokens_valid_after INTEGER
) STRICT;

-- Emailed single-use tokens, by SHA-256 of the token.
CREATE TABLE one_time_tokens (
	hash       BLOB    PRIMARY KEY,
	kind       TEXT    NOT NULL,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
) STRICT, WITHOUT ROWID;

-- CreateOneTimeToken supersedes the unused tokens of one user and kind.
CREATE INDEX one_time_tokens_user_kind_unused ON one_time_tokens (user_id, kind) WHERE used_at IS NULL;
-- Purge deletes expired tokens.
CREATE INDEX one_time_tokens_expires_at ON one_time_tokens (expires_at);

-- Failed logins per normalised email, whether or not the account exists.
CREATE TABLE login_failures (
	key          TEXT    PRIMARY KEY,
	failures     INTEGER NOT NULL,
	locked_until INTEGER,
	updated_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Purge deletes rows whose lock has expired.
CREATE INDEX login_failures_locked_until ON login_failures (locked_until) WHERE locked_until IS NOT NULL;
