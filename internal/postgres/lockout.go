package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// countLoginFailure is one INSERT … ON CONFLICT DO UPDATE: the insert of a
// first failure, or the update of the existing row under its row lock, so
// parallel calls in any number of processes never lose an increment. In the
// SET list l.* is the row before the update; a row whose expires_at has
// passed counts as absent (its failures have decayed). With $5 true it is a
// reservation: the WHERE clause leaves a locked or full row unchanged and
// the statement returns no row.
//
// $1 key, $2 now, $3 threshold, $4 now+lockFor, $5 reserve.
const countLoginFailure = `
	INSERT INTO login_failures AS l (key, failures, locked_until, updated_at, expires_at)
	VALUES ($1, 1, CASE WHEN $3::bigint > 0 AND 1 >= $3::bigint THEN $4::timestamptz END, $2::timestamptz, $4::timestamptz)
	ON CONFLICT (key) DO UPDATE SET
		failures = CASE WHEN l.expires_at <= $2 THEN 1 ELSE l.failures + 1 END,
		locked_until = CASE
			WHEN l.expires_at > $2 AND l.locked_until > $2 THEN l.locked_until
			WHEN $3 > 0 AND (CASE WHEN l.expires_at <= $2 THEN 1 ELSE l.failures + 1 END) >= $3 THEN $4
		END,
		updated_at = $2,
		expires_at = CASE
			WHEN l.expires_at <= $2 THEN $4
			WHEN $3 > 0 AND l.failures + 1 >= $3 AND (l.locked_until IS NULL OR l.locked_until <= $2) THEN GREATEST(l.expires_at, $4)
			ELSE l.expires_at
		END
	WHERE NOT $5::boolean OR l.expires_at <= $2 OR
		((l.locked_until IS NULL OR l.locked_until <= $2) AND ($3 <= 0 OR l.failures < $3))
	RETURNING failures, locked_until`

// RecordLoginFailure adds one failure for key at now, in one statement, and
// returns the state after it:
//
//   - a row whose window has ended at now (expires_at, the later of the first
//     failure + lockFor and the end of its lock) no longer counts: the count
//     starts again from zero (so this failure makes it 1) with a new window;
//   - when the new count is at least threshold and the key is not locked at
//     now, it is locked until now+lockFor; a lock in force is left as it is,
//     so failures during a lock do not extend it;
//   - a threshold below 1 never locks.
func (db *DB) RecordLoginFailure(ctx context.Context, key string, now time.Time, threshold int, lockFor time.Duration) (auth.Lockout, error) {
	var l auth.Lockout
	err := db.queryRow(ctx, countLoginFailure, key, now, threshold, now.Add(lockFor), false).
		Scan(&l.Failures, timeCol{&l.LockedUntil})
	if err != nil {
		return auth.Lockout{}, wrapErr("record login failure", err)
	}
	return l, nil
}

// ReserveLoginAttempt counts one password check for key at now before it is
// made, in one statement: as RecordLoginFailure, except that when the key is
// locked at now, or its live window already holds threshold checks, it
// changes nothing and returns false with the stored state.
func (db *DB) ReserveLoginAttempt(ctx context.Context, key string, now time.Time, threshold int, lockFor time.Duration) (auth.Lockout, bool, error) {
	var l auth.Lockout
	err := db.queryRow(ctx, countLoginFailure, key, now, threshold, now.Add(lockFor), true).
		Scan(&l.Failures, timeCol{&l.LockedUntil})
	if errors.Is(err, pgx.ErrNoRows) {
		l, err = db.LoginLockout(ctx, key)
		return l, false, err
	}
	if err != nil {
		return auth.Lockout{}, false, wrapErr("reserve login attempt", err)
	}
	return l, true, nil
}

// LoginLockout returns the state for key, the zero value if there is none.
// An expired lock is returned as stored; the caller compares it with now.
func (db *DB) LoginLockout(ctx context.Context, key string) (auth.Lockout, error) {
	var l auth.Lockout
	err := db.queryRow(ctx, `SELECT failures, locked_until FROM login_failures WHERE key = $1`, key).
		Scan(&l.Failures, timeCol{&l.LockedUntil})
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Lockout{}, nil
	}
	if err != nil {
		return auth.Lockout{}, wrapErr("get login lockout", err)
	}
	return l, nil
}

// ClearLoginFailures forgets the failures and lock of key. A key without
// failures is not an error.
func (db *DB) ClearLoginFailures(ctx context.Context, key string) error {
	_, err := db.exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key)
	return wrapErr("clear login failures", err)
}
