package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// SetPendingTOTP stores a TOTP secret waiting for its first code, sealed
// for the user, unless a confirmed one exists (auth.ErrConflict).
func (db *DB) SetPendingTOTP(ctx context.Context, userID string, secret []byte, now time.Time) error {
	sealed, err := auth.SealTOTP(db.sealer, userID, secret)
	if err != nil {
		return wrapErr("set pending totp", err)
	}
	return wrapErr("set pending totp", db.writeTx(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := db.txQueryRow(ctx, tx, `SELECT count(*) FROM users WHERE id = ?`, userID).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return auth.ErrNotFound
		}
		res, err := db.txExec(ctx, tx, `
			INSERT INTO mfa_totp (user_id, secret, created_at) VALUES (?1, ?2, ?3)
			ON CONFLICT (user_id) DO UPDATE SET secret = ?2, created_at = ?3, last_step = 0
			WHERE mfa_totp.confirmed_at IS NULL`, userID, sealed, now.UnixMicro())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return auth.ErrConflict
		}
		return nil
	}))
}

// TOTP returns the user's TOTP with its secret opened.
func (db *DB) TOTP(ctx context.Context, userID string) (*auth.TOTP, error) {
	t := auth.TOTP{UserID: userID}
	var sealed []byte
	err := db.queryRow(ctx, `SELECT secret, created_at, confirmed_at, last_step FROM mfa_totp WHERE user_id = ?`, userID).
		Scan(&sealed, timeCol{&t.CreatedAt}, timeCol{&t.ConfirmedAt}, &t.LastStep)
	if err != nil {
		return nil, wrapErr("get totp", err)
	}
	if t.Secret, err = auth.OpenTOTP(db.sealer, userID, sealed); err != nil {
		return nil, wrapErr("get totp", err)
	}
	return &t, nil
}

// ConfirmTOTP activates the pending secret and replaces the recovery codes
// in one write transaction.
func (db *DB) ConfirmTOTP(ctx context.Context, userID string, step int64, codes []auth.RecoveryCode, now time.Time) error {
	return wrapErr("confirm totp", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `
			UPDATE mfa_totp SET confirmed_at = ?1, last_step = ?2
			WHERE user_id = ?3 AND confirmed_at IS NULL`, now.UnixMicro(), step, userID)
		if err != nil {
			return err
		}
		if err := rowsAffected(res); err != nil {
			return err
		}
		if _, err := db.txExec(ctx, tx, `UPDATE users SET totp_enabled = 1 WHERE id = ?`, userID); err != nil {
			return err
		}
		return db.replaceRecoveryCodes(ctx, tx, userID, codes)
	}))
}

// UseTOTPStep moves the last accepted step forward if step is later.
func (db *DB) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	var ok bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `
			UPDATE mfa_totp SET last_step = ?1
			WHERE user_id = ?2 AND confirmed_at IS NOT NULL AND last_step < ?1`, step, userID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, wrapErr("use totp step", err)
}

