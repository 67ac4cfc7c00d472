package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// CreateRefreshFamily inserts the family and its first token in one
// transaction. first.FamilyID is set to f.ID. An unknown user is
// auth.ErrNotFound.
func (db *DB) CreateRefreshFamily(ctx context.Context, f *auth.RefreshFamily, first *auth.RefreshToken) error {
	first.FamilyID = f.ID
	return wrapErr("create refresh family", db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := db.checkCredentialVersion(ctx, tx, f.UserID, f.CredentialVersion); err != nil {
			return err
		}
		if _, err := db.txExec(ctx, tx, `
			INSERT INTO refresh_families (id, user_id, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent, amr)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.UserID, timeArg(f.CreatedAt), timeArg(f.LastSeenAt), timeArg(f.ExpiresAt), timeArg(f.RevokedAt),
			f.IP, f.UserAgent, f.Methods.String()); err != nil {
			return err
		}
		return db.insertRefreshToken(ctx, tx, first)
	}))
}

func (db *DB) insertRefreshToken(ctx context.Context, tx *sql.Tx, t *auth.RefreshToken) error {
	_, err := db.txExec(ctx, tx, `
		INSERT INTO refresh_tokens (hash, family_id, parent_hash, created_at, used_at, successor_hash, sealed_successor)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.FamilyID, blobArg(t.ParentHash), timeArg(t.CreatedAt), timeArg(t.UsedAt),
		blobArg(t.SuccessorHash), blobArg(t.SealedSuccessor))
	return err
}

// RefreshTokenByHash returns the token and its family, or auth.ErrNotFound.
func (db *DB) RefreshTokenByHash(ctx context.Context, hash []byte) (*auth.RefreshToken, *auth.RefreshFamily, error) {
	var t auth.RefreshToken
	var f auth.RefreshFamily
	err := db.queryRow(ctx, `
		SELECT t.hash, t.family_id, t.parent_hash, t.created_at, t.used_at, t.successor_hash, t.sealed_successor,
			f.id, f.user_id, f.created_at, f.last_seen_at, f.expires_at, f.revoked_at, f.ip, f.user_agent, f.amr
		FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
		WHERE t.hash = ?`, hash,
	).Scan(&t.Hash, &t.FamilyID, &t.ParentHash, timeCol{&t.CreatedAt}, timeCol{&t.UsedAt}, &t.SuccessorHash, &t.SealedSuccessor,
		&f.ID, &f.UserID, timeCol{&f.CreatedAt}, timeCol{&f.LastSeenAt}, timeCol{&f.ExpiresAt}, timeCol{&f.RevokedAt}, &f.IP, &f.UserAgent, &f.Methods)
	if err != nil {
		return nil, nil, wrapErr("get refresh token", err)
	}
	return &t, &f, nil
}

// rotateSQL marks the old token used while it is unused and its family
// unrevoked. The family check is a correlated lookup by primary key: an
// IN (SELECT … WHERE revoked_at IS NULL) list made SQLite scan every live
// family on each rotation (TestRotatePlanUsesIndexes).
const rotateSQL = `
	UPDATE refresh_tokens SET used_at = ?, successor_hash = ?, sealed_successor = ?
	WHERE hash = ? AND used_at IS NULL
		AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL)
	RETURNING family_id`

// RotateRefreshToken is the compare-and-swap of rotation, in one write
// transaction: the UPDATE of the old token matches only while it is unused
// and its family unrevoked, and only when it matched are next inserted (with
// FamilyID and ParentHash set from the old token; a zero CreatedAt becomes
// now) and the family's last_seen_at set. It returns false, changing nothing,
// when the token is unknown, used or in a revoked family.
func (db *DB) RotateRefreshToken(ctx context.Context, oldHash []byte, next *auth.RefreshToken, now time.Time) (bool, error) {
	var rotated bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var familyID string
		err := db.txQueryRow(ctx, tx, rotateSQL,
			now.UnixMicro(), blobArg(next.Hash), blobArg(next.SealedSuccessor), oldHash,
		).Scan(&familyID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		n := *next
		n.FamilyID = familyID
		n.ParentHash = oldHash
		if n.CreatedAt.IsZero() {
			n.CreatedAt = now
		}
		// The successor's own successor fields describe its future rotation.
		n.UsedAt, n.SuccessorHash, n.SealedSuccessor = time.Time{}, nil, nil
		if err := db.insertRefreshToken(ctx, tx, &n); err != nil {
			return err
		}
		if _, err := db.txExec(ctx, tx, `UPDATE refresh_families SET last_seen_at = ? WHERE id = ?`,
			now.UnixMicro(), familyID); err != nil {
			return err
		}
		rotated = true
		return nil
	})
	if err != nil {
		return false, wrapErr("rotate refresh token", err)
	}
	return rotated, nil
}

