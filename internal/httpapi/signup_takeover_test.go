package httpapi_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Passwords of the people who sign up one address. The attacker never has
// access to the mailbox; the owner does.
const (
	attackerPW = "attacker chosen passphrase one"
	ownerPW    = "owner chosen passphrase number two"
	thirdPW    = "third signup passphrase for the address"
	resetPW    = "passphrase set through the reset link"
)

// verifyLinks returns the tokens of every verification mail queued to addr,
// oldest first.
func verifyLinks(t *testing.T, e *env, addr string) []string {
	t.Helper()
	e.resolveJobs()
	mails, err := e.db.PendingMail(context.Background(), e.clock.Now().Add(24*time.Hour), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var toks []string
	for _, m := range mails {
		if m.To == addr && m.Template == "verify_email" {
			u, err := url.Parse(m.Data["link"])
			if err != nil {
				t.Fatal(err)
			}
			toks = append(toks, strings.TrimPrefix(u.Fragment, "token="))
		}
	}
	return toks
}

func signupAs(t *testing.T, e *env, addr, pw string) {
	t.Helper()
	expectStatus(t, e.post("/v1/signup", map[string]string{"email": addr, "password": pw}), 202)
	e.clock.Advance(time.Second) // each signup is a later one
}

func verify(e *env, tok string) *resp {
	return e.post("/v1/email/verify", map[string]string{"token": tok})
}

// loginStatus is the status of a cookie login with pw.
func loginStatus(e *env, addr, pw string) int {
	return e.post("/v1/session", map[string]string{"email": addr, "password": pw}).Status
}

func expectInvalidToken(t *testing.T, r *resp, what string) {
	t.Helper()
	if r.Status != 401 || r.code() != "invalid_token" {
		t.Fatalf("%s: status %d, body %s; want 401 invalid_token", what, r.Status, r.Body)
	}
}

// TestSignup_VerifyingNeverActivatesAnotherSignupsPassword covers the
// pre-account takeover: whichever way the signups, resends and resets of one
// address interleave, the password in force after verification is the one
// of the signup whose link was clicked, and older links stop working.
func TestSignup_VerifyingNeverActivatesAnotherSignupsPassword(t *testing.T) {
	const addr = "victim@example.com"

	t.Run("attacker first then owner: the owner's link wins", func(t *testing.T) {
		e := newEnv(t)
		signupAs(t, e, addr, attackerPW)
		signupAs(t, e, addr, ownerPW)
		links := verifyLinks(t, e, addr)
		if len(links) != 2 {
			t.Fatalf("%d verification mails, want 2", len(links))
		}
		expectStatus(t, verify(e, links[1]), 200)
		if st := loginStatus(e, addr, ownerPW); st != 200 {
			t.Fatalf("owner's password after verifying the owner's link: login %d, want 200", st)
		}
		if st := loginStatus(e, addr, attackerPW); st != 401 {
			t.Fatalf("attacker's password after verification: login %d, want 401", st)
		}
		expectInvalidToken(t, verify(e, links[0]), "attacker's older link after verification")
		if st := loginStatus(e, addr, ownerPW); st != 200 {
			t.Fatalf("owner's password after the old link was tried: login %d", st)
		}
	})

	t.Run("the owner clicks the first, superseded mail", func(t *testing.T) {
		e := newEnv(t)
		signupAs(t, e, addr, attackerPW)
		signupAs(t, e, addr, ownerPW)
		links := verifyLinks(t, e, addr)
		expectInvalidToken(t, verify(e, links[0]), "superseded first link")
		if st := loginStatus(e, addr, attackerPW); st == 200 {
			t.Fatal("the attacker's password signs in after the superseded link was clicked")
		}
		expectStatus(t, verify(e, links[1]), 200)
		if st := loginStatus(e, addr, ownerPW); st != 200 {
			t.Fatalf("owner's password: login %d, want 200", st)
		}
	})

	t.Run("three signups: only the newest link verifies, with its password", func(t *testing.T) {
		e := newEnv(t)
		signupAs(t, e, addr, attackerPW)
		signupAs(t, e, addr, ownerPW)
		signupAs(t, e, addr, thirdPW)
		links := verifyLinks(t, e, addr)
		if len(links) != 3 {
			t.Fatalf("%d verification mails, want 3", len(links))
		}
		expectInvalidToken(t, verify(e, links[0]), "first link")
		expectInvalidToken(t, verify(e, links[1]), "second link")
		expectStatus(t, verify(e, links[2]), 200)
		for pw, want := range map[string]int{attackerPW: 401, ownerPW: 401, thirdPW: 200} {
			if st := loginStatus(e, addr, pw); st != want {
				t.Fatalf("login with %q: %d, want %d", pw, st, want)
			}
		}
	})

	t.Run("a reset before verification voids every verification link", func(t *testing.T) {
		e := newEnv(t)
		signupAs(t, e, addr, attackerPW)
		link := verifyLinks(t, e, addr)[0]
		expectStatus(t, e.post("/v1/password/forgot", map[string]string{"email": addr}), 202)
		rt := e.mailToken(addr, "password_reset")
		expectStatus(t, e.post("/v1/password/reset", map[string]string{"token": rt, "new_password": resetPW}), 200)
		expectInvalidToken(t, verify(e, link), "verification link issued before the reset")
		if st := loginStatus(e, addr, resetPW); st != 200 {
			t.Fatalf("reset password: login %d, want 200", st)
		}
		if st := loginStatus(e, addr, attackerPW); st != 401 {
			t.Fatalf("attacker's password after the reset: login %d, want 401", st)
		}
	})

	t.Run("a signup after verification changes nothing", func(t *testing.T) {
		e := newEnv(t)
		signupAs(t, e, addr, ownerPW)
		expectStatus(t, verify(e, verifyLinks(t, e, addr)[0]), 200)
		signupAs(t, e, addr, attackerPW)
		if n := len(verifyLinks(t, e, addr)); n != 1 {
			t.Fatalf("%d verification mails after a signup of a verified address, want 1", n)
		}
		if st := loginStatus(e, addr, attackerPW); st != 401 {
			t.Fatalf("attacker's password: login %d, want 401", st)
		}
	})

	t.Run("a resent link carries the password of the latest signup", func(t *testing.T) {
		e := newEnv(t)
		signupAs(t, e, addr, attackerPW)
		signupAs(t, e, addr, ownerPW)
		expectStatus(t, e.post("/v1/email/verify/resend", map[string]string{"email": addr}), 202)
		links := verifyLinks(t, e, addr)
		if len(links) != 3 {
			t.Fatalf("%d verification mails, want 3", len(links))
		}
		expectInvalidToken(t, verify(e, links[1]), "link superseded by the resend")
		expectStatus(t, verify(e, links[2]), 200)
		if st := loginStatus(e, addr, ownerPW); st != 200 {
			t.Fatalf("latest signup's password after the resent link: login %d, want 200", st)
		}
		if st := loginStatus(e, addr, attackerPW); st != 401 {
			t.Fatalf("attacker's password after the resent link: login %d, want 401", st)
		}
	})

	t.Run("verification off: a second signup is email_taken", func(t *testing.T) {
		e := newEnv(t, withConfig(func(c *auth.Config) { c.RequireVerification = false }))
		expectStatus(t, e.post("/v1/signup", map[string]string{"email": addr, "password": ownerPW}), 201)
		r := e.post("/v1/signup", map[string]string{"email": addr, "password": attackerPW})
		if r.Status != 409 || r.code() != "email_taken" {
			t.Fatalf("second signup: %d %s, want 409 email_taken", r.Status, r.Body)
		}
		if st := loginStatus(e, addr, ownerPW); st != 200 {
			t.Fatalf("first signup's password: login %d, want 200", st)
		}
	})
}
