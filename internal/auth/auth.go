// Package auth is Bulwark's domain: the types every other package shares, the
// store, limiter and mailer interfaces that backends implement, the Error type
// with stable codes, and the Service that holds every policy (signup,
// verification, login, lockout, sessions, refresh rotation and reuse
// detection, password reset and change).
//
// It imports only the standard library. It knows nothing of HTTP or SQL: the
// HTTP layer maps Error codes to statuses, the SQL backends implement the
// store interfaces declared in store.go.
package auth

import (
	"errors"
	"fmt"
	"time"
)

// User is an account. PasswordHash is a PHC or modular-crypt string and never
// leaves the process.
type User struct {
	ID            string
	Email         string // normalised, see NormalizeEmail
	PasswordHash  string
	EmailVerified bool
	Disabled      bool
	CreatedAt     time.Time
	// TokensValidAfter is the per-user revocation epoch: access tokens whose
	// iat is before it are refused (ASVS 7.4.1 "per-user not-before time").
	TokensValidAfter time.Time
	// CredentialVersion moves on every password change and reset (not on a
	// silent rehash). Read with the user before a password is checked, it
	// lets the store refuse a session, refresh family or device token made
	// by a login that checked the old password.
	CredentialVersion int64
	// TOTPEnabled and Passkeys are the user's second factors: a confirmed
	// TOTP, and how many passkeys are registered (kept by the store in the
	// same transaction as the passkeys themselves).
	TOTPEnabled bool
	Passkeys    int
}

// HasMFA reports whether the user has a second factor: a password alone no
// longer signs them in.
func (u *User) HasMFA() bool { return u.TOTPEnabled || u.Passkeys > 0 }

// Session is a cookie session. Only the SHA-256 of the cookie value is stored.
type Session struct {
	ID         string // public id, listed by GET /v1/sessions
	UserID     string
	TokenHash  []byte
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
	IP         string
	UserAgent  string

	// CredentialVersion, when not 0, is the user's credential version the
	// login read: CreateSession refuses it once it has moved.
	CredentialVersion int64
	// Methods is how the session was established (stored as text; empty
	// is the password alone). CreatedAt is when.
	Methods Methods
}

// RefreshFamily is the chain of refresh tokens born from one token login.
// Its ID is the public id listed by GET /v1/sessions and the sid claim of
// every access token issued from it.
type RefreshFamily struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute family lifetime (ASVS 10.4.8)
	RevokedAt  time.Time // zero while live
	IP         string
	UserAgent  string

	// CredentialVersion, when not 0, is the user's credential version the
	// login read: CreateRefreshFamily refuses it once it has moved.
	CredentialVersion int64
	// Methods is how the family was established; every access token
	// issued from it carries them. CreatedAt is when.
	Methods Methods
}

// Revoked reports whether the family has been revoked.
func (f *RefreshFamily) Revoked() bool { return !f.RevokedAt.IsZero() }

// RefreshToken is one link of a family. Only its SHA-256 is stored. When it is
// rotated, UsedAt is set together with the hash of its successor and the
// successor sealed under a key derived from this token, so that the holder of
// this token (and nobody else, not even a reader of the database) can be given
// the same successor again inside the reuse grace window.
type RefreshToken struct {
	Hash            []byte
	FamilyID        string
	ParentHash      []byte // nil for the first token of a family
	CreatedAt       time.Time
	UsedAt          time.Time // zero while current
	SuccessorHash   []byte
	SealedSuccessor []byte
}

// OneTimeKind names the purpose of an emailed one-time token.
type OneTimeKind string

// The kinds of one-time token.
const (
	KindVerifyEmail   OneTimeKind = "verify_email"
	KindPasswordReset OneTimeKind = "password_reset"
)

// OneTimeToken is an emailed, single-use token. Only its SHA-256 is stored.
type OneTimeToken struct {
	Hash      []byte
	Kind      OneTimeKind
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
	// PasswordHash is set on verification tokens only: the encoded hash of
	// the password chosen by the signup that produced the token. Verifying
	// the address puts this password in force (see VerifyEmail).
	PasswordHash string
}

// SessionInfo is one line of GET /v1/sessions: a cookie session or a refresh
// family, by public id.
type SessionInfo struct {
	ID         string
	Kind       string // "cookie" or "token"
	CreatedAt  time.Time
	LastSeenAt time.Time
	IP         string
	UserAgent  string
	Methods    Methods // how it was established
}

// Session kinds as listed.
const (
	SessionKindCookie = "cookie"
	SessionKindToken  = "token"
)

// Lockout is the failed-login state of one normalised email, kept whether or
// not an account exists for it (so lockout never reveals which accounts exist).
type Lockout struct {
	Failures    int
	LockedUntil time.Time
}

// Mail is one message waiting in, or taken from, the outbox.
type Mail struct {
	ID        int64
	To        string
	Template  string            // name of an embedded template
	Data      map[string]string // template fields; may hold a token, so never logged
	CreatedAt time.Time
	Attempts  int
}

// Error codes. They are part of the HTTP API (docs/api.md, "Errors") and never
// change.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeWeakPassword         = "weak_password"
	CodeAmbiguousCredentials = "ambiguous_credentials"
	CodeUnauthenticated      = "unauthenticated"
	CodeInvalidCredentials   = "invalid_credentials"
	CodeInvalidToken         = "invalid_token"
	CodeInvalidCode          = "invalid_code"
	CodeReauthRequired       = "reauth_required"
	CodeMFAAlreadyEnabled    = "mfa_already_enabled"
	CodeRefreshTokenReused   = "refresh_token_reused"
	CodeCSRFFailed           = "csrf_failed"
	CodeEmailNotVerified     = "email_not_verified"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeEmailTaken           = "email_taken"
	CodeRateLimited          = "rate_limited"
	CodeAccountLocked        = "account_locked"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
	// CodePasskeyRejected: a passkey registration failed verification.
	CodePasskeyRejected = "passkey_rejected"
	// CodePasskeyExists: the passkey's credential is registered already.
	CodePasskeyExists = "passkey_exists"
)

// Error is a failure with a stable code and a message fit for a client. The
// wrapped Err is for the log only and never reaches a response.
type Error struct {
	Code       string
	Message    string
	Reason     string            // weak_password: too_short, too_long, common, contains_email
	Fields     map[string]string // invalid_request: field name to what is wrong with it
	RetryAfter time.Duration     // rate_limited, account_locked, unavailable
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Sentinel errors returned by stores. The Service turns them into *Error
// values with client messages.
var (
	// ErrNotFound: no such row, or a row that is used, expired or not the caller's.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique value (an email) already exists.
	ErrConflict = errors.New("conflict")
	// ErrCredentialChanged: the user's password changed (or the account was
	// disabled) since the credential version given was read.
	ErrCredentialChanged = errors.New("credential changed")
	// ErrUnavailable: a dependency (database, limiter backend) does not answer.
	ErrUnavailable = errors.New("dependency unavailable")
)
