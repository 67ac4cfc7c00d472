package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var _ auth.APIClientStore = (*DB)(nil)

// CreateAPIClient inserts c (auth.ErrConflict if its id exists).
func (db *DB) CreateAPIClient(ctx context.Context, c *auth.APIClient) error {
	_, err := db.exec(ctx, `INSERT INTO api_clients (id, name, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)`,
		c.ID, c.Name, c.SecretHash, timeArg(c.CreatedAt), timeArg(c.RevokedAt))
	return wrapErr("create api client", err)
}

// APIClientByID returns the client, revoked or not, or auth.ErrNotFound.
func (db *DB) APIClientByID(ctx context.Context, id string) (*auth.APIClient, error) {
	var c auth.APIClient
	err := db.queryRow(ctx, `SELECT id, name, secret_hash, created_at, revoked_at FROM api_clients WHERE id = $1`, id).
		Scan(&c.ID, &c.Name, &c.SecretHash, timeCol{&c.CreatedAt}, timeCol{&c.RevokedAt})
	if err != nil {
		return nil, wrapErr("get api client", err)
	}
	return &c, nil
}

// ListAPIClients returns every client, oldest first.
func (db *DB) ListAPIClients(ctx context.Context) ([]auth.APIClient, error) {
	rows, err := db.query(ctx, `SELECT id, name, secret_hash, created_at, revoked_at FROM api_clients ORDER BY created_at, id`)
	if err != nil {
		return nil, wrapErr("list api clients", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.APIClient, error) {
		var c auth.APIClient
		err := row.Scan(&c.ID, &c.Name, &c.SecretHash, timeCol{&c.CreatedAt}, timeCol{&c.RevokedAt})
		return c, err
	})
	return out, wrapErr("list api clients", err)
}

// RevokeAPIClient sets revoked_at on an active client.
func (db *DB) RevokeAPIClient(ctx context.Context, id string, now time.Time) error {
	n, err := db.exec(ctx, `UPDATE api_clients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, now, id)
	if err == nil && n == 0 {
		err = auth.ErrNotFound
	}
	return wrapErr("revoke api client", err)
}
