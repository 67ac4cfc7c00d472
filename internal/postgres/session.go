package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const sessionColumns = `id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent, amr`

// CreateSession inserts s. An unknown user is auth.ErrNotFound, an existing
// id or token hash auth.ErrConflict.
func (db *DB) CreateSession(ctx context.Context, s *auth.Session) error {
	if s.CredentialVersion != 0 {
		return wrapErr("create session", db.tx(ctx, func(tx pgx.Tx) error {
			if err := checkCredentialVersion(ctx, tx, s.UserID, s.CredentialVersion); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				s.ID, s.UserID, s.TokenHash, s.CreatedAt, timeArg(s.LastSeenAt), s.ExpiresAt, text(s.IP), text(s.UserAgent), s.Methods.String())
			return err
		}))
	}
	_, err := db.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		s.ID, s.UserID, s.TokenHash, s.CreatedAt, timeArg(s.LastSeenAt), s.ExpiresAt, text(s.IP), text(s.UserAgent), s.Methods.String())
	return wrapErr("create session", err)
}

// sessionDest lists the scan destinations of sessionColumns.
func sessionDest(s *auth.Session) []any {
	return []any{&s.ID, &s.UserID, &s.TokenHash, timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, timeCol{&s.ExpiresAt},
		&s.IP, &s.UserAgent, &s.Methods}
}

// SessionByTokenHash returns the session whatever its expiry, or
// auth.ErrNotFound.
func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (*auth.Session, error) {
	var s auth.Session
	if err := db.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = $1`, hash).
		Scan(sessionDest(&s)...); err != nil {
		return nil, wrapErr("get session", err)
	}
	return &s, nil
}

// SessionWithUser returns the session with this token hash and its user in
// one query.
func (db *DB) SessionWithUser(ctx context.Context, hash []byte) (*auth.Session, *auth.User, error) {
	var s auth.Session
	var u auth.User
	err := db.queryRow(ctx, `
		SELECT s.id, s.user_id, s.token_hash, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent, s.amr,
		       u.id, u.email, u.password_hash, u.email_verified, u.disabled, u.created_at, u.tokens_valid_after, u.credential_version,
		       u.totp_enabled, u.passkeys
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1`, hash,
	).Scan(append(sessionDest(&s), userDest(&u)...)...)
	if err != nil {
		return nil, nil, wrapErr("get session", err)
	}
	return &s, &u, nil
}

// TouchSession sets last_seen_at.
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	return wrapErr("touch session", notFoundIfNone(db.exec(ctx,
		`UPDATE sessions SET last_seen_at = $1 WHERE id = $2`, timeArg(at), id)))
}

// DeleteSession deletes the user's session with this public id. Another
// user's session is auth.ErrNotFound.
func (db *DB) DeleteSession(ctx context.Context, userID, id string) error {
	return wrapErr("delete session", notFoundIfNone(db.exec(ctx,
		`DELETE FROM sessions WHERE id = $1 AND user_id = $2`, id, userID)))
}

// DeleteExpiredSessions removes sessions whose absolute expiry is before now.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	_, err := db.exec(ctx, deleteExpiredSessions, now)
	return wrapErr("delete expired sessions", err)
}

const deleteExpiredSessions = `DELETE FROM sessions WHERE expires_at < $1`
