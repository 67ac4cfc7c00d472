package verify

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseJWK(t *testing.T) {
	ed := newEdSigner(t).ed.Public().(ed25519.PublicKey)
	ec := newECSigner(t).ec.PublicKey
	good := func(m map[string]any, edit func(map[string]any)) []byte {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		edit(c)
		b, _ := json.Marshal(c)
		return b
	}
	both := []string{EdDSA, ES256}
	edKey, ecKey := edJWK("e", ed), ecJWK("c", &ec)
	for name, raw := range map[string][]byte{
		"ed":               good(edKey, func(map[string]any) {}),
		"ed without use":   good(edKey, func(m map[string]any) { delete(m, "use") }),
		"ed with key_ops":  good(edKey, func(m map[string]any) { m["key_ops"] = []string{"verify"} }),
		"ec":               good(ecKey, func(map[string]any) {}),
		"ec unknown field": good(ecKey, func(m map[string]any) { m["x5t#S256"] = "abc" }),
	} {
		if _, err := parseJWK(raw, both); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, raw := range map[string][]byte{
		"ed with EC kty":       good(edKey, func(m map[string]any) { m["kty"] = "EC" }),
		"ed with X25519":       good(edKey, func(m map[string]any) { m["crv"] = "X25519" }),
		"ed with Ed448":        good(edKey, func(m map[string]any) { m["crv"] = "Ed448" }),
		"ed labelled ES256":    good(edKey, func(m map[string]any) { m["alg"] = ES256 }),
		"ec labelled EdDSA":    good(ecKey, func(m map[string]any) { m["alg"] = EdDSA }),
		"ec with P-384":        good(ecKey, func(m map[string]any) { m["crv"] = "P-384" }),
		"ec with OKP kty":      good(ecKey, func(m map[string]any) { m["kty"] = "OKP" }),
		"no alg":               good(edKey, func(m map[string]any) { delete(m, "alg") }),
		"alg none":             good(edKey, func(m map[string]any) { m["alg"] = "none" }),
		"alg HS256":            good(edKey, func(m map[string]any) { m["alg"] = "HS256" }),
		"no kid":               good(edKey, func(m map[string]any) { delete(m, "kid") }),
		"use enc":              good(edKey, func(m map[string]any) { m["use"] = "enc" }),
		"key_ops sign":         good(edKey, func(m map[string]any) { m["key_ops"] = []string{"sign"} }),
		"private d":            good(edKey, func(m map[string]any) { m["d"] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A" }),
		"symmetric k":          good(edKey, func(m map[string]any) { m["kty"] = "oct"; m["k"] = "c2VjcmV0" }),
		"ed short x":           good(edKey, func(m map[string]any) { m["x"] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR" }),
		"ed padded x":          good(edKey, func(m map[string]any) { m["x"] = m["x"].(string) + "=" }),
		"ec point off curve":   good(ecKey, func(m map[string]any) { m["y"] = m["x"] }),
		"ec short y":           good(ecKey, func(m map[string]any) { m["y"] = "AQ" }),
		"not an object":        []byte(`"key"`),
		"ed alg not allowed":   good(edKey, func(map[string]any) {}),
		"ed non-canonical x":   good(edKey, func(m map[string]any) { m["x"] = nonCanonical(t, m["x"].(string)) }),
		"ec with y on ed":      good(edKey, func(m map[string]any) { m["y"] = m["x"] }),
		"kid longer than 256":  good(edKey, func(m map[string]any) { m["kid"] = strings.Repeat("k", 257) }),
		"key_ops empty":        good(edKey, func(m map[string]any) { m["key_ops"] = []string{} }),
		"ec alg not allowed 2": good(ecKey, func(map[string]any) {}),
	} {
		allowed := both
		if strings.Contains(name, "not allowed") {
			allowed = []string{map[bool]string{true: ES256, false: EdDSA}[strings.HasPrefix(name, "ed")]}
		}
		if k, err := parseJWK(raw, allowed); err == nil {
			t.Errorf("%s: accepted as %s key", name, k.alg)
		}
	}
}

func TestParseJWKSDuplicateKidNamesNoKey(t *testing.T) {
	a, b := newEdSigner(t), newEdSigner(t)
	body, _ := json.Marshal(map[string]any{"keys": []any{
		edJWK("dup", a.ed.Public().(ed25519.PublicKey)),
		edJWK("dup", b.ed.Public().(ed25519.PublicKey)),
		edJWK("dup", b.ed.Public().(ed25519.PublicKey)),
		edJWK("one", a.ed.Public().(ed25519.PublicKey)),
		map[string]any{"kty": "RSA", "kid": "rsa", "alg": "RS256", "n": "AQAB", "e": "AQAB"},
	}})
	keys, skipped, err := parseJWKS(body, []string{EdDSA, ES256})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := keys["dup"]; ok || keys["one"] == nil || len(keys) != 1 {
		t.Fatalf("keys = %v", keys)
	}
	if len(skipped) != 3 {
		t.Fatalf("skipped = %q", skipped)
	}
	for _, bad := range []string{`{}`, `{"keys":null}`, `[]`, `{"keys":{}}`, `not json`} {
		if _, _, err := parseJWKS([]byte(bad), []string{EdDSA}); err == nil {
			t.Errorf("parseJWKS(%s) succeeded", bad)
		}
	}
}

func TestCacheAge(t *testing.T) {
	floor := time.Minute
	for header, want := range map[string]time.Duration{
		"":                             defaultCacheAge,
		"public, max-age=300":          300 * time.Second,
		"max-age=600, public":          600 * time.Second,
		`MAX-AGE="120"`:                120 * time.Second,
		"max-age=5":                    floor,
		"max-age=0":                    floor,
		"max-age=31536000":             maxCacheAge,
		"max-age=99999999999999999999": floor,
		"max-age=-1":                   floor,
		"max-age=abc":                  floor,
		"no-store":                     floor,
		"public, no-cache":             floor,
	} {
		if got := cacheAge(header, floor); got != want {
			t.Errorf("cacheAge(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestMaxAgeHonoured(t *testing.T) {
	f := newFixture(t)
	tok := f.token(nil)
	// The server said max-age=300: no fetch before, one after.
	f.clock.advance(299 * time.Second)
	accepted(t, f.v, tok)
	if n := f.jwks.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	f.jwks.setCacheControl("max-age=100000")
	f.clock.advance(2 * time.Second)
	accepted(t, f.v, tok)
	if n := f.jwks.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	// max-age=100000 is capped at one hour.
	f.clock.advance(maxCacheAge - time.Second)
	accepted(t, f.v, f.token(nil))
	if n := f.jwks.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	f.clock.advance(2 * time.Second)
	accepted(t, f.v, f.token(nil))
	if n := f.jwks.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
}

// A flood of tokens with unknown kids, all at once, makes one fetch; more
// within the interval make none.
func TestUnknownKidFloodSingleFlight(t *testing.T) {
	f := newFixture(t)
	f.clock.advance(DefaultRefreshInterval)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := f.ed.compact(t, f.header(EdDSA, fmt.Sprintf("unknown-%d", i)), f.claims())
			if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, errUnknownKey) {
				t.Errorf("err = %v, want errUnknownKey", err)
			}
		}()
	}
	wg.Wait()
	if n := f.jwks.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (start-up and one refresh)", n)
	}
	f.clock.advance(DefaultRefreshInterval - time.Second)
	refused(t, f.v, f.ed.compact(t, f.header(EdDSA, "unknown-x"), f.claims()), errUnknownKey)
	if n := f.jwks.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	f.clock.advance(time.Second)
	refused(t, f.v, f.ed.compact(t, f.header(EdDSA, "unknown-y"), f.claims()), errUnknownKey)
	if n := f.jwks.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
}

// Callers waiting for a slow fetch share it, and one that gives up does not
// cancel it for the others.
func TestFetchSharedByWaiters(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	var served sync.WaitGroup
	served.Add(1)
	next := newEdSigner(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer served.Done()
		<-release
		body, _ := json.Marshal(map[string]any{"keys": []any{edJWK("ed-2", next.ed.Public().(ed25519.PublicKey))}})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer slow.Close()
	f.v.keys.url = slow.URL
	f.clock.advance(DefaultRefreshInterval)
	tok := next.compact(t, f.header(EdDSA, "ed-2"), f.claims())

	ctx, cancel := context.WithCancel(context.Background())
	quitter := make(chan error)
	go func() {
		_, err := f.v.Verify(ctx, tok)
		quitter <- err
	}()
	results := make(chan error, 10)
	for range 10 {
		go func() {
			_, err := f.v.Verify(context.Background(), tok)
			results <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-quitter; !errors.Is(err, errUnknownKey) {
		t.Fatalf("quitter: err = %v, want errUnknownKey (it gave up waiting)", err)
	}
	close(release)
	for range 10 {
		if err := <-results; err != nil {
			t.Fatalf("waiter: %v", err)
		}
	}
	served.Wait() // exactly one request: a second would panic on served.Done
}

// A failing refresh keeps the last good set; once that set is more than
// maxStale past its expiry, Verify answers ErrUnavailable.
func TestFailedRefreshKeepsKeysUntilStale(t *testing.T) {
	f := newFixture(t)
	f.jwks.setStatus(http.StatusInternalServerError)
	f.clock.advance(301 * time.Second)
	accepted(t, f.v, f.token(nil))
	if n := f.jwks.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	f.clock.advance(maxStale - time.Second)
	accepted(t, f.v, f.token(nil))
	f.clock.advance(2 * time.Second)
	_, err := f.v.Verify(context.Background(), f.token(nil))
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	// The server recovers: the next fetch brings the keys back.
	f.jwks.setStatus(http.StatusOK)
	f.clock.advance(DefaultRefreshInterval)
	accepted(t, f.v, f.token(nil))
}

func TestFetchRefusesBadResponses(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"html": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(`{"keys":[]}`))
		},
		"too large": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("a", maxJWKSSize) + `"}`))
		},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://evil.example.test/jwks.json", http.StatusFound)
		},
		"not json": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`keys`))
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := httptest.NewServer(h)
			defer s.Close()
			if _, err := New(context.Background(), Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: s.URL}); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
	// application/jwk-set+json is fine.
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer s.Close()
	if _, err := New(context.Background(), Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: s.URL}); err != nil {
		t.Fatal(err)
	}
}
