package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// CreateOneTimeToken stores t and, in the same transaction, marks every other
// unused token of the same kind and user as used at t.CreatedAt: the newest
// token supersedes older ones. An unknown user is auth.ErrNotFound.
func (db *DB) CreateOneTimeToken(ctx context.Context, t *auth.OneTimeToken) error {
	return wrapErr("create one-time token", db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE one_time_tokens SET used_at = ? WHERE user_id = ? AND kind = ? AND used_at IS NULL`,
			t.CreatedAt.UnixMicro(), t.UserID, string(t.Kind)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO one_time_tokens (hash, kind, user_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?)`,
			t.Hash, string(t.Kind), t.UserID, timeArg(t.CreatedAt), timeArg(t.ExpiresAt), timeArg(t.UsedAt))
		return err
	}))
}

// ConsumeOneTimeToken marks the token with this kind and hash used at now and
// returns it, if it is unused and expires after now; otherwise it returns
// auth.ErrNotFound. It is one UPDATE on the single write connection, so two
// concurrent calls cannot both succeed.
func (db *DB) ConsumeOneTimeToken(ctx context.Context, kind auth.OneTimeKind, hash []byte, now time.Time) (*auth.OneTimeToken, error) {
	var t auth.OneTimeToken
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var k string
		err := db.txQueryRow(ctx, tx, `
			UPDATE one_time_tokens SET used_at = ?1
			WHERE hash = ?2 AND kind = ?3 AND used_at IS NULL AND expires_at > ?1
			RETURNING hash, kind, user_id, created_at, expires_at, used_at`,
			now.UnixMicro(), hash, string(kind),
		).Scan(&t.Hash, &k, &t.UserID, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, timeCol{&t.UsedAt})
		t.Kind = auth.OneTimeKind(k)
		return err
	})
	if err != nil {
		return nil, wrapErr("consume one-time token", err)
	}
	return &t, nil
}

// OneTimeToken returns the token with this kind and hash if it is unused and
// expires after now, without consuming it; otherwise auth.ErrNotFound.
func (db *DB) OneTimeToken(ctx context.Context, kind auth.OneTimeKind, hash []byte, now time.Time) (*auth.OneTimeToken, error) {
	var t auth.OneTimeToken
	var k string
	err := db.queryRow(ctx, `
		SELECT hash, kind, user_id, created_at, expires_at, used_at FROM one_time_tokens
		WHERE hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?`,
		hash, string(kind), now.UnixMicro(),
	).Scan(&t.Hash, &k, &t.UserID, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, timeCol{&t.UsedAt})
	if err != nil {
		return nil, wrapErr("get one-time token", err)
	}
	t.Kind = auth.OneTimeKind(k)
	return &t, nil
}
