package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// maxPasswordBytes bounds what is ever given to the hasher (OWASP ASVS 5.0 6.2.9:
// a hard cap against long-input DoS). The policy's 128 code points fit.
const maxPasswordBytes = 1024

// deviceTTL is the lifetime of a device cookie or token (docs/api.md, "Cookies": one year).
const deviceTTL = 365 * 24 * time.Hour

// Login is the outcome of an authentication. When every factor the account
// needs was proved, User and Methods say who and how, and CreateSession or
// IssueTokens establish it. When a second factor is still needed, MFA is set
// instead and nothing may be established from this Login (ASVS 2.3.1,
// 6.3.3: partial states get nothing).
type Login struct {
	User    *User
	Methods Methods
	// DeviceToken marks this browser or client as one that signed in to the
	// account: it exempts it from the lockout (not the rate limits) later.
	// It is only given once every factor was proved.
	DeviceToken Secret
	// NewDevice is set when the client presented no valid device token: the
	// user is told of the sign-in by mail.
	NewDevice bool
	// MFA is the pending login of a correct password on an account with a
	// second factor.
	MFA *MFAChallenge
}

// Complete reports whether l may be established.
func (l *Login) Complete() bool {
	return l != nil && l.MFA == nil && l.User != nil && len(l.Methods) > 0
}

// Authenticate checks an email and password, in this order: the per-IP and
// per-email rate limits (every attempt counts, before any hashing); the
// password's shape (a malformed or over-long one is refused before any write:
// no account can have it, so it costs the attacker a rate-limit slot and
// leaves no state); the user, read with its credential version BEFORE the
// hash is checked; the lockout, as an atomic reservation of one password check
// unless the client holds a device token for this email and credential
// version; the password, with a dummy hash for unknown emails so that timing
// and answer are the same (ASVS 6.3.8); then disabled and unverified
// accounts. Failures count toward the lockout whether or not the account
// exists. The Login carries the credential version read before hashing: the
// session or refresh family made from it is refused if a reset or change
// committed in between.
//
// On an account with a second factor a correct password establishes nothing:
// the Login carries an MFAChallenge (mode says what the completed login
// will produce), the lockout reservation of this check stays counted until
// the second factor succeeds, and no device token is given.
func (s *Service) Authenticate(ctx context.Context, cl Client, rawEmail, password string, mode LoginMode) (*Login, error) {
	l, err := s.authenticate(ctx, cl, rawEmail, password, mode)
	s.observer.Login(err)
	return l, err
}

func (s *Service) authenticate(ctx context.Context, cl Client, rawEmail, password string, mode LoginMode) (*Login, error) {
	if err := s.limit(ctx, cl, "login_ip", cl.IPKey, s.cfg.LoginPerIP, ""); err != nil {
		return nil, err
	}
	email, ok := s.canonEmail(rawEmail)
	if !ok {
		// Not an address any account can have; still a counted attempt.
		return nil, invalidField("email", "must be a valid email address")
	}
	if err := s.limit(ctx, cl, "login_email", email, s.cfg.LoginPerEmail, email); err != nil {
		return nil, err
	}
	pw, valid := s.normalize(password)
	if !valid || len(pw) > maxPasswordBytes || pw == "" {
		// No stored password can be this: no hashing and no write, so a
		// flood of them leaves nothing behind (the rate limits above held).
		s.audit(ctx, cl, Event{Name: EventLoginFailed, Email: email, Reason: "malformed_password"})
		return nil, invalidCredentials()
	}
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		u, err = nil, nil
	}
	if err != nil {
		return nil, storeErr("login", err)
	}
	var version int64
	if u != nil {
		version = u.CredentialVersion
	}
	trusted := s.deviceValid(cl.DeviceToken, email, version)
	reserved := false
	if trusted {
		// Served first by the hashing pool: a flood does not hold this
		// account's device token.
		ctx = WithHashPriority(ctx)
	} else {
		if err := s.reserveCheck(ctx, cl, email, userID(u)); err != nil {
			return nil, err
		}
		reserved = true
	}
	if u == nil {
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return nil, hashErr(err)
		}
		return nil, s.loginFailed(ctx, cl, email, "", "unknown_email", reserved)
	}
	match, rehash, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if hashNoAnswer(err) {
		return nil, hashErr(err)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "verify password", "error", err.Error(), "user_id", u.ID)
		match = false
	}
	if !match {
		return nil, s.loginFailed(ctx, cl, email, u.ID, "wrong_password", reserved)
	}
	if u.Disabled {
		return nil, s.loginFailed(ctx, cl, email, u.ID, "disabled", reserved)
	}
	if s.cfg.RequireVerification && !u.EmailVerified {
		s.audit(ctx, cl, Event{Name: EventLoginFailed, UserID: u.ID, Email: email, Reason: "email_not_verified"})
		return nil, &Error{Code: CodeEmailNotVerified, Message: "Verify your email address before signing in."}
	}
	if rehash {
		s.upgradeHash(ctx, u, pw)
	}
	if u.HasMFA() {
		// The failure count is not cleared: the password alone is not a
		// success, and clearing it here would let whoever knows the
		// password guess second factors without end (NIST SP 800-63B-4
		// §3.2.2: consecutive failures counted per account).
		ch, err := s.startMFA(ctx, cl, u, mode, trusted)
		if err != nil {
			return nil, err
		}
		return &Login{User: u, MFA: ch}, nil
	}
	if err := s.store.ClearLoginFailures(ctx, email); err != nil {
		return nil, storeErr("login", err)
	}
	methods := Methods{MethodPassword}
	s.audit(ctx, cl, Event{Name: EventLoginSucceeded, UserID: u.ID, Email: email, Methods: methods})
	return &Login{User: u, Methods: methods, DeviceToken: s.deviceToken(email, u.CredentialVersion), NewDevice: !trusted}, nil
}

