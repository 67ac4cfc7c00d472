-- Users with the admin role: they may use /v1/admin/*. A table of its own,
-- so that no query that reads a user for authentication changes.
CREATE TABLE admins (
	user_id    TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	granted_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
