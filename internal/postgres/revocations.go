package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// The revocation events are written by the triggers of migration 0011, in
// the transaction of the revocation itself, so no write path of this package
// can forget one; the same transaction sends a notification on
// revocationChannel, delivered to every listening instance at commit.

var _ auth.RevocationFeedStore = (*DB)(nil)

// revocationChannel is the LISTEN/NOTIFY channel of the feed. Its payload is
// the schema of the event table, so that deployments (or tests) sharing one
// database in several schemas ignore each other's events.
const revocationChannel = "bulwark_revocations"

// Intervals of WatchRevocations: how often it wakes even without a
// notification (a connection that died silently loses none for long), and
// how long it waits before reconnecting.
const (
	revocationPoll      = 5 * time.Second
	revocationReconnect = time.Second
)

// WatchRevocations holds one connection of its own (outside the pool) in
// LISTEN on the feed channel and calls wake for every notification of this
// schema, after every (re)connection (notifications sent while it was away
// are lost, the table is not), and every few seconds, until ctx ends.
func (db *DB) WatchRevocations(ctx context.Context, wake func()) error {
	go func() {
		t := time.NewTicker(revocationPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				wake()
			}
		}
	}()
	for {
		err := db.listen(ctx, wake)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_ = err // the database went away: the poll covers the gap, retry
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(revocationReconnect):
		}
	}
}

func (db *DB) listen(ctx context.Context, wake func()) error {
	if db.closed.Load() {
		return errClosed
	}
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	var schema string
	if err := conn.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+revocationChannel); err != nil {
		return err
	}
	wake()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == revocationChannel && n.Payload == schema {
			wake()
		}
	}
}

const eventColumns = `id, kind, subject, exp, not_before, cv, disabled`

// RevocationsAfter returns up to limit events after the id after, and whether
// after is replayable (held by the table, or the newest id).
func (db *DB) RevocationsAfter(ctx context.Context, after int64, limit int) ([]auth.RevocationEvent, bool, error) {
	var out []auth.RevocationEvent
	var replayable bool
	err := db.readOnly(ctx, func(tx pgx.Tx) error {
		var lo, hi *int64
		if err := tx.QueryRow(ctx, `SELECT min(id), max(id) FROM revocation_events`).Scan(&lo, &hi); err != nil {
			return err
		}
		replayable = lo != nil && after >= *lo && after <= *hi
		rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM revocation_events WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.RevocationEvent, error) {
			var e auth.RevocationEvent
			err := row.Scan(&e.ID, &e.Kind, &e.Subject, &e.Exp, &e.NotBefore, &e.CredentialVersion, &e.Disabled)
			return e, err
		})
		return err
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

// RevocationSnapshot reads the whole revocation state in one REPEATABLE READ
// transaction: the state and the cursor are of the same instant. (Event ids
// become visible in order, see the migration, so every event of an id up to
// the cursor is reflected in the state and none after it.)
func (db *DB) RevocationSnapshot(ctx context.Context, now time.Time) (*auth.RevocationSnapshot, error) {
	var snap *auth.RevocationSnapshot
	err := db.readOnly(ctx, func(tx pgx.Tx) error {
		snap = &auth.RevocationSnapshot{JTIs: []auth.DeniedID{}, SIDs: []auth.DeniedID{}, Users: []auth.UserRevocation{}}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM revocation_events`).Scan(&snap.Cursor); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT left(key, 3), substr(key, 5), ceil(extract(epoch FROM expires_at))::bigint FROM deny_list
			WHERE expires_at > $1 AND left(key, 4) IN ('jti:', 'sid:') ORDER BY key`, now)
		if err != nil {
			return err
		}
		var kind string
		var d auth.DeniedID
		if _, err := pgx.ForEachRow(rows, []any{&kind, &d.ID, &d.Exp}, func() error {
			if kind == auth.RevokedJTI {
				snap.JTIs = append(snap.JTIs, d)
			} else {
				snap.SIDs = append(snap.SIDs, d)
			}
			return nil
		}); err != nil {
			return err
		}
		since := now.Add(-auth.RevocationRetention)
		rows, err = tx.Query(ctx, `
			SELECT id, coalesce(floor(extract(epoch FROM tokens_valid_after))::bigint, 0), credential_version, disabled FROM users
			WHERE disabled OR tokens_valid_after > $1
			   OR id IN (SELECT subject FROM revocation_events WHERE kind = 'user' AND created_at > $1)
			ORDER BY id`, since)
		if err != nil {
			return err
		}
		var u auth.UserRevocation
		_, err = pgx.ForEachRow(rows, []any{&u.UserID, &u.NotBefore, &u.CredentialVersion, &u.Disabled}, func() error {
			snap.Users = append(snap.Users, u)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, wrapErr("read revocation snapshot", err)
	}
	return snap, nil
}

// readOnly runs fn in a read-only REPEATABLE READ transaction: every query
// in it sees one snapshot.
func (db *DB) readOnly(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if db.closed.Load() {
		return errClosed
	}
	return pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// purgeRevocations deletes the events created before $1 minus the
// retention, oldest first and never the newest one, so the ids left are one
// unbroken run and an up-to-date cursor stays replayable.
const purgeRevocations = `
	DELETE FROM revocation_events
	WHERE id < (SELECT max(id) FROM revocation_events)
	  AND id <= (SELECT max(id) FROM revocation_events WHERE created_at < $1::timestamptz - make_interval(secs => $2))`