// RevokeFamily sets revoked_at to now on the family if it is live (not
// revoked and not expired at now). userID, when not empty, restricts it to
// that user's families. An unknown family, or another user's, is
// auth.ErrNotFound; a family that exists but is no longer live is left as it
// is and is not an error.
func (db *DB) RevokeFamily(ctx context.Context, userID, familyID string, now time.Time) error {
	return wrapErr("revoke refresh family", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `
			UPDATE refresh_families SET revoked_at = ?1
			WHERE id = ?2 AND (?3 = '' OR user_id = ?3) AND revoked_at IS NULL AND expires_at > ?1`,
			now.UnixMicro(), familyID, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var one int
		return db.txQueryRow(ctx, tx, `SELECT 1 FROM refresh_families WHERE id = ?1 AND (?2 = '' OR user_id = ?2)`,
			familyID, userID).Scan(&one)
	}))
}

// ListSessions returns the user's live cookie sessions (expiring after now)
// and live refresh families (not revoked, expiring after now), newest first.
func (db *DB) ListSessions(ctx context.Context, userID string, now time.Time) ([]auth.SessionInfo, error) {
	rows, err := db.query(ctx, `
		SELECT id, 'cookie', created_at, last_seen_at, ip, user_agent, amr FROM sessions
		WHERE user_id = ?1 AND expires_at > ?2
		UNION ALL
		SELECT id, 'token', created_at, last_seen_at, ip, user_agent, amr FROM refresh_families
		WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2
		ORDER BY 3 DESC, 1 DESC`,
		userID, now.UnixMicro())
	if err != nil {
		return nil, wrapErr("list sessions", err)
	}
	defer rows.Close()
	list := []auth.SessionInfo{}
	for rows.Next() {
		var s auth.SessionInfo
		if err := rows.Scan(&s.ID, &s.Kind, timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, &s.IP, &s.UserAgent, &s.Methods); err != nil {
			return nil, wrapErr("list sessions", err)
		}
		list = append(list, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("list sessions", err)
	}
	return list, nil
}

// RevokeUserSessions deletes every cookie session of the user except
// keepSessionID and revokes every live refresh family except keepFamilyID, in
// one transaction. It returns the ids of the families it revoked, sorted.
func (db *DB) RevokeUserSessions(ctx context.Context, userID, keepSessionID, keepFamilyID string, now time.Time) ([]string, error) {
	return db.revokeSessionsTx(ctx, "revoke user sessions", userID, keepSessionID, keepFamilyID, now, false)
}

// RevokeSingleFactorSessions is RevokeUserSessions restricted to the
// sessions and families established with the password alone.
func (db *DB) RevokeSingleFactorSessions(ctx context.Context, userID, keepSessionID, keepFamilyID string, now time.Time) ([]string, error) {
	return db.revokeSessionsTx(ctx, "revoke single-factor sessions", userID, keepSessionID, keepFamilyID, now, true)
}

func (db *DB) revokeSessionsTx(ctx context.Context, op, userID, keepSessionID, keepFamilyID string, now time.Time, passwordOnly bool) ([]string, error) {
	var revoked []string
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		revoked, err = db.revokeSessions(ctx, tx, userID, keepSessionID, keepFamilyID, now, passwordOnly)
		return err
	})
	if err != nil {
		return nil, wrapErr(op, err)
	}
	slices.Sort(revoked)
	return revoked, nil
}

func (db *DB) revokeUserSessions(ctx context.Context, tx *sql.Tx, userID, keepSessionID, keepFamilyID string, now time.Time) ([]string, error) {
	return db.revokeSessions(ctx, tx, userID, keepSessionID, keepFamilyID, now, false)
}

// revokeSessions deletes the user's cookie sessions and revokes its live
// refresh families but the kept ones; with passwordOnly, only those
// established with the password alone (amr 'password', or ” as written
// before methods were recorded: auth.ParseMethods).
func (db *DB) revokeSessions(ctx context.Context, tx *sql.Tx, userID, keepSessionID, keepFamilyID string, now time.Time, passwordOnly bool) ([]string, error) {
	only := ""
	if passwordOnly {
		only = ` AND amr IN ('', 'password')`
	}
	if _, err := db.txExec(ctx, tx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`+only,
		userID, keepSessionID); err != nil {
		return nil, err
	}
	rows, err := db.txQuery(ctx, tx, `
		UPDATE refresh_families SET revoked_at = ?1
		WHERE user_id = ?2 AND id <> ?3 AND revoked_at IS NULL AND expires_at > ?1`+only+`
		RETURNING id`,
		now.UnixMicro(), userID, keepFamilyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var revoked []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		revoked = append(revoked, id)
	}
	return revoked, rows.Err()
}

// CountRefreshReplay adds one to the replay counter of the rotated token
// with hash if it is below max, in one conditional UPDATE inside a write
// transaction, so concurrent replays cannot both take the last one. It
// returns false, changing nothing, for an unknown or current token or one
// whose counter has reached max.
func (db *DB) CountRefreshReplay(ctx context.Context, hash []byte, max int) (bool, error) {
	var counted bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `
			UPDATE refresh_tokens SET replays = replays + 1
			WHERE hash = ? AND used_at IS NOT NULL AND replays < ?`, hash, max)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		counted = n == 1
		return err
	})
	if err != nil {
		return false, wrapErr("count refresh replay", err)
	}
	return counted, nil
}
