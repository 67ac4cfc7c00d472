package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/postgres"
	"github.com/bulwarkauth/bulwark/internal/storetest"
)

const urlEnv = "BULWARK_TEST_POSTGRES_URL"

// testURL returns the server URL of the tests, or skips the test loudly.
func testURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		t.Skip(urlEnv + " not set: PostgreSQL store tests SKIPPED")
	}
	return u
}

// withParams adds run-time parameters to a PostgreSQL URL or keyword/value
// connection string.
func withParams(t testing.TB, base string, params map[string]string) string {
	t.Helper()
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("parse %s: %v", urlEnv, err)
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		base += " " + k + "=" + v
	}
	return base
}

// newSchema creates an empty schema with a random name, dropped when the test
// ends, and returns its name and a URL whose connections use it (search_path)
// and are named after it (application_name).
func newSchema(t testing.TB) (schema, dbURL string) {
	t.Helper()
	base := testURL(t)
	b := make([]byte, 8)
	rand.Read(b)
	schema = "t_" + hex.EncodeToString(b)
	admin(t, base, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { admin(t, base, `DROP SCHEMA `+schema+` CASCADE`) })
	return schema, withParams(t, base, map[string]string{"search_path": schema, "application_name": schema})
}

// admin runs one statement on a connection of its own.
func admin(t testing.TB, dbURL, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", urlEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// openFresh opens a migrated store on a new schema of its own, closed and
// dropped when the test ends.
func openFresh(t testing.TB, opts ...postgres.Option) *postgres.DB {
	t.Helper()
	_, dbURL := newSchema(t)
	return openOn(t, dbURL, opts...)
}

// openOn opens a migrated store on dbURL (8 connections unless opts say
// otherwise), closed when the test ends.
func openOn(t testing.TB, dbURL string, opts ...postgres.Option) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dbURL, append([]postgres.Option{postgres.AutoMigrate(true), postgres.MaxConns(8)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // before the schema is dropped
	return db
}

func TestStore(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) auth.Store { return openFresh(t) })
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	_, dbURL := newSchema(t)
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	pending, err := db.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) == 0 || !slices.IsSorted(pending) {
		t.Fatalf("Pending on a new schema = %v, want every migration in order", pending)
	}
	if _, err := db.UserByID(ctx, "x"); err == nil || errors.Is(err, auth.ErrNotFound) || errors.Is(err, auth.ErrUnavailable) {
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
	_, dbURL := newSchema(t)
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Each migration depends on the one before it; listed out of order to
	// show that the file names, not the map, set the order.
	fsys := fstest.MapFS{
		"m/0003_c.sql": {Data: []byte(`INSERT INTO log (step) SELECT 3 FROM log WHERE step = 2;`)},
		"m/0001_a.sql": {Data: []byte(`CREATE TABLE log (step integer NOT NULL);`)},
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
	if n, err := db.Int64ForTest(ctx, `SELECT SUM(step) + 100 * (COUNT(*) <> 3)::int FROM log`); err != nil || n != 6 {
		t.Fatalf("migrations did not run once each, in order: %d, %v", n, err)
	}

	// A failing migration is rolled back whole and stays pending.
	bad := fstest.MapFS{"m/0005_bad.sql": {Data: []byte(`CREATE TABLE half (x integer); INSERT INTO nowhere VALUES (1);`)}}
	for k, v := range fsys {
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
	fixed := fstest.MapFS{"m/0005_bad.sql": {Data: []byte(`CREATE TABLE half (x integer);`)}}
	for k, v := range fsys {
		fixed[k] = v
	}
	if err := db.MigrateFS(ctx, fixed, "m"); err != nil {
		t.Fatalf("the half-applied migration left a trace: %v", err)
	}
}

// TestMigrateConcurrent runs Migrate from four pools at once on one new
// schema, as four instances starting together would: every migration is
// applied exactly once (a second run of any would fail on CREATE TABLE) and
// none of them fails.
func TestMigrateConcurrent(t *testing.T) {
	ctx := t.Context()
	_, dbURL := newSchema(t)
	const instances = 4
	dbs := make([]*postgres.DB, instances)
	for i := range dbs {
		db, err := postgres.Open(ctx, dbURL, postgres.MaxConns(2))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
	}
	// A slow first migration of our own makes the runs overlap.
	fsys := fstest.MapFS{
		"m/0001_slow.sql": {Data: []byte(`SELECT pg_sleep(0.3); CREATE TABLE slow (x integer);`)},
		"m/0002_log.sql":  {Data: []byte(`CREATE TABLE log (x integer); INSERT INTO log VALUES (1);`)},
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, db := range dbs {
		wg.Go(func() {
			<-start
			if err := db.MigrateFS(ctx, fsys, "m"); err != nil {
				t.Errorf("MigrateFS: %v", err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Errorf("Migrate: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	embedded := int64(len(mustPending(t)))
	for query, want := range map[string]int64{
		`SELECT COUNT(*) FROM log`:                           1,
		`SELECT COUNT(*) FROM schema_migrations`:             embedded + int64(len(fsys)),
		`SELECT COUNT(DISTINCT name) FROM schema_migrations`: embedded + int64(len(fsys)),
	} {
		if n, err := dbs[0].Int64ForTest(ctx, query); err != nil || n != want {
			t.Errorf("%s = %d, %v; want %d", query, n, err, want)
		}
	}
	for _, db := range dbs {
		if p, err := db.Pending(ctx); err != nil || len(p) != 0 {
			t.Errorf("Pending after concurrent migrations = %v, %v", p, err)
		}
	}
}

// mustPending returns the embedded migrations, as Pending lists them on a new
// schema.
func mustPending(t *testing.T) []string {
	t.Helper()
	_, fresh := newSchema(t)
	db, err := postgres.Open(t.Context(), fresh, postgres.MaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := db.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAutoMigrateOff(t *testing.T) {
	ctx := t.Context()
	_, dbURL := newSchema(t)
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := db.Pending(ctx)
	db.Close()
	if err != nil || len(pending) == 0 {
		t.Fatalf("Pending = %v, %v; want migrations pending", pending, err)
	}
	db, err = postgres.Open(ctx, dbURL, postgres.AutoMigrate(true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if pending, err := db.Pending(ctx); err != nil || len(pending) != 0 {
		t.Fatalf("Pending after Open with AutoMigrate = %v, %v; want none", pending, err)
	}
}

func TestPersistence(t *testing.T) {
	_, dbURL := newSchema(t)
	storetest.Persistence(t, func(t *testing.T, migrate bool) auth.Store {
		db, err := postgres.Open(t.Context(), dbURL, postgres.AutoMigrate(migrate))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestClosed(t *testing.T) {
	ctx := t.Context()
	db := openFresh(t)
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
	_, checks["PendingMail"] = db.PendingMail(ctx, time.Now(), time.Minute, 10)
	_, checks["RotateRefreshToken"] = db.RotateRefreshToken(ctx, []byte("x"), &auth.RefreshToken{Hash: []byte("y")}, time.Now())
	for name, err := range checks {
		if !errors.Is(err, auth.ErrUnavailable) {
			t.Errorf("%s after Close: %v, want ErrUnavailable", name, err)
		}
	}
}

// TestUnreachable opens a server that does not listen.
func TestUnreachable(t *testing.T) {
	testURL(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://bulwark:s3cret-pw@127.0.0.1:1/bulwark?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("Open of a closed port: %v, want ErrUnavailable", err)
	}
	if err != nil && strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error shows the password: %v", err)
	}
	_, err = postgres.Open(ctx, "postgres://bulwark:s3cret-pw@127.0.0.1:5432/x?sslmode=bogus")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("Open of an invalid URL: %v, want an error without the password", err)
	}
}

// TestServerDropsConnections terminates every connection of the store on
// the server side, as a restart or failover would: calls fail with
// ErrUnavailable, if at all, and the store recovers by itself.
func TestServerDropsConnections(t *testing.T) {
	ctx := t.Context()
	schema, dbURL := newSchema(t)
	db := openOn(t, dbURL, postgres.MaxConns(4))
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if err := db.CreateUser(ctx, &auth.User{ID: "u", Email: "u@example.com", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		admin(t, testURL(t), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, schema)
		failed, ok := 0, false
		for range 10 {
			_, err := db.UserByID(ctx, "u")
			if err == nil {
				ok = true
				break
			}
			failed++
			if !errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("round %d: UserByID after the server dropped the connection: %v, want ErrUnavailable", round, err)
			}
		}
		if !ok {
			t.Fatalf("round %d: the store did not recover after %d failures", round, failed)
		}
		t.Logf("round %d: %d calls failed before the store recovered", round, failed)
	}
}

// TestTwoPools runs writers through two DB values on one schema, as two
// instances would: no increment is lost and no refresh token is rotated
// twice.
func TestTwoPools(t *testing.T) {
	ctx := t.Context()
	_, dbURL := newSchema(t)
	a := openOn(t, dbURL, postgres.MaxConns(6))
	b := openOn(t, dbURL, postgres.MaxConns(6))

	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if err := a.CreateUser(ctx, &auth.User{ID: "u", Email: "u@example.com", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	first := &auth.RefreshToken{Hash: []byte("first-token-hash-0123456789abcdef"), CreatedAt: now}
	if err := a.CreateRefreshFamily(ctx, &auth.RefreshFamily{ID: "f", UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, first); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 40 {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			if _, err := db.RecordLoginFailure(ctx, "k", now, 100, time.Minute); err != nil {
				t.Errorf("RecordLoginFailure: %v", err)
			}
			next := &auth.RefreshToken{Hash: []byte{byte(i), 'n', 'e', 'x', 't'}, CreatedAt: now}
			ok, err := db.RotateRefreshToken(ctx, first.Hash, next, now)
			if err != nil {
				t.Errorf("RotateRefreshToken: %v", err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	l, err := b.LoginLockout(ctx, "k")
	if err != nil || l.Failures != 40 {
		t.Errorf("LoginLockout = %+v, %v; want 40 failures", l, err)
	}
	if won != 1 {
		t.Errorf("%d of 40 concurrent rotations on two pools succeeded, want 1", won)
	}
}

// TestUnstorableText stores what PostgreSQL text cannot hold (NUL, invalid
// UTF-8), as a hostile client's User-Agent may carry: the store replaces it
// rather than failing the login.
func TestUnstorableText(t *testing.T) {
	ctx := t.Context()
	db := openFresh(t)
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if err := db.CreateUser(ctx, &auth.User{ID: "u", Email: "u@example.com", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	s := &auth.Session{ID: "s", UserID: "u", TokenHash: []byte("h"), CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		IP: "192.0.2.1", UserAgent: "evil\x00agent\xff"}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatalf("CreateSession with a NUL and invalid UTF-8 in the User-Agent: %v", err)
	}
	got, err := db.SessionByTokenHash(ctx, s.TokenHash)
	if err != nil || got.UserAgent != "evil\uFFFDagent\uFFFD" {
		t.Errorf("SessionByTokenHash = %+v, %v", got, err)
	}
	f := &auth.RefreshFamily{ID: "f", UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour), UserAgent: "\x00"}
	if err := db.CreateRefreshFamily(ctx, f, &auth.RefreshToken{Hash: []byte("t"), CreatedAt: now}); err != nil {
		t.Fatalf("CreateRefreshFamily with a NUL in the User-Agent: %v", err)
	}
	m := &auth.Mail{To: "u@example.com", Template: "verify_email", CreatedAt: now, Data: map[string]string{"name": "a\x00b"}}
	if err := db.EnqueueMail(ctx, m); err != nil {
		t.Fatalf("EnqueueMail with a NUL in the data: %v", err)
	}
}

func TestMaxConns(t *testing.T) {
	ctx := t.Context()
	_, dbURL := newSchema(t)
	for _, tc := range []struct {
		opts []postgres.Option
		want int
	}{
		{nil, postgres.DefaultMaxConns()},
		{[]postgres.Option{postgres.MaxConns(3)}, 3},
		{[]postgres.Option{postgres.MaxConns(0)}, postgres.DefaultMaxConns()},
		{[]postgres.Option{postgres.MaxConns(100000)}, 256},
	} {
		db, err := postgres.Open(ctx, dbURL, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if got := db.MaxConnsForTest(); got != tc.want {
			t.Errorf("MaxConns = %d, want %d", got, tc.want)
		}
		db.Close()
	}
	if d := postgres.DefaultMaxConns(); d < 4 || d > 64 {
		t.Errorf("DefaultMaxConns = %d, want within [4, 64]", d)
	}
}
