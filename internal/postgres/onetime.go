package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const oneTimeColumns = `hash, kind, user_id, created_at, expires_at, used_at, password_hash`

// CreateOneTimeToken stores t and, in the same transaction, marks every other
// unused token of the same kind and user created at or before t.CreatedAt as
// used at t.CreatedAt: the newest token supersedes older ones. If a token of
// the same kind and user created after t.CreatedAt exists, t is stored
// already used. An unknown user is auth.ErrNotFound.
func (db *DB) CreateOneTimeToken(ctx context.Context, t *auth.OneTimeToken) error {
	return wrapErr("create one-time token", db.tx(ctx, func(tx pgx.Tx) error {
		return createOneTime(ctx, tx, t)
	}))
}

// createOneTime is CreateOneTimeToken inside tx. The user's row is locked
// first, so concurrent issuers for one user run one after the other and the
// check for a newer token cannot miss one being inserted.
func createOneTime(ctx context.Context, tx pgx.Tx, t *auth.OneTimeToken) error {
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, t.UserID).Scan(&one); err != nil {
		return err // pgx.ErrNoRows: auth.ErrNotFound
	}
	usedAt := t.UsedAt
	var newer bool
	if err := tx.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM one_time_tokens WHERE user_id = $1 AND kind = $2 AND created_at > $3)`,
		t.UserID, string(t.Kind), t.CreatedAt).Scan(&newer); err != nil {
		return err
	}
	if newer && usedAt.IsZero() {
		usedAt = t.CreatedAt // superseded on arrival
	}
	if _, err := tx.Exec(ctx,
		`UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND kind = $3 AND used_at IS NULL AND created_at <= $1`,
		t.CreatedAt, t.UserID, string(t.Kind)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx,
		`INSERT INTO one_time_tokens (`+oneTimeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.Hash, string(t.Kind), t.UserID, t.CreatedAt, t.ExpiresAt, timeArg(usedAt), textArg(t.PasswordHash)); err != nil {
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
		WHERE user_id = $1 AND kind = $2
		ORDER BY created_at DESC LIMIT 1`,
		userID, string(kind)))
	if err != nil {
		return nil, wrapErr("newest one-time token", err)
	}
	return t, nil
}

// ConsumeOneTimeToken marks the token with this kind and hash used at now and
// returns it, if it is unused and expires after now; otherwise it returns
// auth.ErrNotFound. It is one UPDATE … RETURNING: a concurrent call waits for
// the row lock, then finds the token used.
func (db *DB) ConsumeOneTimeToken(ctx context.Context, kind auth.OneTimeKind, hash []byte, now time.Time) (*auth.OneTimeToken, error) {
	t, err := scanOneTime(db.queryRow(ctx, `
		UPDATE one_time_tokens SET used_at = $1
		WHERE hash = $2 AND kind = $3 AND used_at IS NULL AND expires_at > $1
		RETURNING `+oneTimeColumns,
		now, hash, string(kind)))
	if err != nil {
		return nil, wrapErr("consume one-time token", err)
	}
	return t, nil
}

// VerifyEmailWithPassword redeems a verification token carrying a password
// hash for a user not yet verified: in one transaction it spends the token,
// puts its password in force, marks the address verified and spends every
// other verification token of the user. Otherwise auth.ErrNotFound. The
// user's row is locked first, so a concurrent reset or token issue for the
// same user waits.
func (db *DB) VerifyEmailWithPassword(ctx context.Context, hash []byte, now time.Time) (*auth.OneTimeToken, error) {
	var t *auth.OneTimeToken
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var userID string
		if err := tx.QueryRow(ctx, `
			SELECT u.id FROM users u JOIN one_time_tokens o ON o.user_id = u.id
			WHERE o.hash = $1 AND o.kind = $2
			FOR UPDATE OF u`, hash, string(auth.KindVerifyEmail)).Scan(&userID); err != nil {
			return err
		}
		var err error
		t, err = scanOneTime(tx.QueryRow(ctx, `
			UPDATE one_time_tokens SET used_at = $1
			WHERE hash = $2 AND kind = $3 AND used_at IS NULL AND expires_at > $1
			  AND password_hash IS NOT NULL AND password_hash <> ''
			  AND user_id IN (SELECT id FROM users WHERE NOT email_verified)
			RETURNING `+oneTimeColumns,
			now, hash, string(auth.KindVerifyEmail)))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`UPDATE users SET password_hash = $1, email_verified = true, credential_version = credential_version + 1 WHERE id = $2`, t.PasswordHash, t.UserID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND kind = $3 AND used_at IS NULL`,
			now, t.UserID, string(auth.KindVerifyEmail))
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
		WHERE hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3`,
		hash, string(kind), now))
	if err != nil {
		return nil, wrapErr("get one-time token", err)
	}
	return t, nil
}

func scanOneTime(row pgx.Row) (*auth.OneTimeToken, error) {
	var t auth.OneTimeToken
	var kind string
	var pw *string
	if err := row.Scan(&t.Hash, &kind, &t.UserID, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, timeCol{&t.UsedAt}, &pw); err != nil {
		return nil, err
	}
	t.Kind = auth.OneTimeKind(kind)
	if pw != nil {
		t.PasswordHash = *pw
	}
	return &t, nil
}

// textArg stores an empty string as NULL.
func textArg(s string) any {
	if s == "" {
		return nil
	}
	return s
}
