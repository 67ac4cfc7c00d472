package seed

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/postgres"
)

// Postgres seeds a PostgreSQL store, through its Pool.
type Postgres struct{ *postgres.DB }

// Seed inserts every user of users and then every session of sessions,
// with the columns and stored forms CreateUser and CreateSession use,
// through COPY in one transaction; rows are streamed, never held.
//
// It locks both tables and refuses, with auth.ErrConflict and before
// writing anything, a database that already holds a user. It then runs
// ANALYZE on both tables, as autovacuum would soon after such a load, so
// that the planner does not take them for the empty tables they were.
func (db Postgres) Seed(ctx context.Context, users iter.Seq[*auth.User], sessions iter.Seq[*auth.Session]) error {
	err := pgx.BeginFunc(ctx, db.Pool(), func(tx pgx.Tx) error {
		// EXCLUSIVE still lets readers in but no other writer until the
		// end: nobody can add a user between the check and the copy.
		if _, err := tx.Exec(ctx, `LOCK TABLE users, sessions IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock tables: %w", err)
		}
		var found bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&found); err != nil {
			return fmt.Errorf("check users: %w", err)
		}
		if found {
			return errNotEmpty
		}
		userRows, stopUsers := copySource(users, func(u *auth.User) []any {
			return []any{u.ID, u.Email, u.PasswordHash, u.EmailVerified, u.Disabled, u.CreatedAt, pgTimeArg(u.TokensValidAfter)}
		})
		defer stopUsers()
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"users"},
			[]string{"id", "email", "password_hash", "email_verified", "disabled", "created_at", "tokens_valid_after"},
			userRows); err != nil {
			return fmt.Errorf("copy users: %w", err)
		}
		sessionRows, stopSessions := copySource(sessions, func(s *auth.Session) []any {
			return []any{s.ID, s.UserID, s.TokenHash, s.CreatedAt, pgTimeArg(s.LastSeenAt), s.ExpiresAt, pgText(s.IP), pgText(s.UserAgent)}
		})
		defer stopSessions()
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"sessions"},
			[]string{"id", "user_id", "token_hash", "created_at", "last_seen_at", "expires_at", "ip", "user_agent"},
			sessionRows); err != nil {
			return fmt.Errorf("copy sessions: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bench seed: %w", err)
	}
	if _, err := db.Pool().Exec(ctx, `ANALYZE users, sessions`); err != nil {
		return fmt.Errorf("bench seed: analyze: %w", err)
	}
	return nil
}

// pgTimeArg is internal/postgres's stored form of a time: NULL for the
// zero time.
func pgTimeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// pgText is internal/postgres's stored form of text that came from a
// client: valid UTF-8 without NUL, which PostgreSQL's text refuses.
func pgText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// copySource streams seq to CopyFrom, one row of values at a time. stop
// must be called when the copy is over, whether or not it read every row.
func copySource[T any](seq iter.Seq[T], values func(T) []any) (src pgx.CopyFromSource, stop func()) {
	next, stop := iter.Pull(seq)
	return pgx.CopyFromFunc(func() ([]any, error) {
		v, ok := next()
		if !ok {
			return nil, nil
		}
		return values(v), nil
	}), stop
}

// Size returns the space Bulwark's tables take in the current schema
// (search_path), their indexes and TOAST included: the database's size
// without the catalogs, which would dwarf a small one.
func (db Postgres) Size(ctx context.Context) (int64, error) {
	var n int64
	err := db.Pool().QueryRow(ctx, `
		SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("database size: %w", err)
	}
	return n, nil
}
