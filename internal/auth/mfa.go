package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"image/png"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// Second factors: TOTP (RFC 6238) with recovery codes, the pending login
// between a correct password and the second factor, and what happens to the
// other sessions of a user when a factor is added or removed. Passkeys
// (passkeys.go) plug into the same pending login and the same hooks.

const (
	// mfaMaxFailures is how many failed challenges consume a pending login:
	// a new password login is needed after the fifth.
	mfaMaxFailures = 5
	// reauthMaxAge is how old an authentication may be for a change of
	// second factors without giving the password again (OWASP ASVS 5.0
	// 7.5.1: re-authentication before changing MFA configuration).
	reauthMaxAge = 5 * time.Minute
	// totpEnrolTTL is how long an enrolment waits for its confirming code.
	totpEnrolTTL = 15 * time.Minute

	// RFC 6238 parameters every authenticator app understands: HMAC-SHA-1,
	// 30-second steps from the Unix epoch, 6 digits.
	totpPeriod = 30
	totpDigits = 6
	// totpSkew accepts the steps just before and after the current one
	// (RFC 6238 §5.2 allows for network delay and clock drift). ASVS 5.0
	// 6.5.5 asks for 30 s; one step either way is the usual compromise
	// with phones whose clocks drift, and replay is refused anyway.
	totpSkew = 1
	// totpSecretBytes is RFC 4226 §4's recommended 160 bits.
	totpSecretBytes = 20

	// recoveryCodeCount codes of recoveryCodeChars base32 characters (50
	// bits each: NIST SP 800-63B-4 §3.1.2 asks look-up secrets for at least
	// 20 bits, OWASP ASVS 5.0 6.5.2 for hashing).
	recoveryCodeCount = 10
	recoveryCodeChars = 10
	// recoveryTagBytes of a keyed MAC pick the candidate among a user's
	// codes, so a guess costs one password hash at most, not ten.
	recoveryTagBytes = 2
)

// MFAChallenge is what a password login answers on an account with a second
// factor: a token for POST /v1/mfa/challenge (or the passkey routes) and
// the methods the account can use.
type MFAChallenge struct {
	Token   Secret
	Methods []string
}

// startMFA stores the pending login of a correct password for u.
func (s *Service) startMFA(ctx context.Context, cl Client, u *User, mode LoginMode, trusted bool) (*MFAChallenge, error) {
	tok, err := newToken(s.rand)
	if err != nil {
		return nil, storeErr("start mfa", err)
	}
	now := s.now().UTC()
	t := &MFAToken{
		Hash: HashToken(tok.Reveal()), UserID: u.ID, Mode: mode, Methods: Methods{MethodPassword},
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.MFATokenTTL), CredentialVersion: u.CredentialVersion, Trusted: trusted,
	}
	if err := s.store.CreateMFAToken(ctx, t); err != nil {
		return nil, storeErr("start mfa", err)
	}
	var methods []string
	if u.TOTPEnabled {
		methods = append(methods, string(MethodTOTP))
	}
	if u.Passkeys > 0 {
		methods = append(methods, string(MethodPasskey))
	}
	codes, err := s.store.RecoveryCodes(ctx, u.ID)
	if err != nil {
		return nil, storeErr("start mfa", err)
	}
	if len(codes) > 0 {
		methods = append(methods, string(MethodRecoveryCode))
	}
	s.audit(ctx, cl, Event{Name: EventMFARequired, UserID: u.ID, Email: u.Email})
	return &MFAChallenge{Token: tok, Methods: methods}, nil
}

// PendingMFA returns the user of a live pending login without spending it
// (the passkey second factor needs the user's credentials to begin).
func (s *Service) PendingMFA(ctx context.Context, token string) (*User, error) {
	_, u, err := s.pendingMFA(ctx, token)
	return u, err
}

func (s *Service) pendingMFA(ctx context.Context, token string) (*MFAToken, *User, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, invalidToken()
	}
	t, err := s.store.MFAToken(ctx, HashToken(token), s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return nil, nil, invalidToken()
	}
	if err != nil {
		return nil, nil, storeErr("mfa token", err)
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, invalidToken()
	}
	if err != nil {
		return nil, nil, storeErr("mfa token", err)
	}
	// A password reset or change, or a disabled account, since the
	// password was checked voids the pending login.
	if u.Disabled || u.CredentialVersion != t.CredentialVersion {
		return nil, nil, invalidToken()
	}
	return t, u, nil
}

