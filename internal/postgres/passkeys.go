package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var _ auth.PasskeyStore = (*DB)(nil)

// WebAuthnUserHandle implements auth.PasskeyStore. The INSERT … ON CONFLICT
// DO NOTHING waits for a concurrent insert of the same user to commit, so
// every caller then reads the one stored handle.
func (db *DB) WebAuthnUserHandle(ctx context.Context, userID string, candidate []byte) ([]byte, error) {
	var handle []byte
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO webauthn_users (user_id, handle) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`,
			userID, candidate); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT handle FROM webauthn_users WHERE user_id = $1`, userID).Scan(&handle)
	})
	return handle, wrapErr("webauthn user handle", err)
}

// UserIDByWebAuthnHandle implements auth.PasskeyStore.
func (db *DB) UserIDByWebAuthnHandle(ctx context.Context, handle []byte) (string, error) {
	var id string
	err := db.queryRow(ctx, `SELECT user_id FROM webauthn_users WHERE handle = $1`, handle).Scan(&id)
	return id, wrapErr("user by webauthn handle", err)
}

const passkeyColumns = `id, user_id, credential_id, public_key, attestation_type, aaguid, sign_count,
	backup_eligible, backup_state, user_verified, transports, name, created_at, last_used_at`

func scanPasskey(row pgx.Row) (*auth.Passkey, error) {
	var p auth.Passkey
	var transports string
	var count int64
	if err := row.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.PublicKey, &p.AttestationType, &p.AAGUID, &count,
		&p.BackupEligible, &p.BackupState, &p.UserVerified, &transports, &p.Name,
		timeCol{&p.CreatedAt}, timeCol{&p.LastUsedAt}); err != nil {
		return nil, err
	}
	p.SignCount = uint32(count)
	if transports != "" {
		p.Transports = strings.Split(transports, ",")
	}
	return &p, nil
}

// CreatePasskey implements auth.PasskeyStore.
func (db *DB) CreatePasskey(ctx context.Context, p *auth.Passkey) error {
	if len(p.CredentialID) == 0 || len(p.CredentialID) > auth.MaxCredentialIDBytes {
		return fmt.Errorf("create passkey: credential id of %d bytes", len(p.CredentialID))
	}
	return wrapErr("create passkey", db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO webauthn_credentials (`+passkeyColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			p.ID, p.UserID, p.CredentialID, p.PublicKey, text(p.AttestationType), blobArg(p.AAGUID), int64(p.SignCount),
			p.BackupEligible, p.BackupState, p.UserVerified, text(strings.Join(p.Transports, ",")), text(p.Name),
			p.CreatedAt, timeArg(p.LastUsedAt)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET passkeys = passkeys + 1 WHERE id = $1`, p.UserID)
		return notFoundIfNone(tag.RowsAffected(), err)
	}))
}

