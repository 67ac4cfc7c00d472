-- Managed access-token signing keys (internal/token's Manager). Times are
-- timestamptz; NULL is the zero time.
--
-- private_key is sealed under the key-encryption key and erased when the
-- key is retired. At most one key is next, one current and one previous:
-- the partial unique index makes a second current impossible, whatever two
-- instances rotating at once do.
CREATE TABLE signing_keys (
	kid          text        PRIMARY KEY,
	alg          text        NOT NULL CHECK (alg IN ('EdDSA', 'ES256')),
	state        text        NOT NULL CHECK (state IN ('next', 'current', 'previous', 'retired')),
	public_key   bytea       NOT NULL,
	private_key  bytea,
	created_at   timestamptz NOT NULL,
	activated_at timestamptz,
	retired_at   timestamptz,
	CHECK ((state = 'retired') = (private_key IS NULL))
);

CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state <> 'retired';
