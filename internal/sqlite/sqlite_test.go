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
	path := filepath.Join(t.TempDir(), "p.db")
	storetest.Persistence(t, func(t *testing.T, migrate bool) auth.Store {
		db, err := sqlite.Open(t.Context(), path, sqlite.AutoMigrate(migrate))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
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
