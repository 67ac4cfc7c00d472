package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Mail jobs. A request whose work depends on whether an address has an
// account (forgot password, resend verification) does the same work for
// every address before it answers: it checks the limits and puts one job in
// the outbox, keyed by the address, and nothing else. Whether the address
// has an account, and so whether a token is issued and a mail is written,
// is decided later by the mail worker (ResolveMailJob), out of the
// request's time. Answer and timing are the same for known and unknown
// addresses (ASVS 6.3.8: no account enumeration, timing included). The job
// lives in the persistent outbox, so an accepted request survives a crash
// and a mail-server outage like any mail.
const (
	// JobPasswordReset resolves to a password_reset mail when Mail.To has
	// an enabled account.
	JobPasswordReset = "job:password_reset"
	// JobVerifyEmail resolves to a verify_email mail when Mail.To has an
	// enabled, unverified account.
	JobVerifyEmail = "job:verify_email"
)

// IsMailJob reports whether an outbox template names a job for
// ResolveMailJob rather than a mail to render.
func IsMailJob(template string) bool { return strings.HasPrefix(template, "job:") }

// queueJob puts a job for email in the outbox, with what the audit event of
// its resolution needs to know about the client (never a secret).
func (s *Service) queueJob(ctx context.Context, cl Client, job, email string) error {
	return s.queueMail(ctx, email, job, map[string]string{
		"ip": cl.IP, "request_id": cl.RequestID, "user_agent": truncate(cl.UserAgent, 256),
	})
}

// ResolveMailJob does the work of a job taken from the outbox: it looks up
// the account of m.To and, if the job applies to it, issues the token and
// queues the mail; otherwise it only records the audit event. The caller
// (internal/mail.Worker) deletes the job when it returns nil and retries it
// later otherwise. A job resolved twice (a crash between this call and the
// deletion) issues a second token, which supersedes the first: the later
// mail's link works, as with any re-sent link.
func (s *Service) ResolveMailJob(ctx context.Context, m *Mail) error {
	cl := Client{IP: m.Data["ip"], RequestID: m.Data["request_id"], UserAgent: m.Data["user_agent"]}
	email := m.To
	u, err := s.store.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("resolve %s: %w", m.Template, err)
	}
	switch m.Template {
	case JobPasswordReset:
		switch {
		case u == nil:
			s.audit(ctx, cl, Event{Name: EventPasswordResetRequested, Email: email, Reason: "unknown_email"})
			return nil
		case u.Disabled:
			s.audit(ctx, cl, Event{Name: EventPasswordResetRequested, UserID: u.ID, Email: email, Reason: "disabled"})
			return nil
		}
		// Issuing a token supersedes every older one of the user.
		tok, err := s.issueOneTime(ctx, u.ID, KindPasswordReset, s.cfg.ResetTTL)
		if err != nil {
			return err
		}
		if err := s.queueMail(ctx, u.Email, "password_reset", map[string]string{"link": s.link(s.cfg.ResetPasswordURL, "reset-password", tok)}); err != nil {
			return err
		}
		s.audit(ctx, cl, Event{Name: EventPasswordResetRequested, UserID: u.ID, Email: email})
		return nil
	case JobVerifyEmail:
		if u == nil || u.EmailVerified || u.Disabled {
			return nil
		}
		// A resent link carries the password of the latest signup of the
		// address, the one whose link is the newest: resending never
		// revives an older signup's password.
		hash := u.PasswordHash
		if newest, err := s.store.NewestOneTimeToken(ctx, u.ID, KindVerifyEmail); err == nil && newest.PasswordHash != "" {
			hash = newest.PasswordHash
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return storeErr("resend verification", err)
		}
		return s.sendVerification(ctx, u, hash)
	}
	return fmt.Errorf("resolve mail job: unknown job %q", m.Template)
}
