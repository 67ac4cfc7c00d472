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
		if err := db.checkCredentialVersion(ctx, tx, s.UserID, s.CredentialVersion); err != nil {
			return err
		}
		_, err := db.txExec(ctx, tx, `
			INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent, amr)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.UserID, s.TokenHash, timeArg(s.CreatedAt), timeArg(s.LastSeenAt), timeArg(s.ExpiresAt), s.IP, s.UserAgent,
			s.Methods.String())
		return err
	}))
}

// SessionByTokenHash returns the session whatever its expiry, or
// auth.ErrNotFound.
func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (*auth.Session, error) {
	var s auth.Session
	err := db.queryRow(ctx, `
		SELECT id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent, amr
		FROM sessions WHERE token_hash = ?`, hash,
	).Scan(&s.ID, &s.UserID, &s.TokenHash, timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, timeCol{&s.ExpiresAt}, &s.IP, &s.UserAgent, &s.Methods)
	if err != nil {
		return nil, wrapErr("get session", err)
	}
	return &s, nil
}

// SessionWithUser returns the session with this token hash and its user in
// one query.
func (db *DB) SessionWithUser(ctx context.Context, hash []byte) (*auth.Session, *auth.User, error) {
	key := sessionKey(hash)
	if e, ok := db.cache.get(key); ok {
		return &e.session, &e.user, nil
	}
	ver := db.cache.version()
	var s auth.Session
	var u auth.User
	err := db.queryRow(ctx, `
		SELECT s.id, s.user_id, s.token_hash, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent, s.amr,
		       u.id, u.email, u.password_hash, u.email_verified, u.disabled, u.created_at, u.tokens_valid_after, u.credential_version,
		       u.totp_enabled, u.passkeys
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`, hash,
	).Scan(&s.ID, &s.UserID, &s.TokenHash, timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, timeCol{&s.ExpiresAt}, &s.IP, &s.UserAgent, &s.Methods,
		&u.ID, &u.Email, &u.PasswordHash, &u.EmailVerified, &u.Disabled, timeCol{&u.CreatedAt}, timeCol{&u.TokensValidAfter}, &u.CredentialVersion,
		&u.TOTPEnabled, &u.Passkeys)
	if err != nil {
		return nil, nil, wrapErr("get session", err)
	}
	db.cache.put(key, readEntry{ver: ver, session: s, user: u})
	return &s, &u, nil
}

// TouchSession sets last_seen_at.
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	return wrapErr("touch session", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, timeArg(at), id)
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
		res, err := db.txExec(ctx, tx, `DELETE FROM sessions WHERE id = ? AND user_id = ?`, id, userID)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}

// DeleteExpiredSessions removes sessions whose absolute expiry is before now.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	return wrapErr("delete expired sessions", db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := db.deleteExpiredSessions(ctx, tx, now)
		return err
	}))
}

func (db *DB) deleteExpiredSessions(ctx context.Context, tx *sql.Tx, now time.Time) (int64, error) {
	res, err := db.txExec(ctx, tx, `DELETE FROM sessions WHERE expires_at < ?`, now.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
