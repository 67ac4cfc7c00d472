package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
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

// Write statements cannot be prepared when first used: the write pool has
// a single connection, which the transaction holds, so preparing on the
// pool would wait for it forever. A write query seen in a transaction runs
// as text that time and is noted; writeTx prepares the noted queries on
// the pool before it begins the next transaction, when the connection is
// free, and Tx.StmtContext then reuses the statement on that connection.
// Parsing was 31 % of a refresh rotation in the profile.

// maxWriteStmts bounds the prepared write statements (queries whose text
// depends on an argument count make variants).
const maxWriteStmts = 256

// txStmt returns tx's handle of the prepared statement for query, or nil
// when it is not prepared yet (it is then noted for the next writeTx) or
// tx is not the write transaction.
func (db *DB) txStmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	if db.writing.Load() != tx {
		return nil // a read transaction (readTx), on the read pool
	}
	if s, ok := db.writeStmts.Load(query); ok {
		return tx.StmtContext(ctx, s.(*sql.Stmt))
	}
	db.pendingWrites.Store(query, struct{}{})
	return nil
}

// preparePending prepares the write queries noted since the last call. It
// must not run inside a write transaction.
func (db *DB) preparePending(ctx context.Context) {
	db.pendingWrites.Range(func(k, _ any) bool {
		q := k.(string)
		db.pendingWrites.Delete(q)
		if _, ok := db.writeStmts.Load(q); ok || db.writeStmtCount.Load() >= maxWriteStmts {
			return true
		}
		s, err := db.write.PrepareContext(ctx, q)
		if err != nil {
			return true // it keeps running as text; the error shows where it runs
		}
		if _, loaded := db.writeStmts.LoadOrStore(q, s); loaded {
			s.Close()
		} else {
			db.writeStmtCount.Add(1)
		}
		return true
	})
}

// txExec runs a statement in a write transaction.
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if s := db.txStmt(ctx, tx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQueryRow runs a one-row query in a write transaction.
func (db *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) scanner {
	if s := db.txStmt(ctx, tx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// txQuery runs a query in a write transaction.
func (db *DB) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if s := db.txStmt(ctx, tx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// closeStmts closes every cached statement.
func (db *DB) closeStmts() {
	for _, m := range []*sync.Map{&db.readStmts, &db.writeStmts} {
		m.Range(func(_, v any) bool {
			v.(*sql.Stmt).Close()
			return true
		})
	}
}
