package httpapi_test

// One test (or more) per item of the security checklist (README.md, "How
// each checklist item is met"), named after its section. Each goes through
// the real HTTP API with a real SQLite store.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/httpapi"
	"github.com/bulwarkauth/bulwark/internal/password"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

// ---- Passwords ----

func TestPasswords_HashedWithArgon2idByDefault(t *testing.T) {
	e := newEnv(t)
	e.signup("alice@example.com")
	u, err := e.db.UserByEmail(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$") {
		t.Fatalf("stored hash %q is not argon2id", u.PasswordHash)
	}
	if strings.Contains(u.PasswordHash, strongPassword) {
		t.Fatal("stored hash contains the password")
	}
}

func TestPasswords_ImportedBcryptVerifiesAndIsUpgraded(t *testing.T) {
	e := newEnv(t)
	e.signup("bob@example.com")
	ctx := context.Background()
	u, _ := e.db.UserByEmail(ctx, "bob@example.com")
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		h, err := bcrypt.GenerateFromPassword([]byte(strongPassword), 10)
		if err != nil {
			t.Fatal(err)
		}
		imported := prefix + string(h[4:])
		if err := e.db.SetPasswordHash(ctx, u.ID, imported); err != nil {
			t.Fatal(err)
		}
		e.login("bob@example.com", strongPassword)
		after, _ := e.db.UserByID(ctx, u.ID)
		if !strings.HasPrefix(after.PasswordHash, "$argon2id$") {
			t.Fatalf("%s hash not upgraded at login: %q", prefix, after.PasswordHash[:12])
		}
	}
}

func TestPasswords_BcryptNeverTruncates(t *testing.T) {
	e := newEnv(t, withHasher(passwordConfigBcrypt()))
	long := strings.Repeat("abcdefgh", 10) + "-tail-one" // 89 bytes
	expectStatus(t, e.post("/v1/signup", map[string]string{"email": "long@example.com", "password": long}), 202)
	expectStatus(t, e.post("/v1/email/verify", map[string]string{"token": e.mailToken("long@example.com", "verify_email")}), 200)
	u, _ := e.db.UserByEmail(context.Background(), "long@example.com")
	if !strings.HasPrefix(u.PasswordHash, "$bcrypt-sha384$") {
		t.Fatalf("hash %q is not the pre-hashed bcrypt form", u.PasswordHash)
	}
	// Same first 72 bytes, different tail: must fail.
	other := long[:72] + "-other-tail"
	expectStatus(t, e.post("/v1/session", map[string]string{"email": "long@example.com", "password": other}), 401)
	e.login("long@example.com", long)
}

func TestPasswords_PlainTextNeverStoredOrLogged(t *testing.T) {
	e := newEnv(t)
	pw := "canary-secret-" + strings.Repeat("q", 3) + "-zebra-mountain"
	expectStatus(t, e.post("/v1/signup", map[string]string{"email": "carol@example.com", "password": pw}), 202)
	e.post("/v1/session", map[string]string{"email": "carol@example.com", "password": pw + "x"})
	if strings.Contains(e.logs.String(), pw) {
		t.Fatal("password found in the log")
	}
	if dbContains(t, e, pw) {
		t.Fatal("password found in the database file")
	}
}

func TestPasswords_SameErrorForUnknownEmailAndWrongPassword(t *testing.T) {
	e := newEnv(t)
	e.signup("dave@example.com")
	// A disabled account answers the same too.
	e.signup("disabled@example.com")
	disable(t, e, "disabled@example.com")
	cases := map[string]map[string]string{
		"unknown":  {"email": "nobody@example.com", "password": strongPassword},
		"wrong":    {"email": "dave@example.com", "password": strongPassword + "!"},
		"disabled": {"email": "disabled@example.com", "password": strongPassword},
	}
	var first *resp
	for name, body := range cases {
		r := e.post("/v1/session", body)
		expectStatus(t, r, 401)
		if r.code() != "invalid_credentials" {
			t.Fatalf("%s: code %q", name, r.code())
		}
		if first == nil {
			first = r
			continue
		}
		if normalized(r) != normalized(first) {
			t.Fatalf("%s: body %s differs from %s", name, r.Body, first.Body)
		}
		if !slices.Equal(headerNames(r), headerNames(first)) {
			t.Fatalf("%s: headers %v differ from %v", name, headerNames(r), headerNames(first))
		}
	}
}

func TestPasswords_UnknownEmailPaysForADummyHash(t *testing.T) {
	// The hasher's clock is the real one plus the padding it asks for,
	// which it gets without sleeping: what a login is charged is its real
	// work plus its padding.
	m := &testutil.VirtualMeter{}
	e := newEnv(t, withHasherOptions(password.WithMeter(m)))
	e.signup("erin@example.com")
	e.signup("bob@example.com")
	// A not-yet-upgraded import: bcrypt cost 10 is far dearer than the
	// configured (test) argon2id.
	ctx := context.Background()
	u, _ := e.db.UserByEmail(ctx, "bob@example.com")
	b, err := bcrypt.GenerateFromPassword([]byte(strongPassword), 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetPasswordHash(ctx, u.ID, string(b)); err != nil {
		t.Fatal(err)
	}
	login := func(email, pw string) (time.Duration, [2]int) {
		_, v0, d0 := e.hasher.counts()
		start := m.Now()
		expectStatus(t, e.post("/v1/session", map[string]string{"email": email, "password": pw}), 401)
		cost := m.Now().Sub(start)
		_, v1, d1 := e.hasher.counts()
		return cost, [2]int{v1 - v0, d1 - d0}
	}
	bcryptCost, n := login("bob@example.com", strongPassword+"?")
	if n != [2]int{1, 0} {
		t.Fatalf("wrong password (bcrypt): %d real and %d dummy verifications, want 1 and 0", n[0], n[1])
	}
	for _, c := range []struct {
		email string
		want  [2]int
	}{
		{"ghost@example.com", [2]int{0, 1}}, // unknown: one dummy
		{"erin@example.com", [2]int{1, 0}},  // argon2id account
	} {
		cost, n := login(c.email, strongPassword+"?")
		if n != c.want {
			t.Fatalf("%s: %d real and %d dummy verifications, want %d and %d", c.email, n[0], n[1], c.want[0], c.want[1])
		}
		// Each is charged at least what the dearest recent verification
		// (the bcrypt account) cost, give or take scheduling noise.
		if cost < bcryptCost*8/10 {
			t.Fatalf("%s: charged %v, the bcrypt account %v: timing tells the accounts apart", c.email, cost, bcryptCost)
		}
	}
}

// ---- Sessions ----

func TestSessions_RandomAndStoredOnlyHashed(t *testing.T) {
	e := newEnv(t)
	e.signup("s1@example.com")
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		s := e.login("s1@example.com", strongPassword)
		raw, err := base64.RawURLEncoding.DecodeString(s.cookie.Value)
		if err != nil || len(raw) < 32 {
			t.Fatalf("session token %d is not 256 random bits", i)
		}
		if seen[s.cookie.Value] {
			t.Fatal("session token repeated")
		}
		seen[s.cookie.Value] = true
		if dbContains(t, e, s.cookie.Value) {
			t.Fatal("raw session token found in the database")
		}
		sum := sha256.Sum256([]byte(s.cookie.Value))
		if _, err := e.db.SessionByTokenHash(context.Background(), sum[:]); err != nil {
			t.Fatalf("session not stored by its SHA-256: %v", err)
		}
	}
}

func TestSessions_UnknownSessionIDNeverAccepted(t *testing.T) {
	e := newEnv(t)
	e.signup("fix@example.com")
	planted := &http.Cookie{Name: "bulwark_session", Value: "attacker-chosen-value-0123456789abcdefghijk"}
	expectStatus(t, e.me(&session{cookie: planted}, ""), 401)
	r := e.do(req{method: "POST", path: "/v1/session", body: map[string]string{"email": "fix@example.com", "password": strongPassword}, cookies: []*http.Cookie{planted}})
	expectStatus(t, r, 200)
	if c := r.cookie("bulwark_session"); c == nil || c.Value == planted.Value {
		t.Fatal("login kept the planted session id")
	}
	expectStatus(t, e.me(&session{cookie: planted}, ""), 401)
}

func TestSessions_ServerSideExpiryAfter24Hours(t *testing.T) {
	e := newEnv(t)
	e.signup("exp@example.com")
	s := e.login("exp@example.com", strongPassword)
	e.clock.Advance(23*time.Hour + 59*time.Minute)
	expectStatus(t, e.me(s, ""), 200)
	e.clock.Advance(time.Minute)
	expectStatus(t, e.me(s, ""), 401)
}

func TestSessions_IdleTimeoutWhenConfigured(t *testing.T) {
	e := newEnv(t, withConfig(func(c *auth.Config) { c.SessionIdleTTL = 30 * time.Minute }))
	e.signup("idle@example.com")
	s := e.login("idle@example.com", strongPassword)
	for i := 0; i < 4; i++ { // activity keeps it alive past the idle window
		e.clock.Advance(20 * time.Minute)
		expectStatus(t, e.me(s, ""), 200)
	}
	e.clock.Advance(31 * time.Minute)
	expectStatus(t, e.me(s, ""), 401)
}

