package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/testutil"
)

// The tests in this file run several real Bulwark instances on one
// PostgreSQL and one Redis, as a deployment behind a load balancer does. They
// need BULWARK_TEST_POSTGRES_URL and BULWARK_TEST_REDIS_URL (CI sets both) and
// skip loudly without them.

func postgresURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("BULWARK_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("!!! BULWARK_TEST_POSTGRES_URL not set: multi-instance tests SKIPPED")
	}
	return u
}

func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("BULWARK_TEST_REDIS_URL")
	if u == "" {
		t.Skip("!!! BULWARK_TEST_REDIS_URL not set: multi-instance tests SKIPPED")
	}
	return u
}

// freshSchema creates an empty schema, dropped when the test ends, and
// returns a database URL whose connections use it.
func freshSchema(t *testing.T) string {
	t.Helper()
	return testutil.FreshSchema(t, postgresURL(t), "m_")
}

// deployment is the shared settings of instances that form one deployment.
func deployment(t *testing.T, withRedis bool, extra map[string]string) map[string]string {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	env := map[string]string{
		"BULWARK_DATABASE_URL":       freshSchema(t),
		"BULWARK_JWT_SECRET":         base64.StdEncoding.EncodeToString(secret),
		"BULWARK_EMAIL_VERIFICATION": "off",
		"BULWARK_DATA_DIR":           t.TempDir(),
	}
	if withRedis {
		env["BULWARK_REDIS_URL"] = redisURL(t)
		env["BULWARK_REDIS_PREFIX"] = testutil.RandomName("bulwark-test-") + ":"
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// startPair starts two instances of one deployment.
func startPair(t *testing.T, env map[string]string) (a, b *instance) {
	t.Helper()
	clone := func() map[string]string {
		m := make(map[string]string, len(env))
		for k, v := range env {
			m[k] = v
		}
		return m
	}
	return start(t, clone(), "serve", "--dev"), start(t, clone(), "serve", "--dev")
}

func signupOn(t *testing.T, in *instance, email string) {
	t.Helper()
	in.expect(in.call("POST", "/v1/signup", map[string]string{"email": email, "password": strongPW}), 201)
}

const strongPW = "shared across every instance"

func loginBody(email, pw string) map[string]string {
	return map[string]string{"email": email, "password": pw}
}

// TestInstances_LimitsHoldAcrossInstances: the per-email login limit, the
// lockout and the reset limit count once for the whole deployment, with
// Redis and, without it, through PostgreSQL.
func TestInstances_LimitsHoldAcrossInstances(t *testing.T) {
	for _, withRedis := range []bool{true, false} {
		t.Run(fmt.Sprintf("redis=%v", withRedis), func(t *testing.T) {
			a, b := startPair(t, deployment(t, withRedis, nil))
			both := []*instance{a, b}
			signupOn(t, a, "limit@example.com")
			for i := 0; i < 5; i++ {
				both[i%2].expect(both[i%2].call("POST", "/v1/session", loginBody("limit@example.com", "wrong guess number "+fmt.Sprint(i))), 401)
			}
			r := b.expect(b.call("POST", "/v1/session", loginBody("limit@example.com", strongPW)), 429)
			if r.body["code"] != "rate_limited" {
				t.Fatalf("6th attempt across instances: %v", r.body)
			}
			for i := 0; i < 3; i++ {
				both[i%2].expect(both[i%2].call("POST", "/v1/password/forgot", map[string]string{"email": "limit@example.com"}), 202)
			}
			b.expect(b.call("POST", "/v1/password/forgot", map[string]string{"email": "limit@example.com"}), 429)
		})
	}
	t.Run("lockout", func(t *testing.T) {
		a, b := startPair(t, deployment(t, true, map[string]string{"BULWARK_LOGIN_LIMIT_PER_EMAIL": "100/1m"}))
		both := []*instance{a, b}
		signupOn(t, a, "lock@example.com")
		for i := 0; i < 10; i++ {
			both[i%2].expect(both[i%2].call("POST", "/v1/session", loginBody("lock@example.com", "wrong guess")), 401)
		}
		for _, in := range both {
			r := in.expect(in.call("POST", "/v1/session", loginBody("lock@example.com", strongPW)), 429)
			if r.body["code"] != "account_locked" {
				t.Fatalf("after 10 failures across instances: %v", r.body)
			}
		}
	})
}

// TestInstances_RevocationIsImmediateEverywhere: what one instance revokes,
// the other refuses at once.
func TestInstances_RevocationIsImmediateEverywhere(t *testing.T) {
	a, b := startPair(t, deployment(t, true, nil))
	signupOn(t, a, "rev@example.com")
	r := a.expect(a.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "rev@example.com", "password": strongPW}), 200)
	access := r.body["access_token"].(string)
	b.expect(b.call("GET", "/v1/me", nil, "Authorization", "Bearer "+access), 200)
	a.expect(a.call("POST", "/v1/token/revoke", map[string]string{"token": access}), 200)
	b.expect(b.call("GET", "/v1/me", nil, "Authorization", "Bearer "+access), 401)

	// A cookie session deleted on A is gone on B.
	r = a.expect(a.call("POST", "/v1/session", loginBody("rev@example.com", strongPW)), 200)
	cookie := sessionCookie(t, r.header)
	csrf := r.body["csrf_token"].(string)
	b.expect(b.call("GET", "/v1/me", nil, "Cookie", cookie), 200)
	a.expect(a.call("DELETE", "/v1/session", nil, "Cookie", cookie, "X-CSRF-Token", csrf), 204)
	b.expect(b.call("GET", "/v1/me", nil, "Cookie", cookie), 401)
}

