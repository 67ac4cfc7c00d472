package auth

import (
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Method is a way a user proved who they are. A session, refresh family and
// access token records the methods it was established with (its assurance is
// computed from them, never stored as a flag).
type Method string

// The methods.
const (
	MethodPassword     Method = "password"
	MethodTOTP         Method = "totp"
	MethodPasskey      Method = "passkey"
	MethodRecoveryCode Method = "recovery_code"
)

// Methods is the set of methods a credential was established with, in the
// order they were proved.
type Methods []Method

// String is the stored form: the names separated by spaces; empty is the
// password alone.
func (m Methods) String() string {
	if len(m) == 0 {
		return string(MethodPassword)
	}
	parts := make([]string, len(m))
	for i, x := range m {
		parts[i] = string(x)
	}
	return strings.Join(parts, " ")
}

// ParseMethods reads the stored form. Empty is the password alone: every
// session and family made before methods were recorded was a password login.
func ParseMethods(s string) Methods {
	if s == "" {
		return Methods{MethodPassword}
	}
	var out Methods
	for _, f := range strings.Fields(s) {
		out = append(out, Method(f))
	}
	return out
}

// Value stores m as its String (database/sql/driver.Valuer).
func (m Methods) Value() (driver.Value, error) { return m.String(), nil }

// Scan reads the stored form (database/sql.Scanner).
func (m *Methods) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*m = ParseMethods(v)
	case []byte:
		*m = ParseMethods(string(v))
	case nil:
		*m = ParseMethods("")
	default:
		return fmt.Errorf("methods: cannot scan %T", src)
	}
	return nil
}

// Has reports whether m includes x.
func (m Methods) Has(x Method) bool { return slices.Contains(m, x) }

// MultiFactor reports whether m proves more than one factor: a password with
// a second factor, or a passkey (a multi-factor cryptographic authenticator:
// user verification is required, OWASP ASVS 5.0 6.3.3, NIST SP 800-63B-4 §5.1.8).
func (m Methods) MultiFactor() bool {
	if m.Has(MethodPasskey) {
		return true
	}
	return m.Has(MethodPassword) && (m.Has(MethodTOTP) || m.Has(MethodRecoveryCode))
}

// Level is the authentication assurance level the methods reach
// (NIST SP 800-63B-4 §2): "aal2" when multi-factor, "aal1" otherwise.
func (m Methods) Level() string {
	if m.MultiFactor() {
		return "aal2"
	}
	return "aal1"
}

// With returns m with x added once.
func (m Methods) With(x Method) Methods {
	if m.Has(x) {
		return slices.Clone(m)
	}
	return append(slices.Clone(m), x)
}

// AMR returns the RFC 8176 "amr" values of m for access tokens: pwd, otp
// (TOTP), hwk (a passkey: proof of possession of a key) with user (user
// verification), rc for a recovery code (not registered by RFC 8176), and
// mfa when more than one factor was proved.
func (m Methods) AMR() []string {
	out := make([]string, 0, len(m)+2)
	for _, x := range m {
		switch x {
		case MethodPassword:
			out = append(out, "pwd")
		case MethodTOTP:
			out = append(out, "otp")
		case MethodPasskey:
			out = append(out, "hwk", "user")
		case MethodRecoveryCode:
			out = append(out, "rc")
		}
	}
	if m.MultiFactor() {
		out = append(out, "mfa")
	}
	return out
}

// MethodsFromAMR is the inverse of AMR.
func MethodsFromAMR(amr []string) Methods {
	if len(amr) == 0 {
		return Methods{MethodPassword}
	}
	var out Methods
	for _, a := range amr {
		switch a {
		case "pwd":
			out = append(out, MethodPassword)
		case "otp":
			out = append(out, MethodTOTP)
		case "hwk":
			out = append(out, MethodPasskey)
		case "rc":
			out = append(out, MethodRecoveryCode)
		}
	}
	return out
}

// LoginMode is what a login produces: a cookie session or tokens.
type LoginMode string

// The login modes.
const (
	ModeCookie LoginMode = "cookie"
	ModeToken  LoginMode = "token"
)

// TOTP is a user's TOTP authenticator. Secret is the raw key (20 bytes).
type TOTP struct {
	UserID      string
	Secret      []byte
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero while pending
	LastStep    int64     // last accepted RFC 6238 time step (replay guard)
}

// Confirmed reports whether the TOTP is active.
func (t *TOTP) Confirmed() bool { return !t.ConfirmedAt.IsZero() }

// RecoveryCode is one stored recovery code: Tag is a short keyed digest
// that picks the candidate without hashing every code, Hash the password
// hash of the code (look-up secrets under 112 bits are hashed like
// passwords: NIST SP 800-63B-4 §3.1.2).
type RecoveryCode struct {
	Index int
	Tag   []byte
	Hash  string
}

// MFAToken is a pending login: a correct password on an account with a
// second factor. Only its SHA-256 is stored.
type MFAToken struct {
	Hash      []byte
	UserID    string
	Mode      LoginMode
	Methods   Methods // proved so far (the password)
	CreatedAt time.Time
	ExpiresAt time.Time
	Failures  int
	// CredentialVersion is the user's version the password was checked
	// under: a reset or change in between voids the pending login.
	CredentialVersion int64
	// Trusted is set when the login presented a valid device token.
	Trusted bool
}