func TestSessions_DeletingAllSessionsInvalidatesEveryOne(t *testing.T) {
	e := newEnv(t)
	e.signup("many@example.com")
	keep := e.login("many@example.com", strongPassword)
	others := []*session{e.login("many@example.com", strongPassword), e.login("many@example.com", strongPassword)}
	tok := e.tokenLogin("many@example.com", strongPassword)
	r := e.do(req{method: "DELETE", path: "/v1/sessions", cookies: []*http.Cookie{keep.cookie}, headers: map[string]string{"X-CSRF-Token": keep.csrf}})
	expectStatus(t, r, 204)
	for _, o := range others {
		expectStatus(t, e.me(o, ""), 401)
	}
	expectStatus(t, e.me(nil, tok.access), 401)
	expectStatus(t, e.refresh(tok.refresh), 401)
	expectStatus(t, e.me(keep, ""), 200)
}

func TestSessions_LogoutDeletesSessionAndClearsCookie(t *testing.T) {
	e := newEnv(t)
	e.signup("out@example.com")
	s := e.login("out@example.com", strongPassword)
	r := e.do(req{method: "DELETE", path: "/v1/session", cookies: []*http.Cookie{s.cookie}, headers: map[string]string{"X-CSRF-Token": s.csrf}})
	expectStatus(t, r, 204)
	c := r.cookie("bulwark_session")
	if c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Fatalf("logout cookie %+v does not clear the session cookie", c)
	}
	expectStatus(t, e.me(s, ""), 401)
	if len(e.auditEvents("logout")) != 1 {
		t.Fatal("logout not logged")
	}
}

func TestSessions_ListAndRevokeByPublicID(t *testing.T) {
	e := newEnv(t)
	e.signup("list@example.com")
	e.signup("other@example.com")
	s := e.login("list@example.com", strongPassword)
	tok := e.tokenLogin("list@example.com", strongPassword)
	r := e.do(req{method: "GET", path: "/v1/sessions", cookies: []*http.Cookie{s.cookie}})
	expectStatus(t, r, 200)
	var list struct {
		Sessions []struct {
			ID, Kind string
			Current  bool
		}
	}
	if err := json.Unmarshal(r.Body, &list); err != nil || len(list.Sessions) != 2 {
		t.Fatalf("sessions list %s", r.Body)
	}
	var tokenID string
	for _, it := range list.Sessions {
		if strings.Contains(string(r.Body), s.cookie.Value) || strings.Contains(string(r.Body), tok.refresh) {
			t.Fatal("a secret appears in the sessions list")
		}
		if it.Kind == "token" {
			tokenID = it.ID
			if it.Current {
				t.Fatal("token family marked current for a cookie request")
			}
		} else if !it.Current {
			t.Fatal("cookie session not marked current")
		}
	}
	// Another user cannot revoke it.
	o := e.login("other@example.com", strongPassword)
	expectStatus(t, e.do(req{method: "DELETE", path: "/v1/sessions/" + tokenID, cookies: []*http.Cookie{o.cookie}, headers: map[string]string{"X-CSRF-Token": o.csrf}}), 404)
	expectStatus(t, e.refresh(tok.refresh), 200) // rotated, still alive
	expectStatus(t, e.do(req{method: "DELETE", path: "/v1/sessions/" + tokenID, cookies: []*http.Cookie{s.cookie}, headers: map[string]string{"X-CSRF-Token": s.csrf}}), 204)
	expectStatus(t, e.me(nil, tok.access), 401)
}

// ---- Cookies ----

func TestCookies_DevAttributes(t *testing.T) {
	e := newEnv(t)
	e.signup("cookie@example.com")
	r := e.post("/v1/session", map[string]string{"email": "cookie@example.com", "password": strongPassword})
	expectStatus(t, r, 200)
	checkCookie(t, r, "bulwark_session", false, 86400)
	checkCookie(t, r, "bulwark_device", false, 365*24*3600)
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("credential response without Cache-Control: no-store")
	}
}

func TestCookies_ProductionSecureHostPrefixed(t *testing.T) {
	e := newEnv(t, withOptions(func(o *httpapi.Options) { o.Dev = false }),
		withConfig(func(c *auth.Config) { c.SessionTTL = 12 * time.Hour }))
	e.signup("prod@example.com")
	r := e.post("/v1/session", map[string]string{"email": "prod@example.com", "password": strongPassword})
	expectStatus(t, r, 200)
	checkCookie(t, r, "__Host-bulwark_session", true, 12*3600)
	checkCookie(t, r, "__Host-bulwark_device", true, 365*24*3600)
	if r.cookie("bulwark_session") != nil {
		t.Fatal("dev cookie name in production")
	}
}

func checkCookie(t *testing.T, r *resp, name string, secure bool, maxAge int) {
	t.Helper()
	var line string
	for _, l := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(l, name+"=") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no %s cookie", name)
	}
	c := r.cookie(name)
	if !c.HttpOnly {
		t.Errorf("%s: not HttpOnly", name)
	}
	if c.SameSite != http.SameSiteLaxMode {
		t.Errorf("%s: SameSite %v, want Lax", name, c.SameSite)
	}
	if c.Path != "/" {
		t.Errorf("%s: Path %q, want /", name, c.Path)
	}
	if c.Secure != secure {
		t.Errorf("%s: Secure %v, want %v", name, c.Secure, secure)
	}
	if c.MaxAge != maxAge {
		t.Errorf("%s: Max-Age %d, want %d", name, c.MaxAge, maxAge)
	}
	if strings.Contains(strings.ToLower(line), "domain=") {
		t.Errorf("%s: has a Domain attribute", name)
	}
}

// ---- Brute-force protection ----

func fromIP(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

func trusted() envOption {
	return withOptions(func(o *httpapi.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	})
}

func loginFrom(e *env, ip, email, pw string) *resp {
	return e.do(req{method: "POST", path: "/v1/session", body: map[string]string{"email": email, "password": pw}, headers: fromIP(ip)})
}

func TestBruteForce_PerIPLoginLimit20PerMinute(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 20; i++ {
		expectStatus(t, e.post("/v1/session", map[string]string{"email": fmt.Sprintf("u%d@example.com", i), "password": strongPassword}), 401)
	}
	r := e.post("/v1/session", map[string]string{"email": "u99@example.com", "password": strongPassword})
	expectStatus(t, r, 429)
	if r.code() != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without rate_limited and Retry-After: %s", r.Body)
	}
	ev := e.auditEvents("rate_limited")
	if len(ev) == 0 || ev[0]["limiter"] != "login_ip" {
		t.Fatalf("rate_limited event %v", ev)
	}
	e.clock.Advance(time.Minute + time.Second)
	expectStatus(t, e.post("/v1/session", map[string]string{"email": "u98@example.com", "password": strongPassword}), 401)
}

func TestBruteForce_XForwardedForIgnoredFromUntrustedPeers(t *testing.T) {
	e := newEnv(t) // no trusted proxies
	for i := 0; i < 20; i++ {
		loginFrom(e, fmt.Sprintf("198.51.100.%d", i), fmt.Sprintf("x%d@example.com", i), strongPassword)
	}
	expectStatus(t, loginFrom(e, "198.51.100.200", "x200@example.com", strongPassword), 429)
}

func TestBruteForce_IPv6GroupedBySlash64(t *testing.T) {
	e := newEnv(t, trusted())
	for i := 0; i < 20; i++ {
		expectStatus(t, loginFrom(e, fmt.Sprintf("2001:db8:1:2::%x", i+1), fmt.Sprintf("v6-%d@example.com", i), strongPassword), 401)
	}
	expectStatus(t, loginFrom(e, "2001:db8:1:2:ffff::1", "v6-x@example.com", strongPassword), 429)
	expectStatus(t, loginFrom(e, "2001:db8:1:3::1", "v6-y@example.com", strongPassword), 401)
}

func TestBruteForce_PerEmailLoginLimit5PerMinute(t *testing.T) {
	e := newEnv(t, trusted())
	e.signup("target@example.com")
	for _, email := range []string{"target@example.com", "nobody-at-all@example.com"} {
		for i := 0; i < 5; i++ {
			expectStatus(t, loginFrom(e, fmt.Sprintf("203.0.113.%d", i+1), email, "wrong password guess"), 401)
		}
		r := loginFrom(e, "203.0.113.77", email, strongPassword)
		expectStatus(t, r, 429)
		if r.code() != "rate_limited" {
			t.Fatalf("%s: code %q", email, r.code())
		}
	}
	// Unknown and real emails get the same sequence of answers.
	ev := e.auditEvents("rate_limited")
	if len(ev) != 2 || ev[0]["limiter"] != "login_email" || ev[1]["limiter"] != "login_email" {
		t.Fatalf("rate_limited events %v", ev)
	}
}

// advanceTo moves the clock to the next instant that is off before a multiple
// of period (a wall-clock minute or hour boundary) at least a second away.
func advanceTo(e *env, period, before time.Duration) time.Time {
	now := e.clock.Now()
	boundary := now.Truncate(period).Add(period)
	if boundary.Sub(now) < before+time.Second {
		boundary = boundary.Add(period)
	}
	e.clock.Advance(boundary.Add(-before).Sub(now))
	return boundary
}

