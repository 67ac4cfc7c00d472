package token

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// TestVerifiedCache: a cached token is still refused outside its validity
// window, a token differing by one character never hits the cache, and the
// cache stays bounded.
func TestVerifiedCache(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	iss, err := NewHS256(secret, "https://auth.example", "https://auth.example", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	tok, err := iss.Issue(auth.AccessClaims{Subject: "usr_1", SessionID: "fam_1", ID: NewJTI(), IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verify(tok, now); err != nil {
		t.Fatal(err)
	}
	if iss.cache.len() != 1 {
		t.Fatal("verified token not cached")
	}
	if _, err := iss.Verify(tok, now.Add(time.Minute)); err != nil {
		t.Fatalf("cached token refused: %v", err)
	}
	if _, err := iss.Verify(tok, now.Add(15*time.Minute+Leeway)); err == nil {
		t.Fatal("cached token accepted after exp")
	}
	if _, err := iss.Verify(tok, now.Add(-time.Hour)); err == nil {
		t.Fatal("cached token accepted before iat")
	}
	// A tampered copy (last character changed) is verified, not looked up.
	last := tok[len(tok)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	if _, err := iss.Verify(tok[:len(tok)-1]+string(repl), now); err == nil {
		t.Fatal("tampered token accepted")
	}
	// Bounded.
	for i := 0; i < maxCached+10; i++ {
		iss.cache.put(strings.Repeat("x", 10)+string(rune(i)), auth.AccessClaims{IssuedAt: now, ExpiresAt: now.Add(time.Minute)}, now, 0)
	}
	if n := iss.cache.len(); n > maxCached {
		t.Fatalf("cache holds %d entries, bound %d", n, maxCached)
	}
}
