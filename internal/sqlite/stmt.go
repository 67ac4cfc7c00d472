package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// Prepared statements: the modernc driver parses SQL text on every call, and
// parsing was the largest single cost of a session check (about half of its
// SQLite time in the /v1/me profile). Every read query is prepared once on
// the read pool and reused; database/sql prepares it again on each new
// connection as needed.

// scanner is what QueryRow gives: a *sql.Row, or the error of preparing it.
type scanner interface {
	Scan(dest ...any) error
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// prepared returns the read pool's statement for query, preparing it once.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	cache := &db.readStmts
	if s, ok := cache.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.read.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if prev, loaded := cache.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// queryRow runs a one-row query on the read pool.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) scanner {
	s, err := db.prepared(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(ctx, args...)
}

// query runs a query on the read pool.
func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := db.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// txExec runs a statement in a write transaction. Write statements are not
// prepared ahead: the write pool has a single connection, which the
// transaction holds, so preparing on the pool would wait for it forever.
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	return tx.ExecContext(ctx, query, args...)
}

// txQueryRow runs a one-row query in a write transaction.
func (db *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) scanner {
	return tx.QueryRowContext(ctx, query, args...)
}

// txQuery runs a query in a write transaction.
func (db *DB) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	return tx.QueryContext(ctx, query, args...)
}

// closeStmts closes every cached statement.
func (db *DB) closeStmts() {
	db.readStmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
}
