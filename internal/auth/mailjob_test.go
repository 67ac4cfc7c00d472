package auth_test

import (
	"slices"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// TestMailJobs_SameWorkForEveryAddress checks that forgot-password and
// resend-verification do the same store work before they answer, whatever
// the address: an unknown one, an unverified, a verified and a disabled
// account. Timing follows the work; a path that issues a token only for
// known addresses answers measurably slower for them (ASVS 6.3.8).
func TestMailJobs_SameWorkForEveryAddress(t *testing.T) {
	routes := []struct {
		name string
		call func(e *env, email string) error
		job  string
	}{
		{"forgot password", func(e *env, email string) error { return e.svc.ForgotPassword(e.ctx, e.cl, email) }, auth.JobPasswordReset},
		{"resend verification", func(e *env, email string) error { return e.svc.ResendVerification(e.ctx, e.cl, email) }, auth.JobVerifyEmail},
	}
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			e := newEnv(t, auth.DefaultConfig())
			e.signup("verified@example.com", "violet tractor sunrise", true)
			e.signup("unverified@example.com", "violet tractor sunrise", false)
			e.signup("disabled@example.com", "violet tractor sunrise", true)
			e.exec(`UPDATE users SET disabled = 1 WHERE email = ?`, "disabled@example.com")
			e.mails() // resolve and forget the signups' mail
			e.exec(`DELETE FROM mail_outbox`)

			var want []storeCall
			for i, email := range []string{"nobody@example.com", "unverified@example.com", "verified@example.com", "disabled@example.com"} {
				e.store.record()
				if err := r.call(e, email); err != nil {
					t.Fatalf("%s: %v", email, err)
				}
				got := e.store.recorded()
				if i == 0 {
					want = got
				} else if !slices.Equal(got, want) {
					t.Errorf("%s: store calls %v, unknown address %v", email, got, want)
				}
			}
			if len(want) != 1 || want[0].Method != "EnqueueMail" {
				t.Errorf("store calls before the answer %v, want one EnqueueMail", want)
			}
			ms, err := e.db.PendingMail(e.ctx, e.clock.Now(), 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 4 {
				t.Fatalf("%d queued messages, want one job per request", len(ms))
			}
			for _, m := range ms {
				if m.Template != r.job {
					t.Errorf("queued %q for %s, want %q", m.Template, m.To, r.job)
				}
			}
		})
	}
}

// TestMailJobs_ResolveMailsOnlyWhereTheJobApplies resolves the jobs the way
// the mail worker does and checks which addresses get mail.
func TestMailJobs_ResolveMailsOnlyWhereTheJobApplies(t *testing.T) {
	e := newEnv(t, auth.DefaultConfig())
	e.signup("verified@example.com", "violet tractor sunrise", true)
	e.signup("unverified@example.com", "violet tractor sunrise", false)
	e.signup("disabled@example.com", "violet tractor sunrise", true)
	e.exec(`UPDATE users SET disabled = 1 WHERE email = ?`, "disabled@example.com")
	e.mails()
	e.exec(`DELETE FROM mail_outbox`)
	for _, email := range []string{"nobody@example.com", "unverified@example.com", "verified@example.com", "disabled@example.com"} {
		if err := e.svc.ForgotPassword(e.ctx, e.cl, email); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.ResendVerification(e.ctx, e.cl, email); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string][]string{}
	for _, m := range e.mails() {
		if auth.IsMailJob(m.Template) {
			t.Errorf("job %s for %s left in the outbox after resolution", m.Template, m.To)
		}
		got[m.To] = append(got[m.To], m.Template)
	}
	want := map[string][]string{
		"unverified@example.com": {"password_reset", "verify_email"},
		"verified@example.com":   {"password_reset"},
	}
	for _, email := range []string{"nobody@example.com", "unverified@example.com", "verified@example.com", "disabled@example.com"} {
		if !slices.Equal(got[email], want[email]) {
			t.Errorf("%s got mail %v, want %v", email, got[email], want[email])
		}
	}
	// The reset link works: the job issued a live token.
	tok := e.mailToken("verified@example.com", "password_reset")
	if err := e.svc.ResetPassword(e.ctx, e.cl, tok, "quiet harbour lantern"); err != nil {
		t.Fatalf("reset with the resolved job's link: %v", err)
	}
}
