package auth

import (
	"encoding/base32"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestTOTP_RFC6238Vectors checks the code generator against RFC 6238
// Appendix B (SHA-1, 8 digits, the 20-byte ASCII seed), including
// T = 20000000000, which needs a 64-bit time step (§4.2).
func TestTOTP_RFC6238Vectors(t *testing.T) {
	seed := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		step := totpStep(time.Unix(v.unix, 0))
		got, err := totpCode(seed, uint64(step), 8)
		if err != nil || got != v.want {
			t.Errorf("T=%d: code %q, %v; want %q", v.unix, got, err, v.want)
		}
	}
}

// oathtool runs the oathtool binary (Debian package oathtool: an
// implementation of RFC 6238 independent of ours) for secret at at. Under CI
// its absence is a failure; elsewhere the test skips, saying so.
func oathtool(t *testing.T, secret []byte, at time.Time) string {
	t.Helper()
	path, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("oathtool is not installed (.ci/run installs the Debian package oathtool)")
		}
		t.Skip("SKIPPED: oathtool is not installed (apt-get install oathtool); the TOTP interop test did not run")
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	out, err := exec.Command(path, "--totp", "-b", b32, "--now", at.UTC().Format("2006-01-02 15:04:05 UTC")).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestTOTP_AgreesWithOathtool compares our codes with oathtool's for random
// secrets at times spread over this century and beyond 2038.
func TestTOTP_AgreesWithOathtool(t *testing.T) {
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for i := range 12 {
		secret := make([]byte, totpSecretBytes)
		for j := range secret {
			secret[j] = byte(i*37 + j*11 + 5)
		}
		at := base.Add(time.Duration(i) * 9973 * time.Hour).Add(time.Duration(i*7) * time.Second)
		want := oathtool(t, secret, at)
		got, err := totpCode(secret, uint64(totpStep(at)), totpDigits)
		if err != nil || got != want {
			t.Errorf("secret %d at %v: ours %q (%v), oathtool %q", i, at, got, err, want)
		}
	}
}

// TestTOTP_Window accepts the current step and one either way, nothing
// further, and reports the step that matched.
func TestTOTP_Window(t *testing.T) {
	secret := []byte("0123456789abcdefghij")
	now := time.Date(2026, 11, 28, 10, 0, 15, 0, time.UTC)
	cur := totpStep(now)
	for d := int64(-3); d <= 3; d++ {
		code, err := totpCode(secret, uint64(cur+d), totpDigits)
		if err != nil {
			t.Fatal(err)
		}
		step, ok := matchTOTP(secret, code, now)
		want := d >= -1 && d <= 1
		if ok != want || (ok && step != cur+d) {
			// A code of a step outside the window may equal one inside by
			// chance (1 in 10^6); the secret above has no such collision.
			t.Errorf("step T%+d: matched %v at %d, want %v at %d", d, ok, step, want, cur+d)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12345a", " 12345", "１２３４５６"} {
		if _, ok := matchTOTP(secret, bad, now); ok {
			t.Errorf("matchTOTP(%q) matched", bad)
		}
	}
}

func TestCanonicalRecoveryCode(t *testing.T) {
	for in, want := range map[string]string{
		"abcde-fghij":         "abcdefghij",
		"ABCDE FGHIJ":         "abcdefghij",
		" abcde-fghij ":       "abcdefghij",
		"a-b-c-d-e-f-g-h-i-j": "abcdefghij",
	} {
		if got, ok := canonicalRecoveryCode(in); !ok || got != want {
			t.Errorf("canonicalRecoveryCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "abcde-fghi", "abcde-fghijk", "abcde-fgh1j", "abcde_fghij", "abcdé-fghij"} {
		if got, ok := canonicalRecoveryCode(in); ok {
			t.Errorf("canonicalRecoveryCode(%q) = %q, accepted", in, got)
		}
	}
}

// TestMFALockKeyIsNoAddress: the second-factor lockout key can never be the
// password lockout key of another address.
func TestMFALockKeyIsNoAddress(t *testing.T) {
	for _, e := range []string{mfaLockKey("bob@example.com"), `"mfa:bob"@example.com`} {
		if got, ok := NormalizeEmail(e); ok {
			t.Errorf("NormalizeEmail(%q) = %q accepted: it could collide with a second-factor lockout key", e, got)
		}
	}
}
