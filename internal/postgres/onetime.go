package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const oneTimeColumns = `hash, kind, user_id, created_at, expires_at, used_at`

// CreateOneTimeToken stores t and, in the same transaction, marks every other
// unused token of the same kind and user as used at t.CreatedAt: the newest
// token supersedes older ones. An unknown user is auth.ErrNotFound.
func (db *DB) CreateOneTimeToken(ctx context.Context, t *auth.OneTimeToken) error {
	return wrapErr("create one-time token", db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			`UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND kind = $3 AND used_at IS NULL`,
			t.CreatedAt, t.UserID, string(t.Kind)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO one_time_tokens (`+oneTimeColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			t.Hash, string(t.Kind), t.UserID, t.CreatedAt, t.ExpiresAt, timeArg(t.UsedAt))
		return err
	}))
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
	if err := row.Scan(&t.Hash, &kind, &t.UserID, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, timeCol{&t.UsedAt}); err != nil {
		return nil, err
	}
	t.Kind = auth.OneTimeKind(kind)
	return &t, nil
}
