package postgres

import (
	"context"
	"io/fs"
)

// MigrateFS and PendingFS run the migrations of another file system, so tests
// can check ordering and idempotence with migrations of their own.
func (db *DB) MigrateFS(ctx context.Context, fsys fs.FS, dir string) error {
	return db.migrate(ctx, fsys, dir)
}

func (db *DB) PendingFS(ctx context.Context, fsys fs.FS, dir string) ([]string, error) {
	return db.pending(ctx, fsys, dir)
}

// MaxConnsForTest returns the pool's connection limit.
func (db *DB) MaxConnsForTest() int { return int(db.pool.Config().MaxConns) }

// Int64ForTest runs a query that returns one integer.
func (db *DB) Int64ForTest(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, query, args...).Scan(&n)
	return n, err
}

// ExecForTest runs one statement (storetest uses it for rows no method
// writes).
func (db *DB) ExecForTest(ctx context.Context, query string) error {
	_, err := db.pool.Exec(ctx, query)
	return err
}
