package seed_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/bench/seed"
	"github.com/bulwarkauth/bulwark/internal/email"
	"github.com/bulwarkauth/bulwark/internal/memory"
	"github.com/bulwarkauth/bulwark/internal/password"
	"github.com/bulwarkauth/bulwark/internal/postgres"
	"github.com/bulwarkauth/bulwark/internal/sqlite"
	"github.com/bulwarkauth/bulwark/internal/testutil"
	"github.com/bulwarkauth/bulwark/internal/token"
)

func TestSQLite(t *testing.T) {
	check(t, func(t *testing.T) seed.DB {
		db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "bulwark.db"), sqlite.AutoMigrate(true))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return seed.SQLite{DB: db}
	})
}

func TestPostgres(t *testing.T) {
	base := os.Getenv("BULWARK_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("!!! BULWARK_TEST_POSTGRES_URL not set: PostgreSQL seeding tests SKIPPED")
	}
	check(t, func(t *testing.T) seed.DB {
		dbURL := testutil.FreshSchema(t, base, "t_seed_")
		db, err := postgres.Open(context.Background(), dbURL, postgres.AutoMigrate(true), postgres.MaxConns(4))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() }) // before the schema is dropped
		return seed.Postgres{DB: db}
	})
}

// check checks a backend's Seed: what it writes reads back exactly as what
// CreateUser and CreateSession write, the Service signs seeded users in
// with their password and accepts seeded session tokens, and a database
// that holds users is refused. open must return a new, empty, migrated
// store each time it is called.
func check(t *testing.T, open func(t *testing.T) seed.DB) {
	ctx := t.Context()
	const pw = "a long bench passphrase 42"
	hasher, err := password.New(password.Config{
		Algorithm: password.Argon2id, Argon2: password.Argon2Params{Memory: 64, Time: 1, Threads: 1},
	}, password.AllowWeakParameters())
	if err != nil {
		t.Fatal(err)
	}
	defer hasher.Close()
	hash, err := hasher.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}

	// Times that are not whole microseconds, as time.Now gives: both must
	// store them as CreateUser does.
	now := time.Now().UTC()
	const n = 5
	users := make([]*auth.User, n)
	sessions := make([]*auth.Session, n)
	tokens := make([]string, n)
	for i := range n {
		users[i] = &auth.User{
			ID: fmt.Sprintf("usr_seed%d", i), Email: fmt.Sprintf("seed%d@example.com", i), PasswordHash: hash,
			EmailVerified: true, CreatedAt: now.Add(-time.Duration(i+1)*time.Hour - 1234*time.Nanosecond),
		}
		tokens[i] = fmt.Sprintf("seed-session-token-%d-of-bench", i)
		sum := sha256.Sum256([]byte(tokens[i]))
		sessions[i] = &auth.Session{
			ID: fmt.Sprintf("ses_seed%d", i), UserID: users[i].ID, TokenHash: sum[:],
			CreatedAt: now.Add(-time.Minute), LastSeenAt: now.Add(-time.Second), ExpiresAt: now.Add(24 * time.Hour),
			IP: "192.0.2.1", UserAgent: "bench/1",
		}
	}
	// The generators of bench reuse one value; so does this one.
	seqOf := func(all []*auth.User) iter.Seq[*auth.User] {
		return func(yield func(*auth.User) bool) {
			var u auth.User
			for _, v := range all {
				u = *v
				if !yield(&u) {
					return
				}
			}
		}
	}
	sessionSeq := func(yield func(*auth.Session) bool) {
		var s auth.Session
		for _, v := range sessions {
			s = *v
			if !yield(&s) {
				return
			}
		}
	}

	db := open(t)
	if err := db.Seed(ctx, seqOf(users), sessionSeq); err != nil {
		t.Fatalf("Seed: %v", err)
	}

	// What the real code writes, through CreateUser and CreateSession on a
	// store of its own, reads back the same.
	ref := open(t)
	for i := range n {
		if err := ref.CreateUser(ctx, users[i]); err != nil {
			t.Fatal(err)
		}
		if err := ref.CreateSession(ctx, sessions[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		got, err := db.UserByEmail(ctx, users[i].Email)
		if err != nil {
			t.Fatalf("UserByEmail(%s) of a seeded user: %v", users[i].Email, err)
		}
		want, err := ref.UserByEmail(ctx, users[i].Email)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("seeded user reads back as\n%+v\nCreateUser's as\n%+v", got, want)
		}
		gs, gu, err := db.SessionWithUser(ctx, sessions[i].TokenHash)
		if err != nil {
			t.Fatalf("SessionWithUser of seeded session %d: %v", i, err)
		}
		ws, _, err := ref.SessionWithUser(ctx, sessions[i].TokenHash)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gs, ws) || gu.ID != users[i].ID {
			t.Errorf("seeded session reads back as\n%+v (user %s)\nCreateSession's as\n%+v", gs, gu.ID, ws)
		}
	}

	// The Service takes seeded users and sessions for real ones.
	policy, err := password.NewPolicy(15)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := token.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	cfg := auth.DefaultConfig()
	issuer, err := token.NewHS256(secret, cfg.PublicURL, cfg.PublicURL, cfg.AccessTTL)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(ctx, cfg, auth.Deps{
		Store: db, Limiter: memory.NewLimiter(memory.LimiterOptions{}), Hasher: hasher, Policy: policy,
		Normalize: password.Normalize, CanonicalEmail: email.Canonical, Tokens: issuer,
	})
	if err != nil {
		t.Fatal(err)
	}
	cl := auth.Client{IP: "192.0.2.1", IPKey: "192.0.2.1"}
	for i := range n {
		login, err := svc.Authenticate(ctx, cl, users[i].Email, pw, auth.ModeToken)
		if err != nil {
			t.Fatalf("Authenticate(%s) of a seeded user: %v", users[i].Email, err)
		}
		if login.User.ID != users[i].ID {
			t.Errorf("Authenticate(%s) = user %s, want %s", users[i].Email, login.User.ID, users[i].ID)
		}
		cur, _, err := svc.SessionByToken(ctx, tokens[i])
		if err != nil {
			t.Fatalf("SessionByToken of seeded session %d: %v", i, err)
		}
		if cur.UserID != users[i].ID || cur.SessionID != sessions[i].ID {
			t.Errorf("SessionByToken = %v, want user %s session %s", cur, users[i].ID, sessions[i].ID)
		}
	}
	if _, err := svc.Authenticate(ctx, cl, users[0].Email, "not the "+pw, auth.ModeToken); err == nil {
		t.Error("Authenticate with a wrong password succeeded")
	}

	if size, err := db.Size(ctx); err != nil || size <= 0 {
		t.Errorf("Size = %d, %v; want > 0", size, err)
	}

	// A database that holds users is refused, before anything is written.
	more := []*auth.User{{ID: "usr_more", Email: "more@example.com", PasswordHash: hash, CreatedAt: now}}
	err = db.Seed(ctx, seqOf(more), func(func(*auth.Session) bool) {})
	if !errors.Is(err, auth.ErrConflict) {
		t.Errorf("Seed of a database with users = %v, want auth.ErrConflict", err)
	}
	if _, err := db.UserByEmail(ctx, "more@example.com"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("after the refusal, UserByEmail(more@example.com) = %v, want auth.ErrNotFound", err)
	}
	// So is one that holds a user created the usual way.
	if err := ref.Seed(ctx, seqOf(more), func(func(*auth.Session) bool) {}); !errors.Is(err, auth.ErrConflict) {
		t.Errorf("Seed of a database with users = %v, want auth.ErrConflict", err)
	}
}
