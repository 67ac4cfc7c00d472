package sqlite

import (
	"context"
	"database/sql"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Secret returns the secret stored under name, first storing candidate if
// there is none (INSERT OR IGNORE, then SELECT, in one write transaction).
// Concurrent callers all get the value of whichever stored first.
//
// With a sealer the value is stored sealed under the key-encryption key: a
// copy of the database does not give the device-cookie signing key (OWASP
// ASVS 5.0 V13.3). A value stored in plain text before is sealed in place
// on its first read.
func (db *DB) Secret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	stored := candidate
	if db.sealer != nil {
		var err error
		if stored, err = auth.SealSecret(db.sealer, name, candidate); err != nil {
			return nil, err
		}
	}
	var value []byte
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.txExec(ctx, tx, `INSERT OR IGNORE INTO server_secrets (name, value) VALUES (?, ?)`,
			name, stored); err != nil {
			return err
		}
		if err := db.txQueryRow(ctx, tx, `SELECT value FROM server_secrets WHERE name = ?`, name).Scan(&value); err != nil {
			return err
		}
		if db.sealer == nil {
			return nil
		}
		v, plain, err := auth.OpenSecret(db.sealer, name, value)
		if err != nil {
			return err
		}
		value = v
		if plain {
			sealed, err := auth.SealSecret(db.sealer, name, v)
			if err != nil {
				return err
			}
			_, err = db.txExec(ctx, tx, `UPDATE server_secrets SET value = ? WHERE name = ?`, sealed, name)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, wrapErr("get secret", err)
	}
	return value, nil
}
