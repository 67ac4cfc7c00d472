package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxEmailLength is the longest address RFC 5321 §4.5.3.1 allows (a 256-octet
// path less the angle brackets).
const maxEmailLength = 254

// NormalizeEmail trims and lower-cases an address and checks that it is one
// plain address (no display name, no comments) of at most 254 characters with
// a local part of at most 64. Emails are compared case-insensitively (docs/api.md).
func NormalizeEmail(raw string) (string, bool) {
	// Check the raw input: ToLower would turn invalid bytes into U+FFFD and
	// so alias distinct inputs to one address.
	if !utf8.ValidString(raw) {
		return "", false
	}
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" || len(e) > maxEmailLength {
		return "", false
	}
	for _, r := range e {
		// Control characters (C0 and C1), line and paragraph separators, and
		// invisible format characters such as U+202E have no place in an
		// address and could disguise one in a log or a mail client.
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			return "", false
		}
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", false
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || at > 64 || at == len(e)-1 {
		return "", false
	}
	return e, true
}

func invalidField(field, why string) *Error {
	return &Error{Code: CodeInvalidRequest, Message: "The request is invalid.", Fields: map[string]string{field: why}}
}

// newPassword normalises a new password and applies the policy.
func (s *Service) newPassword(field, password, email string) (string, error) {
	pw, ok := s.normalize(password)
	if !ok {
		return "", invalidField(field, "must be valid UTF-8")
	}
	if reason := s.policy.Check(pw, email); reason != "" {
		return "", &Error{Code: CodeWeakPassword, Message: weakMessage(reason), Reason: reason}
	}
	return pw, nil
}

func weakMessage(reason string) string {
	switch reason {
	case "too_short":
		return "The password is too short."
	case "too_long":
		return "The password is too long."
	case "common":
		return "The password is too common; choose another."
	case "contains_email":
		return "The password must not contain your email address."
	}
	return "The password is too weak."
}

// SignupResult says what a signup did.
type SignupResult struct {
	// User is set when verification is off (201). With verification
	// required it is nil whether or not the email was new (202), so the
	// response cannot reveal which accounts exist (ASVS 6.3.8).
	User *User
}

// Signup creates an account. With verification required it answers the same
// for a new and an existing email, spends the same hashing time on both, and
// mails the existing owner instead.
//
// Sign-up and verification rule: every signup of an unverified address mails
// a fresh verification link that carries the hash of the password chosen by
// THAT signup; a signup never changes the stored password of an existing
// account. Verifying puts the password of the signup whose link was clicked
// in force and voids every other verification link of the address, so an
// address can never be verified into a password chosen by somebody else
// ("pre-hijacking", Sudhodanan and Paverd 2022; ASVS 6.3.8).
func (s *Service) Signup(ctx context.Context, cl Client, rawEmail, password string) (*SignupResult, error) {
	email, ok := s.canonEmail(rawEmail)
	if !ok {
		return nil, invalidField("email", "must be a valid email address")
	}
	if err := s.limit(ctx, cl, "signup_ip", cl.IPKey, s.cfg.SignupPerIP, ""); err != nil {
		return nil, err
	}
	pw, err := s.newPassword("password", password, email)
	if err != nil {
		return nil, err
	}
	existing, err := s.store.UserByEmail(ctx, email)
	switch {
	case err == nil:
		return s.signupExisting(ctx, cl, existing, pw)
	case !errors.Is(err, ErrNotFound):
		return nil, storeErr("signup", err)
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return nil, hashErr(err)
	}
	id, err := newID(s.rand, "usr_")
	if err != nil {
		return nil, storeErr("signup", err)
	}
	now := s.now().UTC()
	u := &User{ID: id, Email: email, PasswordHash: hash, EmailVerified: !s.cfg.RequireVerification, CreatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ErrConflict) {
			// Lost a race with a concurrent signup of the same address.
			existing, err := s.store.UserByEmail(ctx, email)
			if err != nil {
				return nil, storeErr("signup", err)
			}
			return s.signupExisting(ctx, cl, existing, "")
		}
		return nil, storeErr("signup", err)
	}
	s.audit(ctx, cl, Event{Name: EventSignup, UserID: u.ID, Email: email})
	if !s.cfg.RequireVerification {
		return &SignupResult{User: u}, nil
	}
	if err := s.sendVerification(ctx, u, hash); err != nil {
		return nil, err
	}
	return &SignupResult{}, nil
}

