// Package token issues and verifies Bulwark access tokens: JSON Web Tokens
// (RFC 7519) in the JWS compact serialization (RFC 7515), following the JWT
// profile for OAuth 2.0 access tokens (RFC 9068) and the JWT best current
// practice (RFC 8725 and draft-ietf-oauth-rfc8725bis).
//
// # Token format
//
// An access token is three base64url segments without padding, joined by
// dots. The protected header is exactly
//
//	{"alg":"HS256","kid":<KeyID>,"typ":"at+jwt"}
//
// with an HS256 secret, and {"alg":"EdDSA"|"ES256","kid":…,"typ":"at+jwt"}
// with managed keys (keys.go; Manager in manager.go keeps them in the
// store, rotates them and publishes them as the JWKS),
// and the claims set is exactly
//
//	{"iss":<issuer>,"sub":<user id>,"aud":<audience>,"exp":<seconds>,
//	 "iat":<seconds>,"jti":<token id>,"sid":<refresh family id>,
//	 "cv":<credential version>,"amr":[<method>...],"auth_time":<seconds>}
//
// where aud is a single JSON string (never an array), exp and iat are
// integer NumericDates (RFC 7519 §2, whole seconds: sub-second parts of the
// times given to Issue are truncated), jti is 128 random bits (NewJTI) and
// sid is the public id of the refresh family the token was born from; amr
// (RFC 8176) and auth_time (OpenID Connect Core §2) say how and when the user
// signed in to that family (cv and amr are left out when empty). No other
// claim is written (ASVS 14.2.6: no PII).
//
// # Keys
//
// Tokens are signed with HMAC-SHA-256 under one server secret of at least 32
// bytes (RFC 7518 §3.2: the key must be at least as long as the hash output;
// RFC 8725 §3.5; ASVS 11.2.3). That key is used with HS256 and with no other
// algorithm (RFC 8725 §3.1). The key id is
//
//	kid = base64url-nopad( SHA-256( "bulwark-kid" || secret )[0:16] )
//
// a 22-character string that names the secret without revealing it: the
// same secret always has the same kid, a rotated secret gets a new one. The
// symmetric secret is never published, so JWKS returns an empty key set.
//
// Managed keys (Ed25519 or P-256) are the alternative: see keys.go for how
// the rules below change for them (kid required and looked up among the
// server's published keys; alg pinned to the key).
//
// # Verification
//
// Verify accepts a token only if every one of these holds, checked roughly in
// this order, so that cheap checks on untrusted input come first:
//
//  1. It is at most MaxTokenLen bytes (a bounded parse cost, CWE-400), checked before any
//     decoding.
//  2. It contains only the characters [A-Za-z0-9-_.] and exactly two dots
//     (8725bis "Check JWT Format Type"): this refuses the
//     JSON serialization, JWE (five segments), '=' padding, and whitespace
//     or newlines (which Go's base64 decoder would otherwise skip).
//  3. Every segment is canonical base64url: the unused trailing bits of the
//     last character are zero (RFC 4648 §3.5), so no two strings decode to
//     one token (token malleability: revocation by jti, ASVS 7.4.1).
//  4. The header alg is exactly "HS256": an allowlist, not a blocklist, so
//     "none" in any letter case, RS256, ES256, HS384 and the rest all fail
//     (RFC 8725 §3.1, §3.2; ASVS 9.1.2).
//  5. The header has no member but alg, typ and kid. In particular jku, x5u,
//     jwk, x5c and crit are refused: keys come only from configuration (RFC
//     8725 §3.10, ASVS 9.1.3).
//  6. typ is "at+jwt" or "application/at+jwt" (RFC 9068 §4, RFC 8725 §3.11,
//     ASVS 9.2.2), compared exactly: these are the only spellings Bulwark
//     writes, so other token types can never be confused with access tokens
//     (RFC 8725 §3.12).
//  7. kid, if present, is a string equal to KeyID. It is compared, never used
//     to look anything up (RFC 8725 §3.10).
//  8. The HMAC-SHA-256 signature is valid under the secret (RFC 8725 §3.3,
//     ASVS 9.1.1), compared in constant time.
//  9. The claims set is a JSON object whose registered claims have their
//     types: iss, sub, aud, jti and sid strings, exp, iat and nbf numbers.
//  10. iss equals the configured issuer and aud the configured audience
//     (RFC 8725 §3.8, §3.9; ASVS 9.2.3, 9.2.4). A missing aud is refused.
//  11. exp is present and now < exp + Leeway; nbf, if present, is at or
//     before now + Leeway; iat is present and at or before now + Leeway
//     (RFC 7519 §4.1.4–4.1.6, ASVS 9.2.1).
//  12. sub, jti and sid are present and not empty, and exp − iat is positive
//     and not longer than the configured lifetime (rounded up to a second).
//
// Every failure is reported as ErrInvalid, so callers answer 401 without
// distinguishing the cases. The wrapped detail is a fixed description for
// the log; it never repeats any part of the token.
package token

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const (
	// MinSecretLen is the shortest HS256 secret accepted, in bytes: the
	// SHA-256 output size (RFC 7518 §3.2).
	MinSecretLen = 32

	// MaxTokenLen is the longest token Verify will look at, in bytes. Longer
	// input is refused before it is decoded (CWE-400). Bulwark's own
	// tokens are about 350 bytes.
	MaxTokenLen = 8 << 10

	// Leeway is the clock skew tolerated on exp, nbf and iat. RFC 7519 allows
	// "a few minutes"; access tokens live minutes, so we keep it small.
	Leeway = 30 * time.Second

	// Type is the typ header of an access token (RFC 9068 §2.1).
	Type = "at+jwt"

	kidLabel = "bulwark-kid"
)

