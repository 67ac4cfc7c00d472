package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Second factors on two instances of one deployment (PostgreSQL only: the
// replay guard, the pending logins and the lockout live in the database).
// The TOTP codes come from oathtool (OATH Toolkit), an implementation of
// RFC 6238 independent of Bulwark's.

// oathtool returns the path of oathtool; without it the test fails under
// CI and skips loudly elsewhere.
func oathtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("oathtool not on PATH (apt-get install oathtool): CI must run the TOTP tests")
		}
		t.Skip("!!! oathtool not on PATH: multi-instance TOTP tests SKIPPED (apt-get install oathtool)")
	}
	return p
}

// totpAt returns the RFC 6238 code of the base32 secret for time step step
// (30-second steps from the Unix epoch), as an authenticator app whose
// clock reads the start of that step would show it.
func totpAt(t *testing.T, tool, secret string, step int64) string {
	t.Helper()
	out, err := exec.Command(tool, "--totp", "-b", "-N", "@"+strconv.FormatInt(step*30, 10), secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	code := strings.TrimSpace(string(out))
	if len(code) != 6 {
		t.Fatalf("oathtool printed %q", out)
	}
	return code
}

// mfaDeployment is a deployment whose rate limits stay out of the way, so
// that only the lockout and the pending logins' own limits decide.
func mfaDeployment(t *testing.T) map[string]string {
	return deployment(t, false, map[string]string{
		"BULWARK_LOGIN_LIMIT_PER_EMAIL": "1000/1m",
		"BULWARK_LOGIN_LIMIT_PER_IP":    "1000/1m",
		"BULWARK_TOKEN_LIMIT_PER_IP":    "1000/1m",
	})
}

func passwordGrant(in *instance, email, pw string) reply {
	return in.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": email, "password": pw})
}

// mfaToken signs in with the password on in and returns the mfa_token of
// the pending login.
func mfaToken(t *testing.T, in *instance, email string) string {
	t.Helper()
	r := in.expect(passwordGrant(in, email, strongPW), 200)
	tok, _ := r.body["mfa_token"].(string)
	if r.body["mfa_required"] != true || tok == "" || r.body["access_token"] != nil {
		t.Fatalf("password login on an account with TOTP: %v", r.body)
	}
	return tok
}

func challenge(in *instance, mfaToken, code string) reply {
	return in.call("POST", "/v1/mfa/challenge", map[string]string{"mfa_token": mfaToken, "code": code})
}

func wantCode(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.body["code"] != code {
		t.Fatalf("%s: %d %v, want %d %s", what, r.status, r.body, status, code)
	}
}

// enrolTOTP turns TOTP on for email through A's API and returns the secret,
// the time step the confirmation spent, the recovery codes, and the refresh
// tokens of two password-only logins made before (one on A, the caller,
// one on B).
func enrolTOTP(t *testing.T, a, b *instance, tool, email string) (secret string, step int64, codes []string, preA, preB string) {
	t.Helper()
	signupOn(t, a, email)
	r := a.expect(passwordGrant(a, email, strongPW), 200)
	access, preA := r.body["access_token"].(string), r.body["refresh_token"].(string)
	preB = b.expect(passwordGrant(b, email, strongPW), 200).body["refresh_token"].(string)

	// A login a moment old is fresh: no password needed.
	r = a.expect(a.call("POST", "/v1/mfa/totp/enroll", map[string]string{}, "Authorization", "Bearer "+access), 200)
	secret, _ = r.body["secret"].(string)
	if len(secret) != 32 { // 160 bits in base32
		t.Fatalf("enrol: %v", r.body)
	}
	step = time.Now().Unix() / 30
	r = a.expect(a.call("POST", "/v1/mfa/totp/confirm", map[string]string{"code": totpAt(t, tool, secret, step)},
		"Authorization", "Bearer "+access), 200)
	for _, c := range r.body["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	tokens, _ := r.body["tokens"].(map[string]any)
	if len(codes) != 10 || tokens == nil || tokens["refresh_token"] == nil {
		t.Fatalf("confirm: %v", r.body)
	}
	// The caller's session goes on, as a new family: its refresh token works
	// on the other instance.
	b.expect(b.call("POST", "/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"].(string)}), 200)
	return secret, step, codes, preA, preB
}

