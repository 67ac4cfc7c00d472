-- The mail outbox and the server-wide secrets.
-- Times are timestamptz; NULL is the zero time.

-- An identity column never hands out a number twice, so the id of a sent
-- (deleted) message is never reused.
CREATE TABLE mail_outbox (
	id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	recipient       text        NOT NULL,
	template        text        NOT NULL,
	data            jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
	created_at      timestamptz NOT NULL,
	attempts        integer     NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL
);

-- PendingMail: due messages, oldest first.
CREATE INDEX mail_outbox_next_attempt_at ON mail_outbox (next_attempt_at, created_at);

CREATE TABLE server_secrets (
	name  text  PRIMARY KEY,
	value bytea NOT NULL
);