func userID(u *User) string {
	if u == nil {
		return ""
	}
	return u.ID
}

// reserveCheck reserves one password check for email under the lockout
// (ReserveLoginAttempt): at most LockoutThreshold checks per lockout period
// reach the hasher, however many run in parallel on however many instances
// (OWASP ASVS 5.0 6.3.1; NIST SP 800-63B 5.2.2 limits consecutive failed
// attempts). The reservation counts as a failure until a success clears it.
func (s *Service) reserveCheck(ctx context.Context, cl Client, email, uid string) error {
	now := s.now().UTC()
	lock, ok, err := s.store.ReserveLoginAttempt(ctx, email, now, s.cfg.LockoutThreshold, s.cfg.LockoutDuration)
	if err != nil {
		return storeErr("login", err)
	}
	if ok {
		return nil
	}
	retry := lock.LockedUntil.Sub(now)
	if retry <= 0 {
		retry = s.cfg.LockoutDuration
	}
	s.audit(ctx, cl, Event{Name: EventLoginFailed, UserID: uid, Email: email, Reason: "account_locked"})
	return &Error{Code: CodeAccountLocked, Message: "Too many failed attempts. Try again later or reset your password.", RetryAfter: retry}
}

// loginFailed records a failure for the email (whether or not it exists),
// unless reserveCheck already counted it, and returns the one answer every
// failure gets.
func (s *Service) loginFailed(ctx context.Context, cl Client, email, userID, reason string, reserved bool) error {
	var lock Lockout
	var err error
	if reserved {
		lock, err = s.store.LoginLockout(ctx, email)
	} else {
		lock, err = s.store.RecordLoginFailure(ctx, email, s.now().UTC(), s.cfg.LockoutThreshold, s.cfg.LockoutDuration)
	}
	if err != nil {
		return storeErr("login", err)
	}
	s.audit(ctx, cl, Event{Name: EventLoginFailed, UserID: userID, Email: email, Reason: reason})
	if lock.Failures == s.cfg.LockoutThreshold {
		s.audit(ctx, cl, Event{Name: EventAccountLocked, UserID: userID, Email: email})
	}
	return invalidCredentials()
}

// upgradeHash re-hashes a password whose stored hash is of another algorithm
// or other parameters than configured. A failure only postpones the upgrade.
func (s *Service) upgradeHash(ctx context.Context, u *User, pw string) {
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return
	}
	if err := s.store.SetPasswordHash(ctx, u.ID, hash); err != nil {
		s.log.ErrorContext(ctx, "upgrade password hash", "error", err.Error(), "user_id", u.ID)
		return
	}
	u.PasswordHash = hash
}

// Device tokens: "v2." + base64url(SHA-256(email)[:16] || issued unix secs
// || credential version) + "." + base64url(HMAC-SHA-256(key, payload)). The
// key is shared by every instance through the store. The email is only
// present as a truncated hash. A token is valid only for the credential
// version it was issued under: a password reset or change voids every device
// token issued before it (v1 tokens, which carried no version, are refused).
const devicePrefix = "v2."

const devicePayloadLen = 32

func (s *Service) deviceToken(email string, version int64) Secret {
	sum := sha256.Sum256([]byte(email))
	payload := make([]byte, devicePayloadLen)
	copy(payload, sum[:16])
	binary.BigEndian.PutUint64(payload[16:], uint64(s.now().Unix()))
	binary.BigEndian.PutUint64(payload[24:], uint64(version))
	mac := hmac.New(sha256.New, s.deviceKey)
	mac.Write(payload)
	return Secret(devicePrefix + base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
}

// deviceValid reports whether tok is a live device token for email under the
// user's current credential version (0 for an email without an account).
func (s *Service) deviceValid(tok, email string, version int64) bool {
	if tok == "" || len(tok) > 256 || !strings.HasPrefix(tok, devicePrefix) {
		return false
	}
	p, m, ok := strings.Cut(tok[len(devicePrefix):], ".")
	if !ok {
		return false
	}
	// Strict: one token has exactly one encoding (no spare trailing bits).
	strict := base64.RawURLEncoding.Strict()
	payload, err := strict.DecodeString(p)
	if err != nil || len(payload) != devicePayloadLen {
		return false
	}
	got, err := strict.DecodeString(m)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, s.deviceKey)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return false
	}
	sum := sha256.Sum256([]byte(email))
	if !hmac.Equal(payload[:16], sum[:16]) {
		return false
	}
	if int64(binary.BigEndian.Uint64(payload[24:])) != version {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(payload[16:24])), 0)
	return s.now().Sub(issued) < deviceTTL
}
