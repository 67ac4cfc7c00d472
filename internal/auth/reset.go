package auth

import (
	"context"
	"errors"
)

// ForgotPassword mails a reset link if the email belongs to an account. The
// answer is the same whether or not it does (ASVS 6.3.8); both limits are
// keyed on the submitted email whether or not it exists.
func (s *Service) ForgotPassword(ctx context.Context, cl Client, rawEmail string) error {
	email, ok := s.canonEmail(rawEmail)
	if !ok {
		return invalidField("email", "must be a valid email address")
	}
	if err := s.limit(ctx, cl, "forgot_ip", cl.IPKey, s.cfg.EmailPerIP, email); err != nil {
		return err
	}
	if err := s.limit(ctx, cl, "forgot_email", email, s.cfg.EmailPerEmail, email); err != nil {
		return err
	}
	// The same work for every address: see JobPasswordReset.
	return s.queueJob(ctx, cl, JobPasswordReset, email)
}

// ResetPassword redeems a reset token: the new password replaces the old,
// every session, refresh family and outstanding access token of the user is
// revoked, and the lockout of the email is cleared. Completing a reset also
// proves the address, so it is marked verified. The owner is mailed the
// password_reset_completed notice (notify).
func (s *Service) ResetPassword(ctx context.Context, cl Client, token, password string) error {
	if err := s.limit(ctx, cl, "token_ip", cl.IPKey, s.cfg.TokenPerIP, ""); err != nil {
		return err
	}
	if token == "" || len(token) > 128 {
		return invalidToken()
	}
	hash := HashToken(token)
	now := s.now().UTC()
	t, err := s.store.OneTimeToken(ctx, KindPasswordReset, hash, now)
	if errors.Is(err, ErrNotFound) {
		return invalidToken()
	}
	if err != nil {
		return storeErr("reset password", err)
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if errors.Is(err, ErrNotFound) {
		return invalidToken()
	}
	if err != nil {
		return storeErr("reset password", err)
	}
	if u.Disabled {
		// A link mailed before the account was disabled opens nothing.
		return invalidToken()
	}
	pw, err := s.newPassword("new_password", password, u.Email)
	if err != nil {
		return err
	}
	pwHash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return hashErr(err)
	}
	// Spend the token only now: exactly one concurrent redemption wins.
	if _, err := s.store.ConsumeOneTimeToken(ctx, KindPasswordReset, hash, s.now().UTC()); err != nil {
		if errors.Is(err, ErrNotFound) {
			return invalidToken()
		}
		return storeErr("reset password", err)
	}
	if err := s.replacePassword(ctx, u.ID, pwHash, "", ""); err != nil {
		return err
	}
	if err := s.store.ClearLoginFailures(ctx, u.Email); err != nil {
		return storeErr("reset password", err)
	}
	if !u.EmailVerified {
		if err := s.store.MarkEmailVerified(ctx, u.ID); err != nil {
			return storeErr("reset password", err)
		}
	}
	s.audit(ctx, cl, Event{Name: EventPasswordResetCompleted, UserID: u.ID, Email: u.Email})
	return s.notify(ctx, cl, u, NoticePasswordReset, "")
}
