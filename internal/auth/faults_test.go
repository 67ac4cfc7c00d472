package auth_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// These tests inject faults into the store, the limiter and the hasher
// (OWASP ASVS 5.0 16.5.2, 16.5.4): a failing dependency must deny, never grant,
// answer unavailable (503) or internal, and keep its detail out of the
// client message.

// faultOp is one Service operation under fault injection. setup prepares the
// state the operation needs on a healthy env and returns the operation, which
// reports whether it granted anything (a Login, a Current, a TokenPair, a
// SignupResult, or a nil error for the operations that return only an error).
type faultOp struct {
	name  string
	cfg   func(*auth.Config)
	setup func(e *env) func() (granted bool, err error)
}

const faultEmail = "victim@example.com"

// faultOps covers the success and the failure paths of every operation the
// brief names.
func faultOps() []faultOp {
	return []faultOp{
		{name: "Authenticate/correct_password", setup: func(e *env) func() (bool, error) {
			e.signup(faultEmail, testPassword, true)
			return func() (bool, error) {
				l, err := e.login(faultEmail, testPassword, "")
				return l != nil, err
			}
		}},
		{name: "Authenticate/wrong_password", setup: func(e *env) func() (bool, error) {
			e.signup(faultEmail, testPassword, true)
			return func() (bool, error) {
				l, err := e.login(faultEmail, wrongPassword, "")
				return l != nil, err
			}
		}},
		{name: "Authenticate/unknown_email", setup: func(e *env) func() (bool, error) {
			return func() (bool, error) {
				l, err := e.login("nobody@example.com", testPassword, "")
				return l != nil, err
			}
		}},
		{name: "SessionByToken", setup: func(e *env) func() (bool, error) {
			u := e.signup(faultEmail, testPassword, true)
			ns, err := e.svc.CreateSession(e.ctx, e.cl, pwLogin(u))
			if err != nil {
				e.t.Fatal(err)
			}
			// Old enough that the check also writes last_seen_at.
			e.clock.Advance(2 * time.Minute)
			return func() (bool, error) {
				cur, u, err := e.svc.SessionByToken(e.ctx, ns.Token.Reveal())
				return cur != nil || u != nil, err
			}
		}},
		{name: "BearerByToken", setup: func(e *env) func() (bool, error) {
			u := e.signup(faultEmail, testPassword, true)
			p, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
			if err != nil {
				e.t.Fatal(err)
			}
			return func() (bool, error) {
				cur, u, err := e.svc.BearerByToken(e.ctx, p.AccessToken.Reveal())
				return cur != nil || u != nil, err
			}
		}},
		{name: "Refresh/rotate", setup: func(e *env) func() (bool, error) {
			u := e.signup(faultEmail, testPassword, true)
			p, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
			if err != nil {
				e.t.Fatal(err)
			}
			return func() (bool, error) {
				p, err := e.svc.Refresh(e.ctx, e.cl, p.RefreshToken.Reveal())
				return p != nil, err
			}
		}},
		{name: "Refresh/grace_replay", setup: func(e *env) func() (bool, error) {
			u := e.signup(faultEmail, testPassword, true)
			p, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
			if err != nil {
				e.t.Fatal(err)
			}
			if _, err := e.svc.Refresh(e.ctx, e.cl, p.RefreshToken.Reveal()); err != nil {
				e.t.Fatal(err)
			}
			return func() (bool, error) {
				p, err := e.svc.Refresh(e.ctx, e.cl, p.RefreshToken.Reveal())
				return p != nil, err
			}
		}},
		{name: "Refresh/reuse", setup: func(e *env) func() (bool, error) {
			u := e.signup(faultEmail, testPassword, true)
			p0, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
			if err != nil {
				e.t.Fatal(err)
			}
			p1, err := e.svc.Refresh(e.ctx, e.cl, p0.RefreshToken.Reveal())
			if err != nil {
				e.t.Fatal(err)
			}
			if _, err := e.svc.Refresh(e.ctx, e.cl, p1.RefreshToken.Reveal()); err != nil {
				e.t.Fatal(err)
			}
			return func() (bool, error) {
				p, err := e.svc.Refresh(e.ctx, e.cl, p0.RefreshToken.Reveal())
				return p != nil, err
			}
		}},
		{name: "ResetPassword", setup: func(e *env) func() (bool, error) {
			u := e.signup(faultEmail, testPassword, false) // unverified: the reset marks it
			if _, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u)); err != nil {
				e.t.Fatal(err)
			}
			if err := e.svc.ForgotPassword(e.ctx, e.cl, faultEmail); err != nil {
				e.t.Fatal(err)
			}
			tok := e.mailToken(faultEmail, "password_reset")
			return func() (bool, error) {
				err := e.svc.ResetPassword(e.ctx, e.cl, tok, otherPassword)
				return err == nil, err
			}
		}},
		{name: "ForgotPassword", setup: func(e *env) func() (bool, error) {
			e.signup(faultEmail, testPassword, true)
			return func() (bool, error) {
				err := e.svc.ForgotPassword(e.ctx, e.cl, faultEmail)
				return err == nil, err
			}
		}},
		{name: "Signup/new", setup: func(e *env) func() (bool, error) {
			return func() (bool, error) {
				r, err := e.svc.Signup(e.ctx, e.cl, faultEmail, testPassword)
				return r != nil, err
			}
		}},
		{name: "Signup/new_without_verification", cfg: func(c *auth.Config) { c.RequireVerification = false }, setup: func(e *env) func() (bool, error) {
			return func() (bool, error) {
				r, err := e.svc.Signup(e.ctx, e.cl, faultEmail, testPassword)
				return r != nil, err
			}
		}},
		{name: "Signup/existing_verified", setup: func(e *env) func() (bool, error) {
			e.signup(faultEmail, testPassword, true)
			return func() (bool, error) {
				r, err := e.svc.Signup(e.ctx, e.cl, faultEmail, otherPassword)
				return r != nil, err
			}
		}},
		{name: "Signup/existing_unverified", setup: func(e *env) func() (bool, error) {
			e.signup(faultEmail, testPassword, false)
			return func() (bool, error) {
				r, err := e.svc.Signup(e.ctx, e.cl, faultEmail, otherPassword)
				return r != nil, err
			}
		}},
		{name: "ChangePassword", setup: func(e *env) func() (bool, error) {
			cur := e.changeSetup()
			return func() (bool, error) {
				err := e.svc.ChangePassword(e.ctx, e.cl, cur, testPassword, otherPassword)
				return err == nil, err
			}
		}},
		{name: "ChangePassword/wrong_current", setup: func(e *env) func() (bool, error) {
			cur := e.changeSetup()
			return func() (bool, error) {
				err := e.svc.ChangePassword(e.ctx, e.cl, cur, wrongPassword, otherPassword)
				return err == nil, err
			}
		}},
	}
}