// TestBruteForce_LimitsHoldAcrossWindowBoundaries: a limit holds in every
// interval of its length, not per wall-clock window. Five wrong passwords in
// the last second before a minute, and the sixth attempt (with the right
// password) just after it, is refused without checking the password, and
// told to wait until the first of the five is a minute old. The same for the
// hourly reset-mail limit straddling an hour.
func TestBruteForce_LimitsHoldAcrossWindowBoundaries(t *testing.T) {
	e := newEnv(t, trusted())
	e.signup("edge@example.com")
	boundary := advanceTo(e, time.Minute, 900*time.Millisecond)
	for i := range 5 {
		expectStatus(t, loginFrom(e, fmt.Sprintf("203.0.113.%d", i+1), "edge@example.com", "wrong password guess"), 401)
		e.clock.Advance(100 * time.Millisecond)
	}
	e.clock.Advance(boundary.Add(300 * time.Millisecond).Sub(e.clock.Now()))
	r := loginFrom(e, "203.0.113.77", "edge@example.com", strongPassword)
	expectStatus(t, r, 429)
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if r.code() != "rate_limited" || err != nil || retry < 59 || retry > 60 {
		t.Fatalf("6th attempt 0.3 s after the minute: %s, Retry-After %q, want rate_limited and 59", r.Body, r.Header.Get("Retry-After"))
	}
	// Waiting what Retry-After says is enough, and the right password
	// still works then.
	e.clock.Advance(time.Duration(retry) * time.Second)
	expectStatus(t, loginFrom(e, "203.0.113.78", "edge@example.com", strongPassword), 200)

	// Three reset mails an hour per email, straddling an hour.
	e.signup("edge-reset@example.com")
	boundary = advanceTo(e, time.Hour, 2*time.Second)
	for i := range 3 {
		expectStatus(t, e.do(req{method: "POST", path: "/v1/password/forgot", body: map[string]string{"email": "edge-reset@example.com"}, headers: fromIP(fmt.Sprintf("198.51.100.%d", i+1))}), 202)
	}
	e.clock.Advance(boundary.Add(time.Second).Sub(e.clock.Now()))
	r = e.do(req{method: "POST", path: "/v1/password/forgot", body: map[string]string{"email": "edge-reset@example.com"}, headers: fromIP("198.51.100.40")})
	expectStatus(t, r, 429)
	if retry, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || retry < 3597 || retry > 3600 {
		t.Fatalf("4th reset mail a second after the hour: Retry-After %q, want 3597", r.Header.Get("Retry-After"))
	}
	if n := e.mailCount("edge-reset@example.com", "password_reset"); n != 3 {
		t.Fatalf("%d reset mails, want 3", n)
	}
}

// failTimes makes n failed logins for email, stepping the clock so that the
// per-email rate limit does not interfere.
func failTimes(t *testing.T, e *env, email string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if i%5 == 0 {
			// The per-email limit counts the last minute: step past it.
			e.clock.Advance(121 * time.Second)
		}
		expectStatus(t, loginFrom(e, fmt.Sprintf("192.0.2.%d", i%200+1), email, "definitely the wrong one"), 401)
	}
	e.clock.Advance(121 * time.Second)
}

func TestBruteForce_LockoutAfter10FailuresFor15Minutes(t *testing.T) {
	e := newEnv(t, trusted())
	e.signup("lock@example.com")
	failTimes(t, e, "lock@example.com", 10)
	// failTimes leaves the clock 121 s after the tenth failure: the lock
	// lasts exactly 15 minutes from it, and Retry-After says what is left.
	const sinceLock = 121 * time.Second
	r := loginFrom(e, "192.0.2.250", "lock@example.com", strongPassword)
	expectStatus(t, r, 429)
	if want := strconv.Itoa(int((15*time.Minute - sinceLock) / time.Second)); r.code() != "account_locked" || r.Header.Get("Retry-After") != want {
		t.Fatalf("locked login answered %s with Retry-After %q, want account_locked and %s", r.Body, r.Header.Get("Retry-After"), want)
	}
	if ev := e.auditEvents("account_locked"); len(ev) != 1 || ev[0]["email"] != "lock@example.com" {
		t.Fatalf("account_locked events %v", ev)
	}
	e.clock.Advance(15*time.Minute - sinceLock - time.Second)
	r = loginFrom(e, "192.0.2.251", "lock@example.com", strongPassword)
	expectStatus(t, r, 429)
	if r.Header.Get("Retry-After") != "1" {
		t.Fatalf("one second before the end Retry-After = %q, want 1", r.Header.Get("Retry-After"))
	}
	e.clock.Advance(time.Second)
	expectStatus(t, loginFrom(e, "192.0.2.252", "lock@example.com", strongPassword), 200)
	// The same for an email without an account: lockout reveals nothing.
	failTimes(t, e, "ghost-lock@example.com", 10)
	expectStatus(t, loginFrom(e, "192.0.2.253", "ghost-lock@example.com", strongPassword), 429)
}

func TestBruteForce_DeviceCookieExemptFromLockout(t *testing.T) {
	e := newEnv(t, trusted())
	e.signup("dev@example.com")
	s := e.login("dev@example.com", strongPassword)
	failTimes(t, e, "dev@example.com", 10)
	expectStatus(t, loginFrom(e, "192.0.2.9", "dev@example.com", strongPassword), 429)
	r := e.do(req{method: "POST", path: "/v1/session", body: map[string]string{"email": "dev@example.com", "password": strongPassword}, cookies: []*http.Cookie{s.device}, headers: fromIP("192.0.2.10")})
	expectStatus(t, r, 200)
	// Its success cleared the lock for everyone.
	expectStatus(t, loginFrom(e, "192.0.2.11", "dev@example.com", strongPassword), 200)
	// A token client's device_token works the same way.
	tok := e.tokenLogin("dev@example.com", strongPassword)
	failTimes(t, e, "dev@example.com", 10)
	r = e.do(req{method: "POST", path: "/v1/token", body: map[string]string{"grant_type": "password", "email": "dev@example.com", "password": strongPassword}, headers: map[string]string{"X-Device-Token": tok.device, "X-Forwarded-For": "192.0.2.12"}})
	expectStatus(t, r, 200)
	// A forged or foreign device cookie does not help.
	failTimes(t, e, "dev@example.com", 10)
	forged := &http.Cookie{Name: "bulwark_device", Value: s.device.Value[:len(s.device.Value)-2] + "AA"}
	r = e.do(req{method: "POST", path: "/v1/session", body: map[string]string{"email": "dev@example.com", "password": strongPassword}, cookies: []*http.Cookie{forged}, headers: fromIP("192.0.2.13")})
	expectStatus(t, r, 429)
}

func TestBruteForce_FailureCounterClearsOnSuccess(t *testing.T) {
	e := newEnv(t, trusted())
	e.signup("clear@example.com")
	failTimes(t, e, "clear@example.com", 9)
	expectStatus(t, loginFrom(e, "192.0.2.99", "clear@example.com", strongPassword), 200)
	failTimes(t, e, "clear@example.com", 9)
	expectStatus(t, loginFrom(e, "192.0.2.98", "clear@example.com", strongPassword), 200)
}

// TestBruteForce_ParallelGuessesCannotExceedThreshold: 30 guesses in
// parallel, from 30 addresses, reach the hasher exactly threshold (10) times.
// Every password check is held at the hasher until each of the 30 requests
// has either reached it or been answered, so a lockout that is checked before
// hashing and counted after lets all 30 through, deterministically.
func TestBruteForce_ParallelGuessesCannotExceedThreshold(t *testing.T) {
	const n = 30
	e := newEnv(t, trusted(), withConfig(func(c *auth.Config) {
		c.LoginPerEmail = auth.Limit{N: 100, Per: time.Minute}
		c.LoginPerIP = auth.Limit{N: 100, Per: time.Minute}
	}))
	e.signup("par@example.com")
	_, v0, d0 := e.hasher.counts()
	arrived, release := e.hasher.hold(n)
	answered := make(chan int, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			answered <- loginFrom(e, fmt.Sprintf("192.0.2.%d", i+1), "par@example.com", "parallel wrong guess").Status
		}(i)
	}
	var checks, codes []int
	for len(checks)+len(codes) < n {
		select {
		case <-arrived:
			checks = append(checks, 1)
		case c := <-answered:
			codes = append(codes, c)
		}
	}
	release()
	for len(codes) < n {
		codes = append(codes, <-answered)
	}
	if _, v, d := e.hasher.counts(); v-v0+d-d0 != e.cfg.LockoutThreshold || len(checks) != e.cfg.LockoutThreshold {
		t.Fatalf("%d password checks (%d held at once) for %d parallel guesses, want exactly the threshold %d",
			v-v0+d-d0, len(checks), n, e.cfg.LockoutThreshold)
	}
	locked := 0
	for _, c := range codes {
		if c == 429 {
			locked++
		}
	}
	if locked != n-e.cfg.LockoutThreshold {
		t.Fatalf("%d of %d guesses answered 429, want %d", locked, n, n-e.cfg.LockoutThreshold)
	}
	lock, err := e.db.LoginLockout(context.Background(), "par@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if lock.Failures != e.cfg.LockoutThreshold || lock.LockedUntil.IsZero() {
		t.Fatalf("lockout = %+v after %d parallel guesses, want %d failures and locked", lock, n, e.cfg.LockoutThreshold)
	}
	expectStatus(t, loginFrom(e, "192.0.2.200", "par@example.com", strongPassword), 429)
}

func TestBruteForce_ForgotPasswordRateLimited(t *testing.T) {
	e := newEnv(t, trusted())
	e.signup("fp@example.com")
	for i := 0; i < 3; i++ {
		expectStatus(t, e.do(req{method: "POST", path: "/v1/password/forgot", body: map[string]string{"email": "fp@example.com"}, headers: fromIP(fmt.Sprintf("198.51.100.%d", i+1))}), 202)
	}
	r := e.do(req{method: "POST", path: "/v1/password/forgot", body: map[string]string{"email": "fp@example.com"}, headers: fromIP("198.51.100.50")})
	expectStatus(t, r, 429)
	if e.mailCount("fp@example.com", "password_reset") != 3 {
		t.Fatalf("%d reset mails, want 3", e.mailCount("fp@example.com", "password_reset"))
	}
	// Per IP: 10 an hour across emails.
	for i := 0; i < 10; i++ {
		expectStatus(t, e.do(req{method: "POST", path: "/v1/password/forgot", body: map[string]string{"email": fmt.Sprintf("ip%d@example.com", i)}, headers: fromIP("198.51.100.99")}), 202)
	}
	expectStatus(t, e.do(req{method: "POST", path: "/v1/password/forgot", body: map[string]string{"email": "ip-last@example.com"}, headers: fromIP("198.51.100.99")}), 429)
	e.clock.Advance(time.Hour + time.Minute)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/password/forgot", body: map[string]string{"email": "fp@example.com"}, headers: fromIP("198.51.100.50")}), 202)
}

