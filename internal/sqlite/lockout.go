package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// RecordLoginFailure adds one failure for key at now, in one write
// transaction, and returns the state after it:
//
//   - a row whose window has ended at now (expires_at, the later of the first
//     failure + lockFor and the end of its lock) no longer counts: the count
//     starts again from zero (so this failure makes it 1) with a new window;
//   - when the new count is at least threshold and the key is not locked at
//     now, it is locked until now+lockFor; a lock in force is left as it is,
//     so failures during a lock do not extend it;
//   - a threshold below 1 never locks.
//
// Calls are serialised on the write connection, so none loses an increment.
func (db *DB) RecordLoginFailure(ctx context.Context, key string, now time.Time, threshold int, lockFor time.Duration) (auth.Lockout, error) {
	l, _, err := db.countFailure(ctx, key, now, threshold, lockFor, false)
	if err != nil {
		return auth.Lockout{}, wrapErr("record login failure", err)
	}
	return l, nil
}

// ReserveLoginAttempt counts one password check for key at now before it is
// made, in one write transaction: as RecordLoginFailure, except that when the
// key is locked at now, or its live window already holds threshold checks, it
// changes nothing and returns false with the stored state.
func (db *DB) ReserveLoginAttempt(ctx context.Context, key string, now time.Time, threshold int, lockFor time.Duration) (auth.Lockout, bool, error) {
	l, ok, err := db.countFailure(ctx, key, now, threshold, lockFor, true)
	if err != nil {
		return auth.Lockout{}, false, wrapErr("reserve login attempt", err)
	}
	return l, ok, nil
}

func (db *DB) countFailure(ctx context.Context, key string, now time.Time, threshold int, lockFor time.Duration, reserve bool) (auth.Lockout, bool, error) {
	var l auth.Lockout
	ok := true
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var expires time.Time
		err := db.txQueryRow(ctx, tx, `SELECT failures, locked_until, expires_at FROM login_failures WHERE key = ?`, key).
			Scan(&l.Failures, timeCol{&l.LockedUntil}, timeCol{&expires})
		if errors.Is(err, sql.ErrNoRows) {
			l = auth.Lockout{}
		} else if err != nil {
			return err
		}
		if !expires.After(now) {
			// No row, or its window and lock are over: the failures decay.
			l, expires = auth.Lockout{}, now.Add(lockFor)
		}
		if reserve && (l.LockedUntil.After(now) || (threshold > 0 && l.Failures >= threshold)) {
			ok = false
			return nil
		}
		l.Failures++
		if threshold > 0 && l.Failures >= threshold && !l.LockedUntil.After(now) {
			l.LockedUntil = now.Add(lockFor)
			if l.LockedUntil.After(expires) {
				expires = l.LockedUntil
			}
		}
		_, err = db.txExec(ctx, tx, `
			INSERT INTO login_failures (key, failures, locked_until, updated_at, expires_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET
				failures = excluded.failures, locked_until = excluded.locked_until,
				updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
			key, l.Failures, timeArg(l.LockedUntil), now.UnixMicro(), expires.UnixMicro())
		return err
	})
	if err != nil {
		return auth.Lockout{}, false, err
	}
	// Read back at the stored precision.
	l.LockedUntil = truncateMicro(l.LockedUntil)
	return l, ok, nil
}

// LoginLockout returns the state for key, the zero value if there is none.
// An expired lock is returned as stored; the caller compares it with now.
func (db *DB) LoginLockout(ctx context.Context, key string) (auth.Lockout, error) {
	var l auth.Lockout
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		l, err = db.lockout(ctx, tx, key)
		return err
	})
	if err != nil {
		return auth.Lockout{}, wrapErr("get login lockout", err)
	}
	return l, nil
}

func (db *DB) lockout(ctx context.Context, tx *sql.Tx, key string) (auth.Lockout, error) {
	var l auth.Lockout
	err := db.txQueryRow(ctx, tx, `SELECT failures, locked_until FROM login_failures WHERE key = ?`, key).
		Scan(&l.Failures, timeCol{&l.LockedUntil})
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Lockout{}, nil
	}
	return l, err
}

// ClearLoginFailures forgets the failures and lock of key. A key without
// failures is not an error.
func (db *DB) ClearLoginFailures(ctx context.Context, key string) error {
	return wrapErr("clear login failures", db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := db.txExec(ctx, tx, `DELETE FROM login_failures WHERE key = ?`, key)
		return err
	}))
}

// truncateMicro drops what the database does not store and normalises to UTC.
func truncateMicro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}
