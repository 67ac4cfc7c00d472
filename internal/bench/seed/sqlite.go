package seed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"os"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/sqlite"
)

// SQLite seeds a SQLite store. Its rows take the forms of internal/sqlite:
// times as Unix microseconds (NULL for the zero time).
type SQLite struct{ *sqlite.DB }

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

// Seed inserts every user of users and then every session of sessions,
// with the columns and stored forms CreateUser and CreateSession use, in
// transactions of seedBatch rows on the write connection with one prepared
// statement each. It holds no more than one batch in memory.
//
// It refuses, with auth.ErrConflict and before writing anything, a
// database that already holds a user. It is not atomic: a failure part-way
// leaves the batches already committed.
func (db SQLite) Seed(ctx context.Context, users iter.Seq[*auth.User], sessions iter.Seq[*auth.Session]) error {
	err := db.RawWrite(ctx, func(conn *sql.Conn) error { return seedSQLite(ctx, conn, users, sessions) })
	if err != nil {
		return fmt.Errorf("bench seed: %w", err)
	}
	return nil
}

// userColumns are those of internal/sqlite's CreateUser.
const userColumns = `id, email, password_hash, email_verified, disabled, created_at, tokens_valid_after`

// timeArg is internal/sqlite's stored form of a time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func seedSQLite(ctx context.Context, conn *sql.Conn, users iter.Seq[*auth.User], sessions iter.Seq[*auth.Session]) (err error) {
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

// Size checkpoints the WAL into the database file, truncating it, and
// returns the size on disk of the file and its WAL: the database's size
// after a write burst such as Seed, without the WAL's slack.
func (db SQLite) Size(ctx context.Context) (int64, error) {
	path := db.Path()
	if path == ":memory:" {
		return 0, errors.New("database size: an in-memory database has no file")
	}
	err := db.RawWrite(ctx, func(conn *sql.Conn) error {
		var busy, logged, moved int
		return conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &moved)
	})
	if err != nil {
		return 0, fmt.Errorf("database size: checkpoint: %w", err)
	}
	var total int64
	for _, p := range []string{path, path + "-wal"} {
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
