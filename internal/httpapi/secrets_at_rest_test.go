package httpapi_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// After a reset request and failed logins, a copy of the database (SQLite
// files with the -wal, or every PostgreSQL row) holds no live reset token,
// the outbox holds no address, and no rate-limit key (Redis key or
// rate_limits row) names the address.
func TestSecretsAtRest_OutboxSealedAndLimiterKeysHashed(t *testing.T) {
	e := newEnv(t)
	const email = "ada.atrest@example.com"
	e.signup(email)
	expectStatus(t, e.post("/v1/password/forgot", map[string]string{"email": email}), 202)
	for range 2 {
		expectStatus(t, e.post("/v1/session", map[string]string{"email": email, "password": "not the password at all"}), 401)
	}
	tok := e.mailToken(email, "password_reset") // the store still opens it
	if len(tok) < 16 {
		t.Fatalf("reset token %q", tok)
	}

	if e.be.sqlitePath != "" {
		dir := filepath.Dir(e.be.sqlitePath)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range entries {
			b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(tok)) {
				t.Errorf("the live reset token is readable in %s", ent.Name())
			}
		}
	}
	if e.be.pgURL != "" {
		if e.be.pgContains(t, tok) {
			t.Error("the live reset token is readable in a PostgreSQL row")
		}
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, e.be.pgURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, tbl := range []string{"mail_outbox", "rate_limits"} {
			var dump *string
			if err := conn.QueryRow(ctx, `SELECT string_agg(row_to_json(x)::text, ' ') FROM `+tbl+` x`).Scan(&dump); err != nil {
				t.Fatal(err)
			}
			if dump != nil && strings.Contains(*dump, email) {
				t.Errorf("%s names the address: %s", tbl, *dump)
			}
			if tbl == "rate_limits" && e.be.redisURL == "" && (dump == nil || !strings.Contains(*dump, "login_email:")) {
				t.Errorf("no login_email row in rate_limits: the check looked at nothing")
			}
		}
	}
	if e.be.redisURL != "" {
		opt, err := goredis.ParseURL(e.be.redisURL)
		if err != nil {
			t.Fatal(err)
		}
		c := goredis.NewClient(opt)
		defer c.Close()
		ctx := context.Background()
		var keys []string
		iter := c.Scan(ctx, 0, e.be.redisPrefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		seen := false
		for _, k := range keys {
			if strings.Contains(k, email) {
				t.Errorf("Redis key names the address: %s", k)
			}
			seen = seen || strings.Contains(k, "login_email:")
		}
		if !seen {
			t.Errorf("no login_email key in Redis (%q): the check looked at nothing", keys)
		}
	}
}