// changeSetup signs faultEmail in with a cookie session and gives it a
// second session and a refresh family, so that a password change has
// something to revoke.
func (e *env) changeSetup() auth.Current {
	e.t.Helper()
	u := e.signup(faultEmail, testPassword, true)
	ns, err := e.svc.CreateSession(e.ctx, e.cl, pwLogin(u))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.CreateSession(e.ctx, e.cl, pwLogin(u)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u)); err != nil {
		e.t.Fatal(err)
	}
	cur, _, err := e.svc.SessionByToken(e.ctx, ns.Token.Reveal())
	if err != nil {
		e.t.Fatal(err)
	}
	return *cur
}

func (op faultOp) env(t *testing.T) *env {
	cfg := testConfig()
	if op.cfg != nil {
		op.cfg(&cfg)
	}
	return newEnv(t, cfg)
}

// internalDetail is what the injected errors say; none of it may reach a
// client message.
const internalDetail = "disk I/O error at /var/lib/bulwark/private.db (table users)"

// checkNoDetail fails unless the client message is a plain sentence free of
// the injected detail, the sentinel texts and the store method's name.
func checkNoDetail(t *testing.T, ae *auth.Error, method string) {
	t.Helper()
	if ae.Message == "" {
		t.Error("message is empty")
	}
	for _, leak := range []string{
		"disk", "/var/lib", "private.db", "users", "sqlite", auth.ErrUnavailable.Error(),
		auth.ErrBusy.Error(), "redis", "10.0.0.5", ":",
	} {
		if strings.Contains(ae.Message, leak) {
			t.Errorf("message %q contains %q", ae.Message, leak)
		}
	}
	if method != "" && strings.Contains(ae.Message, method) {
		t.Errorf("message %q names the store method %s", ae.Message, method)
	}
}