// Passkeys implements auth.PasskeyStore.
func (db *DB) Passkeys(ctx context.Context, userID string) ([]auth.Passkey, error) {
	rows, err := db.query(ctx, `SELECT `+passkeyColumns+` FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrapErr("list passkeys", err)
	}
	defer rows.Close()
	var out []auth.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, wrapErr("list passkeys", err)
		}
		out = append(out, *p)
	}
	return out, wrapErr("list passkeys", rows.Err())
}

// PasskeyByCredentialID implements auth.PasskeyStore.
func (db *DB) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*auth.Passkey, error) {
	p, err := scanPasskey(db.queryRow(ctx, `SELECT `+passkeyColumns+` FROM webauthn_credentials WHERE credential_id = $1`, credentialID))
	return p, wrapErr("get passkey", err)
}

// RenamePasskey implements auth.PasskeyStore.
func (db *DB) RenamePasskey(ctx context.Context, userID, id, name string) error {
	return wrapErr("rename passkey", notFoundIfNone(db.exec(ctx,
		`UPDATE webauthn_credentials SET name = $1 WHERE id = $2 AND user_id = $3`, text(name), id, userID)))
}

// DeletePasskey implements auth.PasskeyStore.
func (db *DB) DeletePasskey(ctx context.Context, userID, id string) error {
	return wrapErr("delete passkey", db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2`, id, userID)
		if err := notFoundIfNone(tag.RowsAffected(), err); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE users SET passkeys = GREATEST(passkeys - 1, 0) WHERE id = $1`, userID)
		return err
	}))
}

// UsePasskey implements auth.PasskeyStore: one conditional UPDATE, which
// PostgreSQL serialises per row (the second of two racing updates re-checks
// sign_count after the first commits and matches nothing).
func (db *DB) UsePasskey(ctx context.Context, id string, oldCount, newCount uint32, backupState bool, at time.Time) (bool, error) {
	n, err := db.exec(ctx, `UPDATE webauthn_credentials SET sign_count = $1, backup_state = $2, last_used_at = $3
		WHERE id = $4 AND sign_count = $5`, int64(newCount), backupState, at, id, int64(oldCount))
	if err != nil {
		return false, wrapErr("use passkey", err)
	}
	return n == 1, nil
}

const ceremonyColumns = `challenge_hash, kind, user_id, data, mfa_token_hash, expires_at, failures`

func scanCeremony(row pgx.Row) (*auth.Ceremony, error) {
	var c auth.Ceremony
	var user *string
	if err := row.Scan(&c.ChallengeHash, &c.Kind, &user, &c.Data, &c.MFATokenHash, timeCol{&c.ExpiresAt}, &c.Failures); err != nil {
		return nil, err
	}
	if user != nil {
		c.UserID = *user
	}
	return &c, nil
}

// CreateCeremony implements auth.PasskeyStore.
func (db *DB) CreateCeremony(ctx context.Context, c *auth.Ceremony) error {
	var user any
	if c.UserID != "" {
		user = c.UserID
	}
	_, err := db.exec(ctx, `INSERT INTO webauthn_ceremonies (`+ceremonyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.ChallengeHash, c.Kind, user, c.Data, blobArg(c.MFATokenHash), c.ExpiresAt, c.Failures)
	return wrapErr("create ceremony", err)
}

// Ceremony implements auth.PasskeyStore.
func (db *DB) Ceremony(ctx context.Context, challengeHash []byte, now time.Time) (*auth.Ceremony, error) {
	c, err := scanCeremony(db.queryRow(ctx, `SELECT `+ceremonyColumns+` FROM webauthn_ceremonies
		WHERE challenge_hash = $1 AND expires_at > $2`, challengeHash, now))
	return c, wrapErr("get ceremony", err)
}

// ConsumeCeremony implements auth.PasskeyStore: one DELETE … RETURNING, so
// that of two concurrent finishes exactly one gets the row.
func (db *DB) ConsumeCeremony(ctx context.Context, challengeHash []byte, now time.Time) (*auth.Ceremony, error) {
	c, err := scanCeremony(db.queryRow(ctx, `DELETE FROM webauthn_ceremonies
		WHERE challenge_hash = $1 AND expires_at > $2 RETURNING `+ceremonyColumns, challengeHash, now))
	return c, wrapErr("consume ceremony", err)
}

// CeremonyFailed implements auth.PasskeyStore.
func (db *DB) CeremonyFailed(ctx context.Context, challengeHash []byte, max int) (int, error) {
	var n int
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `UPDATE webauthn_ceremonies SET failures = failures + 1
			WHERE challenge_hash = $1 RETURNING failures`, challengeHash).Scan(&n); err != nil {
			return err
		}
		if n < max {
			return nil
		}
		_, err := tx.Exec(ctx, `DELETE FROM webauthn_ceremonies WHERE challenge_hash = $1`, challengeHash)
		return err
	})
	return n, wrapErr("ceremony failed", err)
}
