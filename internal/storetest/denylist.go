package storetest

import (
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var denyListTests = []testCase{
	{"DenyAndExpire", testDenyAndExpire},
	{"KeepLaterExpiry", testDenyKeepLaterExpiry},
	{"Purge", testDenyPurge},
}

func denied(t *testing.T, s auth.Store, now time.Time, keys ...string) bool {
	t.Helper()
	ok, err := s.Denied(ctx(t), now, keys...)
	noErr(t, "Denied", err)
	return ok
}

func testDenyAndExpire(t *testing.T, s auth.Store) {
	exp := t0.Add(15 * time.Minute)
	noErr(t, "Deny", s.Deny(ctx(t), "jti:abc", exp))
	noErr(t, "Deny", s.Deny(ctx(t), "sid:fam", exp))
	cases := []struct {
		name string
		now  time.Time
		keys []string
		want bool
	}{
		{"listed", t0, []string{"jti:abc"}, true},
		{"just before expiry", exp.Add(-time.Millisecond), []string{"jti:abc"}, true},
		{"at expiry", exp, []string{"jti:abc"}, false},
		{"after expiry", exp.Add(time.Hour), []string{"jti:abc"}, false},
		{"not listed", t0, []string{"jti:other"}, false},
		{"any of several", t0, []string{"jti:other", "sid:fam"}, true},
		{"none of several", t0, []string{"jti:other", "sid:other"}, false},
		{"no keys", t0, nil, false},
	}
	for _, c := range cases {
		if got := denied(t, s, c.now, c.keys...); got != c.want {
			t.Errorf("Denied %s = %v, want %v", c.name, got, c.want)
		}
	}
}

func testDenyKeepLaterExpiry(t *testing.T, s auth.Store) {
	noErr(t, "Deny", s.Deny(ctx(t), "jti:a", t0.Add(time.Hour)))
	noErr(t, "Deny earlier", s.Deny(ctx(t), "jti:a", t0.Add(time.Minute)))
	noErr(t, "Deny", s.Deny(ctx(t), "jti:b", t0.Add(time.Minute)))
	noErr(t, "Deny later", s.Deny(ctx(t), "jti:b", t0.Add(time.Hour)))
	at := t0.Add(30 * time.Minute)
	for _, k := range []string{"jti:a", "jti:b"} {
		if !denied(t, s, at, k) {
			t.Errorf("Denied %s = false, want the later expiry kept", k)
		}
		if denied(t, s, t0.Add(time.Hour), k) {
			t.Errorf("Denied %s at the later expiry = true", k)
		}
	}
}

func testDenyPurge(t *testing.T, s auth.Store) {
	noErr(t, "Deny", s.Deny(ctx(t), "jti:short", t0.Add(time.Minute)))
	noErr(t, "Deny", s.Deny(ctx(t), "jti:long", t0.Add(time.Hour)))
	noErr(t, "Deny", s.Deny(ctx(t), "jti:edge", t0.Add(2*time.Minute)))
	noErr(t, "PurgeDenied", s.PurgeDenied(ctx(t), t0.Add(2*time.Minute)))
	// Asking about an earlier instant shows what the purge removed.
	if denied(t, s, t0, "jti:short") {
		t.Error("entry that expired before now survived PurgeDenied")
	}
	if !denied(t, s, t0, "jti:long") {
		t.Error("live entry removed by PurgeDenied")
	}
	if !denied(t, s, t0, "jti:edge") {
		t.Error("entry expiring at now removed by PurgeDenied (only those before now go)")
	}
}