// TestFaults_StoreFailureDeniesWithGenericError makes, in turn, every store
// call each operation makes fail, with an error wrapping ErrUnavailable and
// with a plain error.
func TestFaults_StoreFailureDeniesWithGenericError(t *testing.T) {
	kinds := []struct {
		name string
		err  error
		code string
	}{
		{"unavailable", fmt.Errorf("%s: %w", internalDetail, auth.ErrUnavailable), auth.CodeUnavailable},
		{"plain", errors.New(internalDetail), auth.CodeInternal},
	}
	for _, op := range faultOps() {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			// A healthy run lists the store calls the operation makes.
			e := op.env(t)
			run := op.setup(e)
			e.store.record()
			if _, err := run(); err != nil && op.name != "Refresh/reuse" && !strings.Contains(op.name, "wrong") && !strings.Contains(op.name, "unknown") {
				t.Fatalf("healthy run: %v", err)
			}
			calls := e.store.recorded()
			if len(calls) == 0 {
				t.Fatal("the operation made no store call")
			}
			for _, c := range calls {
				for _, k := range kinds {
					t.Run(c.String()+"/"+k.name, func(t *testing.T) {
						e := op.env(t)
						run := op.setup(e)
						e.store.failOn(c, k.err)
						granted, err := run()
						if e.store.called(c.Method) < c.N {
							t.Fatalf("%v was not reached (calls %v)", c, e.store.recorded())
						}
						if granted {
							t.Fatalf("granted despite failing %v (err %v)", c, err)
						}
						ae := wantCode(t, err, k.code)
						if !errors.Is(err, k.err) {
							t.Errorf("error %v does not keep the cause for the log", err)
						}
						if k.code == auth.CodeUnavailable && ae.RetryAfter <= 0 {
							t.Errorf("RetryAfter = %v, want > 0", ae.RetryAfter)
						}
						checkNoDetail(t, ae, c.Method)
					})
				}
			}
		})
	}
}

// TestFaults_ReserveLoginAttemptErrorIsNotSwallowed: if a wrong guess cannot be
// counted, the answer is unavailable, not invalid_credentials; otherwise an
// attacker who can make the counter fail guesses without limit.
func TestFaults_ReserveLoginAttemptErrorIsNotSwallowed(t *testing.T) {
	for _, email := range []string{faultEmail, "nobody@example.com"} {
		t.Run(email, func(t *testing.T) {
			e := newEnv(t, testConfig())
			e.signup(faultEmail, testPassword, true)
			e.store.failOn(storeCall{"ReserveLoginAttempt", 1}, fmt.Errorf("%s: %w", internalDetail, auth.ErrUnavailable))
			l, err := e.login(email, wrongPassword, "")
			if l != nil {
				t.Fatal("granted")
			}
			wantCode(t, err, auth.CodeUnavailable)
			if e.store.called("ReserveLoginAttempt") != 1 {
				t.Fatalf("ReserveLoginAttempt called %d times, want 1", e.store.called("ReserveLoginAttempt"))
			}
		})
	}
	t.Run("ChangePassword", func(t *testing.T) {
		e := newEnv(t, testConfig())
		cur := e.changeSetup()
		e.store.failOn(storeCall{"ReserveLoginAttempt", 1}, fmt.Errorf("%s: %w", internalDetail, auth.ErrUnavailable))
		err := e.svc.ChangePassword(e.ctx, e.cl, cur, wrongPassword, otherPassword)
		wantCode(t, err, auth.CodeUnavailable)
	})
}

// limitedOps are the operations that consult the limiter, each with whether
// it would hash a password when the limiter let it through.
func limitedOps() []faultOp {
	ops := []faultOp{}
	for _, op := range faultOps() {
		switch op.name {
		case "SessionByToken", "BearerByToken", "Refresh/rotate", "Refresh/grace_replay", "Refresh/reuse":
			// Valid credentials are not rate limited.
			continue
		}
		ops = append(ops, op)
	}
	return append(ops,
		faultOp{name: "Refresh/unknown_token", setup: func(e *env) func() (bool, error) {
			return func() (bool, error) {
				p, err := e.svc.Refresh(e.ctx, e.cl, "no-such-refresh-token")
				return p != nil, err
			}
		}},
		faultOp{name: "VerifyEmail", setup: func(e *env) func() (bool, error) {
			e.signup(faultEmail, testPassword, false)
			tok := e.mailToken(faultEmail, "verify_email")
			return func() (bool, error) {
				u, err := e.svc.VerifyEmail(e.ctx, e.cl, tok)
				return u != nil, err
			}
		}},
		faultOp{name: "ResendVerification", setup: func(e *env) func() (bool, error) {
			e.signup(faultEmail, testPassword, false)
			return func() (bool, error) {
				err := e.svc.ResendVerification(e.ctx, e.cl, faultEmail)
				return err == nil, err
			}
		}},
	)
}

