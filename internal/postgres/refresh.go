package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const refreshTokenColumns = `hash, family_id, parent_hash, created_at, used_at, successor_hash, sealed_successor`

// CreateRefreshFamily inserts the family and its first token in one
// transaction. first.FamilyID is set to f.ID. An unknown user is
// auth.ErrNotFound.
func (db *DB) CreateRefreshFamily(ctx context.Context, f *auth.RefreshFamily, first *auth.RefreshToken) error {
	first.FamilyID = f.ID
	return wrapErr("create refresh family", db.tx(ctx, func(tx pgx.Tx) error {
		if err := checkCredentialVersion(ctx, tx, f.UserID, f.CredentialVersion); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO refresh_families (id, user_id, created_at, last_seen_at, expires_at, revoked_at, ip, user_agent, amr)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			f.ID, f.UserID, f.CreatedAt, timeArg(f.LastSeenAt), f.ExpiresAt, timeArg(f.RevokedAt),
			text(f.IP), text(f.UserAgent), f.Methods.String()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (`+refreshTokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			first.Hash, first.FamilyID, blobArg(first.ParentHash), first.CreatedAt, timeArg(first.UsedAt),
			blobArg(first.SuccessorHash), blobArg(first.SealedSuccessor))
		return err
	}))
}

// RefreshTokenByHash returns the token and its family, or auth.ErrNotFound.
func (db *DB) RefreshTokenByHash(ctx context.Context, hash []byte) (*auth.RefreshToken, *auth.RefreshFamily, error) {
	var t auth.RefreshToken
	var f auth.RefreshFamily
	err := db.queryRow(ctx, `
		SELECT t.hash, t.family_id, t.parent_hash, t.created_at, t.used_at, t.successor_hash, t.sealed_successor,
			f.id, f.user_id, f.created_at, f.last_seen_at, f.expires_at, f.revoked_at, f.ip, f.user_agent, f.amr
		FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
		WHERE t.hash = $1`, hash,
	).Scan(&t.Hash, &t.FamilyID, &t.ParentHash, timeCol{&t.CreatedAt}, timeCol{&t.UsedAt}, &t.SuccessorHash, &t.SealedSuccessor,
		&f.ID, &f.UserID, timeCol{&f.CreatedAt}, timeCol{&f.LastSeenAt}, timeCol{&f.ExpiresAt}, timeCol{&f.RevokedAt}, &f.IP, &f.UserAgent, &f.Methods)
	if err != nil {
		return nil, nil, wrapErr("get refresh token", err)
	}
	return &t, &f, nil
}

// rotateLock locks the family of the old token ($1), if the token is unused
// and the family unrevoked. Concurrent rotations of one family queue here.
// Rows are locked family first, as RevokeFamily, RevokeUserSessions and Purge
// (through ON DELETE CASCADE) do, so none of them deadlocks with a rotation.
const rotateLock = `
	SELECT f.id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
	WHERE t.hash = $1 AND t.used_at IS NULL AND f.revoked_at IS NULL
	FOR UPDATE OF f`

// rotateSwap is the compare-and-swap: it marks the old token ($4) used with
// its successor only while used_at is still NULL and its family unrevoked
// (a rotation that held the lock before this one has changed the one, a
// revocation the other), and only then sets the family's last_seen_at and
// inserts the successor ($2, created at $5). It returns one row if it
// rotated, none otherwise.
const rotateSwap = `
	WITH old AS (
		UPDATE refresh_tokens SET used_at = $1, successor_hash = $2, sealed_successor = $3
		WHERE hash = $4 AND used_at IS NULL
			AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL)
		RETURNING family_id
	), family AS (
		UPDATE refresh_families SET last_seen_at = $1
		WHERE id = (SELECT family_id FROM old)
		RETURNING id
	)
	INSERT INTO refresh_tokens (hash, family_id, parent_hash, created_at)
	SELECT $2, id, $4, $5 FROM family
	RETURNING family_id`

// RotateRefreshToken is the compare-and-swap of rotation: rotateLock then
// rotateSwap, sent together as one batch, which PostgreSQL runs as one
// (implicit) transaction in one round trip: an error in either rolls both
// back. The successor gets FamilyID and ParentHash from the old token; a
// zero CreatedAt becomes now.
//
// It returns false, changing nothing, when the token is unknown, used or in
// a revoked family: of any number of concurrent calls for one token, in any
// number of processes, exactly one returns true.
func (db *DB) RotateRefreshToken(ctx context.Context, oldHash []byte, next *auth.RefreshToken, now time.Time) (bool, error) {
	if db.closed.Load() {
		return false, wrapErr("rotate refresh token", errClosed)
	}
	created := next.CreatedAt
	if created.IsZero() {
		created = now
	}
	var batch pgx.Batch
	batch.Queue(rotateLock, oldHash)
	batch.Queue(rotateSwap, now, blobArg(next.Hash), blobArg(next.SealedSuccessor), oldHash, created)
	results := db.pool.SendBatch(ctx, &batch)
	rows, err := results.Query()
	if err == nil {
		rows.Close() // the lock; its row does not matter
		err = rows.Err()
	}
	var familyID string
	rotated := false
	if err == nil {
		err = results.QueryRow().Scan(&familyID)
		rotated = err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
	}
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, wrapErr("rotate refresh token", err)
	}
	return rotated, nil
}

// RevokeFamily sets revoked_at to now on the family if it is live (not
// revoked and not expired at now). userID, when not empty, restricts it to
// that user's families. An unknown family, or another user's, is
// auth.ErrNotFound; a family that exists but is no longer live is left as it
// is and is not an error. It is one statement.
func (db *DB) RevokeFamily(ctx context.Context, userID, familyID string, now time.Time) error {
	var found bool
	err := db.queryRow(ctx, `
		WITH family AS (
			SELECT id FROM refresh_families WHERE id = $2 AND ($3 = '' OR user_id = $3)
		), revoked AS (
			UPDATE refresh_families SET revoked_at = $1
			WHERE id IN (SELECT id FROM family) AND revoked_at IS NULL AND expires_at > $1
		)
		SELECT EXISTS (SELECT 1 FROM family)`,
		now, familyID, userID).Scan(&found)
	if err == nil && !found {
		err = auth.ErrNotFound
	}
	return wrapErr("revoke refresh family", err)
}

// ListSessions returns the user's live cookie sessions (expiring after now)
// and live refresh families (not revoked, expiring after now), newest first.
func (db *DB) ListSessions(ctx context.Context, userID string, now time.Time) ([]auth.SessionInfo, error) {
	rows, err := db.query(ctx, `
		SELECT id, 'cookie', created_at, last_seen_at, ip, user_agent, amr FROM sessions
		WHERE user_id = $1 AND expires_at > $2
		UNION ALL
		SELECT id, 'token', created_at, last_seen_at, ip, user_agent, amr FROM refresh_families
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		ORDER BY 3 DESC, 1 DESC`,
		userID, now)
	if err != nil {
		return nil, wrapErr("list sessions", err)
	}
	list := []auth.SessionInfo{}
	var s auth.SessionInfo
	_, err = pgx.ForEachRow(rows, []any{&s.ID, &s.Kind, timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, &s.IP, &s.UserAgent, &s.Methods},
		func() error {
			list = append(list, s)
			return nil
		})
	if err != nil {
		return nil, wrapErr("list sessions", err)
	}
	return list, nil
}

// RevokeUserSessions deletes every cookie session of the user except
// keepSessionID and revokes every live refresh family except keepFamilyID, in
// one statement. It returns the ids of the families it revoked, sorted.
func (db *DB) RevokeUserSessions(ctx context.Context, userID, keepSessionID, keepFamilyID string, now time.Time) ([]string, error) {
	return db.revokeSessions(ctx, "revoke user sessions", userID, keepSessionID, keepFamilyID, now, false)
}

// RevokeSingleFactorSessions is RevokeUserSessions restricted to the
// sessions and families established with the password alone.
func (db *DB) RevokeSingleFactorSessions(ctx context.Context, userID, keepSessionID, keepFamilyID string, now time.Time) ([]string, error) {
	return db.revokeSessions(ctx, "revoke single-factor sessions", userID, keepSessionID, keepFamilyID, now, true)
}

// revokeSessions is both: with passwordOnly, only the sessions and families
// established with the password alone (amr 'password', or ” as written
// before methods were recorded: auth.ParseMethods).
func (db *DB) revokeSessions(ctx context.Context, op, userID, keepSessionID, keepFamilyID string, now time.Time, passwordOnly bool) ([]string, error) {
	only := ""
	if passwordOnly {
		only = ` AND amr IN ('', 'password')`
	}
	rows, err := db.query(ctx, `
		WITH deleted AS (
			DELETE FROM sessions WHERE user_id = $2 AND id <> $3`+only+`
		)
		UPDATE refresh_families SET revoked_at = $1
		WHERE user_id = $2 AND id <> $4 AND revoked_at IS NULL AND expires_at > $1`+only+`
		RETURNING id`,
		now, userID, keepSessionID, keepFamilyID)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	revoked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrapErr(op, err)
	}
	slices.Sort(revoked)
	return revoked, nil
}

// CountRefreshReplay adds one to the replay counter of the rotated token
// with hash if it is below max. It is one conditional UPDATE: PostgreSQL
// re-checks the WHERE clause on the row it locked, so concurrent replays, in
// any number of processes, cannot both take the last one. It returns false,
// changing nothing, for an unknown or current token or one whose counter has
// reached max.
func (db *DB) CountRefreshReplay(ctx context.Context, hash []byte, max int) (bool, error) {
	n, err := db.exec(ctx, `
		UPDATE refresh_tokens SET replays = replays + 1
		WHERE hash = $1 AND used_at IS NOT NULL AND replays < $2`, hash, max)
	if err != nil {
		return false, wrapErr("count refresh replay", err)
	}
	return n == 1, nil
}