// SecondFactor checks one second factor for the user of a pending login. It
// returns the method proved, or ok false for a wrong, replayed or used
// factor; an error only when it could not decide.
type SecondFactor func(ctx context.Context, u *User) (m Method, ok bool, err error)

// CompleteMFA redeems a pending login with a second factor. Every attempt
// counts toward the per-IP token limit and the per-email login limit, and
// reserves one check under the account's second-factor lockout (mfaLockKey;
// OWASP ASVS 5.0 6.3.1, 6.6.3; NIST SP 800-63B-4 §3.2.2: every factor is
// throttled). A failure counts against the pending login, which the fifth
// consumes; the first failure of a pending login tells the user by mail that
// someone who knows their password is trying. A success spends the pending
// login atomically, clears the failure count and returns a complete Login
// with the mode the password login asked for.
func (s *Service) CompleteMFA(ctx context.Context, cl Client, token string, check SecondFactor) (*Login, LoginMode, error) {
	if err := s.limit(ctx, cl, "token_ip", cl.IPKey, s.cfg.TokenPerIP, ""); err != nil {
		return nil, "", err
	}
	t, u, err := s.pendingMFA(ctx, token)
	if err != nil {
		return nil, "", err
	}
	if err := s.limit(ctx, cl, "login_email", u.Email, s.cfg.LoginPerEmail, u.Email); err != nil {
		return nil, "", err
	}
	if err := s.reserveFactor(ctx, cl, u); err != nil {
		return nil, "", err
	}
	m, ok, err := check(ctx, u)
	if err != nil {
		return nil, "", err
	}
	now := s.now().UTC()
	if !ok {
		n, err := s.store.FailMFAToken(ctx, t.Hash, now, mfaMaxFailures)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, "", storeErr("mfa challenge", err)
		}
		s.audit(ctx, cl, Event{Name: EventMFAFailed, UserID: u.ID, Email: u.Email, Reason: "wrong_" + string(m), Methods: Methods{m}})
		lock, err := s.store.LoginLockout(ctx, mfaLockKey(u.Email))
		if err != nil {
			return nil, "", storeErr("mfa challenge", err)
		}
		if lock.Failures == s.cfg.LockoutThreshold {
			s.audit(ctx, cl, Event{Name: EventAccountLocked, UserID: u.ID, Email: u.Email, Reason: "second_factor"})
		}
		if n == 1 {
			s.tell(ctx, cl, u, NoticeSecondFactorFailed, string(m))
		}
		return nil, "", invalidCode()
	}
	if _, err := s.store.ConsumeMFAToken(ctx, t.Hash, now); err != nil {
		if errors.Is(err, ErrNotFound) {
			// Another request redeemed it first.
			return nil, "", invalidToken()
		}
		return nil, "", storeErr("mfa challenge", err)
	}
	for _, key := range []string{mfaLockKey(u.Email), u.Email} {
		if err := s.store.ClearLoginFailures(ctx, key); err != nil {
			return nil, "", storeErr("mfa challenge", err)
		}
	}
	methods := t.Methods.With(m)
	s.audit(ctx, cl, Event{Name: EventLoginSucceeded, UserID: u.ID, Email: u.Email, Methods: methods})
	return &Login{User: u, Methods: methods, DeviceToken: s.deviceToken(u.Email, u.CredentialVersion), NewDevice: !t.Trusted}, t.Mode, nil
}

// mfaLockKey is the lockout key of an account's second factors: a counter
// apart from the password's (keyed by the address itself), kept in the same
// store with the same threshold and duration. A correct password clears
// the password's counter, never this one; only a second factor that
// succeeds, or an admin's unlock, does. A password reset does not: email is
// no second factor. No address that NormalizeEmail or email.Canonical
// accepts has a colon, so this key is never a password lockout's.
func mfaLockKey(email string) string { return "mfa:" + email }

// reserveFactor reserves one second-factor check for u before it is made,
// atomically, as reserveCheck does for passwords (OWASP ASVS 5.0 6.3.1,
// NIST SP 800-63B-4 §3.2.2: at most the threshold of checks per lockout
// period, on any number of instances).
func (s *Service) reserveFactor(ctx context.Context, cl Client, u *User) error {
	now := s.now().UTC()
	lock, ok, err := s.store.ReserveLoginAttempt(ctx, mfaLockKey(u.Email), now, s.cfg.LockoutThreshold, s.cfg.LockoutDuration)
	if err != nil {
		return storeErr("mfa challenge", err)
	}
	if ok {
		return nil
	}
	return s.factorLockedError(ctx, cl, u, lock, now)
}

