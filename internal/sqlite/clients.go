package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var _ auth.APIClientStore = (*DB)(nil)

// CreateAPIClient inserts c (auth.ErrConflict if its id exists).
func (db *DB) CreateAPIClient(ctx context.Context, c *auth.APIClient) error {
	return wrapErr("create api client", db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := db.txExec(ctx, tx, `INSERT INTO api_clients (id, name, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)`,
			c.ID, c.Name, c.SecretHash, timeArg(c.CreatedAt), timeArg(c.RevokedAt))
		return err
	}))
}

// APIClientByID returns the client, revoked or not, or auth.ErrNotFound.
func (db *DB) APIClientByID(ctx context.Context, id string) (*auth.APIClient, error) {
	var c auth.APIClient
	err := db.queryRow(ctx, `SELECT id, name, secret_hash, created_at, revoked_at FROM api_clients WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &c.SecretHash, timeCol{&c.CreatedAt}, timeCol{&c.RevokedAt})
	if err != nil {
		return nil, wrapErr("get api client", err)
	}
	return &c, nil
}

// ListAPIClients returns every client, oldest first.
func (db *DB) ListAPIClients(ctx context.Context) ([]auth.APIClient, error) {
	var out []auth.APIClient
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := db.txQuery(ctx, tx, `SELECT id, name, secret_hash, created_at, revoked_at FROM api_clients ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c auth.APIClient
			if err := rows.Scan(&c.ID, &c.Name, &c.SecretHash, timeCol{&c.CreatedAt}, timeCol{&c.RevokedAt}); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, wrapErr("list api clients", err)
}

// RevokeAPIClient sets revoked_at on an active client.
func (db *DB) RevokeAPIClient(ctx context.Context, id string, now time.Time) error {
	return wrapErr("revoke api client", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `UPDATE api_clients SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now.UnixMicro(), id)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}
