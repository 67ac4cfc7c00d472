package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"os"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Bulk seeding, for `bulwark bench --scenario scale` only: a million users
// cannot go through CreateUser one transaction (and one fsync-free but
// still parsed INSERT) at a time in a reasonable time, let alone through
// the API, which hashes every password.
const (
	// seedBatch rows go in one write transaction: large enough that
	// commits cost nothing, small enough that the WAL stays a few tens of
	// MiB between checkpoints.
	seedBatch = 50_000
	// seedCacheKiB is the write connection's page cache while seeding
	// (the default is 2 MiB). Rows arrive in random key order for every
	// unique index (ids, emails, token hashes), so each insert lands on
	// a page of its own in each: with 2 MiB, 200,000 users and sessions
	// took 28 s, with 256 MiB 14.8 s (twice as much did not help). It
	// bounds what seeding adds to the process's memory.
	seedCacheKiB = 256 << 10
)

// BenchSeed inserts every user of users and then every session of
// sessions, with the columns and stored forms CreateUser and CreateSession
// use, in transactions of seedBatch rows on the write connection with one
// prepared statement each. It reads each value before asking for the next,
// so a sequence may yield the same pointer every time, and it holds no
// more than one batch in memory.
//
// It refuses, with auth.ErrConflict and before writing anything, a
// database that already holds a user: bench data must never land in
// somebody's real database. It is not atomic: a failure part-way leaves
// the batches already committed.
func (db *DB) BenchSeed(ctx context.Context, users iter.Seq[*auth.User], sessions iter.Seq[*auth.Session]) error {
	return wrapErr("bench seed", db.benchSeed(ctx, users, sessions))
}

func (db *DB) benchSeed(ctx context.Context, users iter.Seq[*auth.User], sessions iter.Seq[*auth.Session]) (err error) {
	if db.closed.Load() {
		return errClosed
	}
	defer db.cache.invalidate() // these writes bypass writeTx
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var cache int64
	if err := conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil {
		return fmt.Errorf("read cache size: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, seedCacheKiB)); err != nil {
		return fmt.Errorf("raise cache size: %w", err)
	}
	// The connection goes back to the pool: give it its own cache size
	// again (which also frees the seeding cache).
	defer func() {
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA cache_size = %d`, cache)); rerr != nil && err == nil {
			err = fmt.Errorf("restore cache size: %w", rerr)
		}
	}()

	w := &seedWriter{conn: conn, checkEmpty: true}
	w.query = `INSERT INTO users (` + userColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?)`
	for u := range users {
		if err := w.exec(ctx, u.ID, u.Email, u.PasswordHash, u.EmailVerified, u.Disabled,
			timeArg(u.CreatedAt), timeArg(u.TokensValidAfter)); err != nil {
			w.rollback()
			return fmt.Errorf("insert users: %w", err)
		}
	}
	if err := w.commit(); err != nil {
		return fmt.Errorf("insert users: %w", err)
	}
	w.query = `INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	for s := range sessions {
		if err := w.exec(ctx, s.ID, s.UserID, s.TokenHash, timeArg(s.CreatedAt), timeArg(s.LastSeenAt),
			timeArg(s.ExpiresAt), s.IP, s.UserAgent); err != nil {
			w.rollback()
			return fmt.Errorf("insert sessions: %w", err)
		}
	}
	if err := w.commit(); err != nil {
		return fmt.Errorf("insert sessions: %w", err)
	}
	return nil
}

// seedWriter runs one INSERT many times, seedBatch rows per transaction.
type seedWriter struct {
	conn       *sql.Conn
	query      string
	tx         *sql.Tx
	stmt       *sql.Stmt
	rows       int
	checkEmpty bool // in the first transaction, before the first row
}

// errNotEmpty is BenchSeed's refusal.
var errNotEmpty = fmt.Errorf("%w: the database already holds users; bench seeds only an empty one", auth.ErrConflict)

func (w *seedWriter) exec(ctx context.Context, args ...any) error {
	if w.tx == nil {
		tx, err := w.conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock from the start
		if err != nil {
			return err
		}
		w.tx = tx
		if w.checkEmpty {
			var found bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&found); err != nil {
				return err
			}
			if found {
				return errNotEmpty
			}
			w.checkEmpty = false
		}
	}
	if w.stmt == nil {
		stmt, err := w.tx.PrepareContext(ctx, w.query)
		if err != nil {
			return err
		}
		w.stmt = stmt
	}
	if _, err := w.stmt.ExecContext(ctx, args...); err != nil {
		return err
	}
	if w.rows++; w.rows%seedBatch == 0 {
		return w.commit()
	}
	return nil
}

// commit ends the current transaction, if any; the next exec prepares its
// statement again, in the new transaction.
func (w *seedWriter) commit() error {
	if w.tx == nil {
		return nil
	}
	w.stmt.Close()
	err := w.tx.Commit()
	w.tx, w.stmt = nil, nil
	return err
}

func (w *seedWriter) rollback() {
	if w.tx != nil {
		if w.stmt != nil {
			w.stmt.Close()
		}
		_ = w.tx.Rollback()
		w.tx, w.stmt = nil, nil
	}
}

// BenchSize checkpoints the WAL into the database file, truncating it, and
// returns the size on disk of the file and its WAL: the database's size
// after a write burst such as BenchSeed, without the WAL's slack.
func (db *DB) BenchSize(ctx context.Context) (int64, error) {
	if db.closed.Load() {
		return 0, wrapErr("database size", errClosed)
	}
	if db.path == ":memory:" {
		return 0, errors.New("database size: an in-memory database has no file")
	}
	var busy, logged, moved int
	if err := db.write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &moved); err != nil {
		return 0, wrapErr("database size: checkpoint", err)
	}
	var total int64
	for _, p := range []string{db.path, db.path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("database size: %w", err)
		}
		total += fi.Size()
	}
	return total, nil
}
