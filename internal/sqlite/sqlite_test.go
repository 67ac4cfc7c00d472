package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/sqlite"
	"github.com/bulwarkauth/bulwark/internal/storetest"
)

// openTemp opens a migrated database in a new temporary directory.
func openTemp(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "bulwark.db"), sqlite.AutoMigrate(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) auth.Store { return openTemp(t) })
}

func TestStoreInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) auth.Store {
		db, err := sqlite.Open(t.Context(), ":memory:", sqlite.AutoMigrate(true))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	pending, err := db.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) == 0 || !slices.IsSorted(pending) {
		t.Fatalf("Pending on a new database = %v, want every migration in order", pending)
	}
	// Before migrating, the tables do not exist.
	if _, err := db.UserByID(ctx, "x"); err == nil || errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("UserByID before Migrate: %v, want a missing-table error", err)
	}
	for range 2 { // idempotent
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		pending, err = db.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 0 {
			t.Fatalf("Pending after Migrate = %v, want none", pending)
		}
	}
	if _, err := db.UserByID(ctx, "x"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("UserByID after Migrate: %v, want ErrNotFound", err)
	}
}

func TestMigrateOrder(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Each migration depends on the one before it; listed out of order to
	// show that the file names, not the map, set the order.
	fsys := fstest.MapFS{
		"m/0003_c.sql": {Data: []byte(`INSERT INTO log (step) SELECT 3 FROM log WHERE step = 2;`)},
		"m/0001_a.sql": {Data: []byte(`CREATE TABLE log (step INTEGER NOT NULL);`)},
		"m/0002_b.sql": {Data: []byte(`INSERT INTO log (step) VALUES (1); INSERT INTO log (step) VALUES (2);`)},
		"m/README.md":  {Data: []byte(`not a migration`)},
	}
	got, err := db.PendingFS(ctx, fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0001_a.sql", "0002_b.sql", "0003_c.sql"}; !slices.Equal(got, want) {
		t.Fatalf("Pending = %v, want %v", got, want)
	}
	for range 2 {
		if err := db.MigrateFS(ctx, fsys, "m"); err != nil {
			t.Fatal(err)
		}
	}
	// The store has no API to read the log table, so a further migration
	// checks it: it fails unless each migration ran once, in order.
	check := fstest.MapFS{
		"m/0004_check.sql": {Data: []byte(`CREATE TABLE ok (n INTEGER NOT NULL CHECK (n = 6)); INSERT INTO ok SELECT SUM(step) + 100 * (COUNT(*) <> 3) FROM log;`)},
	}
	for k, v := range fsys {
		check[k] = v
	}
	if err := db.MigrateFS(ctx, check, "m"); err != nil {
		t.Fatalf("migrations did not run once each, in order: %v", err)
	}

	// A failing migration is rolled back whole and stays pending.
	bad := fstest.MapFS{"m/0005_bad.sql": {Data: []byte(`CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);`)}}
	for k, v := range check {
		bad[k] = v
	}
	if err := db.MigrateFS(ctx, bad, "m"); err == nil {
		t.Fatal("MigrateFS with a failing migration succeeded")
	}
	got, err = db.PendingFS(ctx, bad, "m")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0005_bad.sql"}; !slices.Equal(got, want) {
		t.Fatalf("Pending after a failed migration = %v, want %v", got, want)
	}
	fixed := fstest.MapFS{"m/0005_bad.sql": {Data: []byte(`CREATE TABLE half (x INTEGER);`)}}
	for k, v := range check {
		fixed[k] = v
	}
	if err := db.MigrateFS(ctx, fixed, "m"); err != nil {
		t.Fatalf("the half-applied migration left a trace: %v", err)
	}
}