// TestInstances_TOTPCodeWorksOnce: a TOTP code sent to both instances at
// once signs in once (RFC 6238 §5.2: the verifier accepts a code only once;
// OWASP ASVS 5.0 6.5.1), a code is never accepted again on either, pending
// logins are shared, and refresh tokens from before the second factor stop
// working everywhere.
func TestInstances_TOTPCodeWorksOnce(t *testing.T) {
	postgresURL(t)
	tool := oathtool(t)
	began := time.Now()
	// A higher lockout threshold: the twelve pending logins below each
	// count one check (the lockout has a test of its own).
	env := mfaDeployment(t)
	env["BULWARK_LOCKOUT_THRESHOLD"] = "50"
	a, b := startPair(t, env)
	both := []*instance{a, b}
	const email = "totp@example.com"
	secret, confirmed, recovery, preA, preB := enrolTOTP(t, a, b, tool, email)

	// Password-only refresh tokens from before are refused, on both
	// instances: the caller's own family was replaced, the other revoked.
	for _, c := range []struct {
		in *instance
		rt string
	}{{b, preA}, {a, preB}} {
		r := c.in.call("POST", "/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": c.rt})
		if r.status != 401 {
			t.Fatalf("refresh of a pre-MFA refresh token: %d %v, want 401", r.status, r.body)
		}
	}

	// The code the confirmation used is spent.
	wantCode(t, "the confirmation's code in a challenge", challenge(b, mfaToken(t, b, email), totpAt(t, tool, secret, confirmed)), 401, "invalid_code")

	// The next step's code (an authenticator app a little ahead, or the
	// next code shown), sent at once to both instances by twelve pending
	// logins, each redeemed on the instance that did not issue it.
	const racers = 12
	toks := make([]string, racers)
	for i := range toks {
		toks[i] = mfaToken(t, both[i%2], email)
	}
	code := totpAt(t, tool, secret, confirmed+1)
	replies := make([]reply, racers)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range toks {
		wg.Go(func() {
			<-ready
			replies[i] = challenge(both[(i+1)%2], toks[i], code)
		})
	}
	close(ready)
	wg.Wait()
	var won *reply
	winner := -1
	for i, r := range replies {
		switch {
		case r.status == 200 && won != nil:
			t.Fatalf("one code sent %d times signed in twice (replies %d and %d)", racers, winner, i)
		case r.status == 200:
			won, winner = &replies[i], i
		default:
			wantCode(t, "the same code at once on both instances", r, 401, "invalid_code")
		}
	}
	if won == nil || won.body["access_token"] == nil || won.body["refresh_token"] == nil {
		t.Fatalf("one code sent %d times to both instances: no sign-in: %v", racers, replies)
	}
	// The tokens of a pending login redeemed across instances work on both.
	for _, in := range both {
		in.expect(in.call("GET", "/v1/me", nil, "Authorization", "Bearer "+won.body["access_token"].(string)), 200)
	}

	// The code, and the one before it, never work again.
	third := mfaToken(t, a, email)
	wantCode(t, "the used code with a new pending login", challenge(a, third, code), 401, "invalid_code")
	wantCode(t, "the used code on the other instance", challenge(b, third, code), 401, "invalid_code")
	wantCode(t, "an older code", challenge(b, third, totpAt(t, tool, secret, confirmed)), 401, "invalid_code")

	// A recovery code redeems A's pending login on B, once.
	r := b.expect(b.call("POST", "/v1/mfa/challenge", map[string]string{"mfa_token": third, "recovery_code": recovery[0]}), 200)
	if r.body["access_token"] == nil {
		t.Fatalf("recovery code: %v", r.body)
	}
	wantCode(t, "a redeemed mfa_token again", challenge(a, third, code), 401, "invalid_token")
	r = a.call("POST", "/v1/mfa/challenge", map[string]string{"mfa_token": mfaToken(t, b, email), "recovery_code": recovery[0]})
	wantCode(t, "a used recovery code on the other instance", r, 401, "invalid_code")
	t.Logf("took %v", time.Since(began).Round(time.Millisecond))
}

