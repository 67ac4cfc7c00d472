-- How many times a rotated refresh token was replayed inside the grace
-- window: CountRefreshReplay increments it with a compare against the bound.
ALTER TABLE refresh_tokens ADD COLUMN replays integer NOT NULL DEFAULT 0;