func TestAutoMigrateOff(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := db.Pending(ctx)
	db.Close()
	if err != nil || len(pending) == 0 {
		t.Fatalf("Pending = %v, %v; want migrations pending", pending, err)
	}
	db, err = sqlite.Open(ctx, path, sqlite.AutoMigrate(true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if pending, err := db.Pending(ctx); err != nil || len(pending) != 0 {
		t.Fatalf("Pending after Open with AutoMigrate = %v, %v; want none", pending, err)
	}
}

func TestPersistence(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "p.db")
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

	db, err := sqlite.Open(ctx, path, sqlite.AutoMigrate(true))
	if err != nil {
		t.Fatal(err)
	}
	u := &auth.User{ID: "u1", Email: "alice@example.com", PasswordHash: "h", CreatedAt: now}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.Deny(ctx, "jti:1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordLoginFailure(ctx, "bob@example.com", now, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	m := &auth.Mail{To: "alice@example.com", Template: "verify_email", CreatedAt: now}
	if err := db.EnqueueMail(ctx, m); err != nil {
		t.Fatal(err)
	}
	secret, err := db.Secret(ctx, "k", []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = sqlite.Open(ctx, path) // no migration needed
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if p, err := db.Pending(ctx); err != nil || len(p) != 0 {
		t.Fatalf("Pending after reopening = %v, %v", p, err)
	}
	got, err := db.UserByEmail(ctx, u.Email)
	if err != nil || got.ID != u.ID || !got.CreatedAt.Equal(now) {
		t.Errorf("UserByEmail after reopening = %+v, %v", got, err)
	}
	if d, err := db.Denied(ctx, now, "jti:1"); err != nil || !d {
		t.Errorf("Denied after reopening = %v, %v; want true", d, err)
	}
	if l, err := db.LoginLockout(ctx, "bob@example.com"); err != nil || l.Failures != 1 || !l.LockedUntil.Equal(now.Add(time.Hour)) {
		t.Errorf("LoginLockout after reopening = %+v, %v", l, err)
	}
	if ms, err := db.PendingMail(ctx, now, 0, 10); err != nil || len(ms) != 1 || ms[0].ID != m.ID {
		t.Errorf("PendingMail after reopening = %+v, %v", ms, err)
	}
	if s, err := db.Secret(ctx, "k", []byte("second")); err != nil || string(s) != string(secret) {
		t.Errorf("Secret after reopening = %q, %v; want %q", s, err, secret)
	}
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	db := openTemp(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checks := map[string]error{
		"Ping":    db.Ping(ctx),
		"Migrate": db.Migrate(ctx),
		"Deny":    db.Deny(ctx, "k", time.Now()),
	}
	_, checks["UserByEmail"] = db.UserByEmail(ctx, "a@example.com")
	_, checks["Denied"] = db.Denied(ctx, time.Now(), "k")
	_, checks["Pending"] = db.Pending(ctx)
	_, checks["Purge"] = db.Purge(ctx, time.Now())
	_, checks["ListSessions"] = db.ListSessions(ctx, "u", time.Now())
	for name, err := range checks {
		if !errors.Is(err, auth.ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", name, err)
		}
	}
}

func TestOpenBadPath(t *testing.T) {
	ctx := t.Context()
	_, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"))
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("Open in a missing directory: %v, want ErrUnavailable", err)
	}
	for _, p := range []string{"", "file:x.db", "x.db?mode=ro"} {
		if _, err := sqlite.Open(ctx, p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestPragmas(t *testing.T) {
	db := openTemp(t)
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"synchronous", "1"},
	} {
		got, err := db.PragmaForTest(t.Context(), tc.pragma)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
}

func TestPurge(t *testing.T) {
	ctx := t.Context()
	db := openTemp(t)
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	u := &auth.User{ID: "u1", Email: "alice@example.com", CreatedAt: now}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.CreateUser(ctx, u))
	hash := func(b byte) []byte { h := make([]byte, 32); h[0] = b; return h }

	must(db.CreateSession(ctx, &auth.Session{ID: "s-old", UserID: u.ID, TokenHash: hash(1), CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}))
	must(db.CreateSession(ctx, &auth.Session{ID: "s-live", UserID: u.ID, TokenHash: hash(2), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(db.Deny(ctx, "jti:old", now.Add(-time.Minute)))
	must(db.Deny(ctx, "jti:live", now.Add(time.Minute)))
	must(db.CreateOneTimeToken(ctx, &auth.OneTimeToken{Hash: hash(3), Kind: auth.KindVerifyEmail, UserID: u.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}))
	must(db.CreateOneTimeToken(ctx, &auth.OneTimeToken{Hash: hash(4), Kind: auth.KindPasswordReset, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	// hash(5) supersedes hash(4): used.
	must(db.CreateOneTimeToken(ctx, &auth.OneTimeToken{Hash: hash(5), Kind: auth.KindPasswordReset, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(db.CreateRefreshFamily(ctx, &auth.RefreshFamily{ID: "f-expired", UserID: u.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}, &auth.RefreshToken{Hash: hash(6), CreatedAt: now}))
	must(db.CreateRefreshFamily(ctx, &auth.RefreshFamily{ID: "f-revoked", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, &auth.RefreshToken{Hash: hash(7), CreatedAt: now}))
	must(db.RevokeFamily(ctx, "", "f-revoked", now.Add(-time.Second)))
	must(db.CreateRefreshFamily(ctx, &auth.RefreshFamily{ID: "f-live", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, &auth.RefreshToken{Hash: hash(8), CreatedAt: now}))
	if ok, err := db.RotateRefreshToken(ctx, hash(8), &auth.RefreshToken{Hash: hash(9)}, now); err != nil || !ok {
		t.Fatalf("RotateRefreshToken = %v, %v", ok, err)
	}
	if _, err := db.RecordLoginFailure(ctx, "expired-lock", now.Add(-time.Hour), 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordLoginFailure(ctx, "live-lock", now, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordLoginFailure(ctx, "below-threshold", now, 5, time.Hour); err != nil {
		t.Fatal(err)
	}

	n, err := db.Purge(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// s-old, jti:old, ott 3 (expired), ott 4 (used), f-expired + f-revoked, expired-lock.
	if n != 7 {
		t.Errorf("Purge removed %d rows, want 7", n)
	}
	gone := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("%s after Purge: %v, want ErrNotFound", what, err)
		}
	}
	kept := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s after Purge: %v", what, err)
		}
	}
	_, err = db.SessionByTokenHash(ctx, hash(1))
	gone("expired session", err)
	_, err = db.SessionByTokenHash(ctx, hash(2))
	kept("live session", err)
	if d, _ := db.Denied(ctx, now.Add(-time.Hour), "jti:old"); d {
		t.Error("expired deny-list entry kept")
	}
	if d, _ := db.Denied(ctx, now, "jti:live"); !d {
		t.Error("live deny-list entry removed")
	}
	_, err = db.OneTimeToken(ctx, auth.KindPasswordReset, hash(5), now)
	kept("live one-time token", err)
	_, _, err = db.RefreshTokenByHash(ctx, hash(6))
	gone("token of an expired family", err)
	_, _, err = db.RefreshTokenByHash(ctx, hash(7))
	gone("token of a revoked family", err)
	_, _, err = db.RefreshTokenByHash(ctx, hash(8))
	kept("used token of a live family", err)
	_, _, err = db.RefreshTokenByHash(ctx, hash(9))
	kept("current token of a live family", err)
	for key, want := range map[string]int{"expired-lock": 0, "live-lock": 1, "below-threshold": 1} {
		if l, err := db.LoginLockout(ctx, key); err != nil || l.Failures != want {
			t.Errorf("LoginLockout(%s) after Purge = %+v, %v; want %d failures", key, l, err, want)
		}
	}
	if _, err := db.UserByID(ctx, u.ID); err != nil {
		t.Errorf("user after Purge: %v", err)
	}
}

// TestTwoHandles runs writers through two DB values on one file, as two
// processes would: BEGIN IMMEDIATE and busy_timeout make them wait for each
// other instead of failing with SQLITE_BUSY, and no increment is lost.
func TestTwoHandles(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := sqlite.Open(ctx, path, sqlite.AutoMigrate(true))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlite.Open(ctx, path, sqlite.AutoMigrate(true))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 40 {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			if _, err := db.RecordLoginFailure(ctx, "k", now, 100, time.Minute); err != nil {
				t.Errorf("RecordLoginFailure: %v", err)
			}
		})
	}
	wg.Wait()
	l, err := a.LoginLockout(ctx, "k")
	if err != nil || l.Failures != 40 {
		t.Errorf("LoginLockout = %+v, %v; want 40 failures", l, err)
	}
}
