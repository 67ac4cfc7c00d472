package httpapi_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/kek"
	"github.com/bulwarkauth/bulwark/internal/memory"
	"github.com/bulwarkauth/bulwark/internal/postgres"
	"github.com/bulwarkauth/bulwark/internal/redis"
	"github.com/bulwarkauth/bulwark/internal/sqlite"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

// The checklist suite runs against SQLite with the in-memory limiter by
// default, and against PostgreSQL with the Redis limiter when
// BULWARK_TEST_BACKEND=postgres (CI runs it both ways). PostgreSQL needs
// BULWARK_TEST_POSTGRES_URL; Redis is used when BULWARK_TEST_REDIS_URL is set,
// otherwise the PostgreSQL limiter.

type backend struct {
	store       auth.Store
	limiter     auth.Limiter
	sqlitePath  string
	pgURL       string
	redisURL    string // set when the limiter is Redis, under redisPrefix
	redisPrefix string
}

// testKEK seals the secrets the stores keep at rest, as serve does.
var testKEK = func() *kek.Keys {
	k, err := kek.New([]byte("test key-encryption key 32 bytes"))
	if err != nil {
		panic(err)
	}
	return k
}()

func openBackend(t testing.TB, clk *testutil.Clock) *backend {
	t.Helper()
	ctx := context.Background()
	if os.Getenv("BULWARK_TEST_BACKEND") != "postgres" {
		path := filepath.Join(t.TempDir(), "bulwark.db")
		db, err := sqlite.Open(ctx, path, sqlite.AutoMigrate(true), sqlite.WithSealer(testKEK))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return &backend{store: db, limiter: memory.NewLimiter(memory.LimiterOptions{Now: clk.Now}), sqlitePath: path}
	}
	base := os.Getenv("BULWARK_TEST_POSTGRES_URL")
	if base == "" {
		t.Fatal("BULWARK_TEST_BACKEND=postgres needs BULWARK_TEST_POSTGRES_URL")
	}
	pgURL := testutil.FreshSchema(t, base, "h_")
	db, err := postgres.Open(ctx, pgURL, postgres.AutoMigrate(true), postgres.MaxConns(8), postgres.WithSealer(testKEK))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	be := &backend{store: db, limiter: db.LimiterWithClock(clk.Now), pgURL: pgURL}
	if rurl := os.Getenv("BULWARK_TEST_REDIS_URL"); rurl != "" {
		prefix := testutil.RandomName("bulwark-h-") + ":"
		rc, err := redis.Connect(rurl, prefix, redis.WithClock(clk.Now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close(); deleteRedisPrefix(t, rurl, prefix) })
		be.limiter = rc.Limiter()
		be.redisURL, be.redisPrefix = rurl, prefix
	}
	return be
}

// exec runs one statement on the backend's database ($1 placeholders work on
// both).
func (b *backend) exec(query string, args ...any) error {
	if b.sqlitePath != "" {
		db, err := sql.Open("sqlite", b.sqlitePath)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.Exec(query, args...)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, query, args...)
	return err
}

// pgContains looks for s in the JSON of every row of every table.
func (b *backend) pgContains(t testing.TB, s string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range tables {
		var dump *string
		if err := conn.QueryRow(ctx, `SELECT string_agg(row_to_json(x)::text, ' ') FROM `+pgx.Identifier{tbl}.Sanitize()+` x`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		if dump != nil && strings.Contains(*dump, s) {
			return true
		}
	}
	return false
}

func deleteRedisPrefix(t testing.TB, rurl, prefix string) {
	opt, err := goredis.ParseURL(rurl)
	if err != nil {
		return
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}
