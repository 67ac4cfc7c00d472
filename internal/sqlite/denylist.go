package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Deny adds key until expiresAt. Adding an existing key keeps the later
// expiry.
func (db *DB) Deny(ctx context.Context, key string, expiresAt time.Time) error {
	return wrapErr("deny key", db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := db.txExec(ctx, tx, `
			INSERT INTO deny_list (key, expires_at) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)`,
			key, expiresAt.UnixMicro())
		return err
	}))
}

// Denied reports whether any of keys is denied at now, that is listed with an
// expiry after now.
func (db *DB) Denied(ctx context.Context, now time.Time, keys ...string) (bool, error) {
	if len(keys) == 0 {
		return false, nil
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, now.UnixMicro())
	for _, k := range keys {
		args = append(args, k)
	}
	var denied bool
	err := db.queryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM deny_list WHERE expires_at > ? AND key IN (?`+strings.Repeat(", ?", len(keys)-1)+`))`,
		args...).Scan(&denied)
	if err != nil {
		return false, wrapErr("check deny list", err)
	}
	return denied, nil
}

// UserForAccess returns the user and whether any of denyKeys is denied at
// now, in one query.
func (db *DB) UserForAccess(ctx context.Context, userID string, now time.Time, denyKeys ...string) (*auth.User, bool, error) {
	// A cached "denied" can outlive its deny-list entry by readCacheTTL at
	// most; entries expire with the token they deny, so that only refuses
	// a token that is refused anyway.
	key := accessKey(userID, denyKeys)
	if e, ok := db.cache.get(key); ok {
		return &e.user, e.denied, nil
	}
	ver := db.cache.version()
	var u auth.User
	var denied bool
	args := []any{userID}
	deny := "0"
	if len(denyKeys) > 0 {
		deny = `EXISTS (SELECT 1 FROM deny_list WHERE expires_at > ? AND key IN (?` + strings.Repeat(", ?", len(denyKeys)-1) + `))`
		args = append(args, now.UnixMicro())
		for _, k := range denyKeys {
			args = append(args, k)
		}
		// The user id goes last: it binds the outer WHERE.
		args = append(args[1:], userID)
	}
	err := db.queryRow(ctx, `SELECT `+userReadColumns+`, `+deny+` FROM users WHERE id = ?`, args...).
		Scan(&u.ID, &u.Email, &u.PasswordHash, &u.EmailVerified, &u.Disabled, timeCol{&u.CreatedAt}, timeCol{&u.TokensValidAfter}, &u.CredentialVersion, &u.TOTPEnabled, &u.Passkeys, &denied)
	if err != nil {
		return nil, false, wrapErr("get user for access", err)
	}
	db.cache.put(key, readEntry{ver: ver, user: u, denied: denied})
	return &u, denied, nil
}

// PurgeDenied deletes entries that expired before now.
func (db *DB) PurgeDenied(ctx context.Context, now time.Time) error {
	return wrapErr("purge deny list", db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := db.purgeDenied(ctx, tx, now)
		return err
	}))
}

func (db *DB) purgeDenied(ctx context.Context, tx *sql.Tx, now time.Time) (int64, error) {
	res, err := db.txExec(ctx, tx, `DELETE FROM deny_list WHERE expires_at < ?`, now.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