// secondFactorLocked refuses a password login of u while its second factors
// are locked: no pending login is made that could only fail.
func (s *Service) secondFactorLocked(ctx context.Context, cl Client, u *User) error {
	lock, err := s.store.LoginLockout(ctx, mfaLockKey(u.Email))
	if err != nil {
		return storeErr("login", err)
	}
	now := s.now().UTC()
	if !lock.LockedUntil.After(now) {
		return nil
	}
	return s.factorLockedError(ctx, cl, u, lock, now)
}

func (s *Service) factorLockedError(ctx context.Context, cl Client, u *User, lock Lockout, now time.Time) error {
	retry := lock.LockedUntil.Sub(now)
	if retry <= 0 {
		retry = s.cfg.LockoutDuration
	}
	s.audit(ctx, cl, Event{Name: EventMFAFailed, UserID: u.ID, Email: u.Email, Reason: "account_locked"})
	return &Error{Code: CodeAccountLocked, Message: "Too many failed attempts. Try again later.", RetryAfter: retry}
}

// Challenge redeems a pending login with a TOTP code or a recovery code
// (exactly one of them).
func (s *Service) Challenge(ctx context.Context, cl Client, token, code, recoveryCode string) (*Login, LoginMode, error) {
	if (code == "") == (recoveryCode == "") {
		return nil, "", &Error{Code: CodeInvalidRequest, Message: "Give either code or recovery_code.",
			Fields: map[string]string{"code": "give code or recovery_code, not both"}}
	}
	return s.CompleteMFA(ctx, cl, token, func(ctx context.Context, u *User) (Method, bool, error) {
		if recoveryCode != "" {
			ok, err := s.useRecoveryCode(ctx, cl, u, recoveryCode)
			return MethodRecoveryCode, ok, err
		}
		if !u.TOTPEnabled {
			return MethodTOTP, false, nil
		}
		ok, err := s.useTOTP(ctx, u, code)
		return MethodTOTP, ok, err
	})
}

func invalidCode() *Error {
	return &Error{Code: CodeInvalidCode, Message: "The code is wrong, was already used or has expired."}
}

// ---- TOTP ----

// totpCode is the RFC 6238 code of secret for time step step (RFC 4226
// dynamic truncation; pquerna/otp does the HMAC).
func totpCode(secret []byte, step uint64, digits int) (string, error) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	d := otp.DigitsSix
	if digits == 8 {
		d = otp.DigitsEight
	}
	return hotp.GenerateCodeCustom(enc, step, hotp.ValidateOpts{Digits: d, Algorithm: otp.AlgorithmSHA1})
}

// totpStep is the RFC 6238 §4 time step of t: floor((t − T0) / X), 64-bit
// (§4.2: valid beyond 2038).
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// matchTOTP returns the step within the skew whose code is code, checking
// every candidate in constant time. The latest matching step wins.
func matchTOTP(secret []byte, code string, now time.Time) (int64, bool) {
	if len(code) != totpDigits || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	cur := totpStep(now)
	var found int64
	ok := false
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := cur + d
		if step < 0 {
			continue
		}
		want, err := totpCode(secret, uint64(step), totpDigits)
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, true
		}
	}
	return found, ok
}

// useTOTP checks code against the user's confirmed TOTP and spends its time
// step: a code is accepted only for a step later than the last accepted one,
// atomically in the store, so it works once across every instance (RFC 6238
// §5.2; OWASP ASVS 5.0 6.5.1). Only server time counts (ASVS 6.5.8).
func (s *Service) useTOTP(ctx context.Context, u *User, code string) (bool, error) {
	t, err := s.store.TOTP(ctx, u.ID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, storeErr("totp", err)
	}
	if !t.Confirmed() {
		return false, nil
	}
	step, ok := matchTOTP(t.Secret, code, s.now())
	if !ok || step <= t.LastStep {
		return false, nil
	}
	ok, err = s.store.UseTOTPStep(ctx, u.ID, step)
	if err != nil {
		return false, storeErr("totp", err)
	}
	return ok, nil
}

