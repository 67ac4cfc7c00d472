package auth

import (
	"context"
	"time"
)

// The store interfaces below are what a storage backend (internal/sqlite,
// internal/postgres) implements. internal/storetest holds the conformance
// suite every backend must pass. Policy (thresholds, lifetimes, grace windows)
// is decided by the Service and passed in; a store only guarantees that each
// method is atomic. Unless a method says otherwise it returns ErrNotFound when
// the row does not exist and ErrUnavailable (wrapped) when the database does
// not answer. Byte-slice hashes are SHA-256 digests (32 bytes).

// UserStore keeps accounts.
type UserStore interface {
	// CreateUser inserts u. It returns ErrConflict when the email exists.
	CreateUser(ctx context.Context, u *User) error
	// UserByID returns the user or ErrNotFound.
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByEmail returns the user with this normalised email or ErrNotFound.
	UserByEmail(ctx context.Context, email string) (*User, error)
	// SetPasswordHash replaces the user's hash.
	SetPasswordHash(ctx context.Context, userID, hash string) error
	// MarkEmailVerified sets email_verified and, in the same transaction,
	// marks every unused verification token of the user used: once the
	// address is proved (by a password reset), no older verification link
	// may change the password.
	MarkEmailVerified(ctx context.Context, userID string) error
	// VerifyEmailWithPassword redeems a verification token in one
	// transaction: if the token with this hash is an unused, unexpired
	// verify_email token carrying a password hash, and its user is not yet
	// verified, it marks the token used at now, sets the user's password
	// hash to the token's, adds one to the credential version (see
	// ReplacePassword), sets email_verified, and marks every other unused
	// verification token of the user used. It returns the token. Otherwise
	// it returns ErrNotFound and changes nothing. This is the one place where
	// a verification sets a password.
	VerifyEmailWithPassword(ctx context.Context, hash []byte, now time.Time) (*OneTimeToken, error)
	// ReplacePassword is a password change or reset, in ONE transaction: it
	// sets the hash, adds one to the credential version, moves the
	// revocation epoch to now (never backwards), deletes every cookie
	// session of the user except keepSessionID and revokes every live
	// refresh family except keepFamilyID (either may be empty). A crash
	// never leaves the new password with the old sessions. It returns the
	// ids of the families it revoked, sorted, and the new version.
	ReplacePassword(ctx context.Context, userID, hash, keepSessionID, keepFamilyID string, now time.Time) (revokedFamilies []string, version int64, err error)
	// SetTokensValidAfter moves the user's revocation epoch to t. It never
	// moves it backwards.
	SetTokensValidAfter(ctx context.Context, userID string, t time.Time) error
	// UserEmails returns the id and email of up to limit users whose id is
	// greater than afterID, in id order (keyset pagination, for maintenance
	// such as CanonicalizeStoredEmails).
	UserEmails(ctx context.Context, afterID string, limit int) ([]UserEmail, error)
	// SetUserEmail replaces the user's email. It returns ErrConflict when
	// another user has that email and changes nothing.
	SetUserEmail(ctx context.Context, userID, email string) error
}

// UserEmail is one line of UserEmails.
type UserEmail struct {
	ID    string
	Email string
}

// OneTimeTokenStore keeps emailed verification and reset tokens.
type OneTimeTokenStore interface {
	// CreateOneTimeToken stores t and, in the same transaction, marks every
	// other unused token of the same kind and user created at or before
	// t.CreatedAt as used at t.CreatedAt: the newest token supersedes older
	// ones. If a token of the same kind and user created after t.CreatedAt
	// exists (used or not), t is stored already used: tokens issued out of
	// order (two instances, retried jobs) never revive a superseded one.
	CreateOneTimeToken(ctx context.Context, t *OneTimeToken) error
	// NewestOneTimeToken returns the token of this kind and user with the
	// latest CreatedAt, used or not (ErrNotFound if there is none).
	NewestOneTimeToken(ctx context.Context, userID string, kind OneTimeKind) (*OneTimeToken, error)
	// ConsumeOneTimeToken atomically marks the token with this kind and hash
	// used and returns it, if it is unused and not expired at now. Otherwise it
	// returns ErrNotFound and changes nothing. Two concurrent calls for one
	// token cannot both succeed.
	ConsumeOneTimeToken(ctx context.Context, kind OneTimeKind, hash []byte, now time.Time) (*OneTimeToken, error)
	// OneTimeToken returns the token with this kind and hash if it is unused
	// and not expired at now, without consuming it (ErrNotFound otherwise).
	// A reset checks the new password against its user before spending it.
	OneTimeToken(ctx context.Context, kind OneTimeKind, hash []byte, now time.Time) (*OneTimeToken, error)
}