// ErrInvalid is returned by Verify for every token it refuses, whatever the
// reason. The reason is wrapped for the log; callers answer 401.
var ErrInvalid = errors.New("invalid access token")

// ErrSecretTooShort is returned by NewHS256 for a secret shorter than
// MinSecretLen bytes.
var ErrSecretTooShort = errors.New("jwt secret shorter than 32 bytes")

// Reasons wrapped in ErrInvalid by the checks this package makes itself (the
// others are golang-jwt's sentinel errors). Fixed strings: attacker input is
// never echoed into the log.
var (
	errTooLarge     = errors.New("token longer than 8 KiB")
	errCharset      = errors.New("token contains a character outside [A-Za-z0-9-_.]")
	errSegments     = errors.New("token does not have exactly three segments")
	errHeaderMember = errors.New("header has a member other than alg, typ and kid")
	errType         = errors.New("header typ is not at+jwt")
	errKeyID        = errors.New("header kid is not this server's key id")
	errKeyAlg       = errors.New("header alg is not the algorithm of the key named by kid")
	errMissingClaim = errors.New("token is missing sub, jti, sid or iat")
	errLifetime     = errors.New("token lifetime is not positive or exceeds the configured one")
	errNoClock      = errors.New("verification time is zero")
	errOther        = errors.New("token rejected")
)

// Issuer signs and verifies access tokens. It implements auth.TokenIssuer
// and is safe for concurrent use. Its keys are one HS256 secret (NewHS256)
// or a set of managed asymmetric keys (NewManaged, keys.go) that SetKeys
// replaces while it serves.
type Issuer struct {
	issuer   string
	audience string
	ttl      time.Duration
	ring     atomic.Pointer[keyring]
	cache    verified
}

var _ auth.TokenIssuer = (*Issuer)(nil)

// NewHS256 returns an Issuer that signs with HMAC-SHA-256 under secret,
// writes issuer as iss and audience as aud, and refuses tokens that live
// longer than ttl. The secret must be at least MinSecretLen random bytes
// (ErrSecretTooShort otherwise) and is copied. issuer and audience must not
// be empty: an empty value would switch the corresponding check off.
func NewHS256(secret []byte, issuer, audience string, ttl time.Duration) (*Issuer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("new hs256 issuer: %w (got %d)", ErrSecretTooShort, len(secret))
	}
	i, err := newIssuer(issuer, audience, ttl)
	if err != nil {
		return nil, fmt.Errorf("new hs256 issuer: %w", err)
	}
	kid := keyID(secret)
	key := slices.Clone(secret)
	i.ring.Store(newKeyring(i,
		&signer{kid: kid, method: jwt.SigningMethodHS256, key: key},
		[]verifier{{kid: kid, method: jwt.SigningMethodHS256, key: key}},
		false, nil))
	return i, nil
}

