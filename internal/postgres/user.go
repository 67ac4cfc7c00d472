package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const userColumns = `id, email, password_hash, email_verified, disabled, created_at, tokens_valid_after`

// CreateUser inserts u. It returns auth.ErrConflict when the email (or the
// id) exists.
func (db *DB) CreateUser(ctx context.Context, u *auth.User) error {
	_, err := db.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, u.Email, u.PasswordHash, u.EmailVerified, u.Disabled, u.CreatedAt, timeArg(u.TokensValidAfter))
	return wrapErr("create user", err)
}

// UserByID returns the user or auth.ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id string) (*auth.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	return u, wrapErr("get user", err)
}

// UserByEmail returns the user with this normalised email or auth.ErrNotFound.
func (db *DB) UserByEmail(ctx context.Context, email string) (*auth.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	return u, wrapErr("get user by email", err)
}

func scanUser(row pgx.Row) (*auth.User, error) {
	var u auth.User
	if err := row.Scan(userDest(&u)...); err != nil {
		return nil, err
	}
	return &u, nil
}

// userDest lists the scan destinations of userColumns.
func userDest(u *auth.User) []any {
	return []any{&u.ID, &u.Email, &u.PasswordHash, &u.EmailVerified, &u.Disabled,
		timeCol{&u.CreatedAt}, timeCol{&u.TokensValidAfter}}
}

// SetPasswordHash replaces the user's hash.
func (db *DB) SetPasswordHash(ctx context.Context, userID, hash string) error {
	return wrapErr("set password hash", notFoundIfNone(db.exec(ctx,
		`UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)))
}

// MarkEmailVerified sets email_verified and spends every unused
// verification token of the user, in one transaction.
func (db *DB) MarkEmailVerified(ctx context.Context, userID string) error {
	return wrapErr("mark email verified", db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET email_verified = true WHERE id = $1`, userID)
		if err := notFoundIfNone(tag.RowsAffected(), err); err != nil {
			return err
		}
		// The store has no clock: a voided token is marked used at its
		// own creation, which is all "used" needs to say.
		_, err = tx.Exec(ctx,
			`UPDATE one_time_tokens SET used_at = created_at WHERE user_id = $1 AND kind = $2 AND used_at IS NULL`,
			userID, string(auth.KindVerifyEmail))
		return err
	}))
}

// SetTokensValidAfter moves the user's revocation epoch to t, never
// backwards: an earlier (or zero) t leaves it as it is. GREATEST ignores a
// NULL (zero) epoch.
func (db *DB) SetTokensValidAfter(ctx context.Context, userID string, t time.Time) error {
	if t.IsZero() {
		var one int
		return wrapErr("set tokens valid after", db.queryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, userID).Scan(&one))
	}
	// PostgreSQL counts a matched row as changed even when the value stays.
	return wrapErr("set tokens valid after", notFoundIfNone(db.exec(ctx,
		`UPDATE users SET tokens_valid_after = GREATEST(tokens_valid_after, $1) WHERE id = $2`, t, userID)))
}
