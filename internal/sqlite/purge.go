package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Purge deletes, in one write transaction, the rows that can no longer
// matter at now, and returns how many it deleted:
//
//   - cookie sessions whose absolute expiry is before now;
//   - deny-list entries that expired before now (their tokens have expired);
//   - one-time tokens that are used, or expired before now;
//   - refresh families revoked or expired before now, and with them (ON
//     DELETE CASCADE) every refresh token of those families: a token of a
//     dead family is refused whether or not its row exists;
//   - pending MFA logins that are used or expired;
//   - login-failure rows whose window and lock ended at or before now
//     (their failures no longer count: the next one starts from zero);
//   - WebAuthn ceremonies (issued challenges) that expired at or before
//     now;
//   - revocation-feed events older than auth.RevocationRetention, but
//     never the newest (revocations.go).
//
// It never deletes users, live sessions or families, the tokens of live
// families (used ones are kept for reuse detection), failure counts below the
// threshold, the mail outbox or the server secrets.
func (db *DB) Purge(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		total = 0
		n, err := db.deleteExpiredSessions(ctx, tx, now)
		if err != nil {
			return err
		}
		total += n
		if n, err = db.purgeDenied(ctx, tx, now); err != nil {
			return err
		}
		total += n
		if n, err = db.purgeRevocations(ctx, tx, now); err != nil {
			return err
		}
		total += n
		at := now.UnixMicro()
		for _, q := range []string{
			`DELETE FROM one_time_tokens WHERE used_at IS NOT NULL OR expires_at < ?1`,
			`DELETE FROM refresh_families WHERE revoked_at < ?1 OR expires_at < ?1`,
			`DELETE FROM login_failures WHERE expires_at <= ?1`,
			`DELETE FROM mfa_tokens WHERE used_at IS NOT NULL OR expires_at <= ?1`,
			`DELETE FROM webauthn_ceremonies WHERE expires_at <= ?1`,
		} {
			res, err := db.txExec(ctx, tx, q, at)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, wrapErr("purge database", err)
	}
	return total, nil
}