func sessionCookie(t *testing.T, h http.Header) string {
	t.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "bulwark_session" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// TestInstances_RefreshReuseAcrossInstances: a token rotated on A and
// replayed on B outside the grace window revokes the family; 20 parallel
// refreshes split across A and B give at most one distinct successor.
func TestInstances_RefreshReuseAcrossInstances(t *testing.T) {
	a, b := startPair(t, deployment(t, true, map[string]string{"BULWARK_REFRESH_REUSE_GRACE": "1s"}))
	signupOn(t, a, "rt@example.com")
	tokenLogin := func() string {
		r := a.expect(a.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "rt@example.com", "password": strongPW}), 200)
		return r.body["refresh_token"].(string)
	}
	refresh := func(in *instance, rt string) reply {
		return in.call("POST", "/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": rt})
	}
	rt1 := tokenLogin()
	rt2 := a.expect(refresh(a, rt1), 200).body["refresh_token"].(string)
	time.Sleep(1100 * time.Millisecond)
	r := b.expect(refresh(b, rt1), 401)
	if r.body["code"] != "refresh_token_reused" {
		t.Fatalf("replay on B: %v", r.body)
	}
	a.expect(refresh(a, rt2), 401)

	rt := tokenLogin()
	var mu sync.Mutex
	successors := map[string]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		in := a
		if i%2 == 1 {
			in = b
		}
		wg.Go(func() {
			r := refresh(in, rt)
			if r.status == 200 {
				mu.Lock()
				successors[r.body["refresh_token"].(string)] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(successors) != 1 {
		t.Fatalf("20 parallel refreshes across two instances gave %d distinct successors", len(successors))
	}
	for s := range successors {
		b.expect(refresh(b, s), 200)
	}
}

// TestInstances_DependencyFaults: Redis and PostgreSQL go away and come back
// (through a proxy that cuts them). While Redis is down, logins get 503 and
// never an unlimited attempt, bearer requests still work from the database,
// and /readyz names Redis; while PostgreSQL is down, requests get 503 and
// /readyz names the database. Both recover by themselves.
func TestInstances_DependencyFaults(t *testing.T) {
	env := deployment(t, true, nil)
	pgURL, _ := url.Parse(env["BULWARK_DATABASE_URL"])
	rdURL, _ := url.Parse(env["BULWARK_REDIS_URL"])
	pg := testutil.NewFaultProxy(t, pgURL.Host)
	rd := testutil.NewFaultProxy(t, rdURL.Host)
	pgURL.Host, rdURL.Host = pg.Addr(), rd.Addr()
	env["BULWARK_DATABASE_URL"], env["BULWARK_REDIS_URL"] = pgURL.String(), rdURL.String()
	in := start(t, env, "serve", "--dev")
	signupOn(t, in, "fault@example.com")
	r := in.expect(in.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "fault@example.com", "password": strongPW}), 200)
	access := r.body["access_token"].(string)

	rd.Cut()
	r = in.expect(in.call("POST", "/v1/session", loginBody("fault@example.com", strongPW)), 503)
	if r.body["code"] != "unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("login without Redis: %v", r.body)
	}
	in.expect(in.call("GET", "/v1/me", nil, "Authorization", "Bearer "+access), 200)
	r = in.expect(in.call("GET", "/readyz", nil), 503)
	if fmt.Sprint(r.body["failing"]) != "[redis]" {
		t.Fatalf("readyz without Redis: %v", r.body)
	}
	rd.Restore()
	waitFor(t, func() bool { return in.call("GET", "/readyz", nil).status == 200 })
	in.expect(in.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "fault@example.com", "password": strongPW}), 200)

	pg.Cut()
	r = in.expect(in.call("GET", "/v1/me", nil, "Authorization", "Bearer "+access), 503)
	if r.body["code"] != "unavailable" {
		t.Fatalf("me without PostgreSQL: %v", r.body)
	}
	r = in.expect(in.call("GET", "/readyz", nil), 503)
	if fmt.Sprint(r.body["failing"]) != "[database]" {
		t.Fatalf("readyz without PostgreSQL: %v", r.body)
	}
	pg.Restore()
	waitFor(t, func() bool { return in.call("GET", "/readyz", nil).status == 200 })
	in.expect(in.call("GET", "/v1/me", nil, "Authorization", "Bearer "+access), 200)
	if out := in.stdout.String(); strings.Contains(out, "goroutine ") {
		t.Fatal("a stack trace reached the output")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMigrateOnPostgresFromSeveralInstances: `bulwark migrate` run by
// several instances at once applies each migration once, and a server with
// auto-migrate off then starts on the migrated database.
func TestMigrateOnPostgresFromSeveralInstances(t *testing.T) {
	env := deployment(t, false, map[string]string{"BULWARK_AUTO_MIGRATE": "false"})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"bulwark", "serve", "--dev"}, envFunc(env), &out, &out); err == nil || !strings.Contains(err.Error(), "pending migrations") {
		t.Fatalf("serve on an unmigrated PostgreSQL schema: %v", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			var buf bytes.Buffer
			errs[i] = run(context.Background(), []string{"bulwark", "migrate", "--dev"}, envFunc(env), &buf, &buf)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate %d: %v", i, err)
		}
	}
	in := start(t, env, "serve", "--dev")
	in.expect(in.call("GET", "/readyz", nil), 200)
	signupOn(t, in, "migrated@example.com")
}