// TOTPEnrolment is a new, not yet confirmed TOTP secret.
type TOTPEnrolment struct {
	Secret Secret // base32, for typing into an app
	URI    Secret // otpauth://totp/…
	QRCode []byte // PNG of URI
}

// EnrollTOTP creates (or replaces) the user's pending TOTP secret. It needs a
// recent authentication or the password.
func (s *Service) EnrollTOTP(ctx context.Context, cl Client, cur *Current, password string) (*TOTPEnrolment, error) {
	u, err := s.User(ctx, cur.UserID)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnabled {
		return nil, mfaAlreadyEnabled()
	}
	if err := s.RecentAuth(ctx, cl, cur, u, password); err != nil {
		return nil, err
	}
	secret := make([]byte, totpSecretBytes)
	if _, err := io.ReadFull(s.rand, secret); err != nil {
		return nil, storeErr("enroll totp", err)
	}
	if err := s.store.SetPendingTOTP(ctx, u.ID, secret, s.now().UTC()); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, mfaAlreadyEnabled()
		}
		return nil, storeErr("enroll totp", err)
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	// Key URI format (github.com/google/google-authenticator/wiki/Key-Uri-Format).
	v := url.Values{}
	v.Set("secret", enc)
	v.Set("issuer", s.cfg.TOTPIssuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	uri := "otpauth://totp/" + url.PathEscape(s.cfg.TOTPIssuer+":"+u.Email) + "?" + v.Encode()
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return nil, storeErr("enroll totp", err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return nil, storeErr("enroll totp", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, storeErr("enroll totp", err)
	}
	return &TOTPEnrolment{Secret: Secret(enc), URI: Secret(uri), QRCode: buf.Bytes()}, nil
}

func mfaAlreadyEnabled() *Error {
	return &Error{Code: CodeMFAAlreadyEnabled, Message: "TOTP is already enabled; disable it first to enrol a new authenticator."}
}

// FactorChange is the answer to adding a second factor: the recovery codes
// when new ones were made, and the caller's re-established session or
// tokens (the one it used was established with fewer factors and is gone).
type FactorChange struct {
	RecoveryCodes []Secret
	Session       *NewSession // the caller used a cookie
	Tokens        *TokenPair  // the caller used a bearer token
}

// ConfirmTOTP activates the pending TOTP with a code from the app, makes ten
// recovery codes, and steps the account up (FactorAdded).
func (s *Service) ConfirmTOTP(ctx context.Context, cl Client, cur *Current, code string) (*FactorChange, error) {
	if err := s.limit(ctx, cl, "token_ip", cl.IPKey, s.cfg.TokenPerIP, ""); err != nil {
		return nil, err
	}
	u, err := s.User(ctx, cur.UserID)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnabled {
		return nil, mfaAlreadyEnabled()
	}
	t, err := s.store.TOTP(ctx, u.ID)
	if errors.Is(err, ErrNotFound) || (err == nil && (t.Confirmed() || s.now().Sub(t.CreatedAt) > totpEnrolTTL)) {
		return nil, &Error{Code: CodeNotFound, Message: "No TOTP enrolment is waiting (or it expired): enrol first."}
	}
	if err != nil {
		return nil, storeErr("confirm totp", err)
	}
	step, ok := matchTOTP(t.Secret, code, s.now())
	if !ok {
		return nil, invalidCode()
	}
	codes, plain, err := s.newRecoveryCodes(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.store.ConfirmTOTP(ctx, u.ID, step, codes, s.now().UTC()); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, mfaAlreadyEnabled()
		}
		return nil, storeErr("confirm totp", err)
	}
	u.TOTPEnabled = true
	fc, err := s.FactorAdded(ctx, cl, cur, u, MethodTOTP, "")
	if err != nil {
		return nil, err
	}
	fc.RecoveryCodes = plain
	return fc, nil
}

// DisableTOTP removes the user's TOTP after checking the password. Recovery
// codes go too when no other factor is left.
func (s *Service) DisableTOTP(ctx context.Context, cl Client, cur *Current, password string) error {
	u, err := s.User(ctx, cur.UserID)
	if err != nil {
		return err
	}
	if err := s.checkPassword(ctx, cl, u, password, "password"); err != nil {
		return err
	}
	if !u.TOTPEnabled {
		return &Error{Code: CodeNotFound, Message: "TOTP is not enabled."}
	}
	if err := s.store.DeleteTOTP(ctx, u.ID, u.Passkeys == 0); err != nil {
		return storeErr("disable totp", err)
	}
	u.TOTPEnabled = false
	return s.FactorRemoved(ctx, cl, cur, u, MethodTOTP, "")
}

