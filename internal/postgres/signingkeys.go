package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var _ auth.SigningKeyStore = (*DB)(nil)

const signingKeyColumns = `kid, alg, state, public_key, private_key, created_at, activated_at, retired_at`

// signingKeysLockKey is the transaction advisory lock that serialises every
// change of the signing keys of one schema, across instances.
const signingKeysLockKey = `hashtextextended('bulwark.signing_keys.' || coalesce(current_schema(), ''), 0)`

// SigningKeys returns the managed signing keys, oldest first.
func (db *DB) SigningKeys(ctx context.Context, withRetired bool) ([]auth.SigningKey, error) {
	q := `SELECT ` + signingKeyColumns + ` FROM signing_keys WHERE state <> 'retired' ORDER BY created_at, kid`
	if withRetired {
		q = `SELECT ` + signingKeyColumns + ` FROM signing_keys ORDER BY created_at, kid`
	}
	rows, err := db.query(ctx, q)
	if err != nil {
		return nil, wrapErr("list signing keys", err)
	}
	defer rows.Close()
	var keys []auth.SigningKey
	for rows.Next() {
		var k auth.SigningKey
		if err := rows.Scan(&k.KID, &k.Alg, &k.State, &k.Public, &k.Sealed,
			timeCol{&k.CreatedAt}, timeCol{&k.ActivatedAt}, timeCol{&k.RetiredAt}); err != nil {
			return nil, wrapErr("list signing keys", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("list signing keys", err)
	}
	return keys, nil
}

// ChangeSigningKeys applies changes and inserts add in one transaction that
// first takes a transaction advisory lock, so changes from several instances
// run one after the other instead of locking the same rows in different
// orders (a deadlock would surface as ErrUnavailable, not ErrConflict). Each
// change is an UPDATE conditional on the key's
// expected state (READ COMMITTED re-reads a row another transaction just
// changed); one that changes no row rolls everything back. The partial
// unique index on state is the last line: a second current cannot commit.
func (db *DB) ChangeSigningKeys(ctx context.Context, changes []auth.SigningKeyChange, add []auth.SigningKey, now time.Time) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+signingKeysLockKey+`)`); err != nil {
			return err
		}
		for _, c := range changes {
			q, args := `UPDATE signing_keys SET state = $1 WHERE kid = $2 AND state = $3`, []any{c.To, c.KID, c.From}
			switch c.To {
			case auth.KeyRetired:
				q, args = `UPDATE signing_keys SET state = $1, private_key = NULL, retired_at = $4 WHERE kid = $2 AND state = $3`, append(args, now)
			case auth.KeyCurrent:
				q, args = `UPDATE signing_keys SET state = $1, activated_at = $4 WHERE kid = $2 AND state = $3`, append(args, now)
			}
			tag, err := tx.Exec(ctx, q, args...)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("key %s is not %s: %w", c.KID, c.From, auth.ErrConflict)
			}
		}
		for _, k := range add {
			if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
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
	_, err := db.exec(ctx, `UPDATE signing_keys SET private_key = $1 WHERE kid = $2 AND private_key = $3`, sealed, kid, old)
	return wrapErr("reseal signing key", err)
}
