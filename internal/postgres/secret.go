package postgres

import (
	"context"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Secret returns the secret stored under name, first storing candidate if
// there is none. The INSERT … ON CONFLICT DO NOTHING waits for a concurrent
// insert of the same name to commit; the SELECT, a statement of its own with
// a snapshot taken after that, then reads whichever value was stored first.
//
// With a sealer the value is stored sealed under the key-encryption key: a
// backup does not give the device-cookie signing key (OWASP ASVS 5.0
// V13.3). A value stored in plain text before is sealed in place on its
// first read (only if it is still that plain value).
func (db *DB) Secret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	stored := candidate
	if db.sealer != nil {
		var err error
		if stored, err = auth.SealSecret(db.sealer, name, candidate); err != nil {
			return nil, err
		}
	}
	if _, err := db.exec(ctx, `INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		name, stored); err != nil {
		return nil, wrapErr("get secret", err)
	}
	var value []byte
	if err := db.queryRow(ctx, `SELECT value FROM server_secrets WHERE name = $1`, name).Scan(&value); err != nil {
		return nil, wrapErr("get secret", err)
	}
	if db.sealer == nil {
		return value, nil
	}
	v, plain, err := auth.OpenSecret(db.sealer, name, value)
	if err != nil {
		return nil, err
	}
	if plain {
		sealed, err := auth.SealSecret(db.sealer, name, v)
		if err != nil {
			return nil, err
		}
		if _, err := db.exec(ctx, `UPDATE server_secrets SET value = $1 WHERE name = $2 AND value = $3`, sealed, name, value); err != nil {
			return nil, wrapErr("seal secret", err)
		}
	}
	return v, nil
}
