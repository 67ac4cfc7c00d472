package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var _ auth.SigningKeyStore = (*DB)(nil)

const signingKeyColumns = `kid, alg, state, public_key, private_key, created_at, activated_at, retired_at`

// SigningKeys returns the managed signing keys, oldest first.
func (db *DB) SigningKeys(ctx context.Context, withRetired bool) ([]auth.SigningKey, error) {
	q := `SELECT ` + signingKeyColumns + ` FROM signing_keys WHERE state <> 'retired' ORDER BY created_at, kid`
	if withRetired {
		q = `SELECT ` + signingKeyColumns + ` FROM signing_keys ORDER BY created_at, kid`
	}
	var keys []auth.SigningKey
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k auth.SigningKey
			if err := rows.Scan(&k.KID, &k.Alg, &k.State, &k.Public, &k.Sealed,
				timeCol{&k.CreatedAt}, timeCol{&k.ActivatedAt}, timeCol{&k.RetiredAt}); err != nil {
				return err
			}
			keys = append(keys, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrapErr("list signing keys", err)
	}
	return keys, nil
}

// ChangeSigningKeys applies changes and inserts add in one write
// transaction (BEGIN IMMEDIATE: serialised with every other writer, in this
// process and others). Each change is an UPDATE conditional on the key's
// expected state; one that changes no row rolls everything back.
func (db *DB) ChangeSigningKeys(ctx context.Context, changes []auth.SigningKeyChange, add []auth.SigningKey, now time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, c := range changes {
			var res sql.Result
			var err error
			switch c.To {
			case auth.KeyRetired:
				res, err = tx.ExecContext(ctx, `UPDATE signing_keys SET state = ?, private_key = NULL, retired_at = ? WHERE kid = ? AND state = ?`,
					c.To, timeArg(now), c.KID, c.From)
			case auth.KeyCurrent:
				res, err = tx.ExecContext(ctx, `UPDATE signing_keys SET state = ?, activated_at = ? WHERE kid = ? AND state = ?`,
					c.To, timeArg(now), c.KID, c.From)
			default:
				res, err = tx.ExecContext(ctx, `UPDATE signing_keys SET state = ? WHERE kid = ? AND state = ?`,
					c.To, c.KID, c.From)
			}
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				return fmt.Errorf("key %s is not %s: %w", c.KID, c.From, auth.ErrConflict)
			}
		}
		for _, k := range add {
			if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				k.KID, k.Alg, k.State, k.Public, blobArg(k.Sealed), timeArg(k.CreatedAt), timeArg(k.ActivatedAt), timeArg(k.RetiredAt)); err != nil {
				return err
			}
		}
		return nil
	})
	return wrapErr("change signing keys", err)
}

// ResealSigningKey replaces the sealed private key of kid if it is still old.
func (db *DB) ResealSigningKey(ctx context.Context, kid string, old, sealed []byte) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE signing_keys SET private_key = ? WHERE kid = ? AND private_key = ?`, sealed, kid, old)
		return err
	})
	return wrapErr("reseal signing key", err)
}
