-- Rate limits keep a log of accepted events (internal/memory.Log: spans as
-- start, count pairs, in nanoseconds) instead of two fixed-window counters,
-- so that no more than N events are accepted in any interval of length Per.
-- The old counters cannot be turned into a log; they are ephemeral, so the
-- table starts empty (lockouts live in login_failures and are kept).
DROP TABLE rate_limits;
CREATE TABLE rate_limits (
    key        text        NOT NULL,
    per_ns     bigint      NOT NULL,
    log        bigint[]    NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (key, per_ns)
);
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);
