-- Accounts and what hangs off them before anyone is signed in.
-- Times are timestamptz (microseconds, compared as instants); NULL is the
-- zero time.

CREATE TABLE users (
	id                 text        PRIMARY KEY,
	email              text        NOT NULL UNIQUE,
	password_hash      text        NOT NULL DEFAULT '',
	email_verified     boolean     NOT NULL DEFAULT false,
	disabled           boolean     NOT NULL DEFAULT false,
	created_at         timestamptz NOT NULL,
	tokens_valid_after timestamptz
);

-- Emailed single-use tokens, by SHA-256 of the token.
CREATE TABLE one_time_tokens (
	hash       bytea       PRIMARY KEY,
	kind       text        NOT NULL,
	user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz
);

-- CreateOneTimeToken supersedes the unused tokens of one user and kind.
CREATE INDEX one_time_tokens_user_kind_unused ON one_time_tokens (user_id, kind) WHERE used_at IS NULL;
-- Purge deletes expired tokens.
CREATE INDEX one_time_tokens_expires_at ON one_time_tokens (expires_at);

-- Failed logins per normalised email, whether or not the account exists.
CREATE TABLE login_failures (
	key          text        PRIMARY KEY,
	failures     integer     NOT NULL,
	locked_until timestamptz,
	updated_at   timestamptz NOT NULL
);

-- Purge deletes rows whose lock has expired.
CREATE INDEX login_failures_locked_until ON login_failures (locked_until) WHERE locked_until IS NOT NULL;
