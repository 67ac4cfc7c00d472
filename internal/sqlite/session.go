package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// CreateSession inserts s. An unknown user is auth.ErrNotFound, an existing
// id or token hash auth.ErrConflict.
func (db *DB) CreateSession(ctx context.Context, s *auth.Session) error {
	return wrapErr("create session", db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.UserID, s.TokenHash, timeArg(s.CreatedAt), timeArg(s.LastSeenAt), timeArg(s.ExpiresAt), s.IP, s.UserAgent)
		return err
	}))
}

// SessionByTokenHash returns the session whatever its expiry, or
// auth.ErrNotFound.
func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (*auth.Session, error) {
	var s auth.Session
	err := db.read.QueryRowContext(ctx, `
		SELECT id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent
		FROM sessions WHERE token_hash = ?`, hash,
	).Scan(&s.ID, &s.UserID, &s.TokenHash, timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, timeCol{&s.ExpiresAt}, &s.IP, &s.UserAgent)
	if err != nil {
		return nil, wrapErr("get session", err)
	}
	return &s, nil
}

// TouchSession sets last_seen_at.
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	return wrapErr("touch session", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, timeArg(at), id)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}

// DeleteSession deletes the user's session with this public id. Another
// user's session is auth.ErrNotFound.
func (db *DB) DeleteSession(ctx context.Context, userID, id string) error {
	return wrapErr("delete session", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ? AND user_id = ?`, id, userID)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}

// DeleteExpiredSessions removes sessions whose absolute expiry is before now.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	return wrapErr("delete expired sessions", db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := deleteExpiredSessions(ctx, tx, now)
		return err
	}))
}

func deleteExpiredSessions(ctx context.Context, tx *sql.Tx, now time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, now.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
