package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const userColumns = `id, email, password_hash, email_verified, disabled, created_at, tokens_valid_after`

// userReadColumns are the columns scanUser reads.
const userReadColumns = userInsertColumns + `, totp_enabled, passkeys`

// userInsertColumns are the columns CreateUser writes.
const userInsertColumns = userColumns + `, credential_version`

// CreateUser inserts u. It returns auth.ErrConflict when the email exists.
func (db *DB) CreateUser(ctx context.Context, u *auth.User) error {
	return wrapErr("create user", db.writeTx(ctx, func(tx *sql.Tx) error {
		return db.createUser(ctx, tx, u)
	}))
}

func (db *DB) createUser(ctx context.Context, tx *sql.Tx, u *auth.User) error {
	u.CredentialVersion = max(u.CredentialVersion, 1)
	_, err := db.txExec(ctx, tx, `INSERT INTO users (`+userInsertColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, u.EmailVerified, u.Disabled, timeArg(u.CreatedAt), timeArg(u.TokensValidAfter), u.CredentialVersion)
	return err
}

// UserByID returns the user or auth.ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id string) (*auth.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userReadColumns+` FROM users WHERE id = ?`, id))
	return u, wrapErr("get user", err)
}

// UserByEmail returns the user with this normalised email or auth.ErrNotFound.
func (db *DB) UserByEmail(ctx context.Context, email string) (*auth.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userReadColumns+` FROM users WHERE email = ?`, email))
	return u, wrapErr("get user by email", err)
}

func scanUser(row scanner) (*auth.User, error) {
	var u auth.User
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.EmailVerified, &u.Disabled,
		timeCol{&u.CreatedAt}, timeCol{&u.TokensValidAfter}, &u.CredentialVersion, &u.TOTPEnabled, &u.Passkeys); err != nil {
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

// ReplacePassword sets the hash, bumps the credential version, moves the
// revocation epoch and revokes the user's other sessions and families, all in
// one write transaction.
func (db *DB) ReplacePassword(ctx context.Context, userID, hash, keepSessionID, keepFamilyID string, now time.Time) ([]string, int64, error) {
	var revoked []string
	var version int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		revoked = nil // in case of a retry
		if err := db.txQueryRow(ctx, tx, `
			UPDATE users SET password_hash = ?1, credential_version = credential_version + 1,
				tokens_valid_after = MAX(COALESCE(tokens_valid_after, ?2), ?2)
			WHERE id = ?3 RETURNING credential_version`,
			hash, now.UnixMicro(), userID).Scan(&version); err != nil {
			return err
		}
		var err error
		revoked, err = db.revokeUserSessions(ctx, tx, userID, keepSessionID, keepFamilyID, now)
		return err
	})
	if err != nil {
		return nil, 0, wrapErr("replace password", err)
	}
	slices.Sort(revoked)
	return revoked, version, nil
}

// checkCredentialVersion is the re-check of CreateSession and
// CreateRefreshFamily, inside their write transaction.
func (db *DB) checkCredentialVersion(ctx context.Context, tx *sql.Tx, userID string, version int64) error {
	if version == 0 {
		return nil
	}
	var cur int64
	var disabled bool
	err := db.txQueryRow(ctx, tx, `SELECT credential_version, disabled FROM users WHERE id = ?`, userID).Scan(&cur, &disabled)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (cur != version || disabled)) {
		return auth.ErrCredentialChanged
	}
	return err
}

// UserEmails returns up to limit users' ids and emails after afterID, in id
// order.
func (db *DB) UserEmails(ctx context.Context, afterID string, limit int) ([]auth.UserEmail, error) {
	var out []auth.UserEmail
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := db.txQuery(ctx, tx, `SELECT id, email FROM users WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e auth.UserEmail
			if err := rows.Scan(&e.ID, &e.Email); err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, wrapErr("list user emails", err)
}

// SetUserEmail replaces the user's email (auth.ErrConflict when another user
// has it).
func (db *DB) SetUserEmail(ctx context.Context, userID, email string) error {
	return wrapErr("set user email", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `UPDATE users SET email = ? WHERE id = ?`, email, userID)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}
