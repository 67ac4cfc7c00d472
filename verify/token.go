package verify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxTokenLen is the longest token Verify looks at, in bytes. Longer input
// is refused before anything is decoded. Bulwark's tokens are about 400
// bytes.
const MaxTokenLen = 8 << 10

// maxKeyIDLen bounds the kid header: a longer one is refused before it is
// used as a map key (RFC 8725 §3.10: kid is untrusted input).
const maxKeyIDLen = 256

// maxNumericDate is 9999-12-31T23:59:59Z: larger NumericDates are refused
// rather than overflowing time.Time arithmetic.
const maxNumericDate = 253402300799

// b64 is base64url without padding that refuses non-zero unused trailing
// bits (RFC 4648 §3.5), so that no two strings decode to one token.
var b64 = base64.RawURLEncoding.Strict()

// Reasons wrapped in ErrInvalid. Fixed strings: nothing of the token is ever
// echoed into an error, so callers may log errors as they are.
var (
	errTooLarge      = errors.New("token longer than 8 KiB")
	errCharset       = errors.New("token contains a character outside [A-Za-z0-9-_.]")
	errSegments      = errors.New("token does not have exactly three segments")
	errEncoding      = errors.New("segment is not canonical unpadded base64url")
	errHeaderJSON    = errors.New("header is not a JSON object")
	errHeaderMember  = errors.New("header has a member other than alg, typ and kid")
	errAlgorithm     = errors.New("header alg is not an allowed algorithm")
	errType          = errors.New("header typ is not at+jwt")
	errKeyIDHeader   = errors.New("header kid is missing, not a string or too long")
	errUnknownKey    = errors.New("no key with the token's kid")
	errKeyAlgorithm  = errors.New("the key with the token's kid is for another algorithm")
	errSignature     = errors.New("signature is invalid")
	errClaimsJSON    = errors.New("claims set is not a JSON object")
	errClaimType     = errors.New("a registered claim has the wrong JSON type")
	errIssuer        = errors.New("iss is not the configured issuer")
	errAudience      = errors.New("aud is not the configured audience")
	errMissingClaim  = errors.New("token is missing exp, iat, sub, jti or sid")
	errExpired       = errors.New("token has expired")
	errNotYetValid   = errors.New("token nbf is in the future")
	errIssuedFuture  = errors.New("token iat is in the future")
	errLifetime      = errors.New("token lifetime is not positive or exceeds the maximum")
	errKeysStale     = errors.New("key set could not be refreshed for too long")
	errNoVerifyClock = errors.New("verification time is zero")
)

// Algorithms this package implements. Each JWK is pinned to exactly one of
// them (RFC 8725 §3.1): see jwks.go.
const (
	EdDSA = "EdDSA" // Ed25519 (RFC 8037 §3.1)
	ES256 = "ES256" // ECDSA P-256 with SHA-256 (RFC 7518 §3.4)
)

// Media types an access token's typ may carry (RFC 9068 §2.1, §4).
const (
	typeShort = "at+jwt"
	typeLong  = "application/at+jwt"
)

// parsed is a token that has passed the format checks and whose header has
// been read. Nothing in it is trusted until the signature has been checked.
type parsed struct {
	alg, kid     string
	signingInput string // header.payload, the bytes signed (RFC 7515 §5.2)
	payload      []byte
	signature    []byte
}

