package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/memory"
)

// Limiter keeps rate-limit windows in PostgreSQL, so that several instances
// without Redis still share one budget per key. Each decision is one
// transaction that locks the key's row; the time is the database's clock, so
// instances with drifting clocks agree. Redis does the same in one round trip
// and is preferred under load; this is for deployments that run PostgreSQL
// only. Expired rows are removed by Purge.
type Limiter struct {
	db  *DB
	now func() time.Time // nil: the database's clock
}

// Limiter returns the database's limiter.
func (db *DB) Limiter() *Limiter { return &Limiter{db: db} }

// LimiterWithClock returns a limiter that takes the time from now instead of
// the database, for tests that move a clock.
func (db *DB) LimiterWithClock(now func() time.Time) *Limiter { return &Limiter{db: db, now: now} }

var _ auth.Limiter = (*Limiter)(nil)

// Allow records one event for key under limit. Errors wrap
// auth.ErrUnavailable when the database does not answer; callers fail closed.
func (l *Limiter) Allow(ctx context.Context, key string, limit auth.Limit) (ok bool, retryAfter time.Duration, err error) {
	if limit.N <= 0 || uint64(limit.N) > math.MaxUint32 || limit.Per <= 0 {
		return false, 0, fmt.Errorf("postgres limiter: invalid limit %d/%s", limit.N, limit.Per)
	}
	per := int64(limit.Per)
	var at *int64
	if l.now != nil {
		ns := l.now().UnixNano()
		at = &ns
	}
	err = l.db.tx(ctx, func(tx pgx.Tx) error {
		// One statement creates the row if needed, locks it until commit and
		// reads the clock.
		var st memory.State
		var now int64
		err := tx.QueryRow(ctx, `
			WITH t AS (SELECT COALESCE($3::bigint, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000) AS now)
			INSERT INTO rate_limits (key, per_ns, win, prev, curr, expires_at)
			SELECT $1, $2, t.now / $2, 0, 0, clock_timestamp() FROM t
			ON CONFLICT (key, per_ns) DO UPDATE SET key = EXCLUDED.key
			RETURNING win, prev, curr, (SELECT now FROM t)`, key, per, at).Scan(&st.Window, &st.Prev, &st.Curr, &now)
		if err != nil {
			return err
		}
		st, ok, retryAfter = memory.Step(st, now, limit)
		// Kept two windows past the current one, then purged.
		expires := time.Unix(0, (st.Window+2)*per)
		_, err = tx.Exec(ctx, `UPDATE rate_limits SET win = $3, prev = $4, curr = $5, expires_at = $6 WHERE key = $1 AND per_ns = $2`,
			key, per, st.Window, st.Prev, st.Curr, expires)
		return err
	})
	if err != nil {
		return false, 0, wrapErr("rate limit", err)
	}
	return ok, retryAfter, nil
}
