package sqlite

import (
	"context"
	"database/sql"
)

// RawWrite runs f on the store's one write connection, outside the store's
// transactions, for tools such as the bench seeder only (internal/bench/seed):
// what f writes bypasses every check the store makes, so f must write rows
// exactly as the store's methods do. Other writes wait until f returns; the
// store then forgets what it cached. f's error is returned as it is.
func (db *DB) RawWrite(ctx context.Context, f func(conn *sql.Conn) error) error {
	if db.closed.Load() {
		return wrapErr("raw write", errClosed)
	}
	defer db.cache.invalidate() // these writes bypass writeTx
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return wrapErr("raw write", err)
	}
	defer conn.Close()
	return f(conn)
}