// ---- recovery codes ----

// newRecoveryCodes makes a set of codes: what is stored, and what is shown
// once.
func (s *Service) newRecoveryCodes(ctx context.Context) ([]RecoveryCode, []Secret, error) {
	codes := make([]RecoveryCode, recoveryCodeCount)
	plain := make([]Secret, recoveryCodeCount)
	raw := make([]byte, recoveryCodeChars*5/8)
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for i := range codes {
		if _, err := io.ReadFull(s.rand, raw); err != nil {
			return nil, nil, storeErr("recovery codes", err)
		}
		c := strings.ToLower(enc.EncodeToString(raw))
		hash, err := s.hasher.Hash(ctx, c)
		if err != nil {
			return nil, nil, hashErr(err)
		}
		codes[i] = RecoveryCode{Index: i, Tag: s.recoveryTag(c), Hash: hash}
		plain[i] = Secret(c[:5] + "-" + c[5:])
	}
	return codes, plain, nil
}

// recoveryTag is the short keyed tag that finds a code's row. It is keyed by
// a server secret, so a copy of the database alone does not narrow a guess.
func (s *Service) recoveryTag(code string) []byte {
	mac := hmac.New(sha256.New, s.recoveryKey)
	mac.Write([]byte(code))
	return mac.Sum(nil)[:recoveryTagBytes]
}

// canonicalRecoveryCode accepts a code as printed or typed: case, spaces and
// hyphens do not matter.
func canonicalRecoveryCode(in string) (string, bool) {
	var b strings.Builder
	for _, r := range in {
		switch {
		case r == '-' || r == ' ':
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
		case (r >= 'a' && r <= 'z') || (r >= '2' && r <= '7'):
			b.WriteRune(r)
		default:
			return "", false
		}
		if b.Len() > recoveryCodeChars {
			return "", false
		}
	}
	return b.String(), b.Len() == recoveryCodeChars
}

// useRecoveryCode spends one of the user's codes if code is one of them.
func (s *Service) useRecoveryCode(ctx context.Context, cl Client, u *User, code string) (bool, error) {
	c, ok := canonicalRecoveryCode(code)
	if !ok {
		return false, nil
	}
	codes, err := s.store.RecoveryCodes(ctx, u.ID)
	if err != nil {
		return false, storeErr("recovery code", err)
	}
	tag := s.recoveryTag(c)
	for _, rc := range codes {
		if !hmac.Equal(rc.Tag, tag) {
			continue
		}
		match, _, err := s.hasher.Verify(ctx, c, rc.Hash)
		if hashNoAnswer(err) {
			return false, hashErr(err)
		}
		if err != nil || !match {
			continue
		}
		spent, err := s.store.UseRecoveryCode(ctx, u.ID, rc.Index, s.now().UTC())
		if err != nil {
			return false, storeErr("recovery code", err)
		}
		if !spent {
			return false, nil
		}
		left := len(codes) - 1
		s.audit(ctx, cl, Event{Name: EventRecoveryCodeUsed, UserID: u.ID, Email: u.Email, Reason: remaining(left)})
		s.tell(ctx, cl, u, NoticeRecoveryCodeUsed, remaining(left))
		return true, nil
	}
	return false, nil
}

func remaining(n int) string { return strconv.Itoa(n) + " left" }

// RegenerateRecoveryCodes replaces the user's recovery codes; the old ones
// stop working at once. It needs a second factor enabled and a recent
// authentication or the password.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, cl Client, cur *Current, password string) ([]Secret, error) {
	u, err := s.User(ctx, cur.UserID)
	if err != nil {
		return nil, err
	}
	if !u.HasMFA() {
		return nil, &Error{Code: CodeNotFound, Message: "Recovery codes need a second factor: enable TOTP or add a passkey first."}
	}
	if err := s.RecentAuth(ctx, cl, cur, u, password); err != nil {
		return nil, err
	}
	codes, plain, err := s.newRecoveryCodes(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, u.ID, codes); err != nil {
		return nil, storeErr("recovery codes", err)
	}
	s.audit(ctx, cl, Event{Name: EventRecoveryCodesRenewed, UserID: u.ID, Email: u.Email})
	return plain, nil
}

