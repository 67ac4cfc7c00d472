package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const oneTimeColumns = `hash, kind, user_id, created_at, expires_at, used_at, password_hash`

// CreateOneTimeToken stores t and, in the same transaction, marks every other
// unused token of the same kind and user created at or before t.CreatedAt as
// used at t.CreatedAt: the newest token supersedes older ones. If a token of
// the same kind and user created after t.CreatedAt exists, t is stored
// already used. An unknown user is auth.ErrNotFound.
func (db *DB) CreateOneTimeToken(ctx context.Context, t *auth.OneTimeToken) error {
	return wrapErr("create one-time token", db.writeTx(ctx, func(tx *sql.Tx) error {
		return db.createOneTime(ctx, tx, t)
	}))
}

// createOneTime is CreateOneTimeToken inside tx. Writers are serialised, so
// the check for a newer token and the insert cannot interleave with another.
func (db *DB) createOneTime(ctx context.Context, tx *sql.Tx, t *auth.OneTimeToken) error {
	usedAt := t.UsedAt
	var newer int
	err := db.txQueryRow(ctx, tx,
		`SELECT count(*) FROM one_time_tokens WHERE user_id = ? AND kind = ? AND created_at > ?`,
		t.UserID, string(t.Kind), t.CreatedAt.UnixMicro()).Scan(&newer)
	if err != nil {
		return err
	}
	if newer > 0 && usedAt.IsZero() {
		usedAt = t.CreatedAt // superseded on arrival
	}
	if _, err := db.txExec(ctx, tx,
		`UPDATE one_time_tokens SET used_at = ? WHERE user_id = ? AND kind = ? AND used_at IS NULL AND created_at <= ?`,
		t.CreatedAt.UnixMicro(), t.UserID, string(t.Kind), t.CreatedAt.UnixMicro()); err != nil {
		return err
	}
	_, err = db.txExec(ctx, tx,
		`INSERT INTO one_time_tokens (`+oneTimeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, string(t.Kind), t.UserID, timeArg(t.CreatedAt), timeArg(t.ExpiresAt), timeArg(usedAt), textArg(t.PasswordHash))
	if err != nil {
		return err
	}
	t.UsedAt = usedAt
	return nil
}

// NewestOneTimeToken returns the token of this kind and user with the latest
// CreatedAt, used or not; otherwise auth.ErrNotFound.
func (db *DB) NewestOneTimeToken(ctx context.Context, userID string, kind auth.OneTimeKind) (*auth.OneTimeToken, error) {
	t, err := scanOneTime(db.queryRow(ctx, `
		SELECT `+oneTimeColumns+` FROM one_time_tokens
		WHERE user_id = ? AND kind = ?
		ORDER BY created_at DESC LIMIT 1`,
		userID, string(kind)))
	if err != nil {
		return nil, wrapErr("newest one-time token", err)
	}
	return t, nil
}

// ConsumeOneTimeToken marks the token with this kind and hash used at now and
// returns it, if it is unused and expires after now; otherwise it returns
// auth.ErrNotFound. It is one UPDATE on the single write connection, so two
// concurrent calls cannot both succeed.
func (db *DB) ConsumeOneTimeToken(ctx context.Context, kind auth.OneTimeKind, hash []byte, now time.Time) (*auth.OneTimeToken, error) {
	var t *auth.OneTimeToken
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanOneTime(db.txQueryRow(ctx, tx, `
			UPDATE one_time_tokens SET used_at = ?1
			WHERE hash = ?2 AND kind = ?3 AND used_at IS NULL AND expires_at > ?1
			RETURNING `+oneTimeColumns,
			now.UnixMicro(), hash, string(kind)))
		return err
	})
	if err != nil {
		return nil, wrapErr("consume one-time token", err)
	}
	return t, nil
}

// VerifyEmailWithPassword redeems a verification token carrying a password
// hash for a user not yet verified: in one write transaction it spends the
// token, puts its password in force, marks the address verified and spends
// every other verification token of the user. Otherwise auth.ErrNotFound.
func (db *DB) VerifyEmailWithPassword(ctx context.Context, hash []byte, now time.Time) (*auth.OneTimeToken, error) {
	var t *auth.OneTimeToken
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanOneTime(db.txQueryRow(ctx, tx, `
			UPDATE one_time_tokens SET used_at = ?1
			WHERE hash = ?2 AND kind = ?3 AND used_at IS NULL AND expires_at > ?1
			  AND password_hash IS NOT NULL AND password_hash <> ''
			  AND user_id IN (SELECT id FROM users WHERE email_verified = 0)
			RETURNING `+oneTimeColumns,
			now.UnixMicro(), hash, string(auth.KindVerifyEmail)))
		if err != nil {
			return err
		}
		res, err := db.txExec(ctx, tx,
			`UPDATE users SET password_hash = ?, email_verified = 1, credential_version = credential_version + 1 WHERE id = ?`, t.PasswordHash, t.UserID)
		if err != nil {
			return err
		}
		if err := rowsAffected(res); err != nil {
			return err
		}
		_, err = db.txExec(ctx, tx,
			`UPDATE one_time_tokens SET used_at = ? WHERE user_id = ? AND kind = ? AND used_at IS NULL`,
			now.UnixMicro(), t.UserID, string(auth.KindVerifyEmail))
		return err
	})
	if err != nil {
		return nil, wrapErr("verify email with password", err)
	}
	return t, nil
}

// OneTimeToken returns the token with this kind and hash if it is unused and
// expires after now, without consuming it; otherwise auth.ErrNotFound.
func (db *DB) OneTimeToken(ctx context.Context, kind auth.OneTimeKind, hash []byte, now time.Time) (*auth.OneTimeToken, error) {
	t, err := scanOneTime(db.queryRow(ctx, `
		SELECT `+oneTimeColumns+` FROM one_time_tokens
		WHERE hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?`,
		hash, string(kind), now.UnixMicro()))
	if err != nil {
		return nil, wrapErr("get one-time token", err)
	}
	return t, nil
}

func scanOneTime(row scanner) (*auth.OneTimeToken, error) {
	var t auth.OneTimeToken
	var k string
	var pw sql.NullString
	if err := row.Scan(&t.Hash, &k, &t.UserID, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, timeCol{&t.UsedAt}, &pw); err != nil {
		return nil, err
	}
	t.Kind = auth.OneTimeKind(k)
	t.PasswordHash = pw.String
	return &t, nil
}

// textArg stores an empty string as NULL.
func textArg(s string) any {
	if s == "" {
		return nil
	}
	return s
}