// DeleteTOTP removes the user's TOTP and, with dropCodes, the recovery codes.
func (db *DB) DeleteTOTP(ctx context.Context, userID string, dropCodes bool) error {
	return wrapErr("delete totp", db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.txExec(ctx, tx, `DELETE FROM mfa_totp WHERE user_id = ?`, userID); err != nil {
			return err
		}
		if _, err := db.txExec(ctx, tx, `UPDATE users SET totp_enabled = 0 WHERE id = ?`, userID); err != nil {
			return err
		}
		if dropCodes {
			_, err := db.txExec(ctx, tx, `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, userID)
			return err
		}
		return nil
	}))
}

// ReplaceRecoveryCodes replaces the user's recovery codes.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, codes []auth.RecoveryCode) error {
	return wrapErr("replace recovery codes", db.writeTx(ctx, func(tx *sql.Tx) error {
		return db.replaceRecoveryCodes(ctx, tx, userID, codes)
	}))
}

func (db *DB) replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, userID string, codes []auth.RecoveryCode) error {
	if _, err := db.txExec(ctx, tx, `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, c := range codes {
		if _, err := db.txExec(ctx, tx, `INSERT INTO mfa_recovery_codes (user_id, idx, tag, hash) VALUES (?, ?, ?, ?)`,
			userID, c.Index, c.Tag, c.Hash); err != nil {
			return err
		}
	}
	return nil
}

// RecoveryCodes returns the user's unused recovery codes by index.
func (db *DB) RecoveryCodes(ctx context.Context, userID string) ([]auth.RecoveryCode, error) {
	rows, err := db.query(ctx, `SELECT idx, tag, hash FROM mfa_recovery_codes WHERE user_id = ? AND used_at IS NULL ORDER BY idx`, userID)
	if err != nil {
		return nil, wrapErr("list recovery codes", err)
	}
	defer rows.Close()
	var out []auth.RecoveryCode
	for rows.Next() {
		var c auth.RecoveryCode
		if err := rows.Scan(&c.Index, &c.Tag, &c.Hash); err != nil {
			return nil, wrapErr("list recovery codes", err)
		}
		out = append(out, c)
	}
	return out, wrapErr("list recovery codes", rows.Err())
}

// UseRecoveryCode spends the code once.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, index int, now time.Time) (bool, error) {
	var ok bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `
			UPDATE mfa_recovery_codes SET used_at = ? WHERE user_id = ? AND idx = ? AND used_at IS NULL`,
			now.UnixMicro(), userID, index)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, wrapErr("use recovery code", err)
}

const mfaTokenColumns = `hash, user_id, mode, amr, credential_version, trusted, created_at, expires_at, failures`

func scanMFAToken(row scanner) (*auth.MFAToken, error) {
	var t auth.MFAToken
	var mode string
	if err := row.Scan(&t.Hash, &t.UserID, &mode, &t.Methods, &t.CredentialVersion, &t.Trusted,
		timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, &t.Failures); err != nil {
		return nil, err
	}
	t.Mode = auth.LoginMode(mode)
	return &t, nil
}

// CreateMFAToken stores a pending login.
func (db *DB) CreateMFAToken(ctx context.Context, t *auth.MFAToken) error {
	return wrapErr("create mfa token", db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := db.txExec(ctx, tx, `INSERT INTO mfa_tokens (`+mfaTokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Hash, t.UserID, string(t.Mode), t.Methods.String(), t.CredentialVersion, t.Trusted,
			t.CreatedAt.UnixMicro(), t.ExpiresAt.UnixMicro(), t.Failures)
		return err
	}))
}

// MFAToken returns the live pending login with this hash.
func (db *DB) MFAToken(ctx context.Context, hash []byte, now time.Time) (*auth.MFAToken, error) {
	t, err := scanMFAToken(db.queryRow(ctx, `SELECT `+mfaTokenColumns+` FROM mfa_tokens
		WHERE hash = ? AND used_at IS NULL AND expires_at > ?`, hash, now.UnixMicro()))
	return t, wrapErr("get mfa token", err)
}

// FailMFAToken counts a failed challenge; the max-th spends the token.
func (db *DB) FailMFAToken(ctx context.Context, hash []byte, now time.Time, max int) (int, error) {
	var n int
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		return db.txQueryRow(ctx, tx, `
			UPDATE mfa_tokens SET failures = failures + 1,
				used_at = CASE WHEN failures + 1 >= ?3 THEN ?2 ELSE used_at END
			WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2
			RETURNING failures`, hash, now.UnixMicro(), max).Scan(&n)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = auth.ErrNotFound
	}
	return n, wrapErr("fail mfa token", err)
}

// ConsumeMFAToken spends the live pending login with this hash.
func (db *DB) ConsumeMFAToken(ctx context.Context, hash []byte, now time.Time) (*auth.MFAToken, error) {
	var t *auth.MFAToken
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanMFAToken(db.txQueryRow(ctx, tx, `
			UPDATE mfa_tokens SET used_at = ?2
			WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2
			RETURNING `+mfaTokenColumns, hash, now.UnixMicro()))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = auth.ErrNotFound
	}
	return t, wrapErr("consume mfa token", err)
}
