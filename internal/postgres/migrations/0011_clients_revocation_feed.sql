-- API clients: resource servers that call introspection and the revocation
-- feed with HTTP Basic authentication. Only the SHA-256 of the secret is kept
-- (the secret is 256 random bits, see internal/auth's clients.go).
CREATE TABLE api_clients (
	id          text        PRIMARY KEY,
	name        text        NOT NULL,
	secret_hash bytea       NOT NULL,
	created_at  timestamptz NOT NULL,
	revoked_at  timestamptz
);

-- The revocation feed: one row per revocation. The triggers below write it
-- in the same transaction as the revocation itself, whichever statement
-- makes it: a deny-list insert or later expiry for a jti or sid, and a move
-- of a user's revocation epoch, credential version or disabled flag. exp and
-- not_before are Unix seconds; a user row carries the user's whole new state.
CREATE TABLE revocation_events (
	id         bigint      PRIMARY KEY,
	kind       text        NOT NULL CHECK (kind IN ('jti', 'sid', 'user')),
	subject    text        NOT NULL,
	exp        bigint      NOT NULL DEFAULT 0,
	not_before bigint      NOT NULL DEFAULT 0,
	cv         bigint      NOT NULL DEFAULT 0,
	disabled   boolean     NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE revocation_events_id_seq OWNED BY revocation_events.id;

-- Purge deletes old events by creation time.
CREATE INDEX revocation_events_created_at ON revocation_events (created_at);

-- revocation_event appends one event. Ids must become visible in increasing
-- order, or a subscriber that has seen id 11 would never see an id 10
-- committed after it: the transaction-scoped advisory lock (keyed on the
-- schema, like the migration lock) makes every transaction that writes an
-- event take its id and commit before the next one takes its own. The
-- notification is delivered at commit, to every instance's listener.
CREATE FUNCTION revocation_event(e_kind text, e_subject text, e_exp bigint, e_not_before bigint, e_cv bigint, e_disabled boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(hashtextextended('bulwark.revocations.' || coalesce(current_schema(), ''), 0));
	INSERT INTO revocation_events (id, kind, subject, exp, not_before, cv, disabled)
	VALUES (nextval('revocation_events_id_seq'), e_kind, e_subject, e_exp, e_not_before, e_cv, e_disabled);
	PERFORM pg_notify('bulwark_revocations', coalesce(current_schema(), ''));
END
$$;

CREATE FUNCTION deny_list_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.expires_at = OLD.expires_at THEN
		RETURN NULL;
	END IF;
	IF left(NEW.key, 4) IN ('jti:', 'sid:') THEN
		PERFORM revocation_event(left(NEW.key, 3), substr(NEW.key, 5),
			ceil(extract(epoch FROM NEW.expires_at))::bigint, 0, 0, false);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER deny_list_revocation AFTER INSERT OR UPDATE OF expires_at ON deny_list
FOR EACH ROW EXECUTE FUNCTION deny_list_revocation();

-- not_before is the epoch in whole seconds, rounded down as the server's own
-- check (iat < epoch, both in seconds) rounds it.
CREATE FUNCTION users_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM revocation_event('user', NEW.id,
		0, coalesce(floor(extract(epoch FROM NEW.tokens_valid_after))::bigint, 0), NEW.credential_version, NEW.disabled);
	RETURN NULL;
END
$$;

CREATE TRIGGER users_revocation AFTER UPDATE OF tokens_valid_after, credential_version, disabled ON users
FOR EACH ROW WHEN (NEW.tokens_valid_after IS DISTINCT FROM OLD.tokens_valid_after
	OR NEW.credential_version IS DISTINCT FROM OLD.credential_version
	OR NEW.disabled IS DISTINCT FROM OLD.disabled)
EXECUTE FUNCTION users_revocation();