// TestFaults_LimiterFailureFailsClosedBeforeHashing: a limiter that cannot
// decide means unavailable, and no password is hashed (the limit protects
// the hashing capacity) and no lockout failure is counted.
func TestFaults_LimiterFailureFailsClosedBeforeHashing(t *testing.T) {
	for _, op := range limitedOps() {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			e := op.env(t)
			run := op.setup(e)
			e.limiter.setErr(errors.New("redis: dial tcp 10.0.0.5:6379: connection refused"))
			hashed := e.hasher.calls()
			e.store.record()
			granted, err := run()
			if granted {
				t.Fatalf("granted with the limiter down (err %v)", err)
			}
			ae := wantCode(t, err, auth.CodeUnavailable)
			if ae.RetryAfter <= 0 {
				t.Errorf("RetryAfter = %v, want > 0", ae.RetryAfter)
			}
			checkNoDetail(t, ae, "")
			if n := e.hasher.calls() - hashed; n != 0 {
				t.Errorf("hasher called %d times, want 0", n)
			}
			for _, m := range []string{"RecordLoginFailure", "ConsumeOneTimeToken", "CreateUser", "EnqueueMail", "SetPasswordHash", "ReplacePassword", "ReserveLoginAttempt"} {
				if n := e.store.called(m); n != 0 {
					t.Errorf("%s called %d times with the limiter down", m, n)
				}
			}
		})
	}
}

// hashingOps are the operations that hash or verify a password.
func hashingOps() []faultOp {
	var ops []faultOp
	for _, op := range faultOps() {
		switch op.name {
		case "Authenticate/correct_password", "Authenticate/wrong_password", "Authenticate/unknown_email",
			"Signup/new", "Signup/new_without_verification", "Signup/existing_verified",
			"ChangePassword", "ChangePassword/wrong_current", "ResetPassword":
			ops = append(ops, op)
		}
	}
	return ops
}

// TestFaults_HasherBusyIsUnavailable: a full hashing pool answers 503 with a
// retry hint, counts no failed login and spends no token.
func TestFaults_HasherBusyIsUnavailable(t *testing.T) {
	for _, op := range hashingOps() {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			e := op.env(t)
			run := op.setup(e)
			e.hasher.setErr(fmt.Errorf("wait for hashing slot: queue full: %w", auth.ErrBusy))
			hashed := e.hasher.calls()
			e.store.record()
			granted, err := run()
			if granted {
				t.Fatalf("granted with the hasher busy (err %v)", err)
			}
			ae := wantCode(t, err, auth.CodeUnavailable)
			if ae.RetryAfter <= 0 {
				t.Errorf("RetryAfter = %v, want > 0", ae.RetryAfter)
			}
			checkNoDetail(t, ae, "")
			if e.hasher.calls() == hashed {
				t.Error("the hasher was not reached")
			}
			for _, m := range []string{"RecordLoginFailure", "ConsumeOneTimeToken", "CreateUser", "SetPasswordHash", "RevokeUserSessions", "ReplacePassword"} {
				if n := e.store.called(m); n != 0 {
					t.Errorf("%s called %d times with the hasher busy", m, n)
				}
			}
		})
	}
}

// TestFaults_HasherErrorNeverGrants: any other hasher error denies. A failed
// verification counts as a wrong password; a failed hash is internal.
func TestFaults_HasherErrorNeverGrants(t *testing.T) {
	want := map[string]string{
		"Authenticate/correct_password":   auth.CodeInvalidCredentials,
		"Authenticate/wrong_password":     auth.CodeInvalidCredentials,
		"Authenticate/unknown_email":      auth.CodeInternal,
		"Signup/new":                      auth.CodeInternal,
		"Signup/new_without_verification": auth.CodeInternal,
		"Signup/existing_verified":        auth.CodeInternal,
		"ChangePassword":                  auth.CodeInvalidCredentials,
		"ChangePassword/wrong_current":    auth.CodeInvalidCredentials,
		"ResetPassword":                   auth.CodeInternal,
	}
	for _, op := range hashingOps() {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			e := op.env(t)
			run := op.setup(e)
			e.hasher.setErr(errors.New("argon2: " + internalDetail))
			granted, err := run()
			if granted {
				t.Fatalf("granted with a failing hasher (err %v)", err)
			}
			ae := wantCode(t, err, want[op.name])
			checkNoDetail(t, ae, "")
		})
	}
}
