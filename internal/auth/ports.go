package auth

import (
	"context"
	"errors"
	"time"
)

// PasswordHasher hashes and verifies passwords on a bounded pool
// (internal/password). Every method may return ErrBusy when no hashing slot
// could be had in time; callers answer 503 with Retry-After.
type PasswordHasher interface {
	// Hash returns an encoded hash (PHC string, or modular crypt for bcrypt)
	// of the already NFKC-normalised password.
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches encoded, and whether encoded
	// should be replaced by a fresh Hash (other algorithm or parameters than
	// configured). A malformed encoded hash is an error, never a match.
	Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error)
	// VerifyDummy spends the same time as Verify against a hash with the
	// configured parameters, for unknown emails (uniform login timing).
	VerifyDummy(ctx context.Context, password string) error
}

type hashPriorityKey struct{}

// WithHashPriority marks ctx as the login of a client that proved it signed
// in to the account before (a valid device token for the email). A
// PasswordHasher serves such callers before the others, so that a
// credential-stuffing flood, which holds no such token, cannot keep the
// account's owner out.
func WithHashPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, hashPriorityKey{}, true)
}

// HashPriority reports whether ctx was marked by WithHashPriority.
func HashPriority(ctx context.Context) bool {
	v, _ := ctx.Value(hashPriorityKey{}).(bool)
	return v
}

// ErrBusy means hashing capacity is full; the caller answers 503 with a
// Retry-After of about a second (internal/password.RetryAfter).
var ErrBusy = errors.New("hashing capacity full")

// PasswordPolicy checks a new password (already NFKC-normalised) against the
// length rules, the common-password list and the email it belongs to. It
// returns "" when the password is acceptable, or one of the weak_password
// reasons: "too_short", "too_long", "common", "contains_email".
type PasswordPolicy interface {
	Check(password, email string) (reason string)
}

// AccessClaims are the claims of a Bulwark access token (RFC 9068 profile).
type AccessClaims struct {
	Subject   string // user id
	SessionID string // sid: the refresh family's public id
	ID        string // jti
	IssuedAt  time.Time
	ExpiresAt time.Time

	// CredentialVersion (claim cv) is the user's credential version when
	// the token was issued: a password change or reset refuses every token
	// issued before it, exactly, whatever the second (iat has whole-second
	// precision, RFC 7519 §2).
	CredentialVersion int64

	// Methods (claim amr, RFC 8176 values: Methods.AMR) is how the refresh
	// family was established; AuthTime (claim auth_time, as OpenID Connect
	// Core §2 defines it) is when.
	Methods  Methods
	AuthTime time.Time
}

// TokenIssuer signs and verifies access tokens (internal/token).
type TokenIssuer interface {
	// Issue signs claims.
	Issue(c AccessClaims) (string, error)
	// Verify checks signature, algorithm, typ, iss, aud and exp at now and
	// returns the claims. Any failure is an error; callers answer 401.
	Verify(token string, now time.Time) (AccessClaims, error)
}
