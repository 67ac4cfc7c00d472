package sqlite

import (
	"context"
	"database/sql"
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

// PragmaForTest reads a PRAGMA on the write connection.
func (db *DB) PragmaForTest(ctx context.Context, name string) (string, error) {
	var v string
	err := db.write.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// CacheHits is how many reads the read cache answered.
func (db *DB) CacheHits() uint64 { return db.cache.hits.Load() }

// WriteStmts is how many write statements are prepared.
func (db *DB) WriteStmts() int64 { return db.writeStmtCount.Load() }

// ExecForTest runs one statement on the write connection, as an operator's
// sqlite3 would (storetest uses it for rows no method writes).
func (db *DB) ExecForTest(ctx context.Context, query string) error {
	return db.RawWrite(ctx, func(conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, query)
		return err
	})
}