// TestInstances_AdminDisableIsImmediateEverywhere: an admin disables a user
// through A; on B the user's cookie session, access token and refresh
// token are refused at once, and so is a new login.
func TestInstances_AdminDisableIsImmediateEverywhere(t *testing.T) {
	env := deployment(t, false, nil)
	// Trust authentication ignores the password: it is a canary for the log.
	u, err := url.Parse(env["BULWARK_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	user := "postgres"
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, "db-password-canary")
	env["BULWARK_DATABASE_URL"] = u.String()
	a, b := startPair(t, env)
	for _, in := range []*instance{a, b} {
		if out := in.stdout.String(); strings.Contains(out, "db-password-canary") || !strings.Contains(out, `"limiter":"postgres"`) {
			t.Fatalf("start-up log leaks the database password or does not name the limiter:\n%s", out)
		}
	}
	signupOn(t, a, "boss@example.com")
	signupOn(t, a, "gone@example.com")
	if _, err := cli(t, env, "users", "grant-admin", "boss@example.com"); err != nil {
		t.Fatal(err)
	}
	token := func(in *instance, email string) (string, string) {
		r := in.expect(in.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": email, "password": strongPW}), 200)
		return r.body["access_token"].(string), r.body["refresh_token"].(string)
	}
	adminTok, _ := token(a, "boss@example.com")
	access, refresh := token(b, "gone@example.com")
	cookie := sessionCookie(t, b.expect(b.call("POST", "/v1/session", loginBody("gone@example.com", strongPW)), 200).header)
	b.client.Jar = nil // the cookie is sent by hand below, bearer requests carry none
	b.expect(b.call("GET", "/v1/me", nil, "Cookie", cookie), 200)

	id := ""
	r := a.expect(a.call("GET", "/v1/admin/users?query=gone", nil, "Authorization", "Bearer "+adminTok), 200)
	for _, u := range r.body["users"].([]any) {
		id = u.(map[string]any)["id"].(string)
	}
	start := time.Now()
	a.expect(a.call("POST", "/v1/admin/users/"+id+"/disable", nil, "Authorization", "Bearer "+adminTok), 200)
	b.expect(b.call("GET", "/v1/me", nil, "Cookie", cookie), 401)
	b.expect(b.call("GET", "/v1/me", nil, "Authorization", "Bearer "+access), 401)
	b.expect(b.call("POST", "/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": refresh}), 401)
	b.expect(b.call("POST", "/v1/session", loginBody("gone@example.com", strongPW)), 401)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("disabling and checking took %v", d)
	}
}