// ---- re-authentication and factor changes ----

// RecentAuth lets a change of second factors through when the caller's
// session or token was established less than five minutes ago, or when
// password is the user's password (checked like a login: counted toward the
// lockout when wrong). Otherwise it answers 401 reauth_required: a stolen
// session must not be enough to add a factor of the thief's (OWASP ASVS 5.0
// 7.5.1).
func (s *Service) RecentAuth(ctx context.Context, cl Client, cur *Current, u *User, password string) error {
	if password != "" {
		return s.checkPassword(ctx, cl, u, password, "password")
	}
	if !cur.AuthTime.IsZero() && s.now().Sub(cur.AuthTime) <= reauthMaxAge {
		return nil
	}
	return &Error{Code: CodeReauthRequired, Message: "Give your password (field password) or sign in again to change your second factors."}
}

// FactorAdded steps the account up after a second factor was added (m; detail
// names it, e.g. a passkey's name): every session and refresh family of the
// user established with the password alone is revoked (their access tokens
// denied), and the caller's own is replaced by a new one established with
// its methods plus m, so no token issued before the step-up can be refreshed
// into the stronger session. The user is told by mail.
func (s *Service) FactorAdded(ctx context.Context, cl Client, cur *Current, u *User, m Method, detail string) (*FactorChange, error) {
	if err := s.revokeOthers(ctx, cur, true); err != nil {
		return nil, err
	}
	fc, err := s.reestablish(ctx, cl, cur, u, cur.Methods.With(m))
	if err != nil {
		return nil, err
	}
	s.audit(ctx, cl, Event{Name: EventMFAEnabled, UserID: u.ID, Email: u.Email, Methods: Methods{m}})
	s.tellFactor(ctx, cl, u, m, true, detail)
	return fc, nil
}

// reestablish replaces the caller's session or refresh family with a new one
// established with methods, and ends the old one.
func (s *Service) reestablish(ctx context.Context, cl Client, cur *Current, u *User, methods Methods) (*FactorChange, error) {
	l := &Login{User: u, Methods: methods}
	fc := &FactorChange{}
	switch {
	case cur.SessionID != "":
		ns, err := s.CreateSession(ctx, cl, l)
		if err != nil {
			return nil, err
		}
		if err := s.store.DeleteSession(ctx, u.ID, cur.SessionID); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, storeErr("step up", err)
		}
		fc.Session = ns
	case cur.FamilyID != "":
		pair, err := s.IssueTokens(ctx, cl, l)
		if err != nil {
			return nil, err
		}
		if err := s.revokeFamily(ctx, u.ID, cur.FamilyID); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, storeErr("step up", err)
		}
		fc.Tokens = pair
	}
	return fc, nil
}

// FactorRemoved ends every other session and refresh family of the user after
// a factor was removed (one established with it may be an attacker's) and
// tells the user by mail. The caller's own stays.
func (s *Service) FactorRemoved(ctx context.Context, cl Client, cur *Current, u *User, m Method, detail string) error {
	if err := s.revokeOthers(ctx, cur, false); err != nil {
		return err
	}
	s.audit(ctx, cl, Event{Name: EventMFADisabled, UserID: u.ID, Email: u.Email, Methods: Methods{m}})
	s.tellFactor(ctx, cl, u, m, false, detail)
	return nil
}

// tellFactor tells the user that factor m was added or removed: a passkey
// notice names the passkey (detail), the others the factor.
func (s *Service) tellFactor(ctx context.Context, cl Client, u *User, m Method, added bool, detail string) {
	var n Notice
	switch {
	case m == MethodPasskey && added:
		n = NoticePasskeyAdded
	case m == MethodPasskey:
		n = NoticePasskeyRemoved
	case added:
		n, detail = NoticeMFAEnabled, string(m)
	default:
		n, detail = NoticeMFADisabled, string(m)
	}
	s.tell(ctx, cl, u, n, detail)
}

// tell sends a security notice after the change it reports has committed:
// a failure to queue it is logged and does not undo or fail the change.
func (s *Service) tell(ctx context.Context, cl Client, u *User, n Notice, detail string) {
	if err := s.notify(ctx, cl, u, n, detail); err != nil {
		s.log.ErrorContext(ctx, "queue security notice", "notice", string(n), "user_id", u.ID, "error", err.Error())
	}
}
