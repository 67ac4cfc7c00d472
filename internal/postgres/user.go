package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const userColumns = `id, email, password_hash, email_verified, disabled, created_at, tokens_valid_after`

// userReadColumns are the columns userDest scans.
const userReadColumns = userInsertColumns + `, totp_enabled, passkeys`

// userInsertColumns are the columns CreateUser writes.
const userInsertColumns = userColumns + `, credential_version`

// CreateUser inserts u. It returns auth.ErrConflict when the email (or the
// id) exists.
func (db *DB) CreateUser(ctx context.Context, u *auth.User) error {
	u.CredentialVersion = max(u.CredentialVersion, 1)
	_, err := db.exec(ctx, `INSERT INTO users (`+userInsertColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.Email, u.PasswordHash, u.EmailVerified, u.Disabled, u.CreatedAt, timeArg(u.TokensValidAfter), u.CredentialVersion)
	return wrapErr("create user", err)
}

// UserByID returns the user or auth.ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id string) (*auth.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userReadColumns+` FROM users WHERE id = $1`, id))
	return u, wrapErr("get user", err)
}

// UserByEmail returns the user with this normalised email or auth.ErrNotFound.
func (db *DB) UserByEmail(ctx context.Context, email string) (*auth.User, error) {
	u, err := scanUser(db.queryRow(ctx, `SELECT `+userReadColumns+` FROM users WHERE email = $1`, email))
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
		timeCol{&u.CreatedAt}, timeCol{&u.TokensValidAfter}, &u.CredentialVersion, &u.TOTPEnabled, &u.Passkeys}
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

// ReplacePassword sets the hash, bumps the credential version, moves the
// revocation epoch and revokes the user's other sessions and families, in one
// transaction. The UPDATE of the user comes first: it takes the row lock
// that CreateSession and CreateRefreshFamily take (FOR SHARE) to re-check the
// version, and the later statements, each with a fresh snapshot under READ
// COMMITTED, see any session committed before the lock was granted.
func (db *DB) ReplacePassword(ctx context.Context, userID, hash, keepSessionID, keepFamilyID string, now time.Time) ([]string, int64, error) {
	var revoked []string
	var version int64
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `
			UPDATE users SET password_hash = $1, credential_version = credential_version + 1,
				tokens_valid_after = GREATEST(tokens_valid_after, $2)
			WHERE id = $3 RETURNING credential_version`, hash, now, userID).Scan(&version); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keepSessionID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			UPDATE refresh_families SET revoked_at = $1
			WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL AND expires_at > $1
			RETURNING id`, now, userID, keepFamilyID)
		if err != nil {
			return err
		}
		revoked, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, 0, wrapErr("replace password", err)
	}
	slices.Sort(revoked)
	return revoked, version, nil
}

// checkCredentialVersion is the re-check of CreateSession and
// CreateRefreshFamily, in their transaction: FOR SHARE holds the user's row
// until commit, so a ReplacePassword either commits before (and the check
// sees the new version) or waits for the insert (and revokes it).
func checkCredentialVersion(ctx context.Context, tx pgx.Tx, userID string, version int64) error {
	if version == 0 {
		return nil
	}
	var cur int64
	var disabled bool
	err := tx.QueryRow(ctx, `SELECT credential_version, disabled FROM users WHERE id = $1 FOR SHARE`, userID).Scan(&cur, &disabled)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (cur != version || disabled)) {
		return auth.ErrCredentialChanged
	}
	return err
}

// UserEmails returns up to limit users' ids and emails after afterID, in id
// order.
func (db *DB) UserEmails(ctx context.Context, afterID string, limit int) ([]auth.UserEmail, error) {
	rows, err := db.query(ctx, `SELECT id, email FROM users WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, wrapErr("list user emails", err)
	}
	defer rows.Close()
	var out []auth.UserEmail
	for rows.Next() {
		var e auth.UserEmail
		if err := rows.Scan(&e.ID, &e.Email); err != nil {
			return nil, wrapErr("list user emails", err)
		}
		out = append(out, e)
	}
	return out, wrapErr("list user emails", rows.Err())
}

// SetUserEmail replaces the user's email (auth.ErrConflict when another user
// has it).
func (db *DB) SetUserEmail(ctx context.Context, userID, email string) error {
	return wrapErr("set user email", notFoundIfNone(db.exec(ctx, `UPDATE users SET email = $1 WHERE id = $2`, email, userID)))
}