func newIssuer(issuer, audience string, ttl time.Duration) (*Issuer, error) {
	if issuer == "" {
		return nil, errors.New("empty issuer")
	}
	if audience == "" {
		return nil, errors.New("empty audience")
	}
	if ttl <= 0 {
		return nil, errors.New("token lifetime must be positive")
	}
	return &Issuer{issuer: issuer, audience: audience, ttl: ttl}, nil
}

// keyID derives the public key id of an HS256 secret (see the package doc).
// The domain-separation label keeps the value unrelated to any other hash of
// the secret; with a secret of 256 random bits it reveals nothing usable.
func keyID(secret []byte) string {
	h := sha256.New()
	h.Write([]byte(kidLabel))
	h.Write(secret)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// KeyID returns the kid written in the header of the tokens Issue signs
// now.
func (i *Issuer) KeyID() string { return i.ring.Load().signer.kid }

// TTL returns the longest lifetime (exp − iat) a token may have.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// JWKS returns the JSON Web Key Set (RFC 7517 §5) to publish at
// /.well-known/jwks.json: the public keys that are next, current or
// previous. An HS256 secret is symmetric and must never be published, so
// with one the set is empty: resource servers verify those tokens by
// introspection, not offline. The caller must not modify the slice.
func (i *Issuer) JWKS() []byte { return i.ring.Load().jwks }

// Algorithms returns the JWS algorithms of the published keys, the signing
// key's first; nil with an HS256 secret, which is not published.
func (i *Issuer) Algorithms() []string { return slices.Clone(i.ring.Load().algs) }

// Published reports whether the keys are published (managed keys), so
// resource servers can verify tokens offline.
func (i *Issuer) Published() bool { return i.ring.Load().published }

// claims is the claims set of an access token. aud is a plain string, so a
// token whose aud is an array does not decode (Bulwark never writes one).
type claims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  string           `json:"aud"`
	ExpiresAt *jwt.NumericDate `json:"exp,omitempty"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"` // read, never written
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	ID        string           `json:"jti"`
	SessionID string           `json:"sid"`

	CredentialVersion int64 `json:"cv,omitempty"`
	// AMR (RFC 8176) and AuthTime (OpenID Connect Core §2): how and when
	// the user authenticated for the refresh family.
	AMR      []string         `json:"amr,omitempty"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }

func (c *claims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
}

// Issue signs c. Subject, SessionID, ID and IssuedAt are required. A zero
// ExpiresAt means IssuedAt + TTL; otherwise ExpiresAt must be after IssuedAt
// and at most TTL later. Times are truncated to whole seconds.
func (i *Issuer) Issue(c auth.AccessClaims) (string, error) {
	switch {
	case c.Subject == "":
		return "", errors.New("issue access token: empty subject")
	case c.SessionID == "":
		return "", errors.New("issue access token: empty session id")
	case c.ID == "":
		return "", errors.New("issue access token: empty jti")
	case c.IssuedAt.IsZero():
		return "", errors.New("issue access token: zero issued-at time")
	}
	exp := c.ExpiresAt
	if exp.IsZero() {
		exp = c.IssuedAt.Add(i.ttl)
	}
	if !exp.After(c.IssuedAt) || exp.Sub(c.IssuedAt) > i.ttl {
		return "", fmt.Errorf("issue access token: lifetime %v not in (0, %v]", exp.Sub(c.IssuedAt), i.ttl)
	}
	sk := i.ring.Load().signer
	t := &jwt.Token{
		Header: sk.header, // only read by SignedString
		Method: sk.method,
		Claims: &claims{
			Issuer:    i.issuer,
			Subject:   c.Subject,
			Audience:  i.audience,
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ID:        c.ID,
			SessionID: c.SessionID,

			CredentialVersion: c.CredentialVersion,
			AMR:               c.Methods.AMR(),
			AuthTime:          authTime(c.AuthTime, c.IssuedAt),
		},
	}
	s, err := t.SignedString(sk.key)
	if err != nil {
		return "", fmt.Errorf("issue access token: %w", err)
	}
	return s, nil
}

// Verify checks token as the package documentation describes, with now as
// the current time, and returns its claims (times in UTC, whole seconds).
// Every failure is ErrInvalid.
func (i *Issuer) Verify(token string, now time.Time) (auth.AccessClaims, error) {
	// The size bound comes before hashing the token for the cache lookup.
	if len(token) > MaxTokenLen {
		return auth.AccessClaims{}, fmt.Errorf("%w: %w", ErrInvalid, reason(errTooLarge))
	}
	// An entry verified under another key set is not used: a key retired
	// since must not keep its tokens alive through the cache.
	ring := i.ring.Load()
	if c, ok := i.cache.get(token, now, ring.gen); ok {
		return c, nil
	}
	c, err := i.verify(ring, token, now)
	if err != nil {
		return auth.AccessClaims{}, fmt.Errorf("%w: %w", ErrInvalid, reason(err))
	}
	i.cache.put(token, c, now, ring.gen)
	return c, nil
}

func (i *Issuer) verify(ring *keyring, token string, now time.Time) (auth.AccessClaims, error) {
	if now.IsZero() {
		return auth.AccessClaims{}, errNoClock
	}
	if err := checkFormat(token); err != nil {
		return auth.AccessClaims{}, err
	}
	opts := append(slices.Clip(ring.options), jwt.WithTimeFunc(func() time.Time { return now }))
	var c claims
	if _, err := jwt.NewParser(opts...).ParseWithClaims(token, &c, ring.key); err != nil {
		return auth.AccessClaims{}, err
	}
	// The parser has checked exp (required), iss and aud; iat and nbf only
	// when present.
	if c.Subject == "" || c.ID == "" || c.SessionID == "" || c.IssuedAt == nil {
		return auth.AccessClaims{}, errMissingClaim
	}
	iat, exp := c.IssuedAt.Time, c.ExpiresAt.Time
	if life := exp.Sub(iat); life <= 0 || life > roundUpToSecond(i.ttl) {
		return auth.AccessClaims{}, errLifetime
	}
	return auth.AccessClaims{
		Subject:   c.Subject,
		SessionID: c.SessionID,
		ID:        c.ID,
		IssuedAt:  iat.UTC(),
		ExpiresAt: exp.UTC(),

		CredentialVersion: c.CredentialVersion,
		Methods:           auth.MethodsFromAMR(c.AMR),
		AuthTime:          authTimeOf(c.AuthTime, iat),
	}, nil
}

// authTime is the auth_time claim: when the user authenticated, never after
// the token was issued; zero means at issue.
func authTime(at, iat time.Time) *jwt.NumericDate {
	if at.IsZero() || at.After(iat) {
		at = iat
	}
	return jwt.NewNumericDate(at)
}

func authTimeOf(at *jwt.NumericDate, iat time.Time) time.Time {
	if at == nil || at.After(iat) {
		return iat.UTC()
	}
	return at.UTC()
}

// checkFormat enforces the size bound and the compact-serialization
// alphabet before anything is decoded.
func checkFormat(token string) error {
	if len(token) > MaxTokenLen {
		return errTooLarge
	}
	dots := 0
	for j := 0; j < len(token); j++ {
		switch b := token[j]; {
		case b == '.':
			dots++
		case 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z', '0' <= b && b <= '9', b == '-', b == '_':
		default:
			return errCharset
		}
	}
	if dots != 2 {
		return errSegments
	}
	return nil
}

// reasons lists, most specific first, the errors reason may report.
var reasons = []error{
	errTooLarge, errCharset, errSegments, errHeaderMember, errType, errKeyID, errKeyAlg,
	errMissingClaim, errLifetime, errNoClock,
	jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet, jwt.ErrTokenUsedBeforeIssued,
	jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience,
	jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenSignatureInvalid,
	jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenInvalidClaims,
}

// reason reduces err to one fixed sentinel. golang-jwt's messages can quote
// the token (an alg value, for one), which must not reach the log.
func reason(err error) error {
	for _, r := range reasons {
		if errors.Is(err, r) {
			return r
		}
	}
	return errOther
}

func roundUpToSecond(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}
