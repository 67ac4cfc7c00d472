-- Managed access-token signing keys (internal/token's Manager). Times are
-- INTEGER Unix microseconds UTC; NULL is the zero time.
--
-- private_key is sealed under the key-encryption key and erased when the
-- key is retired. At most one key is next, one current and one previous:
-- the partial unique index makes a second current impossible, whatever two
-- instances rotating at once do.
CREATE TABLE signing_keys (
	kid          TEXT    PRIMARY KEY,
	alg          TEXT    NOT NULL CHECK (alg IN ('EdDSA', 'ES256')),
	state        TEXT    NOT NULL CHECK (state IN ('next', 'current', 'previous', 'retired')),
	public_key   BLOB    NOT NULL,
	private_key  BLOB,
	created_at   INTEGER NOT NULL,
	activated_at INTEGER,
	retired_at   INTEGER,
	CHECK ((state = 'retired') = (private_key IS NULL))
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state <> 'retired';