// ---- CSRF ----

func TestCSRF_SameSiteLaxOnAllAuthCookies(t *testing.T) {
	e := newEnv(t)
	e.signup("lax@example.com")
	r := e.post("/v1/session", map[string]string{"email": "lax@example.com", "password": strongPassword})
	expectStatus(t, r, 200)
	session := false
	for _, l := range r.Header.Values("Set-Cookie") {
		name := strings.SplitN(l, "=", 2)[0]
		session = session || strings.HasSuffix(name, "bulwark_session")
		if !strings.Contains(l, "; SameSite=Lax") {
			t.Errorf("cookie without SameSite=Lax: %s", name)
		}
	}
	if !session {
		t.Fatalf("the login set no session cookie: %q", r.Header.Values("Set-Cookie"))
	}
}

func TestCSRF_NoStateChangingGET(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{
		"/v1/signup", "/v1/email/verify", "/v1/email/verify/resend", "/v1/password/change", "/v1/token",
		"/v1/token/revoke", "/v1/logout", "/v1/password/forgot", "/v1/password/reset", "/v1/sessions/abc",
	} {
		r := e.do(req{method: "GET", path: path})
		if r.Status != 405 || r.Header.Get("Allow") == "" || r.code() != "method_not_allowed" {
			t.Errorf("GET %s: %d Allow=%q %s", path, r.Status, r.Header.Get("Allow"), r.Body)
		}
		if r.Header.Get("Content-Type") != "application/problem+json" || r.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: 405 is not problem+json with security headers", path)
		}
	}
	checkGETsChangeNothing(t, e)
}

