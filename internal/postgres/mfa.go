package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// SetPendingTOTP stores a TOTP secret waiting for its first code, sealed
// for the user, unless a confirmed one exists (auth.ErrConflict).
func (db *DB) SetPendingTOTP(ctx context.Context, userID string, secret []byte, now time.Time) error {
	sealed, err := auth.SealTOTP(db.sealer, userID, secret)
	if err != nil {
		return wrapErr("set pending totp", err)
	}
	// The INSERT's foreign key refuses an unknown user; the upsert's WHERE
	// leaves a confirmed secret alone (no row returned).
	var inserted bool
	err = db.queryRow(ctx, `
		INSERT INTO mfa_totp (user_id, secret, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET secret = $2, created_at = $3, last_step = 0
		WHERE mfa_totp.confirmed_at IS NULL
		RETURNING true`, userID, sealed, now).Scan(&inserted)
	if errors.Is(err, pgx.ErrNoRows) {
		return wrapErr("set pending totp", auth.ErrConflict)
	}
	return wrapErr("set pending totp", err)
}

// TOTP returns the user's TOTP with its secret opened.
func (db *DB) TOTP(ctx context.Context, userID string) (*auth.TOTP, error) {
	t := auth.TOTP{UserID: userID}
	var sealed []byte
	err := db.queryRow(ctx, `SELECT secret, created_at, confirmed_at, last_step FROM mfa_totp WHERE user_id = $1`, userID).
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
// in one transaction.
func (db *DB) ConfirmTOTP(ctx context.Context, userID string, step int64, codes []auth.RecoveryCode, now time.Time) error {
	return wrapErr("confirm totp", db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE mfa_totp SET confirmed_at = $1, last_step = $2
			WHERE user_id = $3 AND confirmed_at IS NULL`, now, step, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auth.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_enabled = true WHERE id = $1`, userID); err != nil {
			return err
		}
		return replaceRecoveryCodes(ctx, tx, userID, codes)
	}))
}

// UseTOTPStep moves the last accepted step forward if step is later. One
// conditional UPDATE: PostgreSQL re-checks the WHERE clause on the locked
// row, so of concurrent calls with one step, on any instance, one wins.
func (db *DB) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	n, err := db.exec(ctx, `
		UPDATE mfa_totp SET last_step = $1
		WHERE user_id = $2 AND confirmed_at IS NOT NULL AND last_step < $1`, step, userID)
	return n == 1, wrapErr("use totp step", err)
}

// DeleteTOTP removes the user's TOTP and, with dropCodes, the recovery codes.
func (db *DB) DeleteTOTP(ctx context.Context, userID string, dropCodes bool) error {
	return wrapErr("delete totp", db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM mfa_totp WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_enabled = false WHERE id = $1`, userID); err != nil {
			return err
		}
		if dropCodes {
			_, err := tx.Exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = $1`, userID)
			return err
		}
		return nil
	}))
}

// ReplaceRecoveryCodes replaces the user's recovery codes.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, codes []auth.RecoveryCode) error {
	return wrapErr("replace recovery codes", db.tx(ctx, func(tx pgx.Tx) error {
		return replaceRecoveryCodes(ctx, tx, userID, codes)
	}))
}

func replaceRecoveryCodes(ctx context.Context, tx pgx.Tx, userID string, codes []auth.RecoveryCode) error {
	if _, err := tx.Exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	for _, c := range codes {
		if _, err := tx.Exec(ctx, `INSERT INTO mfa_recovery_codes (user_id, idx, tag, hash) VALUES ($1, $2, $3, $4)`,
			userID, c.Index, c.Tag, c.Hash); err != nil {
			return err
		}
	}
	return nil
}

// RecoveryCodes returns the user's unused recovery codes by index.
func (db *DB) RecoveryCodes(ctx context.Context, userID string) ([]auth.RecoveryCode, error) {
	rows, err := db.query(ctx, `SELECT idx, tag, hash FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL ORDER BY idx`, userID)
	if err != nil {
		return nil, wrapErr("list recovery codes", err)
	}
	var out []auth.RecoveryCode
	var c auth.RecoveryCode
	_, err = pgx.ForEachRow(rows, []any{&c.Index, &c.Tag, &c.Hash}, func() error {
		out = append(out, auth.RecoveryCode{Index: c.Index, Tag: slices.Clone(c.Tag), Hash: c.Hash})
		return nil
	})
	return out, wrapErr("list recovery codes", err)
}

// UseRecoveryCode spends the code once.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, index int, now time.Time) (bool, error) {
	n, err := db.exec(ctx, `
		UPDATE mfa_recovery_codes SET used_at = $1 WHERE user_id = $2 AND idx = $3 AND used_at IS NULL`,
		now, userID, index)
	return n == 1, wrapErr("use recovery code", err)
}

const mfaTokenColumns = `hash, user_id, mode, amr, credential_version, trusted, created_at, expires_at, failures`

func scanMFAToken(row pgx.Row) (*auth.MFAToken, error) {
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
	_, err := db.exec(ctx, `INSERT INTO mfa_tokens (`+mfaTokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.Hash, t.UserID, string(t.Mode), t.Methods.String(), t.CredentialVersion, t.Trusted, t.CreatedAt, t.ExpiresAt, t.Failures)
	return wrapErr("create mfa token", err)
}

// MFAToken returns the live pending login with this hash.
func (db *DB) MFAToken(ctx context.Context, hash []byte, now time.Time) (*auth.MFAToken, error) {
	t, err := scanMFAToken(db.queryRow(ctx, `SELECT `+mfaTokenColumns+` FROM mfa_tokens
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2`, hash, now))
	return t, wrapErr("get mfa token", err)
}

// FailMFAToken counts a failed challenge; the max-th spends the token.
func (db *DB) FailMFAToken(ctx context.Context, hash []byte, now time.Time, max int) (int, error) {
	var n int
	err := db.queryRow(ctx, `
		UPDATE mfa_tokens SET failures = failures + 1,
			used_at = CASE WHEN failures + 1 >= $3 THEN $2 ELSE used_at END
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
		RETURNING failures`, hash, now, max).Scan(&n)
	return n, wrapErr("fail mfa token", err)
}

// ConsumeMFAToken spends the live pending login with this hash.
func (db *DB) ConsumeMFAToken(ctx context.Context, hash []byte, now time.Time) (*auth.MFAToken, error) {
	t, err := scanMFAToken(db.queryRow(ctx, `
		UPDATE mfa_tokens SET used_at = $2
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
		RETURNING `+mfaTokenColumns, hash, now))
	return t, wrapErr("consume mfa token", err)
}
