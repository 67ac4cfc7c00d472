package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var _ auth.AdminStore = (*DB)(nil)

// ListUsers implements auth.AdminStore. The prefix is compared byte-wise
// (SQLite's BINARY collation, as the emails are stored canonical).
func (db *DB) ListUsers(ctx context.Context, prefix, after string, limit int) ([]auth.UserSummary, error) {
	rows, err := db.query(ctx, `
		SELECT u.id, u.email, u.email_verified, u.disabled, a.user_id IS NOT NULL, u.created_at, u.totp_enabled, u.passkeys
		FROM users u LEFT JOIN admins a ON a.user_id = u.id
		WHERE u.email > ?1 AND substr(u.email, 1, length(?2)) = ?2
		ORDER BY u.email LIMIT ?3`, after, prefix, limit)
	if err != nil {
		return nil, wrapErr("list users", err)
	}
	defer rows.Close()
	var out []auth.UserSummary
	for rows.Next() {
		var u auth.UserSummary
		var created int64
		if err := rows.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Disabled, &u.Admin, &created, &u.TOTPEnabled, &u.Passkeys); err != nil {
			return nil, wrapErr("list users", err)
		}
		u.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, u)
	}
	return out, wrapErr("list users", rows.Err())
}

// SetAdmin implements auth.AdminStore.
func (db *DB) SetAdmin(ctx context.Context, userID string, admin bool, now time.Time) error {
	return wrapErr("set admin", db.writeTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := db.txQueryRow(ctx, tx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one); err != nil {
			return err
		}
		if admin {
			_, err := db.txExec(ctx, tx, `INSERT INTO admins (user_id, granted_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`, userID, now.UnixMicro())
			return err
		}
		_, err := db.txExec(ctx, tx, `DELETE FROM admins WHERE user_id = ?`, userID)
		return err
	}))
}

// IsAdmin implements auth.AdminStore.
func (db *DB) IsAdmin(ctx context.Context, userID string) (bool, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT count(*) FROM admins WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return false, wrapErr("is admin", err)
	}
	return n == 1, nil
}

// SetDisabled implements auth.AdminStore.
func (db *DB) SetDisabled(ctx context.Context, userID string, disabled bool, now time.Time) ([]string, error) {
	var revoked []string
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		revoked = nil
		res, err := db.txExec(ctx, tx, `UPDATE users SET disabled = ? WHERE id = ?`, disabled, userID)
		if err != nil {
			return err
		}
		if err := rowsAffected(res); err != nil || !disabled {
			return err
		}
		revoked, err = db.revokeAll(ctx, tx, userID, now)
		return err
	})
	if err != nil {
		return nil, wrapErr("set disabled", err)
	}
	return revoked, nil
}

// RevokeAll implements auth.AdminStore.
func (db *DB) RevokeAll(ctx context.Context, userID string, now time.Time) ([]string, error) {
	var revoked []string
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		revoked, err = db.revokeAll(ctx, tx, userID, now)
		return err
	})
	if err != nil {
		return nil, wrapErr("revoke all", err)
	}
	return revoked, nil
}

func (db *DB) revokeAll(ctx context.Context, tx *sql.Tx, userID string, now time.Time) ([]string, error) {
	res, err := db.txExec(ctx, tx, `
		UPDATE users SET credential_version = credential_version + 1,
			tokens_valid_after = MAX(COALESCE(tokens_valid_after, ?1), ?1)
		WHERE id = ?2`, now.UnixMicro(), userID)
	if err != nil {
		return nil, err
	}
	if err := rowsAffected(res); err != nil {
		return nil, err
	}
	revoked, err := db.revokeUserSessions(ctx, tx, userID, "", "", now)
	slices.Sort(revoked)
	return revoked, err
}

// DeleteUser implements auth.AdminStore; every table that refers to users
// deletes on cascade.
func (db *DB) DeleteUser(ctx context.Context, userID string) error {
	return wrapErr("delete user", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `DELETE FROM users WHERE id = ?`, userID)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}
