package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// The revocation events are written by the triggers of migration 0011, in
// the transaction of the revocation itself, so no write path of this package
// can forget one. SQLite has one writer, so AUTOINCREMENT ids grow in commit
// order.

var _ auth.RevocationFeedStore = (*DB)(nil)

// revocationPoll is how often WatchRevocations looks at the table even when
// this process wrote nothing: another process (a maintenance command) may
// have revoked something.
const revocationPoll = 500 * time.Millisecond

// watcherSet holds the wake functions of WatchRevocations, called after
// every write transaction this process commits.
type watcherSet struct {
	mu    sync.Mutex
	wakes map[*func()]struct{}
}

// notifyWrite wakes this DB's watchers: a write transaction committed.
func (db *DB) notifyWrite() {
	ws := &db.revWatch
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.wakes {
		(*w)()
	}
}

// WatchRevocations calls wake after every write transaction this process
// commits, and every half second for writes of other processes, until ctx
// ends.
func (db *DB) WatchRevocations(ctx context.Context, wake func()) error {
	ws := &db.revWatch
	key := &wake
	ws.mu.Lock()
	if ws.wakes == nil {
		ws.wakes = map[*func()]struct{}{}
	}
	ws.wakes[key] = struct{}{}
	ws.mu.Unlock()
	defer func() {
		ws.mu.Lock()
		delete(ws.wakes, key)
		ws.mu.Unlock()
	}()
	t := time.NewTicker(revocationPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			wake()
		}
	}
}

// RevocationsAfter returns up to limit events after the id after, and whether
// after is replayable (held by the table, or the newest id).
func (db *DB) RevocationsAfter(ctx context.Context, after int64, limit int) ([]auth.RevocationEvent, bool, error) {
	var out []auth.RevocationEvent
	var replayable bool
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		out, replayable = nil, false
		var lo, hi sql.NullInt64
		if err := db.txQueryRow(ctx, tx, `SELECT min(id), max(id) FROM revocation_events`).Scan(&lo, &hi); err != nil {
			return err
		}
		replayable = lo.Valid && after >= lo.Int64 && after <= hi.Int64
		rows, err := db.txQuery(ctx, tx, `
			SELECT id, kind, subject, exp, not_before, cv, disabled FROM revocation_events
			WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e auth.RevocationEvent
			if err := rows.Scan(&e.ID, &e.Kind, &e.Subject, &e.Exp, &e.NotBefore, &e.CredentialVersion, &e.Disabled); err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, false, wrapErr("read revocation events", err)
	}
	return out, replayable, nil
}

// LatestRevocation returns the newest event id, 0 if there is none.
func (db *DB) LatestRevocation(ctx context.Context) (int64, error) {
	var id int64
	err := db.queryRow(ctx, `SELECT coalesce(max(id), 0) FROM revocation_events`).Scan(&id)
	return id, wrapErr("read latest revocation", err)
}

// RevocationSnapshot reads the whole revocation state in one read
// transaction (one snapshot of the database).
func (db *DB) RevocationSnapshot(ctx context.Context, now time.Time) (*auth.RevocationSnapshot, error) {
	var snap *auth.RevocationSnapshot
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		snap = &auth.RevocationSnapshot{JTIs: []auth.DeniedID{}, SIDs: []auth.DeniedID{}, Users: []auth.UserRevocation{}}
		if err := db.txQueryRow(ctx, tx, `SELECT coalesce(max(id), 0) FROM revocation_events`).Scan(&snap.Cursor); err != nil {
			return err
		}
		rows, err := db.txQuery(ctx, tx, `
			SELECT substr(key, 1, 3), substr(key, 5), (expires_at + 999999) / 1000000 FROM deny_list
			WHERE expires_at > ? AND substr(key, 1, 4) IN ('jti:', 'sid:') ORDER BY key`, now.UnixMicro())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var kind string
			var d auth.DeniedID
			if err := rows.Scan(&kind, &d.ID, &d.Exp); err != nil {
				return err
			}
			if kind == auth.RevokedJTI {
				snap.JTIs = append(snap.JTIs, d)
			} else {
				snap.SIDs = append(snap.SIDs, d)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		since := now.Add(-auth.RevocationRetention).UnixMicro()
		urows, err := db.txQuery(ctx, tx, `
			SELECT id, coalesce(tokens_valid_after, 0) / 1000000, credential_version, disabled FROM users
			WHERE disabled = 1 OR tokens_valid_after > ?1
			   OR id IN (SELECT subject FROM revocation_events WHERE kind = 'user' AND created_at > ?1)
			ORDER BY id`, since)
		if err != nil {
			return err
		}
		defer urows.Close()
		for urows.Next() {
			var u auth.UserRevocation
			if err := urows.Scan(&u.UserID, &u.NotBefore, &u.CredentialVersion, &u.Disabled); err != nil {
				return err
			}
			snap.Users = append(snap.Users, u)
		}
		return urows.Err()
	})
	if err != nil {
		return nil, wrapErr("read revocation snapshot", err)
	}
	return snap, nil
}

// purgeRevocations deletes the events created before now minus the
// retention, oldest first and never the newest one, so the ids left are one
// unbroken run and an up-to-date cursor stays replayable.
func (db *DB) purgeRevocations(ctx context.Context, tx *sql.Tx, now time.Time) (int64, error) {
	res, err := db.txExec(ctx, tx, `
		DELETE FROM revocation_events
		WHERE id < (SELECT max(id) FROM revocation_events)
		  AND id <= (SELECT max(id) FROM revocation_events WHERE created_at < ?)`,
		now.Add(-auth.RevocationRetention).UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
