package sqlite

import (
	"context"
	"database/sql"
)

// Secret returns the secret stored under name, first storing candidate if
// there is none (INSERT OR IGNORE, then SELECT, in one write transaction).
// Concurrent callers all get the value of whichever stored first.
func (db *DB) Secret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	var value []byte
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.txExec(ctx, tx, `INSERT OR IGNORE INTO server_secrets (name, value) VALUES (?, ?)`,
			name, candidate); err != nil {
			return err
		}
		return db.txQueryRow(ctx, tx, `SELECT value FROM server_secrets WHERE name = ?`, name).Scan(&value)
	})
	if err != nil {
		return nil, wrapErr("get secret", err)
	}
	return value, nil
}
