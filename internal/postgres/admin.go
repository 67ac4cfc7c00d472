package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var _ auth.AdminStore = (*DB)(nil)

// ListUsers implements auth.AdminStore. The prefix and the keyset compare
// byte-wise (COLLATE "C"), as the emails are stored canonical.
func (db *DB) ListUsers(ctx context.Context, prefix, after string, limit int) ([]auth.UserSummary, error) {
	rows, err := db.query(ctx, `
		SELECT u.id, u.email, u.email_verified, u.disabled, a.user_id IS NOT NULL, u.created_at, u.totp_enabled, u.passkeys
		FROM users u LEFT JOIN admins a ON a.user_id = u.id
		WHERE u.email COLLATE "C" > $1 COLLATE "C" AND starts_with(u.email, $2)
		ORDER BY u.email COLLATE "C" LIMIT $3`, after, prefix, limit)
	if err != nil {
		return nil, wrapErr("list users", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.UserSummary, error) {
		var u auth.UserSummary
		err := r.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Disabled, &u.Admin, &u.CreatedAt, &u.TOTPEnabled, &u.Passkeys)
		u.CreatedAt = u.CreatedAt.UTC()
		return u, err
	})
	return out, wrapErr("list users", err)
}

// SetAdmin implements auth.AdminStore.
func (db *DB) SetAdmin(ctx context.Context, userID string, admin bool, now time.Time) error {
	return wrapErr("set admin", db.tx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, userID).Scan(&one); err != nil {
			return err
		}
		if admin {
			_, err := tx.Exec(ctx, `INSERT INTO admins (user_id, granted_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`, userID, now)
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM admins WHERE user_id = $1`, userID)
		return err
	}))
}

// IsAdmin implements auth.AdminStore.
func (db *DB) IsAdmin(ctx context.Context, userID string) (bool, error) {
	var n int
	if err := db.queryRow(ctx, `SELECT count(*) FROM admins WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return false, wrapErr("is admin", err)
	}
	return n == 1, nil
}

// SetDisabled implements auth.AdminStore.
func (db *DB) SetDisabled(ctx context.Context, userID string, disabled bool, now time.Time) ([]string, error) {
	var revoked []string
	err := db.tx(ctx, func(tx pgx.Tx) error {
		revoked = nil
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled = $1 WHERE id = $2`, disabled, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrNotFound
		}
		if !disabled {
			return nil
		}
		revoked, err = revokeAll(ctx, tx, userID, now)
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
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		revoked, err = revokeAll(ctx, tx, userID, now)
		return err
	})
	if err != nil {
		return nil, wrapErr("revoke all", err)
	}
	return revoked, nil
}

func revokeAll(ctx context.Context, tx pgx.Tx, userID string, now time.Time) ([]string, error) {
	tag, err := tx.Exec(ctx, `
		UPDATE users SET credential_version = credential_version + 1,
			tokens_valid_after = GREATEST(tokens_valid_after, $1)
		WHERE id = $2`, now, userID)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, auth.ErrNotFound
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `
		UPDATE refresh_families SET revoked_at = $1
		WHERE user_id = $2 AND revoked_at IS NULL AND expires_at > $1
		RETURNING id`, now, userID)
	if err != nil {
		return nil, err
	}
	revoked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	slices.Sort(revoked)
	return revoked, err
}

// DeleteUser implements auth.AdminStore; every table that refers to users
// deletes on cascade.
func (db *DB) DeleteUser(ctx context.Context, userID string) error {
	n, err := db.exec(ctx, `DELETE FROM users WHERE id = $1`, userID)
	if err == nil && n == 0 {
		err = auth.ErrNotFound
	}
	return wrapErr("delete user", err)
}
