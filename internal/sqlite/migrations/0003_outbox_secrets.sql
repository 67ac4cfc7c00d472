-- The mail outbox and the server-wide secrets.
-- Times are INTEGER Unix microseconds UTC; NULL is the zero time.

-- AUTOINCREMENT so that the id of a sent (deleted) message is never reused.
CREATE TABLE mail_outbox (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	recipient       TEXT    NOT NULL,
	template        TEXT    NOT NULL,
	data            TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
	created_at      INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL
) STRICT;

-- PendingMail: due messages, oldest first.
CREATE INDEX mail_outbox_next_attempt_at ON mail_outbox (next_attempt_at, created_at);

CREATE TABLE server_secrets (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT, WITHOUT ROWID;