func TestCSRF_TokenRequiredForCookieRequests(t *testing.T) {
	e := newEnv(t)
	e.signup("csrf@example.com")
	s := e.login("csrf@example.com", strongPassword)
	change := func(h map[string]string) *resp {
		return e.do(req{method: "POST", path: "/v1/password/change", cookies: []*http.Cookie{s.cookie}, headers: h,
			body: map[string]string{"current_password": strongPassword, "new_password": "a brand new passphrase here"}})
	}
	for name, h := range map[string]map[string]string{
		"no token":           nil,
		"wrong token":        {"X-CSRF-Token": "nope"},
		"cross-site":         {"X-CSRF-Token": s.csrf, "Sec-Fetch-Site": "cross-site"},
		"same-site":          {"X-CSRF-Token": s.csrf, "Sec-Fetch-Site": "same-site"},
		"foreign origin":     {"X-CSRF-Token": s.csrf, "Origin": "https://attacker.example"},
		"other user's token": {"X-CSRF-Token": otherCSRF(t, e)},
	} {
		r := change(h)
		if r.Status != 403 || r.code() != "csrf_failed" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	// The token from GET /v1/session/csrf is the session's token.
	r := e.do(req{method: "GET", path: "/v1/session/csrf", cookies: []*http.Cookie{s.cookie}})
	expectStatus(t, r, 200)
	if r.str("csrf_token") != s.csrf {
		t.Fatal("csrf endpoint returned another token")
	}
	expectStatus(t, change(map[string]string{"X-CSRF-Token": s.csrf, "Sec-Fetch-Site": "same-origin"}), 200)
}

func otherCSRF(t *testing.T, e *env) string {
	e.signup("csrf-other@example.com")
	return e.login("csrf-other@example.com", strongPassword).csrf
}

func TestCSRF_LoginIsCrossOriginProtected(t *testing.T) {
	e := newEnv(t)
	e.signup("logincsrf@example.com")
	r := e.do(req{method: "POST", path: "/v1/session", body: map[string]string{"email": "logincsrf@example.com", "password": strongPassword}, headers: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	if r.Status != 403 || r.code() != "csrf_failed" || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("cross-site login: %d %s cookies=%v", r.Status, r.Body, r.Header.Values("Set-Cookie"))
	}
}

func TestCSRF_BearerRequestsExempt(t *testing.T) {
	e := newEnv(t)
	e.signup("bearer@example.com")
	tok := e.tokenLogin("bearer@example.com", strongPassword)
	r := e.do(req{method: "POST", path: "/v1/password/change", bearer: tok.access, headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://spa.example"},
		body: map[string]string{"current_password": strongPassword, "new_password": "another fresh passphrase"}})
	expectStatus(t, r, 200)
}

func TestCSRF_CookieAndBearerTogetherRejected(t *testing.T) {
	e := newEnv(t)
	e.signup("both@example.com")
	s := e.login("both@example.com", strongPassword)
	tok := e.tokenLogin("both@example.com", strongPassword)
	r := e.do(req{method: "GET", path: "/v1/me", cookies: []*http.Cookie{s.cookie}, bearer: tok.access})
	if r.Status != 400 || r.code() != "ambiguous_credentials" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
}

// ---- Tokens (JWT) ----

func decodeClaims(t *testing.T, jwt string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func TestTokens_AccessTokenExpiresIn15Minutes(t *testing.T) {
	e := newEnv(t)
	e.signup("jwt@example.com")
	tok := e.tokenLogin("jwt@example.com", strongPassword)
	h, c := decodeClaims(t, tok.access)
	if h["alg"] != "HS256" || h["typ"] != "at+jwt" || h["kid"] == nil {
		t.Fatalf("header %v", h)
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 900 {
		t.Fatalf("lifetime %v s, want 900", exp-iat)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "sid"} {
		if c[k] == nil {
			t.Fatalf("claim %s missing", k)
		}
	}
	if c["iss"] != e.cfg.PublicURL || c["aud"] != e.cfg.PublicURL {
		t.Fatalf("iss/aud %v %v", c["iss"], c["aud"])
	}
	expectStatus(t, e.me(nil, tok.access), 200)
	e.clock.Advance(15*time.Minute + 31*time.Second)
	expectStatus(t, e.me(nil, tok.access), 401)
}

func TestTokens_RefreshStoredServerSideWithFamily(t *testing.T) {
	e := newEnv(t)
	e.signup("fam@example.com")
	tok := e.tokenLogin("fam@example.com", strongPassword)
	if len(tok.refresh) < 43 {
		t.Fatal("refresh token shorter than 256 bits")
	}
	if dbContains(t, e, tok.refresh) {
		t.Fatal("raw refresh token in the database")
	}
	sum := sha256.Sum256([]byte(tok.refresh))
	rt, fam, err := e.db.RefreshTokenByHash(context.Background(), sum[:])
	if err != nil || fam.ID == "" || rt.FamilyID != fam.ID {
		t.Fatalf("refresh token not stored by hash in a family: %v", err)
	}
	_, c := decodeClaims(t, tok.access)
	if c["sid"] != fam.ID {
		t.Fatal("access token sid is not the family id")
	}
}

func TestTokens_RotationOnEveryUse(t *testing.T) {
	e := newEnv(t)
	e.signup("rot@example.com")
	tok := e.tokenLogin("rot@example.com", strongPassword)
	seen := map[string]bool{tok.refresh: true}
	rt := tok.refresh
	for i := 0; i < 5; i++ {
		e.clock.Advance(time.Minute)
		r := e.refresh(rt)
		expectStatus(t, r, 200)
		next := r.str("refresh_token")
		if seen[next] {
			t.Fatal("refresh did not rotate")
		}
		seen[next] = true
		rt = next
		expectStatus(t, e.me(nil, r.str("access_token")), 200)
	}
}

func TestTokens_ReuseRevokesFamily(t *testing.T) {
	e := newEnv(t)
	e.signup("reuse@example.com")
	tok := e.tokenLogin("reuse@example.com", strongPassword)
	r := e.refresh(tok.refresh)
	expectStatus(t, r, 200)
	rt2, at2 := r.str("refresh_token"), r.str("access_token")
	e.clock.Advance(11 * time.Second) // past the 10 s grace window
	r = e.refresh(tok.refresh)
	if r.Status != 401 || r.code() != "refresh_token_reused" {
		t.Fatalf("reuse answered %d %s", r.Status, r.Body)
	}
	expectStatus(t, e.refresh(rt2), 401)
	expectStatus(t, e.me(nil, at2), 401)
	expectStatus(t, e.me(nil, tok.access), 401)
	if ev := e.auditEvents("refresh_token_reused"); len(ev) != 1 || ev[0]["user_id"] == nil {
		t.Fatalf("refresh_token_reused events %v", ev)
	}
}

func TestTokens_GraceWindowReturnsSameSuccessor(t *testing.T) {
	e := newEnv(t)
	e.signup("grace@example.com")
	tok := e.tokenLogin("grace@example.com", strongPassword)
	a := e.refresh(tok.refresh)
	e.clock.Advance(5 * time.Second)
	b := e.refresh(tok.refresh)
	expectStatus(t, a, 200)
	expectStatus(t, b, 200)
	if a.str("refresh_token") != b.str("refresh_token") {
		t.Fatal("grace-window replay got a different successor")
	}
	if n := len(e.auditEvents("refresh_token_replayed")); n != 1 {
		t.Errorf("%d refresh_token_replayed events, want 1", n)
	}
	expectStatus(t, e.me(nil, b.str("access_token")), 200)
	// Past the window the same replay is reuse: it revokes the family, and
	// the successor and the family's access tokens stop working.
	e.clock.Advance(6 * time.Second)
	r := e.refresh(tok.refresh)
	expectStatus(t, r, 401)
	if r.code() != "refresh_token_reused" {
		t.Fatalf("reuse after the window: %s", r.Body)
	}
	if n := len(e.auditEvents("refresh_token_reused")); n != 1 {
		t.Errorf("%d refresh_token_reused events, want 1", n)
	}
	r = e.refresh(a.str("refresh_token"))
	expectStatus(t, r, 401)
	if r.code() != "invalid_token" {
		t.Errorf("successor after the family was revoked: %s", r.Body)
	}
	expectStatus(t, e.me(nil, a.str("access_token")), 401)
	expectStatus(t, e.me(nil, b.str("access_token")), 401)
}

func TestTokens_StrictModeWithoutGrace(t *testing.T) {
	e := newEnv(t, withConfig(func(c *auth.Config) { c.RefreshGrace = 0 }))
	e.signup("strict@example.com")
	tok := e.tokenLogin("strict@example.com", strongPassword)
	expectStatus(t, e.refresh(tok.refresh), 200)
	r := e.refresh(tok.refresh)
	if r.code() != "refresh_token_reused" {
		t.Fatalf("strict replay: %s", r.Body)
	}
}

func TestTokens_ParallelRefreshesGiveOneSuccessor(t *testing.T) {
	e := newEnv(t)
	e.signup("par-rt@example.com")
	tok := e.tokenLogin("par-rt@example.com", strongPassword)
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.refresh(tok.refresh)
			mu.Lock()
			defer mu.Unlock()
			if r.Status == 200 {
				got[r.str("refresh_token")]++
			} else {
				got["status "+fmt.Sprint(r.Status)]++
			}
		}()
	}
	wg.Wait()
	var successors []string
	for k := range got {
		if !strings.HasPrefix(k, "status ") {
			successors = append(successors, k)
		}
	}
	if len(successors) != 1 {
		t.Fatalf("20 parallel refreshes gave %d distinct successors: %v", len(successors), got)
	}
	expectStatus(t, e.refresh(successors[0]), 200)
}

func TestTokens_AbsoluteFamilyLifetime(t *testing.T) {
	e := newEnv(t, withConfig(func(c *auth.Config) { c.RefreshTTL = 2 * time.Hour }))
	e.signup("life@example.com")
	rt := e.tokenLogin("life@example.com", strongPassword).refresh
	for i := 0; i < 3; i++ {
		e.clock.Advance(30 * time.Minute)
		r := e.refresh(rt)
		expectStatus(t, r, 200)
		rt = r.str("refresh_token")
	}
	e.clock.Advance(31 * time.Minute)
	expectStatus(t, e.refresh(rt), 401)
}

func TestTokens_DenyListRevokesAccessTokenImmediately(t *testing.T) {
	e := newEnv(t)
	e.signup("deny@example.com")
	tok := e.tokenLogin("deny@example.com", strongPassword)
	expectStatus(t, e.me(nil, tok.access), 200)
	r := e.post("/v1/token/revoke", map[string]string{"token": tok.access})
	expectStatus(t, r, 200)
	expectStatus(t, e.me(nil, tok.access), 401)
	if !denied(t, e, tok.access) {
		t.Fatal("jti not on the persisted deny list")
	}
	// Unknown tokens: 200 as well (RFC 7009), form bodies accepted.
	r = e.do(req{method: "POST", path: "/v1/token/revoke", body: "token=garbage&token_type_hint=access_token", ctype: "application/x-www-form-urlencoded"})
	expectStatus(t, r, 200)
	// Revoking a refresh token revokes its family and its access tokens.
	tok2 := e.tokenLogin("deny@example.com", strongPassword)
	expectStatus(t, e.post("/v1/token/revoke", map[string]string{"token": tok2.refresh}), 200)
	expectStatus(t, e.refresh(tok2.refresh), 401)
	expectStatus(t, e.me(nil, tok2.access), 401)
}

func TestTokens_LogoutDeniesTokenAndRevokesFamily(t *testing.T) {
	e := newEnv(t)
	e.signup("blogout@example.com")
	tok := e.tokenLogin("blogout@example.com", strongPassword)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/logout", bearer: tok.access}), 204)
	expectStatus(t, e.me(nil, tok.access), 401)
	expectStatus(t, e.refresh(tok.refresh), 401)
}

func denied(t *testing.T, e *env, jwt string) bool {
	_, c := decodeClaims(t, jwt)
	ok, err := e.db.Denied(context.Background(), e.clock.Now(), "jti:"+c["jti"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestTokens_ForgedAndAlgNoneRejected(t *testing.T) {
	e := newEnv(t)
	e.signup("forge@example.com")
	tok := e.tokenLogin("forge@example.com", strongPassword)
	parts := strings.Split(tok.access, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
	for name, bad := range map[string]string{
		"alg none":      none,
		"no signature":  parts[0] + "." + parts[1] + ".",
		"other payload": parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"usr_x"}`)) + "." + parts[2],
		"query-ish":     tok.access + "?x",
	} {
		if r := e.me(nil, bad); r.Status != 401 {
			t.Errorf("%s: %d", name, r.Status)
		}
	}
	// A token in the URL is never read.
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me?access_token=" + tok.access}), 401)
}

func TestTokens_NeverInHTMLOrURLs(t *testing.T) {
	e := newEnv(t)
	e.signup("nohtml@example.com")
	for _, r := range []*resp{
		e.post("/v1/token", map[string]string{"grant_type": "password", "email": "nohtml@example.com", "password": strongPassword}),
		e.post("/v1/session", map[string]string{"email": "nohtml@example.com", "password": strongPassword}),
	} {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("token response content type %q", ct)
		}
		if r.Header.Get("Location") != "" {
			t.Fatal("token response redirects")
		}
	}
	// Mail links carry the token in the fragment, never the query.
	e.post("/v1/password/forgot", map[string]string{"email": "nohtml@example.com"})
	if e.mailToken("nohtml@example.com", "password_reset") == "" {
		t.Fatal("the reset mail carries no token in its link's fragment")
	}
	mails, _ := e.db.PendingMail(context.Background(), e.clock.Now().Add(time.Hour), 0, 100)
	links := 0
	for _, m := range mails {
		if l := m.Data["link"]; l != "" {
			links++
			if strings.Contains(l, "?") || !strings.Contains(l, "#token=") {
				t.Fatalf("mail link %q does not carry the token in the fragment", m.Template)
			}
		}
	}
	if links == 0 {
		t.Fatal("no mail link was checked")
	}
}

// ---- Password reset ----

func TestReset_FullFlowHashedSingleUseAndRevokesEverything(t *testing.T) {
	e := newEnv(t, trusted())
	e.signup("reset@example.com")
	s := e.login("reset@example.com", strongPassword)
	tok := e.tokenLogin("reset@example.com", strongPassword)
	failTimes(t, e, "reset@example.com", 10) // locked out
	expectStatus(t, e.post("/v1/password/forgot", map[string]string{"email": "reset@example.com"}), 202)
	rt := e.mailToken("reset@example.com", "password_reset")
	// The outbox holds the link only until the mail is sent; then the row
	// is deleted and zeroed (secure_delete), leaving only the hash.
	e.deliverMail()
	if dbContains(t, e, rt) {
		t.Fatal("raw reset token in the database after delivery")
	}
	sum := sha256.Sum256([]byte(rt))
	if _, err := e.db.OneTimeToken(context.Background(), auth.KindPasswordReset, sum[:], e.clock.Now()); err != nil {
		t.Fatalf("reset token not stored by SHA-256: %v", err)
	}
	// A weak password does not spend the token.
	r := e.post("/v1/password/reset", map[string]string{"token": rt, "new_password": "password"})
	if r.code() != "weak_password" {
		t.Fatalf("weak reset: %s", r.Body)
	}
	const newPW = "the new and improved passphrase"
	expectStatus(t, e.post("/v1/password/reset", map[string]string{"token": rt, "new_password": newPW}), 200)
	r = e.post("/v1/password/reset", map[string]string{"token": rt, "new_password": newPW + "2"})
	if r.Status != 401 || r.code() != "invalid_token" {
		t.Fatalf("second use: %d %s", r.Status, r.Body)
	}
	expectStatus(t, e.me(s, ""), 401)
	expectStatus(t, e.me(nil, tok.access), 401)
	expectStatus(t, e.refresh(tok.refresh), 401)
	// Lockout cleared; the old password is gone.
	expectStatus(t, loginFrom(e, "192.0.2.201", "reset@example.com", strongPassword), 401)
	expectStatus(t, loginFrom(e, "192.0.2.202", "reset@example.com", newPW), 200)
	if len(e.auditEvents("password_reset_requested")) != 1 || len(e.auditEvents("password_reset_completed")) != 1 {
		t.Fatal("reset events not logged")
	}
	if e.mailCount("reset@example.com", "password_reset_completed") != 1 || e.mailCount("reset@example.com", "password_changed") != 0 {
		t.Fatal("no password-reset notice, or a password-changed one")
	}
}

func TestReset_TokenExpiresAfterOneHour(t *testing.T) {
	e := newEnv(t)
	e.signup("rexp@example.com")
	e.signup("rlive@example.com")
	e.post("/v1/password/forgot", map[string]string{"email": "rexp@example.com"})
	e.post("/v1/password/forgot", map[string]string{"email": "rlive@example.com"})
	rt := e.mailToken("rexp@example.com", "password_reset")
	live := e.mailToken("rlive@example.com", "password_reset")
	// One second before the hour the token still works...
	e.clock.Advance(time.Hour - time.Second)
	expectStatus(t, e.post("/v1/password/reset", map[string]string{"token": live, "new_password": "a perfectly fine passphrase"}), 200)
	// ...and one second after it, it does not.
	e.clock.Advance(2 * time.Second)
	r := e.post("/v1/password/reset", map[string]string{"token": rt, "new_password": "a perfectly fine passphrase"})
	if r.Status != 401 || r.code() != "invalid_token" {
		t.Fatalf("expired token: %d %s", r.Status, r.Body)
	}
}

func TestReset_NewestTokenSupersedesOlder(t *testing.T) {
	e := newEnv(t)
	e.signup("super@example.com")
	e.post("/v1/password/forgot", map[string]string{"email": "super@example.com"})
	old := e.mailToken("super@example.com", "password_reset")
	e.post("/v1/password/forgot", map[string]string{"email": "super@example.com"})
	newest := e.mailToken("super@example.com", "password_reset")
	if old == newest {
		t.Fatal("same token twice")
	}
	expectStatus(t, e.post("/v1/password/reset", map[string]string{"token": old, "new_password": "a perfectly fine passphrase"}), 401)
	expectStatus(t, e.post("/v1/password/reset", map[string]string{"token": newest, "new_password": "a perfectly fine passphrase"}), 200)
}

func TestReset_SameResponseForKnownAndUnknownEmails(t *testing.T) {
	e := newEnv(t)
	e.signup("known@example.com")
	a := e.post("/v1/password/forgot", map[string]string{"email": "known@example.com"})
	b := e.post("/v1/password/forgot", map[string]string{"email": "unknown@example.com"})
	expectStatus(t, a, 202)
	if a.Status != b.Status || string(a.Body) != string(b.Body) || !slices.Equal(headerNames(a), headerNames(b)) {
		t.Fatalf("known %d %s, unknown %d %s", a.Status, a.Body, b.Status, b.Body)
	}
	if e.mailCount("unknown@example.com", "password_reset") != 0 || e.mailCount("known@example.com", "password_reset") != 1 {
		t.Fatal("mail sent to the wrong address")
	}
}

func TestReset_LinkUsesPublicURLNotHostHeader(t *testing.T) {
	e := newEnv(t)
	e.signup("host@example.com")
	e.do(req{method: "POST", path: "/v1/password/forgot", body: map[string]string{"email": "host@example.com"}, headers: map[string]string{"Host": "evil.example", "X-Forwarded-Host": "evil.example"}})
	e.mailToken("host@example.com", "password_reset") // fails the test when no reset mail was sent
	mails, _ := e.db.PendingMail(context.Background(), e.clock.Now().Add(time.Hour), 0, 100)
	checked := 0
	for _, m := range mails {
		if m.Template == "password_reset" {
			checked++
			if !strings.HasPrefix(m.Data["link"], e.cfg.PublicURL+"/") {
				t.Fatal("reset link not built from the public URL")
			}
		}
	}
	if checked == 0 {
		t.Fatal("no reset link was checked")
	}
}

// TestMailLinksPointAtTheApplicationPages: with the pages configured, the
// verification and reset links point there, with the token in the fragment,
// and the token works.
func TestMailLinksPointAtTheApplicationPages(t *testing.T) {
	e := newEnv(t, withConfig(func(c *auth.Config) {
		c.VerifyEmailURL = "https://app.example/account/confirm"
		c.ResetPasswordURL = "https://app.example/auth?step=reset"
		c.ForgotPasswordURL = "https://app.example/forgot-password"
	}))
	e.signup("pages@example.com")
	expectStatus(t, e.post("/v1/password/forgot", map[string]string{"email": "pages@example.com"}), 202)
	e.resolveJobs()
	mails, err := e.db.PendingMail(context.Background(), e.clock.Now().Add(time.Hour), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	for _, m := range mails {
		links[m.Template] = m.Data["link"]
	}
	for template, prefix := range map[string]string{
		"verify_email":   "https://app.example/account/confirm#token=",
		"password_reset": "https://app.example/auth?step=reset#token=",
	} {
		if l := links[template]; !strings.HasPrefix(l, prefix) || len(l) < len(prefix)+20 {
			t.Errorf("%s link %q, want %s<token>", template, l, prefix)
		}
	}
	tok := e.mailToken("pages@example.com", "password_reset")
	expectStatus(t, e.post("/v1/password/reset", map[string]string{"token": tok, "new_password": "a page that landed somewhere"}), 200)
	// The security notice links to the forgot-password page, without a token.
	mails, err = e.db.PendingMail(context.Background(), e.clock.Now().Add(time.Hour), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	notices := 0
	for _, m := range mails {
		if m.Template == "password_reset_completed" {
			notices++
			if got := m.Data["reset_url"]; got != "https://app.example/forgot-password" {
				t.Errorf("password_reset_completed links to %q, want the forgot-password page", got)
			}
		}
	}
	if notices != 1 {
		t.Errorf("%d password_reset_completed notices, want 1", notices)
	}
}

// ---- Security headers ----

func TestHeaders_OnEveryResponse(t *testing.T) {
	for _, dev := range []bool{true, false} {
		e := newEnv(t, withOptions(func(o *httpapi.Options) { o.Dev = dev }), withConfig(func(c *auth.Config) { c.LoginPerIP = auth.Limit{N: 1, Per: time.Minute} }))
		rs := []*resp{
			e.do(req{method: "GET", path: "/healthz"}),                                                            // 200
			e.do(req{method: "GET", path: "/v1/me"}),                                                              // 401
			e.do(req{method: "GET", path: "/nowhere"}),                                                            // 404
			e.do(req{method: "GET", path: "/v1/signup"}),                                                          // 405
			e.do(req{method: "POST", path: "/v1/signup", body: strings.Repeat("x", 70<<10)}),                      // 413
			e.do(req{method: "POST", path: "/v1/signup", body: "{}", ctype: "text/plain"}),                        // 415
			e.post("/v1/session", map[string]string{"email": "a@example.com", "password": "xxxxxxxxxxxxxxxxxxx"}), // 401
			e.post("/v1/session", map[string]string{"email": "a@example.com", "password": "xxxxxxxxxxxxxxxxxxx"}), // 429
		}
		want := map[string]string{
			"X-Content-Type-Options":       "nosniff",
			"X-Frame-Options":              "DENY",
			"Referrer-Policy":              "strict-origin-when-cross-origin",
			"Content-Security-Policy":      "default-src 'none'; frame-ancestors 'none'",
			"Cross-Origin-Opener-Policy":   "same-origin",
			"Cross-Origin-Resource-Policy": "same-origin",
		}
		statuses := []int{200, 401, 404, 405, 413, 415, 401, 429}
		for i, r := range rs {
			if r.Status != statuses[i] {
				t.Errorf("dev=%v response %d: status %d, want %d", dev, i, r.Status, statuses[i])
			}
			for k, v := range want {
				if r.Header.Get(k) != v {
					t.Errorf("dev=%v status %d: %s = %q", dev, r.Status, k, r.Header.Get(k))
				}
			}
			hsts := r.Header.Get("Strict-Transport-Security")
			if dev && hsts != "" || !dev && hsts != "max-age=63072000; includeSubDomains" {
				t.Errorf("dev=%v status %d: HSTS %q", dev, r.Status, hsts)
			}
			if r.Header.Get("X-Request-Id") == "" {
				t.Errorf("status %d without X-Request-Id", r.Status)
			}
		}
	}
}

func TestHeaders_PanicAnswersProblemWithHeaders(t *testing.T) {
	// A Server without a service panics on any authenticated route: the
	// last-resort handler must still answer 500 problem+json with headers.
	logs := &testutil.Buffer{}
	srv := httpapi.NewServer(nil, slogJSON(logs), httpapi.Options{})
	rec := httptestRecorder(srv, "GET", "/v1/me", map[string]string{"Authorization": "Bearer x.y.z"})
	if rec.Code != 500 || rec.Header().Get("Content-Type") != "application/problem+json" || rec.Header().Get("X-Frame-Options") != "DENY" {
		t.Fatalf("panic answered %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	for _, leak := range []string{"goroutine", ".go:", "nil pointer", "runtime error"} {
		if strings.Contains(body, leak) {
			t.Fatalf("500 body leaks %q: %s", leak, body)
		}
	}
	if !strings.Contains(logs.String(), "panic") {
		t.Fatal("panic not logged")
	}
}

// ---- Logging ----

func TestLogging_EveryLineIsJSONWithRequiredFields(t *testing.T) {
	e := newEnv(t)
	e.signup("log@example.com")
	e.login("log@example.com", strongPassword)
	e.post("/v1/session", map[string]string{"email": "log@example.com", "password": "not the right password"})
	// CR/LF in a field that IS logged: the User-Agent of a failed login.
	// Go's client refuses such a header, so the request goes to the handler
	// directly, as a raw HTTP/1.1 peer could send it through a proxy.
	const forged = "ua\r\n{\"time\":\"2026-01-01T00:00:00Z\",\"level\":\"INFO\",\"msg\":\"audit\",\"event\":\"login_succeeded\",\"user_id\":\"admin\"}\n"
	hr := httptest.NewRequest("POST", "/v1/session", strings.NewReader(`{"email":"log@example.com","password":"also not the right password"}`))
	hr.RemoteAddr = "127.0.0.1:1234"
	hr.Header.Set("Content-Type", "application/json")
	hr.Header["User-Agent"] = []string{forged}
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, hr)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("login with a CR/LF User-Agent: status %d, body %s", rec.Code, rec.Body)
	}
	if !strings.Contains(e.logs.String(), `ua\r\n{`) {
		t.Fatalf("the CR/LF User-Agent was not logged escaped: %s", e.logs.String())
	}
	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["time"] == nil || m["level"] == nil {
			t.Fatalf("log line without time/level: %s", l)
		}
	}
	ok := e.auditEvents("login_succeeded")
	if len(ok) != 1 || ok[0]["email"] != "log@example.com" || ok[0]["ip"] != "127.0.0.1" || ok[0]["user_id"] == nil || ok[0]["request_id"] == nil {
		t.Fatalf("login_succeeded events %v", ok)
	}
	fail := e.auditEvents("login_failed")
	if len(fail) != 2 {
		t.Fatalf("login_failed events %v", fail)
	}
	for _, f := range fail {
		if f["email"] != "log@example.com" || f["ip"] != "127.0.0.1" || f["reason"] != "wrong_password" {
			t.Fatalf("login_failed events %v", fail)
		}
	}
	if fail[1]["user_agent"] != forged {
		t.Fatalf("user_agent = %q, want the CR/LF value intact in one field", fail[1]["user_agent"])
	}
}

// ---- Infrastructure and input ----

func TestInput_StrictJSON(t *testing.T) {
	e := newEnv(t)
	for name, c := range map[string]struct {
		body  string
		ctype string
		want  int
		code  string
	}{
		"unknown field":     {`{"email":"a@example.com","password":"xxxxxxxxxxxxxxxxx","is_admin":true}`, "", 400, "invalid_request"},
		"case variant":      {`{"email":"a@example.com","Email":"b@example.com","password":"xxxxxxxxxxxxxxxxx"}`, "", 400, "invalid_request"},
		"duplicate":         {`{"email":"a@example.com","email":"b@example.com","password":"xxxxxxxxxxxxxxxxx"}`, "", 400, "invalid_request"},
		"wrong type":        {`{"email":["a@example.com"],"password":"xxxxxxxxxxxxxxxxx"}`, "", 400, "invalid_request"},
		"trailing value":    {`{"email":"a@example.com","password":"xxxxxxxxxxxxxxxxx"}{}`, "", 400, "invalid_request"},
		"invalid utf-8":     {"{\"email\":\"a@example.com\",\"password\":\"xx\xff\xfexxxxxxxxxxxxxxx\"}", "", 400, "invalid_request"},
		"not json":          {`email=a`, "", 400, "invalid_request"},
		"text/plain":        {`{"email":"a@example.com","password":"xxxxxxxxxxxxxxxxx"}`, "text/plain", 415, "unsupported_media_type"},
		"form on signup":    {`email=a%40example.com`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		"too large":         {`{"email":"` + strings.Repeat("a", 65<<10) + `"}`, "", 413, "payload_too_large"},
		"missing fields":    {`{}`, "", 400, "invalid_request"},
		"bad email":         {`{"email":"not an email","password":"xxxxxxxxxxxxxxxxx"}`, "", 400, "invalid_request"},
		"255-char email":    {`{"email":"` + strings.Repeat("a", 243) + `@example.com","password":"xxxxxxxxxxxxxxxxx"}`, "", 400, "invalid_request"},
		"deeply nested bad": {`{"email":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `}`, "", 400, "invalid_request"},
	} {
		r := e.do(req{method: "POST", path: "/v1/signup", body: c.body, ctype: c.ctype})
		if r.Status != c.want || r.code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", name, r.Status, r.Body, c.want, c.code)
		}
		if r.Header.Get("Content-Type") != "application/problem+json" || r.str("request_id") == "" {
			t.Errorf("%s: not a problem document with a request id", name)
		}
	}
	if n, err := countUsers(e); err != nil || n != 0 {
		t.Fatalf("bad input created a user: %d users (%v)", n, err)
	}
}

func TestInput_WeakPasswordsRefusedWithReason(t *testing.T) {
	e := newEnv(t)
	for pw, reason := range map[string]string{
		"short pass":                  "too_short",
		strings.Repeat("ab1", 43):     "too_long",
		"passwordpassword":            "common",
		"123456789012345":             "common",
		"xx-weakuser-2024-bulwark-xx": "contains_email",
		"😀😀😀😀😀😀😀😀😀😀😀😀😀😀": "too_short",
	} {
		r := e.post("/v1/signup", map[string]string{"email": "weakuser@example.com", "password": pw})
		if r.Status != 400 || r.code() != "weak_password" || r.str("reason") != reason {
			t.Errorf("%q: %d %s, want weak_password %s", pw, r.Status, r.Body, reason)
		}
		if strings.Contains(string(r.Body), pw) {
			t.Errorf("%q echoed in the response", pw)
		}
	}
	// 15 emoji are 15 code points: accepted.
	expectStatus(t, e.post("/v1/signup", map[string]string{"email": "emoji@example.com", "password": strings.Repeat("😀", 14) + "🙂"}), 202)
}

func TestInput_RequestIDEchoedOrReplaced(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "GET", path: "/healthz", headers: map[string]string{"X-Request-Id": "abc.DEF_123-x"}})
	if r.Header.Get("X-Request-Id") != "abc.DEF_123-x" {
		t.Fatal("valid request id not echoed")
	}
	r = e.do(req{method: "GET", path: "/healthz", headers: map[string]string{"X-Request-Id": "bad id with spaces"}})
	if id := r.Header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Fatalf("invalid request id not replaced: %q", id)
	}
}

func TestInput_ErrorsNeverLeakInternals(t *testing.T) {
	e := newEnv(t)
	bodies := []string{`{`, `[]`, `null`, `{"email":1e999}`, `{"token":{"a":{"b":[1,2,3]}}}`, "\x00\x01", `{"grant_type":"password","email":"a@example.com","password":1}`}
	paths := []string{"/v1/signup", "/v1/email/verify", "/v1/session", "/v1/token", "/v1/token/revoke", "/v1/password/forgot", "/v1/password/reset"}
	for _, p := range paths {
		for _, b := range bodies {
			r := e.do(req{method: "POST", path: p, body: b})
			if r.Status < 400 || r.Status >= 500 {
				t.Errorf("POST %s %q: status %d", p, b, r.Status)
			}
			for _, leak := range []string{"goroutine", ".go:", "sql", "SQL", "panic", "json:", "*auth.", "runtime"} {
				if strings.Contains(string(r.Body), leak) {
					t.Errorf("POST %s %q leaks %q: %s", p, b, leak, r.Body)
				}
			}
		}
	}
}

func TestSignup_NoEnumerationWithVerification(t *testing.T) {
	e := newEnv(t)
	e.signup("exists@example.com")
	a := e.post("/v1/signup", map[string]string{"email": "exists@example.com", "password": "some other passphrase"})
	b := e.post("/v1/signup", map[string]string{"email": "fresh@example.com", "password": "some other passphrase"})
	if a.Status != 202 || string(a.Body) != string(b.Body) {
		t.Fatalf("existing %d %s vs new %d %s", a.Status, a.Body, b.Status, b.Body)
	}
	if e.mailCount("exists@example.com", "already_registered") != 1 {
		t.Fatal("existing owner not told")
	}
	// The existing account's password is unchanged.
	e.login("exists@example.com", strongPassword)
	// Unverified accounts cannot sign in, but only after the right password.
	r := e.post("/v1/session", map[string]string{"email": "fresh@example.com", "password": "some other passphrase"})
	if r.Status != 403 || r.code() != "email_not_verified" {
		t.Fatalf("unverified login: %d %s", r.Status, r.Body)
	}
	r = e.post("/v1/session", map[string]string{"email": "fresh@example.com", "password": "wrong other passphrase"})
	expectStatus(t, r, 401)
}

func TestSignup_VerificationOffCreatesAndConflicts(t *testing.T) {
	e := newEnv(t, withConfig(func(c *auth.Config) { c.RequireVerification = false }))
	r := e.post("/v1/signup", map[string]string{"email": "Open@Example.com ", "password": strongPassword})
	expectStatus(t, r, 201)
	u := r.JSON["user"].(map[string]any)
	if u["email"] != "open@example.com" || u["email_verified"] != true {
		t.Fatalf("user %v", u)
	}
	r = e.post("/v1/signup", map[string]string{"email": "open@example.com", "password": strongPassword})
	if r.Status != 409 || r.code() != "email_taken" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	e.login("OPEN@example.com", strongPassword)
}

func TestVerification_SingleUseAndResend(t *testing.T) {
	e := newEnv(t)
	expectStatus(t, e.post("/v1/signup", map[string]string{"email": "ver@example.com", "password": strongPassword}), 202)
	expectStatus(t, e.post("/v1/email/verify/resend", map[string]string{"email": "ver@example.com"}), 202)
	expectStatus(t, e.post("/v1/email/verify/resend", map[string]string{"email": "nobody-here@example.com"}), 202)
	tok := e.mailToken("ver@example.com", "verify_email")
	r := e.post("/v1/email/verify", map[string]string{"token": tok})
	expectStatus(t, r, 200)
	if r.JSON["user"].(map[string]any)["email_verified"] != true {
		t.Fatal("not verified")
	}
	if r := e.post("/v1/email/verify", map[string]string{"token": tok}); r.Status != 401 || r.code() != "invalid_token" {
		t.Fatalf("second use: %s", r.Body)
	}
	if len(e.auditEvents("email_verified")) != 1 {
		t.Fatal("email_verified not logged")
	}
}

func TestPasswordChange_RevokesOthersKeepsCurrent(t *testing.T) {
	e := newEnv(t)
	e.signup("chg@example.com")
	s := e.login("chg@example.com", strongPassword)
	other := e.login("chg@example.com", strongPassword)
	tok := e.tokenLogin("chg@example.com", strongPassword)
	r := e.do(req{method: "POST", path: "/v1/password/change", cookies: []*http.Cookie{s.cookie}, headers: map[string]string{"X-CSRF-Token": s.csrf},
		body: map[string]string{"current_password": "not my password at all", "new_password": "a different passphrase"}})
	if r.Status != 403 || r.code() != "invalid_credentials" {
		t.Fatalf("wrong current password: %d %s", r.Status, r.Body)
	}
	r = e.do(req{method: "POST", path: "/v1/password/change", cookies: []*http.Cookie{s.cookie}, headers: map[string]string{"X-CSRF-Token": s.csrf},
		body: map[string]string{"current_password": strongPassword, "new_password": "a different passphrase"}})
	expectStatus(t, r, 200)
	expectStatus(t, e.me(s, ""), 200)
	expectStatus(t, e.me(other, ""), 401)
	expectStatus(t, e.me(nil, tok.access), 401)
	expectStatus(t, e.refresh(tok.refresh), 401)
	if len(e.auditEvents("password_changed")) != 1 || e.mailCount("chg@example.com", "password_changed") != 1 {
		t.Fatal("password change not logged or notified")
	}
}

func TestCORS_OnlyAllowListedOrigins(t *testing.T) {
	e := newEnv(t, withOptions(func(o *httpapi.Options) { o.CORSOrigins = []string{"https://app.example"} }))
	r := e.do(req{method: "OPTIONS", path: "/v1/token", headers: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}})
	if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatal("CORS granted to an unlisted origin")
	}
	r = e.do(req{method: "OPTIONS", path: "/v1/token", headers: map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}})
	if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight from the listed origin: %d %v", r.Status, r.Header)
	}
}

