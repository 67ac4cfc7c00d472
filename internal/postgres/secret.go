package postgres

import "context"

// Secret returns the secret stored under name, first storing candidate if
// there is none. The INSERT … ON CONFLICT DO NOTHING waits for a concurrent
// insert of the same name to commit; the SELECT, a statement of its own with
// a snapshot taken after that, then reads whichever value was stored first.
func (db *DB) Secret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	if _, err := db.exec(ctx, `INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		name, candidate); err != nil {
		return nil, wrapErr("get secret", err)
	}
	var value []byte
	if err := db.queryRow(ctx, `SELECT value FROM server_secrets WHERE name = $1`, name).Scan(&value); err != nil {
		return nil, wrapErr("get secret", err)
	}
	return value, nil
}
