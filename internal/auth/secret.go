package auth

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
)

// Secret is a credential on its way to a client: a session token, refresh
// token, CSRF token or device token. Its String and LogValue are always
// redacted, so passing one to a logger or a format verb by mistake leaks
// nothing (ASVS 16.2.5). Reveal returns the value for the response body.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String is redacted.
func (s Secret) String() string { return "[redacted]" }

// GoString is redacted.
func (s Secret) GoString() string { return "[redacted]" }

// LogValue is redacted.
func (s Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalText is redacted: slog's JSON handler encodes a struct or map holding
// a Secret with encoding/json, which ignores String and LogValue. Responses
// use Reveal.
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// HashToken returns the SHA-256 of a high-entropy token string as sent. Only
// this digest is ever stored (docs/api.md: the database keeps only the
// SHA-256 of session, refresh, reset and verification tokens).
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// newToken returns 32 random bytes (256 bits) as unpadded base64url.
func newToken(r io.Reader) (Secret, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return Secret(base64.RawURLEncoding.EncodeToString(b)), nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a public identifier: prefix followed by 128 random bits.
// Public ids are never secrets; they are random only so they cannot be
// guessed or enumerated.
func newID(r io.Reader, prefix string) (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return prefix + idEncoding.EncodeToString(b), nil
}

// looksLikeJWT reports whether s has the shape of a compact JWS.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }
