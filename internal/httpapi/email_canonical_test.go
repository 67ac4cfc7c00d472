package httpapi_test

import (
	"strings"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// TestEmail_OneMailboxOneAccount signs up spellings of one mailbox that
// differ only in Unicode form, IDNA form or letter width, and checks that
// they make one account: the later signups answer like a signup of an
// existing address, and the first one's password signs in through every
// spelling.
func TestEmail_OneMailboxOneAccount(t *testing.T) {
	groups := map[string][]string{
		"U-label and A-label": {"ada@exämple.com", "ada@xn--exmple-cua.com", "ADA@EXÄMPLE.COM"},
		"NFC and NFD":         {"ad\u00e1@example.com", "ada\u0301@example.com"},
		"fullwidth domain":    {"ada@example.org", "ada@ｅｘａｍｐｌｅ.org"},
		"ideographic stop":    {"ada@example.net", "ada@example\u3002net"},
	}
	for name, spellings := range groups {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, withConfig(func(c *auth.Config) { c.RequireVerification = false }))
			expectStatus(t, e.post("/v1/signup", map[string]string{"email": spellings[0], "password": strongPassword}), 201)
			for _, s := range spellings[1:] {
				r := e.post("/v1/signup", map[string]string{"email": s, "password": strongPassword + " two"})
				if r.Status != 409 || r.code() != "email_taken" {
					t.Errorf("signup of %q after %q: %d %s, want 409 email_taken", s, spellings[0], r.Status, r.code())
				}
			}
			if n, err := countUsers(e); err != nil || n != 1 {
				t.Fatalf("%d accounts (%v), want 1", n, err)
			}
			for _, s := range spellings {
				r := e.post("/v1/token", map[string]string{"grant_type": "password", "email": s, "password": strongPassword})
				if r.Status != 200 {
					t.Errorf("login as %q: %d %s, want 200", s, r.Status, r.Body)
				}
			}
		})
	}
}

// TestEmail_NonPublicDomainsRefused checks that addresses no public mail
// server can have are refused with a 400 problem naming the field, and
// create nothing.
func TestEmail_NonPublicDomainsRefused(t *testing.T) {
	e := newEnv(t)
	for _, addr := range []string{"a@b", "ada@localhost", "ada@[127.0.0.1]", "ada@127.0.0.1", "ada@example.123", "ada@exa_mple.com", "\u212aelvin@example.com"} {
		r := e.post("/v1/signup", map[string]string{"email": addr, "password": strongPassword})
		if r.Status != 400 || r.code() != "invalid_request" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("signup of %q: %d %s %q, want 400 invalid_request problem+json", addr, r.Status, r.code(), r.Header.Get("Content-Type"))
		}
	}
	if n, err := countUsers(e); err != nil || n != 0 {
		t.Fatalf("%d accounts (%v) after refused signups, want 0", n, err)
	}
}
