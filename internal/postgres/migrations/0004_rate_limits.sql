-- Rate-limit windows shared by every instance when no Redis is configured:
-- one sliding-window counter (internal/memory.Step) per key and period.
CREATE TABLE rate_limits (
    key        text        NOT NULL,
    per_ns     bigint      NOT NULL,
    win        bigint      NOT NULL,
    prev       bigint      NOT NULL,
    curr       bigint      NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (key, per_ns)
);
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);