// TestCORS_CookieSessionsFromListedOrigins: a listed origin (a sibling
// subdomain, same site, as browsers send it) can sign in with a cookie and
// make cookie requests with the CSRF token; an unlisted origin cannot, and a
// listed one still needs the token.
func TestCORS_CookieSessionsFromListedOrigins(t *testing.T) {
	e := newEnv(t, withOptions(func(o *httpapi.Options) { o.CORSOrigins = []string{"https://app.example"} }))
	e.signup("xorigin@example.com")
	from := func(origin string) map[string]string {
		return map[string]string{"Origin": origin, "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"}
	}
	login := func(origin string) *resp {
		return e.do(req{method: "POST", path: "/v1/session", headers: from(origin),
			body: map[string]string{"email": "xorigin@example.com", "password": strongPassword}})
	}
	if r := login("https://evil.example"); r.Status != 403 || r.code() != "csrf_failed" {
		t.Fatalf("login from an unlisted origin: %d %s", r.Status, r.Body)
	}
	r := login("https://app.example")
	expectStatus(t, r, 200)
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("login from the listed origin without CORS headers: %v", r.Header)
	}
	cookie, csrf := r.cookie("bulwark_session"), r.str("csrf_token")
	change := func(origin, token string) *resp {
		h := from(origin)
		if token != "" {
			h["X-CSRF-Token"] = token
		}
		return e.do(req{method: "POST", path: "/v1/password/change", cookies: []*http.Cookie{cookie}, headers: h,
			body: map[string]string{"current_password": strongPassword, "new_password": "a cross origin passphrase"}})
	}
	if r := change("https://evil.example", csrf); r.Status != 403 || r.code() != "csrf_failed" {
		t.Fatalf("cookie request from an unlisted origin: %d %s", r.Status, r.Body)
	}
	if r := change("https://app.example", ""); r.Status != 403 || r.code() != "csrf_failed" {
		t.Fatalf("cookie request from the listed origin without the CSRF token: %d %s", r.Status, r.Body)
	}
	expectStatus(t, change("https://app.example", csrf), 200)
}