// SessionStore keeps cookie sessions.
type SessionStore interface {
	// CreateSession inserts s. When s.CredentialVersion is not 0 it checks,
	// in the same transaction, that the user's credential version is still
	// that one and the user is not disabled, and otherwise inserts nothing
	// and returns ErrCredentialChanged.
	CreateSession(ctx context.Context, s *Session) error
	// SessionByTokenHash returns the session whatever its expiry; the
	// Service decides whether it is still valid.
	SessionByTokenHash(ctx context.Context, hash []byte) (*Session, error)
	// TouchSession sets last_seen_at.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// DeleteSession deletes the user's session with this public id. Another
	// user's session is ErrNotFound.
	DeleteSession(ctx context.Context, userID, id string) error
	// DeleteExpiredSessions removes sessions whose absolute expiry is before now.
	DeleteExpiredSessions(ctx context.Context, now time.Time) error
}

// RefreshStore keeps refresh-token families.
type RefreshStore interface {
	// CreateRefreshFamily inserts the family and its first token in one
	// transaction, with the credential-version check of CreateSession when
	// f.CredentialVersion is not 0.
	CreateRefreshFamily(ctx context.Context, f *RefreshFamily, first *RefreshToken) error
	// RefreshTokenByHash returns the token and its family.
	RefreshTokenByHash(ctx context.Context, hash []byte) (*RefreshToken, *RefreshFamily, error)
	// RotateRefreshToken is the compare-and-swap at the heart of rotation. In
	// one transaction, if the token with oldHash is still current (unused) and
	// its family is not revoked, it sets the old token's used_at to now with
	// successor hash and sealed successor from next, inserts next (whose
	// ParentHash is oldHash), and sets the family's last_seen_at to now; it
	// returns true. Otherwise it changes nothing and returns false: of any
	// number of concurrent calls for one token, exactly one returns true.
	RotateRefreshToken(ctx context.Context, oldHash []byte, next *RefreshToken, now time.Time) (bool, error)
	// CountRefreshReplay is the compare-and-increment that bounds replays in
	// the grace window. In one statement, if the token with hash has been
	// rotated (used) and its replay counter is below max, it adds one to the
	// counter and returns true; otherwise it changes nothing and returns
	// false: of any number of concurrent calls for one token, at most max
	// return true over the token's lifetime.
	CountRefreshReplay(ctx context.Context, hash []byte, max int) (bool, error)
	// RevokeFamily sets revoked_at on the family if it is live. userID, when
	// not empty, restricts it to that user's families (ErrNotFound for
	// another user's).
	RevokeFamily(ctx context.Context, userID, familyID string, now time.Time) error
}

// UserSessionStore covers both kinds of session at once.
type UserSessionStore interface {
	// ListSessions returns the user's live cookie sessions and live refresh
	// families at now, newest first.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]SessionInfo, error)
	// RevokeUserSessions deletes every cookie session of the user except
	// keepSessionID and revokes every live refresh family except
	// keepFamilyID (either may be empty), in one transaction. It returns the
	// ids of the families it revoked, so their access tokens can be denied.
	RevokeUserSessions(ctx context.Context, userID, keepSessionID, keepFamilyID string, now time.Time) (revokedFamilies []string, err error)
}

// DenyList keeps revoked access-token identifiers until the tokens expire.
// Keys are "jti:<jti>" for one token and "sid:<family id>" for every token of
// a family.
type DenyList interface {
	// Deny adds key until expiresAt. Adding an existing key keeps the later
	// expiry.
	Deny(ctx context.Context, key string, expiresAt time.Time) error
	// Denied reports whether any of keys is denied at now.
	Denied(ctx context.Context, now time.Time, keys ...string) (bool, error)
	// PurgeDenied deletes entries that expired before now.
	PurgeDenied(ctx context.Context, now time.Time) error
}

