package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// enableTOTPBench turns TOTP on for email through the API and returns its
// secret; the clock then moves to the next step so the confirmation's code
// is not the next one asked for.
func (e *benchEnv) enableTOTP(b *testing.B, email string) string {
	b.Helper()
	access, _, err := e.tokenLogin(e.client, email)
	if err != nil {
		b.Fatal(err)
	}
	r := e.do(req{method: "POST", path: "/v1/mfa/totp/enroll", bearer: access})
	if r.Status != http.StatusOK {
		b.Fatalf("enroll: %d %s", r.Status, r.Body)
	}
	secret := r.str("secret")
	r = e.do(req{method: "POST", path: "/v1/mfa/totp/confirm", bearer: access, body: map[string]string{"code": totpCode(b, secret, e.clock.Now())}})
	if r.Status != http.StatusOK {
		b.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	e.nextStep()
	return secret
}

// mfaTokenLogin signs an MFA account in: password, then the code of the
// current step. It returns the access token.
func (e *benchEnv) mfaTokenLogin(b *testing.B, email, secret string) string {
	b.Helper()
	st, out, err := benchPost(e.client, e.srv.URL+"/v1/token", map[string]string{"grant_type": "password", "email": email, "password": strongPassword})
	if err != nil || st != http.StatusOK || out["mfa_token"] == nil {
		b.Fatalf("password step: %d %v %v", st, out, err)
	}
	st, out, err = benchPost(e.client, e.srv.URL+"/v1/mfa/challenge", map[string]any{"mfa_token": out["mfa_token"], "code": totpCode(b, secret, e.clock.Now())})
	if err != nil || st != http.StatusOK {
		b.Fatalf("challenge: %d %v %v", st, out, err)
	}
	e.nextStep()
	access, _ := out["access_token"].(string)
	return access
}

// BenchmarkMeBearerMFA is BenchmarkMeBearer for a user with TOTP and a
// token established with password and TOTP: the per-request check of the
// methods against the user's factors must cost nothing measurable.
func BenchmarkMeBearerMFA(b *testing.B) {
	e := newBenchEnv(b)
	e.signup(b, "bench@example.com")
	secret := e.enableTOTP(b, "bench@example.com")
	benchMe(b, e, e.mfaTokenLogin(b, "bench@example.com", secret))
}

// BenchmarkTOTPChallenge is POST /v1/mfa/challenge end to end with a right
// code, token mode: the pending login's lookup, the limits, the lockout
// reservation, the code check and its replay guard (a write), spending the
// pending login, clearing the failures and issuing tokens. The pending
// logins are made before the timer starts (each costs a password hash);
// the clock moves one step per challenge so every code is new. Compare with
// BenchmarkRawHashVerify: the password step of the same login.
func BenchmarkTOTPChallenge(b *testing.B) {
	unlimited := auth.Limit{N: 1 << 20, Per: time.Minute}
	e := newBenchEnv(b, withConfig(func(c *auth.Config) {
		c.LoginPerIP, c.LoginPerEmail, c.TokenPerIP = unlimited, unlimited, unlimited
		c.LockoutThreshold = 1 << 20
		c.MFATokenTTL = 30 * time.Minute
	}))
	e.signup(b, "bench@example.com")
	secret := e.enableTOTP(b, "bench@example.com")
	// Pending logins are made in batches outside the timer (each costs a
	// password hash); a batch's 50 steps of 30 s fit in its 30-minute life.
	const batch = 50
	var pending []string
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%batch == 0 {
			b.StopTimer()
			pending = pending[:0]
			for range batch {
				st, out, err := benchPost(e.client, e.srv.URL+"/v1/token", map[string]string{"grant_type": "password", "email": "bench@example.com", "password": strongPassword})
				tok, _ := out["mfa_token"].(string)
				if err != nil || st != http.StatusOK || tok == "" {
					b.Fatalf("password step: %d %v %v", st, out, err)
				}
				pending = append(pending, tok)
			}
			b.StartTimer()
		}
		code := totpCode(b, secret, e.clock.Now())
		st, out, err := benchPost(e.client, e.srv.URL+"/v1/mfa/challenge", map[string]string{"mfa_token": pending[i%batch], "code": code})
		if err != nil || st != http.StatusOK {
			b.Fatalf("challenge %d: %d %v %v", i, st, out, err)
		}
		e.clock.Advance(30 * time.Second)
	}
	reportOpsPerSec(b)
}