func (s *Service) signupExisting(ctx context.Context, cl Client, u *User, pw string) (*SignupResult, error) {
	if !s.cfg.RequireVerification {
		return nil, &Error{Code: CodeEmailTaken, Message: "An account with this email already exists."}
	}
	// Hash the password as a new account would: the same cost, and the
	// hash a fresh verification link of an unverified account carries.
	hash := ""
	if pw != "" {
		var err error
		if hash, err = s.hasher.Hash(ctx, pw); err != nil {
			return nil, hashErr(err)
		}
	}
	// Repeated signups with someone's address must not flood their inbox:
	// past the per-email mail limit the answer stays the same (a 429 would
	// reveal that the account exists) and no mail is sent.
	ok, _, err := s.limiter.Allow(ctx, s.limiterKey("signup_email", u.Email), s.cfg.EmailPerEmail)
	if err != nil {
		return nil, unavailable(fmt.Errorf("rate limit signup_email: %w", err))
	}
	if !ok {
		return &SignupResult{}, nil
	}
	if !u.EmailVerified && !u.Disabled {
		// A fresh link carrying THIS signup's password; the stored
		// password stays as it is until a link is clicked.
		if hash == "" {
			// Lost the creation race: the winner's link is on its way.
			return &SignupResult{}, nil
		}
		if err := s.sendVerification(ctx, u, hash); err != nil {
			return nil, err
		}
		return &SignupResult{}, nil
	}
	if !u.EmailVerified {
		return &SignupResult{}, nil
	}
	err = s.queueMail(ctx, u.Email, "already_registered", map[string]string{
		"sign_in_url": s.cfg.PublicURL + "/sign-in",
		"reset_url":   s.forgotPasswordURL(),
	})
	if err != nil {
		return nil, err
	}
	return &SignupResult{}, nil
}

// sendVerification issues a verification token carrying passwordHash (the
// password that verifying it puts in force), superseding older ones, and
// queues the mail.
func (s *Service) sendVerification(ctx context.Context, u *User, passwordHash string) error {
	tok, err := s.issueOneTimeWithPassword(ctx, u.ID, KindVerifyEmail, s.cfg.VerifyTTL, passwordHash)
	if err != nil {
		return err
	}
	return s.queueMail(ctx, u.Email, "verify_email", map[string]string{"link": s.link(s.cfg.VerifyEmailURL, "verify-email", tok)})
}

func (s *Service) issueOneTime(ctx context.Context, userID string, kind OneTimeKind, ttl time.Duration) (Secret, error) {
	return s.issueOneTimeWithPassword(ctx, userID, kind, ttl, "")
}

func (s *Service) issueOneTimeWithPassword(ctx context.Context, userID string, kind OneTimeKind, ttl time.Duration, passwordHash string) (Secret, error) {
	tok, err := newToken(s.rand)
	if err != nil {
		return "", storeErr("issue token", err)
	}
	now := s.now().UTC()
	t := &OneTimeToken{Hash: HashToken(tok.Reveal()), Kind: kind, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(ttl), PasswordHash: passwordHash}
	if err := s.store.CreateOneTimeToken(ctx, t); err != nil {
		return "", storeErr("issue token", err)
	}
	return tok, nil
}

// VerifyEmail redeems a verification token: in one store transaction
// (VerifyEmailWithPassword) the password of the signup that produced the
// token is put in force, the address is marked verified and every other
// verification link of the address stops working. A link of an address
// already verified (by another link or by a password reset) opens nothing.
// Every session and refresh family of the user is then ended, since the
// password changed.
func (s *Service) VerifyEmail(ctx context.Context, cl Client, token string) (*User, error) {
	if err := s.limit(ctx, cl, "token_ip", cl.IPKey, s.cfg.TokenPerIP, ""); err != nil {
		return nil, err
	}
	if token == "" {
		return nil, invalidField("token", "is required")
	}
	t, err := s.store.VerifyEmailWithPassword(ctx, HashToken(token), s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return nil, invalidToken()
	}
	if err != nil {
		return nil, storeErr("verify email", err)
	}
	// The credential version moved in that transaction, so nothing a login
	// with the older password starts can outlive this; what exists ends now.
	now := s.now().UTC()
	fams, err := s.store.RevokeUserSessions(ctx, t.UserID, "", "", now)
	if err != nil {
		return nil, storeErr("verify email", err)
	}
	if err := s.denyFamilies(ctx, fams, now); err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if err != nil {
		return nil, storeErr("verify email", err)
	}
	s.audit(ctx, cl, Event{Name: EventEmailVerified, UserID: u.ID, Email: u.Email})
	return u, nil
}