// LockoutStore keeps failed-login counters per normalised email, whether or
// not the account exists.
type LockoutStore interface {
	// RecordLoginFailure atomically adds one failure for key at now. If the
	// previous lock has expired, the count starts again from zero. When the
	// count reaches threshold, the key is locked until now+lockFor. It returns
	// the state after the update; parallel calls never lose an increment.
	RecordLoginFailure(ctx context.Context, key string, now time.Time, threshold int, lockFor time.Duration) (Lockout, error)
	// ReserveLoginAttempt atomically counts one password check for key at
	// now BEFORE it is made (OWASP ASVS 5.0 6.3.1: the limit holds however
	// many checks run in parallel, on any number of instances). Failures
	// decay: a count whose window (lockFor from its first failure, or the
	// end of its lock if later) has ended at now starts again from zero. If
	// key is locked at now or its window already holds threshold checks, it
	// changes nothing and returns false; otherwise it adds one, locks until
	// now+lockFor when the count reaches threshold (a threshold below 1 never
	// locks) and returns true. RecordLoginFailure follows the same decay.
	ReserveLoginAttempt(ctx context.Context, key string, now time.Time, threshold int, lockFor time.Duration) (Lockout, bool, error)
	// LoginLockout returns the state for key (zero value if none).
	LoginLockout(ctx context.Context, key string) (Lockout, error)
	// ClearLoginFailures forgets the failures and lock of key.
	ClearLoginFailures(ctx context.Context, key string) error
}

// AccessReader answers the checks made on every authenticated request in one
// read each, so that a session or token check costs one query.
type AccessReader interface {
	// SessionWithUser returns the session with this token hash, whatever its
	// expiry, and its user (ErrNotFound if there is no such session).
	SessionWithUser(ctx context.Context, hash []byte) (*Session, *User, error)
	// UserForAccess returns the user and whether any of denyKeys is on the
	// deny list at now (as Denied would say). ErrNotFound if there is no
	// such user.
	UserForAccess(ctx context.Context, userID string, now time.Time, denyKeys ...string) (u *User, denied bool, err error)
}

// Outbox is the persistent queue of mail: a message accepted by the API is
// never lost, even if the sender is down or the process dies.
type Outbox interface {
	// EnqueueMail stores m and sets m.ID.
	EnqueueMail(ctx context.Context, m *Mail) error
	// PendingMail claims up to limit due messages (not sent, next attempt at
	// or before now), oldest first, by moving each one's next attempt to
	// now+lease, so another worker does not take them before the lease ends;
	// a worker that dies leaves them to be retried after the lease.
	// Concurrent claimers, in this process or another, never get the same
	// message within its lease. A lease of zero or less claims nothing: it
	// only lists the due messages and changes nothing (for tests and tools).
	PendingMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Mail, error)
	// MarkMailSent deletes the message: it has been delivered.
	MarkMailSent(ctx context.Context, id int64) error
	// RetryMailAt records a failed attempt and when to try again.
	RetryMailAt(ctx context.Context, id int64, next time.Time) error
}

// SecretStore keeps server-wide random keys (device-cookie signing key) in the
// database, so every instance of a deployment shares them.
type SecretStore interface {
	// Secret returns the secret stored under name, first storing candidate if
	// there is none. Concurrent callers all get the same stored value.
	Secret(ctx context.Context, name string, candidate []byte) ([]byte, error)
}

