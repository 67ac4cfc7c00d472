package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Purge deletes, in one transaction, the rows that can no longer matter at
// now, and returns how many it deleted:
//
//   - cookie sessions whose absolute expiry is before now;
//   - deny-list entries that expired before now (their tokens have expired);
//   - one-time tokens that are used, or expired before now;
//   - refresh families revoked or expired before now, and with them (ON
//     DELETE CASCADE, not counted) every refresh token of those families: a
//     token of a dead family is refused whether or not its row exists;
//   - pending MFA logins that are used or expired;
//   - login-failure rows whose window and lock ended at or before now
//     (their failures no longer count: the next one starts from zero);
//   - WebAuthn ceremonies (issued challenges) that expired at or before
//     now;
//   - revocation-feed events older than auth.RevocationRetention, but
//     never the newest (revocations.go).
//
// It never deletes users, live sessions or families, the tokens of live
// families (used ones are kept for reuse detection), failure counts whose
// window is still open, the mail outbox or the server secrets.
func (db *DB) Purge(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := db.tx(ctx, func(tx pgx.Tx) error {
		total = 0
		for _, q := range []string{
			deleteExpiredSessions,
			purgeDenied,
			`DELETE FROM one_time_tokens WHERE used_at IS NOT NULL OR expires_at < $1`,
			`DELETE FROM refresh_families WHERE revoked_at < $1 OR expires_at < $1`,
			`DELETE FROM login_failures WHERE expires_at <= $1`,
			`DELETE FROM webauthn_ceremonies WHERE expires_at <= $1`,
			`DELETE FROM rate_limits WHERE expires_at < $1`,
			`DELETE FROM mfa_tokens WHERE used_at IS NOT NULL OR expires_at <= $1`,
		} {
			tag, err := tx.Exec(ctx, q, now)
			if err != nil {
				return err
			}
			total += tag.RowsAffected()
		}
		tag, err := tx.Exec(ctx, purgeRevocations, now, auth.RevocationRetention.Seconds())
		if err != nil {
			return err
		}
		total += tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, wrapErr("purge database", err)
	}
	return total, nil
}
