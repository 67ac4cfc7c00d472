-- A verification token carries the encoded hash of the password chosen by the
-- signup that produced it: verifying the address puts that password in force,
-- never one chosen by an earlier (or later) signup of the same address.
-- NULL on tokens issued before this migration: those verify nothing.
ALTER TABLE one_time_tokens ADD COLUMN password_hash text;
