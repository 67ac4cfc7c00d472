package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// GenerateSecret returns MinSecretLen bytes from crypto/rand, for the
// ephemeral signing key of dev mode.
func GenerateSecret() ([]byte, error) {
	b := make([]byte, MinSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate jwt secret: %w", err)
	}
	return b, nil
}

// DecodeSecret decodes a secret given as base64 (BULWARK_JWT_SECRET): the
// standard or the URL-safe alphabet (RFC 4648 §4, §5), with or without '='
// padding. Surrounding white space is ignored; mixing the two alphabets,
// misplaced padding and non-zero trailing bits are errors. It does not check
// the length: NewHS256 does.
func DecodeSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("decode jwt secret: empty")
	}
	// Padding is optional, so drop it and decode without: at most two '='
	// can end a base64 string, and the length check of the raw decoder
	// catches a wrong count.
	body := strings.TrimSuffix(strings.TrimSuffix(s, "="), "=")
	std := strings.ContainsAny(body, "+/")
	url := strings.ContainsAny(body, "-_")
	if std && url {
		return nil, errors.New("decode jwt secret: mixes the standard and URL base64 alphabets")
	}
	enc := base64.RawStdEncoding
	if url {
		enc = base64.RawURLEncoding
	}
	// Go's decoder skips '\r' and '\n'; a secret has no business holding them.
	if strings.ContainsAny(body, "\r\n") {
		return nil, errors.New("decode jwt secret: contains a line break")
	}
	b, err := enc.Strict().DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("decode jwt secret: %w", err)
	}
	if len(s)-len(body) > 0 && len(s)%4 != 0 {
		return nil, errors.New("decode jwt secret: wrong padding")
	}
	return b, nil
}

// NewJTI returns a new token id: 128 bits from crypto/rand, base64url
// without padding (22 characters). OWASP ASVS 5.0 7.4.1 needs a random jti on
// every access token so that one token can be denied.
func NewJTI() string {
	var b [16]byte
	// crypto/rand.Read never fails (Go 1.24 and later crash the program
	// instead of returning an error).
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