// ResendVerification mails a fresh verification link to an unverified
// account. It answers the same whether or not the account exists.
func (s *Service) ResendVerification(ctx context.Context, cl Client, rawEmail string) error {
	email, ok := s.canonEmail(rawEmail)
	if !ok {
		return invalidField("email", "must be a valid email address")
	}
	if err := s.limit(ctx, cl, "resend_ip", cl.IPKey, s.cfg.EmailPerIP, email); err != nil {
		return err
	}
	if err := s.limit(ctx, cl, "resend_email", email, s.cfg.EmailPerEmail, email); err != nil {
		return err
	}
	// The same work for every address: see JobVerifyEmail.
	return s.queueJob(ctx, cl, JobVerifyEmail, email)
}

// User returns the account with this id.
func (s *Service) User(ctx context.Context, id string) (*User, error) {
	u, err := s.store.UserByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, unauthenticated()
	}
	if err != nil {
		return nil, storeErr("load user", err)
	}
	return u, nil
}

// ChangePassword replaces the password of a signed-in user after checking the
// current one. Every other session and refresh family of the user is revoked,
// and every access token issued before now stops working (the caller's
// current session or family, named in cur, is kept so the client can go on).
// The owner is mailed the password_changed notice (notify).
func (s *Service) ChangePassword(ctx context.Context, cl Client, cur Current, current, next string) error {
	u, err := s.User(ctx, cur.UserID)
	if err != nil {
		return err
	}
	newPW, err := s.newPassword("new_password", next, u.Email)
	if err != nil {
		return err
	}
	if err := s.checkPassword(ctx, cl, u, current, "current_password"); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, newPW)
	if err != nil {
		return hashErr(err)
	}
	// The new hash, the credential-version bump (voiding device tokens and
	// in-flight logins) and the revocation commit together.
	if err := s.replacePassword(ctx, u.ID, hash, cur.SessionID, cur.FamilyID); err != nil {
		return err
	}
	if err := s.store.ClearLoginFailures(ctx, u.Email); err != nil {
		return storeErr("change password", err)
	}
	s.audit(ctx, cl, Event{Name: EventPasswordChanged, UserID: u.ID, Email: u.Email})
	return s.notify(ctx, cl, u, NoticePasswordChanged, "")
}

// checkPassword checks the password of a signed-in user (a password change,
// removing a factor, a re-authentication). A stolen session must not make a
// way around the lockout: the password is checked under the same per-email
// limit and reservation as a login, and a wrong one counts as a failure.
// field names the request field in errors.
func (s *Service) checkPassword(ctx context.Context, cl Client, u *User, password, field string) error {
	if err := s.limit(ctx, cl, "login_email", u.Email, s.cfg.LoginPerEmail, u.Email); err != nil {
		return err
	}
	reserved := !s.deviceValid(cl.DeviceToken, u.Email, u.CredentialVersion)
	if reserved {
		if err := s.reserveCheck(ctx, cl, u.Email, u.ID); err != nil {
			return err
		}
	}
	pw, ok := s.normalize(password)
	if !ok {
		return invalidField(field, "must be valid UTF-8")
	}
	match := false
	if len(pw) <= maxPasswordBytes && pw != "" {
		var err error
		match, _, err = s.hasher.Verify(ctx, pw, u.PasswordHash)
		if hashNoAnswer(err) {
			return hashErr(err)
		}
		if err != nil {
			// A malformed stored hash never matches.
			s.log.ErrorContext(ctx, "verify password", "error", err.Error(), "user_id", u.ID)
			match = false
		}
	}
	if !match {
		var lock Lockout
		var err error
		if reserved {
			lock, err = s.store.LoginLockout(ctx, u.Email)
		} else {
			lock, err = s.store.RecordLoginFailure(ctx, u.Email, s.now().UTC(), s.cfg.LockoutThreshold, s.cfg.LockoutDuration)
		}
		if err != nil {
			return storeErr("check password", err)
		}
		s.audit(ctx, cl, Event{Name: EventLoginFailed, UserID: u.ID, Email: u.Email, Reason: "wrong_current_password"})
		if lock.Failures == s.cfg.LockoutThreshold {
			s.audit(ctx, cl, Event{Name: EventAccountLocked, UserID: u.ID, Email: u.Email})
		}
		e := invalidCredentials()
		e.Message = "The current password is incorrect."
		// 403, not 401: the caller is authenticated (docs/api.md, "Errors").
		e.Reason = "wrong_current_password"
		return e
	}
	if err := s.store.ClearLoginFailures(ctx, u.Email); err != nil {
		return storeErr("check password", err)
	}
	return nil
}
