package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/memory"
)

// Limiter keeps rate-limit logs in PostgreSQL, so that several instances
// without Redis still share one budget per key, with the guarantee of
// memory.Step: at most N events accepted for a key in any interval of length
// Per. Each decision is one transaction that locks the key's row and applies
// memory.Step to its log; the time is the database's clock, so instances with
// drifting clocks agree. Redis does the same in one round trip and is
// preferred under load; this is for deployments that run PostgreSQL only.
// Rows whose log counts nothing any more are removed by Purge.
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

// Allow records one event for key under limit. Errors: an invalid limit
// (memory.ValidLimit); anything else wraps auth.ErrUnavailable when the
// database does not answer; callers fail closed.
func (l *Limiter) Allow(ctx context.Context, key string, limit auth.Limit) (ok bool, retryAfter time.Duration, err error) {
	if !memory.ValidLimit(limit) {
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
		// reads the clock (microseconds, as the database keeps them).
		var lg []int64
		var now int64
		err := tx.QueryRow(ctx, `
			WITH t AS (SELECT COALESCE($3::bigint, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000) AS now)
			INSERT INTO rate_limits (key, per_ns, log, expires_at)
			SELECT $1, $2, '{}', clock_timestamp() FROM t
			ON CONFLICT (key, per_ns) DO UPDATE SET key = EXCLUDED.key
			RETURNING log, (SELECT now FROM t)`, key, per, at).Scan(&lg, &now)
		if err != nil {
			return err
		}
		var next memory.Log
		next, ok, retryAfter = memory.Step(lg, now, limit)
		if !ok {
			// Nothing recorded; a row created by this call for nothing is
			// purged with the others.
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE rate_limits SET log = $3, expires_at = $4 WHERE key = $1 AND per_ns = $2`,
			key, per, []int64(next), time.Unix(0, next.Expires(limit)))
		return err
	})
	if err != nil {
		return false, 0, wrapErr("rate limit", err)
	}
	return ok, retryAfter, nil
}
