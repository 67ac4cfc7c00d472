package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// lock makes cfg.LockoutThreshold wrong guesses for email.
func (e *env) lock(email string) {
	e.t.Helper()
	for i := 0; i < e.cfg.LockoutThreshold; i++ {
		if _, err := e.login(email, wrongPassword, ""); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
			e.t.Fatalf("wrong guess %d: %v, want invalid_credentials", i+1, err)
		}
	}
	if _, err := e.login(email, testPassword, ""); auth.ErrorCode(err) != auth.CodeAccountLocked {
		e.t.Fatalf("after %d wrong guesses: %v, want account_locked", e.cfg.LockoutThreshold, err)
	}
}

// deviceFor signs email in and returns the device token it gets.
func (e *env) deviceFor(email string) string {
	e.t.Helper()
	l, err := e.login(email, testPassword, "")
	if err != nil {
		e.t.Fatal(err)
	}
	d := l.DeviceToken.Reveal()
	if !strings.HasPrefix(d, "v2.") {
		e.t.Fatalf("device token %q lacks the v2. prefix", d)
	}
	return d
}

// TestDevice_ExemptsOnlyItsOwnEmail: a device token lifts the lockout for the
// address it was issued to and for no other.
func TestDevice_ExemptsOnlyItsOwnEmail(t *testing.T) {
	e := newEnv(t, testConfig())
	const a, b = "a@example.com", "b@example.com"
	e.signup(a, testPassword, true)
	e.signup(b, testPassword, true)
	devA, devB := e.deviceFor(a), e.deviceFor(b)
	e.lock(b)

	_, err := e.login(b, testPassword, devA)
	wantCode(t, err, auth.CodeAccountLocked)
	// The email is compared after normalisation.
	_, err = e.login(strings.ToUpper(b), testPassword, devA)
	wantCode(t, err, auth.CodeAccountLocked)

	if _, err := e.login(b, testPassword, devB); err != nil {
		t.Fatalf("b's own device token: %v, want success", err)
	}
	// Its success cleared the lock for everyone.
	if _, err := e.login(b, testPassword, ""); err != nil {
		t.Fatalf("after the device login cleared the lock: %v", err)
	}
}

// TestDevice_TamperedRefused: any change to a device token makes it worthless.
func TestDevice_TamperedRefused(t *testing.T) {
	e := newEnv(t, testConfig())
	const b = "b@example.com"
	e.signup(b, testPassword, true)
	dev := e.deviceFor(b)

	// A token for the same email from another deployment (another key).
	other := newEnv(t, testConfig())
	other.signup(b, testPassword, true)
	foreign := other.deviceFor(b)

	e.lock(b)
	payload, mac, _ := strings.Cut(strings.TrimPrefix(dev, "v2."), ".")
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	tampered := map[string]string{
		"payload first char":  "v2." + flip(payload, 0) + "." + mac,
		"payload version":     "v2." + flip(payload, len(payload)-2) + "." + mac,
		"mac first char":      "v2." + payload + "." + flip(mac, 0),
		"mac last char":       "v2." + payload + "." + flip(mac, len(mac)-1),
		"mac truncated":       "v2." + payload + "." + mac[:len(mac)-4],
		"mac missing":         "v2." + payload,
		"mac empty":           "v2." + payload + ".",
		"no prefix":           payload + "." + mac,
		"other version":       "v1." + payload + "." + mac,
		"trailing data":       dev + "A",
		"padded base64":       "v2." + payload + "=." + mac,
		"too long":            dev + strings.Repeat("A", 300),
		"another deployment":  foreign,
		"payload and mac cut": "v2.",
	}
	if foreign == dev {
		t.Fatal("two deployments issued the same device token")
	}
	for name, tok := range tampered {
		t.Run(name, func(t *testing.T) {
			if tok == dev {
				t.Fatalf("tampering left the token unchanged")
			}
			_, err := e.login(b, testPassword, tok)
			wantCode(t, err, auth.CodeAccountLocked)
		})
	}
	// The untouched token still works.
	if _, err := e.login(b, testPassword, dev); err != nil {
		t.Fatalf("untouched token: %v", err)
	}
}

// TestDevice_ExpiresAfterAYear: a device token is honoured for a year from
// its issue (docs/api.md, "Cookies": one year) and refused from then on.
func TestDevice_ExpiresAfterAYear(t *testing.T) {
	e := newEnv(t, testConfig())
	const b = "b@example.com"
	e.signup(b, testPassword, true)
	dev := e.deviceFor(b)
	year := 365 * 24 * time.Hour

	e.clock.Advance(year - time.Hour)
	e.lock(b)
	if _, err := e.login(b, testPassword, dev); err != nil {
		t.Fatalf("token an hour short of a year old: %v, want success", err)
	}

	e.clock.Advance(time.Hour) // exactly a year
	e.lock(b)
	_, err := e.login(b, testPassword, dev)
	wantCode(t, err, auth.CodeAccountLocked)

	e.clock.Advance(24 * time.Hour)
	e.lock(b)
	_, err = e.login(b, testPassword, dev)
	wantCode(t, err, auth.CodeAccountLocked)
}

// TestDevice_HashesWithPriority: a login with the email's own device token
// asks the hasher for priority (it is served before a flood's attempts);
// one without a token, or with another email's, does not.
func TestDevice_HashesWithPriority(t *testing.T) {
	e := newEnv(t, testConfig())
	const a, b = "a@example.com", "b@example.com"
	e.signup(a, testPassword, true)
	e.signup(b, testPassword, true)
	devA := e.deviceFor(a)
	for _, tc := range []struct {
		name, email, device string
		want                bool
	}{
		{"own device", a, devA, true},
		{"no device", a, "", false},
		{"other email's device", b, devA, false},
		{"unknown email", "nobody@example.com", devA, false},
	} {
		e.hasher.mu.Lock()
		e.hasher.priority = nil
		e.hasher.mu.Unlock()
		_, _ = e.login(tc.email, testPassword, tc.device)
		e.hasher.mu.Lock()
		got := e.hasher.priority
		e.hasher.mu.Unlock()
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: hasher calls with priority %v, want [%v]", tc.name, got, tc.want)
		}
	}
}