func TestReadiness(t *testing.T) {
	e := newEnv(t)
	expectStatus(t, e.do(req{method: "GET", path: "/healthz"}), 200)
	expectStatus(t, e.do(req{method: "GET", path: "/readyz"}), 200)
	failing := newEnv(t, withOptions(func(o *httpapi.Options) {
		o.Ready = func(context.Context) []string { return []string{"database"} }
	}))
	r := failing.do(req{method: "GET", path: "/readyz"})
	if r.Status != 503 || r.str("status") != "unavailable" || fmt.Sprint(r.JSON["failing"]) != "[database]" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	// Discovery and JWKS.
	r = e.do(req{method: "GET", path: "/.well-known/jwks.json"})
	if r.Status != 200 || string(r.Body) != `{"keys":[]}` {
		t.Fatalf("jwks %d %s", r.Status, r.Body)
	}
	r = e.do(req{method: "GET", path: "/.well-known/openid-configuration"})
	if r.str("issuer") != e.cfg.PublicURL {
		t.Fatalf("discovery %s", r.Body)
	}
}

// ---- helpers ----

func normalized(r *resp) string {
	m := map[string]any{}
	for k, v := range r.JSON {
		if k != "request_id" {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func headerNames(r *resp) []string {
	var names []string
	for k := range r.Header {
		if k != "Date" && k != "X-Request-Id" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

// dbContains reports whether s appears anywhere in the database: in its
// files for SQLite, in any row of any table for PostgreSQL.
func dbContains(t *testing.T, e *env, s string) bool {
	t.Helper()
	if e.be.pgURL != "" {
		return e.be.pgContains(t, s)
	}
	files, _ := filepath.Glob(e.be.sqlitePath + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

func disable(t *testing.T, e *env, email string) {
	t.Helper()
	if err := setDisabled(e, email); err != nil {
		t.Fatal(err)
	}
}

// countUsers counts every row of the users table, whatever its address.
func countUsers(e *env) (int, error) {
	return e.be.count(`SELECT count(*) FROM users`)
}

// TestFlood_HashingCapacityShedsLoadWith503: with one hashing slot and no
// queue, parallel logins that cannot get a slot are refused at once with 503
// and Retry-After instead of piling up (CWE-400).
func TestFlood_HashingCapacityShedsLoadWith503(t *testing.T) {
	e := newEnv(t, withHasher(password.Config{Algorithm: password.Argon2id, Slots: 1, MaxQueue: -1}),
		withConfig(func(c *auth.Config) { c.LoginPerIP = auth.Limit{N: 1000, Per: time.Minute} }))
	var mu sync.Mutex
	statuses := map[int]int{}
	var busy *resp
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.post("/v1/session", map[string]string{"email": fmt.Sprintf("flood%d@example.com", i), "password": strongPassword})
			mu.Lock()
			defer mu.Unlock()
			statuses[r.Status]++
			if r.Status == 503 {
				busy = r
			}
		}(i)
	}
	wg.Wait()
	if statuses[401]+statuses[503] != 8 || statuses[503] == 0 {
		t.Fatalf("statuses %v: want only 401 and at least one 503", statuses)
	}
	if busy.code() != "unavailable" || busy.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without code unavailable and Retry-After: %s", busy.Body)
	}
}

func TestInput_NonJSONBodyRefusedOnEveryV1Route(t *testing.T) {
	e := newEnv(t)
	e.signup("body@example.com")
	tok := e.tokenLogin("body@example.com", strongPassword)
	for _, r := range []req{
		{method: "POST", path: "/v1/logout", body: "hello", ctype: "text/plain", bearer: tok.access},
		{method: "GET", path: "/v1/me", body: "<x/>", ctype: "application/xml", bearer: tok.access},
		{method: "DELETE", path: "/v1/sessions", body: "a=b", ctype: "application/x-www-form-urlencoded", bearer: tok.access},
	} {
		got := e.do(r)
		if got.Status != 415 || got.code() != "unsupported_media_type" {
			t.Errorf("%s %s with %s: %d %s", r.method, r.path, r.ctype, got.Status, got.Body)
		}
	}
	// The token still works: nothing was done.
	expectStatus(t, e.me(nil, tok.access), 200)
	// The token endpoints take OAuth's form encoding.
	r := e.do(req{method: "POST", path: "/v1/token", ctype: "application/x-www-form-urlencoded",
		body: "grant_type=password&email=body%40example.com&password=" + strings.ReplaceAll(strongPassword, " ", "+")})
	expectStatus(t, r, 200)
}

func TestSignup_RepeatedSignupsDoNotFloodTheOwner(t *testing.T) {
	e := newEnv(t, trusted())
	e.signup("inbox@example.com")
	for i := 0; i < 6; i++ {
		r := e.do(req{method: "POST", path: "/v1/signup", body: map[string]string{"email": "inbox@example.com", "password": "some other passphrase"}, headers: fromIP(fmt.Sprintf("198.51.100.%d", i+1))})
		expectStatus(t, r, 202)
	}
	if n := e.mailCount("inbox@example.com", "already_registered"); n != 3 {
		t.Fatalf("%d already-registered mails, want 3 (the per-email mail limit)", n)
	}
}

func TestCSPReports_LoggedAndBounded(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 70; i++ {
		r := e.do(req{method: "POST", path: "/v1/csp-report", body: `{"csp-report":{"blocked-uri":"https://evil.example"}}`, ctype: "application/csp-report"})
		expectStatus(t, r, 204)
	}
	if n := len(e.auditEvents("csp_report")); n != 60 {
		t.Fatalf("%d csp_report events logged for 70 reports from one address, want 60", n)
	}
	r := e.do(req{method: "POST", path: "/v1/csp-report", body: `{}`, ctype: "text/plain"})
	expectStatus(t, r, 415)
}
