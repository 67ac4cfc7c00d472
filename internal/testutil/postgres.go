package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RandomName returns prefix followed by 12 random hex digits.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// FreshSchema creates an empty schema in the database at baseURL, drops it
// when the test ends, and returns a URL whose connections use it
// (search_path), so tests can share one PostgreSQL database in parallel.
func FreshSchema(t testing.TB, baseURL, prefix string) string {
	t.Helper()
	schema := RandomName(prefix)
	PgExec(t, baseURL, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { PgExec(t, baseURL, `DROP SCHEMA `+schema+` CASCADE`) })
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PgExec runs one statement on a connection of its own.
func PgExec(t testing.TB, dbURL, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