// parse runs checks 1–7 of the package documentation: everything that can be
// decided from the token alone, cheapest first.
func parse(token string, allowed []string) (*parsed, error) {
	if len(token) > MaxTokenLen {
		return nil, errTooLarge
	}
	dot1, dot2, dots := -1, -1, 0
	for i := 0; i < len(token); i++ {
		switch b := token[i]; {
		case b == '.':
			dots++
			if dot1 < 0 {
				dot1 = i
			} else if dot2 < 0 {
				dot2 = i
			}
		case 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z', '0' <= b && b <= '9', b == '-', b == '_':
		default:
			return nil, errCharset
		}
	}
	if dots != 2 {
		return nil, errSegments
	}
	header, err := b64.DecodeString(token[:dot1])
	if err != nil {
		return nil, errEncoding
	}
	payload, err := b64.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return nil, errEncoding
	}
	signature, err := b64.DecodeString(token[dot2+1:])
	if err != nil {
		return nil, errEncoding
	}
	h, err := members(header)
	if err != nil {
		return nil, errHeaderJSON
	}
	for name := range h {
		switch name {
		case "alg", "typ", "kid":
		default:
			// jku, jwk, x5u, x5c, crit and the rest: keys come only from
			// the configured JWKS (RFC 8725 §3.10, ASVS 9.1.3), and no
			// extension is understood, so crit can never be honoured
			// (RFC 7515 §4.1.11).
			return nil, errHeaderMember
		}
	}
	// An allowlist compared exactly, not a blocklist: "none" in any case,
	// HS256 and every algorithm not pinned by the configuration fail here
	// (RFC 8725 §3.1, §3.2; ASVS 9.1.2).
	alg, ok := stringValue(h["alg"])
	if !ok || !contains(allowed, alg) {
		return nil, errAlgorithm
	}
	// RFC 9068 §4, RFC 8725 §3.11, §3.12, ASVS 9.2.2: only access tokens.
	typ, ok := stringValue(h["typ"])
	if !ok || (typ != typeShort && typ != typeLong) {
		return nil, errType
	}
	kid, ok := stringValue(h["kid"])
	if !ok || kid == "" || len(kid) > maxKeyIDLen {
		return nil, errKeyIDHeader
	}
	return &parsed{
		alg:          alg,
		kid:          kid,
		signingInput: token[:dot2],
		payload:      payload,
		signature:    signature,
	}, nil
}

// verifySignature checks p's signature with k, whose algorithm must be the
// one the header names (RFC 8725 §3.1: one algorithm per key).
func verifySignature(p *parsed, k *key) error {
	if k.alg != p.alg {
		return errKeyAlgorithm
	}
	switch k.alg {
	case EdDSA:
		// RFC 8037 §3.1. crypto/ed25519 refuses a non-canonical S, so an
		// Ed25519 signature is not malleable.
		if len(p.signature) != ed25519.SignatureSize || !ed25519.Verify(k.ed25519, []byte(p.signingInput), p.signature) {
			return errSignature
		}
		return nil
	case ES256:
		// RFC 7518 §3.4: the signature is R || S, 32 bytes each, not DER.
		if len(p.signature) != 64 {
			return errSignature
		}
		digest := sha256.Sum256([]byte(p.signingInput))
		r := new(big.Int).SetBytes(p.signature[:32])
		s := new(big.Int).SetBytes(p.signature[32:])
		if !ecdsa.Verify(k.ecdsa, digest[:], r, s) {
			return errSignature
		}
		return nil
	}
	return errKeyAlgorithm
}

