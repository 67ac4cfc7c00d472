package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var _ auth.PasskeyStore = (*DB)(nil)

// WebAuthnUserHandle implements auth.PasskeyStore.
func (db *DB) WebAuthnUserHandle(ctx context.Context, userID string, candidate []byte) ([]byte, error) {
	var handle []byte
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.txExec(ctx, tx, `INSERT INTO webauthn_users (user_id, handle) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`,
			userID, candidate); err != nil {
			return err
		}
		return db.txQueryRow(ctx, tx, `SELECT handle FROM webauthn_users WHERE user_id = ?`, userID).Scan(&handle)
	})
	return handle, wrapErr("webauthn user handle", err)
}

// UserIDByWebAuthnHandle implements auth.PasskeyStore.
func (db *DB) UserIDByWebAuthnHandle(ctx context.Context, handle []byte) (string, error) {
	var id string
	err := db.queryRow(ctx, `SELECT user_id FROM webauthn_users WHERE handle = ?`, handle).Scan(&id)
	return id, wrapErr("user by webauthn handle", err)
}

const passkeyColumns = `id, user_id, credential_id, public_key, attestation_type, aaguid, sign_count,
	backup_eligible, backup_state, user_verified, transports, name, created_at, last_used_at`

func scanPasskey(row scanner) (*auth.Passkey, error) {
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
	return wrapErr("create passkey", db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.txExec(ctx, tx, `INSERT INTO webauthn_credentials (`+passkeyColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.UserID, p.CredentialID, p.PublicKey, p.AttestationType, blobArg(p.AAGUID), int64(p.SignCount),
			p.BackupEligible, p.BackupState, p.UserVerified, strings.Join(p.Transports, ","), p.Name,
			timeArg(p.CreatedAt), timeArg(p.LastUsedAt)); err != nil {
			return err
		}
		res, err := db.txExec(ctx, tx, `UPDATE users SET passkeys = passkeys + 1 WHERE id = ?`, p.UserID)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}

// Passkeys implements auth.PasskeyStore.
func (db *DB) Passkeys(ctx context.Context, userID string) ([]auth.Passkey, error) {
	rows, err := db.query(ctx, `SELECT `+passkeyColumns+` FROM webauthn_credentials WHERE user_id = ? ORDER BY created_at, id`, userID)
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
	p, err := scanPasskey(db.queryRow(ctx, `SELECT `+passkeyColumns+` FROM webauthn_credentials WHERE credential_id = ?`, credentialID))
	return p, wrapErr("get passkey", err)
}

// RenamePasskey implements auth.PasskeyStore.
func (db *DB) RenamePasskey(ctx context.Context, userID, id, name string) error {
	return wrapErr("rename passkey", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `UPDATE webauthn_credentials SET name = ? WHERE id = ? AND user_id = ?`, name, id, userID)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}

// DeletePasskey implements auth.PasskeyStore.
func (db *DB) DeletePasskey(ctx context.Context, userID, id string) error {
	return wrapErr("delete passkey", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `DELETE FROM webauthn_credentials WHERE id = ? AND user_id = ?`, id, userID)
		if err != nil {
			return err
		}
		if err := rowsAffected(res); err != nil {
			return err
		}
		_, err = db.txExec(ctx, tx, `UPDATE users SET passkeys = MAX(passkeys - 1, 0) WHERE id = ?`, userID)
		return err
	}))
}

// UsePasskey implements auth.PasskeyStore.
func (db *DB) UsePasskey(ctx context.Context, id string, oldCount, newCount uint32, backupState bool, at time.Time) (bool, error) {
	var ok bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `UPDATE webauthn_credentials SET sign_count = ?, backup_state = ?, last_used_at = ?
			WHERE id = ? AND sign_count = ?`, int64(newCount), backupState, timeArg(at), id, int64(oldCount))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, wrapErr("use passkey", err)
}

const ceremonyColumns = `challenge_hash, kind, user_id, data, mfa_token_hash, expires_at, failures`

func scanCeremony(row scanner) (*auth.Ceremony, error) {
	var c auth.Ceremony
	var user sql.NullString
	if err := row.Scan(&c.ChallengeHash, &c.Kind, &user, &c.Data, &c.MFATokenHash, timeCol{&c.ExpiresAt}, &c.Failures); err != nil {
		return nil, err
	}
	c.UserID = user.String
	return &c, nil
}

// CreateCeremony implements auth.PasskeyStore.
func (db *DB) CreateCeremony(ctx context.Context, c *auth.Ceremony) error {
	var user any
	if c.UserID != "" {
		user = c.UserID
	}
	return wrapErr("create ceremony", db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := db.txExec(ctx, tx, `INSERT INTO webauthn_ceremonies (`+ceremonyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.ChallengeHash, c.Kind, user, c.Data, blobArg(c.MFATokenHash), timeArg(c.ExpiresAt), c.Failures)
		return err
	}))
}

// Ceremony implements auth.PasskeyStore.
func (db *DB) Ceremony(ctx context.Context, challengeHash []byte, now time.Time) (*auth.Ceremony, error) {
	c, err := scanCeremony(db.queryRow(ctx, `SELECT `+ceremonyColumns+` FROM webauthn_ceremonies
		WHERE challenge_hash = ? AND expires_at > ?`, challengeHash, now.UnixMicro()))
	return c, wrapErr("get ceremony", err)
}

// ConsumeCeremony implements auth.PasskeyStore: one DELETE … RETURNING, so
// that of two concurrent finishes exactly one gets the row.
func (db *DB) ConsumeCeremony(ctx context.Context, challengeHash []byte, now time.Time) (*auth.Ceremony, error) {
	var c *auth.Ceremony
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanCeremony(db.txQueryRow(ctx, tx, `DELETE FROM webauthn_ceremonies
			WHERE challenge_hash = ? AND expires_at > ? RETURNING `+ceremonyColumns, challengeHash, now.UnixMicro()))
		return err
	})
	return c, wrapErr("consume ceremony", err)
}

// CeremonyFailed implements auth.PasskeyStore.
func (db *DB) CeremonyFailed(ctx context.Context, challengeHash []byte, max int) (int, error) {
	var n int
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := db.txQueryRow(ctx, tx, `UPDATE webauthn_ceremonies SET failures = failures + 1
			WHERE challenge_hash = ? RETURNING failures`, challengeHash).Scan(&n); err != nil {
			return err
		}
		if n < max {
			return nil
		}
		_, err := db.txExec(ctx, tx, `DELETE FROM webauthn_ceremonies WHERE challenge_hash = ?`, challengeHash)
		return err
	})
	return n, wrapErr("ceremony failed", err)
}
