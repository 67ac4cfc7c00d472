package postgres

import (
	"context"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Deny adds key until expiresAt. Adding an existing key keeps the later
// expiry.
func (db *DB) Deny(ctx context.Context, key string, expiresAt time.Time) error {
	_, err := db.exec(ctx, `
		INSERT INTO deny_list AS d (key, expires_at) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET expires_at = GREATEST(d.expires_at, excluded.expires_at)`,
		key, expiresAt)
	return wrapErr("deny key", err)
}

// Denied reports whether any of keys is denied at now, that is listed with an
// expiry after now.
func (db *DB) Denied(ctx context.Context, now time.Time, keys ...string) (bool, error) {
	if len(keys) == 0 {
		return false, nil
	}
	var denied bool
	if err := db.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deny_list WHERE key = ANY ($1) AND expires_at > $2)`,
		keys, now).Scan(&denied); err != nil {
		return false, wrapErr("check deny list", err)
	}
	return denied, nil
}

// UserForAccess returns the user and whether any of denyKeys is denied at
// now, in one query.
func (db *DB) UserForAccess(ctx context.Context, userID string, now time.Time, denyKeys ...string) (*auth.User, bool, error) {
	var u auth.User
	var denied bool
	if denyKeys == nil {
		denyKeys = []string{} // an empty array, not NULL
	}
	err := db.queryRow(ctx, `
		SELECT `+userReadColumns+`, EXISTS (SELECT 1 FROM deny_list WHERE key = ANY ($2) AND expires_at > $3)
		FROM users WHERE id = $1`,
		userID, denyKeys, now).Scan(append(userDest(&u), &denied)...)
	if err != nil {
		return nil, false, wrapErr("get user for access", err)
	}
	return &u, denied, nil
}

// PurgeDenied deletes entries that expired before now.
func (db *DB) PurgeDenied(ctx context.Context, now time.Time) error {
	_, err := db.exec(ctx, purgeDenied, now)
	return wrapErr("purge deny list", err)
}

const purgeDenied = `DELETE FROM deny_list WHERE expires_at < $1`