// checkClaims runs checks 9–12 of the package documentation on a payload
// whose signature has been verified (RFC 8725 §3.3: nothing is read from
// the claims before that).
func checkClaims(payload []byte, issuer, audience string, leeway, maxLifetime time.Duration, now time.Time) (*Claims, error) {
	m, err := members(payload)
	if err != nil {
		return nil, errClaimsJSON
	}
	var c Claims
	var present bool
	for _, s := range []struct {
		name string
		dst  *string
	}{
		{"iss", &c.Issuer}, {"sub", &c.Subject}, {"aud", &c.Audience},
		{"jti", &c.ID}, {"sid", &c.SessionID},
	} {
		raw, ok := m[s.name]
		if !ok {
			continue
		}
		// aud must be one string: Bulwark never writes an array, so an
		// array is refused rather than searched.
		if *s.dst, ok = stringValue(raw); !ok {
			return nil, errClaimType
		}
	}
	if c.ExpiresAt, present, err = numericDate(m["exp"]); err != nil {
		return nil, err
	} else if !present {
		return nil, errMissingClaim
	}
	if c.IssuedAt, present, err = numericDate(m["iat"]); err != nil {
		return nil, err
	} else if !present {
		return nil, errMissingClaim
	}
	if c.NotBefore, _, err = numericDate(m["nbf"]); err != nil {
		return nil, err
	}
	if c.AuthTime, _, err = numericDate(m["auth_time"]); err != nil {
		return nil, err
	}
	if raw, ok := m["amr"]; ok {
		// RFC 8176: an array of strings.
		if err := json.Unmarshal(raw, &c.AMR); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, errClaimType
		}
	}
	if raw, ok := m["cv"]; ok {
		// An integer, never 1.0 or 1e0: compared exactly with the feed's.
		if c.CredentialVersion, err = strconv.ParseInt(string(raw), 10, 64); err != nil {
			return nil, errClaimType
		}
	}
	// RFC 8725 §3.8, §3.9; ASVS 9.2.3, 9.2.4. A missing iss or aud is ""
	// and the configured values are never empty.
	if c.Issuer != issuer {
		return nil, errIssuer
	}
	if c.Audience != audience {
		return nil, errAudience
	}
	// RFC 7519 §4.1.4–4.1.6, ASVS 9.2.1: exp required, nbf when present,
	// iat not in the future, each with the bounded leeway.
	if !now.Before(c.ExpiresAt.Add(leeway)) {
		return nil, errExpired
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(leeway)) {
		return nil, errNotYetValid
	}
	if c.IssuedAt.After(now.Add(leeway)) {
		return nil, errIssuedFuture
	}
	if c.Subject == "" || c.ID == "" || c.SessionID == "" {
		return nil, errMissingClaim
	}
	if life := c.ExpiresAt.Sub(c.IssuedAt); life <= 0 || life > maxLifetime {
		return nil, errLifetime
	}
	return &c, nil
}

// members splits a JSON object into its members, refusing invalid UTF-8
// (RFC 8725 §3.7), anything but one object, and duplicate member names
// (RFC 7515 §4, RFC 7519 §4: a parser must reject them or take the last;
// two parsers that choose differently would read one token two ways).
//
// json.Valid checks the whole grammar first; the walk below only finds the
// top-level member boundaries of what is then known to be valid JSON,
// which is several times cheaper than a token-by-token decoder.
func members(data []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(data) || !json.Valid(data) {
		return nil, errHeaderJSON
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, errHeaderJSON
	}
	m := make(map[string]json.RawMessage, 8)
	i++
	for {
		i = skipSpace(data, i)
		switch data[i] {
		case '}':
			return m, nil
		case ',':
			i = skipSpace(data, i+1)
		}
		end := stringEnd(data, i)
		name, ok := stringValue(data[i:end])
		if !ok {
			return nil, errHeaderJSON
		}
		if _, dup := m[name]; dup {
			return nil, errHeaderJSON
		}
		i = skipSpace(data, skipSpace(data, end)+1) // past the colon
		end = valueEnd(data, i)
		m[name] = data[i:end:end]
		i = end
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at i.
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// valueEnd returns the index just past the JSON value starting at i.
func valueEnd(data []byte, i int) int {
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = stringEnd(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	}
	j := i
	for j < len(data) && !strings.ContainsRune(",}] \t\r\n", rune(data[j])) {
		j++
	}
	return j
}

// stringValue returns the JSON string raw holds; ok is false for any other
// JSON type, null included (json.Unmarshal would leave a string untouched
// on null). raw comes from members, so it is valid JSON: a string without
// escapes is its own content.
func stringValue(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// numericDate reads a NumericDate (RFC 7519 §2): seconds since the epoch, a
// JSON number that may have a fraction, between 0 and maxNumericDate.
func numericDate(raw json.RawMessage) (t time.Time, present bool, err error) {
	if raw == nil {
		return time.Time{}, false, nil
	}
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return time.Time{}, true, errClaimType
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		if n < 0 || n > maxNumericDate {
			return time.Time{}, true, errClaimType
		}
		return time.Unix(n, 0).UTC(), true, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, true, errClaimType
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// bearerToken extracts the token of an "Authorization: Bearer" header
// (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1).
func bearerToken(header string) (string, bool) {
	const scheme = "bearer "
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	return header[len(scheme):], true
}
