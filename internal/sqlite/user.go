package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const userColumns = `id, email, password_hash, email_verified, disabled, created_at, tokens_valid_after`

// CreateUser inserts u. It returns auth.ErrConflict when the email exists.
func (db *DB) CreateUser(ctx context.Context, u *auth.User) error {
	return wrapErr("create user", db.writeTx(ctx, func(tx *sql.Tx) error {
		return db.createUser(ctx, tx, u)
	}))
}

func (db *DB) createUser(ctx context.Context, tx *sql.Tx, u *auth.User) error {
	_, err := db.txExec(ctx, tx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, u.EmailVerified, u.Disabled, timeArg(u.CreatedAt), timeArg(u.TokensValidAfter))
	return err
}

// UserByID returns the user or auth.ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id string) (*auth.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	return u, wrapErr("get user", err)
}

// UserByEmail returns the user with this normalised email or auth.ErrNotFound.
func (db *DB) UserByEmail(ctx context.Context, email string) (*auth.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	return u, wrapErr("get user by email", err)
}

func scanUser(row scanner) (*auth.User, error) {
	var u auth.User
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.EmailVerified, &u.Disabled,
		timeCol{&u.CreatedAt}, timeCol{&u.TokensValidAfter}); err != nil {
		return nil, err
	}
	return &u, nil
}

// SetPasswordHash replaces the user's hash.
func (db *DB) SetPasswordHash(ctx context.Context, userID, hash string) error {
	return wrapErr("set password hash", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}

// MarkEmailVerified sets email_verified and spends every unused
// verification token of the user, in one write transaction.
func (db *DB) MarkEmailVerified(ctx context.Context, userID string) error {
	return wrapErr("mark email verified", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `UPDATE users SET email_verified = 1 WHERE id = ?`, userID)
		if err != nil {
			return err
		}
		if err := rowsAffected(res); err != nil {
			return err
		}
		// The store has no clock: a voided token is marked used at its
		// own creation, which is all "used" needs to say.
		_, err = db.txExec(ctx, tx,
			`UPDATE one_time_tokens SET used_at = created_at WHERE user_id = ? AND kind = ? AND used_at IS NULL`,
			userID, string(auth.KindVerifyEmail))
		return err
	}))
}

// SetTokensValidAfter moves the user's revocation epoch to t, never
// backwards: an earlier (or zero) t leaves it as it is.
func (db *DB) SetTokensValidAfter(ctx context.Context, userID string, t time.Time) error {
	return wrapErr("set tokens valid after", db.writeTx(ctx, func(tx *sql.Tx) error {
		if t.IsZero() {
			var one int
			return db.txQueryRow(ctx, tx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one)
		}
		// SQLite counts a matched row as changed even when the value stays.
		res, err := tx.ExecContext(ctx,
			`UPDATE users SET tokens_valid_after = MAX(COALESCE(tokens_valid_after, ?1), ?1) WHERE id = ?2`,
			t.UnixMicro(), userID)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}