// TestInstances_MFALockoutAcrossInstances: whoever knows the password
// gets at most the lockout threshold of second-factor checks (10 by
// default), however they spread them over pending logins and instances
// (OWASP ASVS 5.0 6.3.1; NIST SP 800-63B-4 §3.2.2): the second factor has a
// counter of its own that their correct passwords do not clear. Then even
// the right password and the right code are refused.
func TestInstances_MFALockoutAcrossInstances(t *testing.T) {
	postgresURL(t)
	tool := oathtool(t)
	began := time.Now()
	a, b := startPair(t, mfaDeployment(t))
	both := []*instance{a, b}
	const email = "guess@example.com"
	const threshold = 10 // BULWARK_LOCKOUT_THRESHOLD's default
	secret, confirmed, _, _, _ := enrolTOTP(t, a, b, tool, email)
	right := totpAt(t, tool, secret, confirmed+1)
	wrong := func(i int) string {
		for {
			c := fmt.Sprintf("%06d", (i*7919+12345)%1000000)
			clash := false
			for d := int64(-2); d <= 3; d++ {
				clash = clash || c == totpAt(t, tool, secret, confirmed+d)
			}
			if !clash {
				return c
			}
			i++
		}
	}
	// A pending login kept for the end.
	spare := mfaToken(t, b, email)
	logins, codes := 1, 0

	// Wrong codes go in pairs, one to each instance at once, with the same
	// pending login; a new one is made (alternately on A and B) when the
	// fifth failure has spent it.
	tok := ""
	locked := false
	for i := 0; i < 4*threshold && !locked; i++ {
		if tok == "" {
			in := both[i%2]
			r := passwordGrant(in, email, strongPW)
			if r.status == 429 {
				wantCode(t, "password login", r, 429, "account_locked")
				locked = true
				break
			}
			tok = in.expect(r, 200).body["mfa_token"].(string)
			logins++
			continue
		}
		var pair [2]reply
		var wg sync.WaitGroup
		for j, in := range both {
			wg.Go(func() { pair[j] = challenge(in, tok, wrong(2*i+j)) })
		}
		wg.Wait()
		for _, r := range pair {
			switch {
			case r.status == 401 && r.body["code"] == "invalid_code":
				codes++
			case r.status == 401 && r.body["code"] == "invalid_token":
				tok = "" // the fifth failure spent it
			case r.status == 429:
				wantCode(t, "wrong code", r, 429, "account_locked")
				locked = true
			default:
				t.Fatalf("wrong code: %d %v", r.status, r.body)
			}
		}
	}
	if !locked {
		t.Fatalf("not locked after %d password logins and %d wrong codes", logins, codes)
	}
	t.Logf("locked after %d password logins and %d wrong codes checked", logins, codes)
	if codes != threshold {
		t.Fatalf("%d wrong codes were checked (over %d password logins) before the lock, want %d", codes, logins, threshold)
	}

	// Locked everywhere, for the right password and the right code too.
	for _, in := range both {
		wantCode(t, "the right password when locked", passwordGrant(in, email, strongPW), 429, "account_locked")
		wantCode(t, "the right code when locked", challenge(in, spare, right), 429, "account_locked")
	}
	t.Logf("took %v", time.Since(began).Round(time.Millisecond))
}