// Store is everything the Service needs from a backend.
type Store interface {
	UserStore
	OneTimeTokenStore
	SessionStore
	RefreshStore
	UserSessionStore
	DenyList
	AccessReader
	LockoutStore
	Outbox
	SecretStore
	MFAStore
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// Limit is a rate limit: at most N events in any interval of length Per
// (not per fixed window: see memory.Step).
type Limit struct {
	N   int
	Per time.Duration
}

// Limiter counts events per key. internal/memory has the single-process one,
// internal/redis and internal/postgres the shared ones; all three decide
// alike (internal/limitertest).
type Limiter interface {
	// Allow records one event for key under limit and reports whether it is
	// within the limit; when it is not, the event is not recorded and
	// retryAfter is the exact time until one more event fits.
	// An error means the limiter cannot decide: callers fail closed.
	Allow(ctx context.Context, key string, limit Limit) (ok bool, retryAfter time.Duration, err error)
}

// Mailer delivers one rendered message. Implementations: internal/mail.
type Mailer interface {
	Send(ctx context.Context, m *Message) error
}

// Message is a rendered mail.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string // optional
}

// MFAStore keeps second factors (TOTP, recovery codes) and the pending logins
// between a correct password and the second factor.
type MFAStore interface {
	// SetPendingTOTP stores secret as the user's TOTP secret waiting for
	// confirmation (sealed at rest when the store has a Sealer, bound to the
	// user), replacing an earlier unconfirmed one. It returns ErrConflict
	// when the user's TOTP is already confirmed, ErrNotFound for an unknown
	// user.
	SetPendingTOTP(ctx context.Context, userID string, secret []byte, now time.Time) error
	// TOTP returns the user's TOTP secret and state (ErrNotFound if none).
	TOTP(ctx context.Context, userID string) (*TOTP, error)
	// ConfirmTOTP activates the pending secret in one transaction: it sets
	// confirmed_at to now, the last accepted time step to step, the user's
	// totp_enabled, and replaces the user's recovery codes with codes. It
	// returns ErrNotFound when there is no pending secret (none, or already
	// confirmed: of two concurrent confirmations one wins).
	ConfirmTOTP(ctx context.Context, userID string, step int64, codes []RecoveryCode, now time.Time) error
	// UseTOTPStep is the replay guard (RFC 6238 §5.2): if the user's
	// confirmed TOTP has a last accepted step below step, it sets it to step
	// and returns true; otherwise it changes nothing and returns false. Of
	// any number of concurrent calls with the same step, on any number of
	// instances, at most one returns true.
	UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
	// DeleteTOTP removes the user's TOTP (pending or confirmed) and clears
	// totp_enabled, in one transaction; with dropCodes it also deletes the
	// user's recovery codes. No TOTP is not an error.
	DeleteTOTP(ctx context.Context, userID string, dropCodes bool) error
	// ReplaceRecoveryCodes replaces the user's recovery codes with codes.
	ReplaceRecoveryCodes(ctx context.Context, userID string, codes []RecoveryCode) error
	// RecoveryCodes returns the user's unused recovery codes.
	RecoveryCodes(ctx context.Context, userID string) ([]RecoveryCode, error)
	// UseRecoveryCode marks the user's code with this index used at now if it
	// is unused, and reports whether it did: a code is spent at most once.
	UseRecoveryCode(ctx context.Context, userID string, index int, now time.Time) (bool, error)

	// CreateMFAToken stores a pending login.
	CreateMFAToken(ctx context.Context, t *MFAToken) error
	// MFAToken returns the pending login with this hash if it is unused and
	// not expired at now (ErrNotFound otherwise), without changing it.
	MFAToken(ctx context.Context, hash []byte, now time.Time) (*MFAToken, error)
	// FailMFAToken counts one failed challenge against the pending login
	// with this hash, atomically; the failure that brings the count to max
	// also marks it used. It returns the count after the update, or
	// ErrNotFound when the token is not live at now.
	FailMFAToken(ctx context.Context, hash []byte, now time.Time, max int) (int, error)
	// ConsumeMFAToken marks the live pending login with this hash used at
	// now and returns it; of concurrent calls one succeeds, the others get
	// ErrNotFound, as does a token that is used or expired.
	ConsumeMFAToken(ctx context.Context, hash []byte, now time.Time) (*MFAToken, error)

	// RevokeSingleFactorSessions deletes every cookie session and revokes
	// every live refresh family of the user that was established with the
	// password alone, except keepSessionID and keepFamilyID, in one
	// transaction. It returns the ids of the families it revoked.
	RevokeSingleFactorSessions(ctx context.Context, userID, keepSessionID, keepFamilyID string, now time.Time) ([]string, error)
}
