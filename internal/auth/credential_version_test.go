package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const cvEmail = "cv@example.com"

// passwordChanges are the two ways a password is replaced, each run after a
// login checked the old password and before that login creates anything.
var passwordChanges = []struct {
	name string
	run  func(e *env, u *auth.User)
}{
	{"reset", func(e *env, u *auth.User) {
		e.t.Helper()
		if err := e.svc.ForgotPassword(e.ctx, e.cl, u.Email); err != nil {
			e.t.Fatal(err)
		}
		if err := e.svc.ResetPassword(e.ctx, e.cl, e.mailToken(u.Email, "password_reset"), otherPassword); err != nil {
			e.t.Fatal(err)
		}
	}},
	{"change", func(e *env, u *auth.User) {
		e.t.Helper()
		ns, err := e.svc.CreateSession(e.ctx, e.cl, pwLogin(u))
		if err != nil {
			e.t.Fatal(err)
		}
		cur, _, err := e.svc.SessionByToken(e.ctx, ns.Token.Reveal())
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.svc.ChangePassword(e.ctx, e.cl, *cur, testPassword, otherPassword); err != nil {
			e.t.Fatal(err)
		}
	}},
}

// TestCredentialVersion_LoginRacingPasswordChangeDoesNotSurvive orders the
// race deterministically: the login's password check completes (Authenticate
// returns), then a reset or change commits, then the login creates its cookie
// session or refresh family. Nothing may be created: the store re-checks the
// credential version read before hashing in the transaction of the insert.
func TestCredentialVersion_LoginRacingPasswordChangeDoesNotSurvive(t *testing.T) {
	creates := []struct {
		name string
		run  func(e *env, u *auth.User) (bool, error)
	}{
		{"session", func(e *env, u *auth.User) (bool, error) {
			ns, err := e.svc.CreateSession(e.ctx, e.cl, pwLogin(u))
			return ns != nil, err
		}},
		{"tokens", func(e *env, u *auth.User) (bool, error) {
			p, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
			return p != nil, err
		}},
	}
	for _, change := range passwordChanges {
		for _, create := range creates {
			t.Run(change.name+"/"+create.name, func(t *testing.T) {
				e := newEnv(t, testConfig())
				u := e.signup(cvEmail, testPassword, true)
				login, err := e.login(cvEmail, testPassword, "")
				if err != nil {
					t.Fatal(err)
				}
				change.run(e, u)
				before, err := e.db.ListSessions(e.ctx, u.ID, e.clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				created, err := create.run(e, login.User)
				if created {
					t.Fatal("a login that checked the old password created a " + create.name + " after the " + change.name)
				}
				wantCode(t, err, auth.CodeInvalidCredentials)
				after, err := e.db.ListSessions(e.ctx, u.ID, e.clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				if len(after) != len(before) {
					t.Fatalf("%d sessions after the refused login, want %d", len(after), len(before))
				}
				// The new password still signs in and creates both.
				again, err := e.login(cvEmail, otherPassword, "")
				if err != nil {
					t.Fatal(err)
				}
				if ok, err := create.run(e, again.User); !ok || err != nil {
					t.Fatalf("login with the new password: %v", err)
				}
			})
		}
	}
}

// TestCredentialVersion_BumpedByChangeAndReset: the version moves exactly
// once per password change or reset, and not on a login.
func TestCredentialVersion_BumpedByChangeAndReset(t *testing.T) {
	for _, change := range passwordChanges {
		t.Run(change.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			u := e.signup(cvEmail, testPassword, true)
			before := u.CredentialVersion
			change.run(e, u)
			after, err := e.db.UserByID(e.ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.CredentialVersion != before+1 {
				t.Fatalf("credential version %d after a %s, want %d", after.CredentialVersion, change.name, before+1)
			}
			if _, err := e.login(cvEmail, otherPassword, ""); err != nil {
				t.Fatal(err)
			}
			again, err := e.db.UserByID(e.ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if again.CredentialVersion != after.CredentialVersion {
				t.Fatalf("a login moved the credential version to %d", again.CredentialVersion)
			}
		})
	}
}

// TestDevice_PasswordChangeVoidsDeviceTokens: a device token issued before a
// reset or change no longer exempts its holder from the lockout; one issued
// after it does.
func TestDevice_PasswordChangeVoidsDeviceTokens(t *testing.T) {
	for _, change := range passwordChanges {
		t.Run(change.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.LockoutThreshold = 3
			e := newEnv(t, cfg)
			u := e.signup(cvEmail, testPassword, true)
			old, err := e.login(cvEmail, testPassword, "")
			if err != nil {
				t.Fatal(err)
			}
			change.run(e, u)
			for range cfg.LockoutThreshold {
				_, err := e.login(cvEmail, wrongPassword, "")
				wantCode(t, err, auth.CodeInvalidCredentials)
			}
			_, err = e.login(cvEmail, otherPassword, old.DeviceToken.Reveal())
			wantCode(t, err, auth.CodeAccountLocked)

			// A token issued under the new password exempts (fresh lock).
			e.clock.Advance(cfg.LockoutDuration)
			fresh, err := e.login(cvEmail, otherPassword, "")
			if err != nil {
				t.Fatal(err)
			}
			for range cfg.LockoutThreshold {
				_, _ = e.login(cvEmail, wrongPassword, "")
			}
			if _, err := e.login(cvEmail, otherPassword, fresh.DeviceToken.Reveal()); err != nil {
				t.Fatalf("device token issued after the %s: %v", change.name, err)
			}
		})
	}
}

// TestLockout_MalformedPasswordLeavesNoState: a password no account can have
// (over 1 KiB, or empty) is refused like a wrong one but without hashing or
// writing: a flood of them cannot grow login_failures.
func TestLockout_MalformedPasswordLeavesNoState(t *testing.T) {
	e := newEnv(t, testConfig())
	e.signup(cvEmail, testPassword, true)
	for _, email := range []string{cvEmail, "nobody-at-all@example.com"} {
		for _, pw := range []string{strings.Repeat("a", 1025), ""} {
			hashed := e.hasher.calls()
			_, err := e.login(email, pw, "")
			wantCode(t, err, auth.CodeInvalidCredentials)
			if n := e.hasher.calls() - hashed; n != 0 {
				t.Errorf("malformed password hashed %d times", n)
			}
			l, err := e.db.LoginLockout(e.ctx, email)
			if err != nil {
				t.Fatal(err)
			}
			if l != (auth.Lockout{}) {
				t.Errorf("malformed password for %s left lockout state %+v", email, l)
			}
		}
	}
}

// TestLockout_FailuresDecayAfterThePeriod: failures older than the lockout
// period no longer count (NIST SP 800-63B 5.2.2 limits failed attempts per
// period, not forever): threshold-1 failures, a period of quiet, and
// threshold-1 more leave the account open.
func TestLockout_FailuresDecayAfterThePeriod(t *testing.T) {
	cfg := testConfig()
	cfg.LockoutThreshold = 3
	e := newEnv(t, cfg)
	e.signup(cvEmail, testPassword, true)
	fail := func() {
		t.Helper()
		_, err := e.login(cvEmail, wrongPassword, "")
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	fail()
	fail()
	e.clock.Advance(cfg.LockoutDuration)
	fail()
	fail()
	if _, err := e.login(cvEmail, testPassword, ""); err != nil {
		t.Fatalf("decayed failures still locked the account: %v", err)
	}
	// Within one period they do add up.
	fail()
	e.clock.Advance(cfg.LockoutDuration - time.Second)
	fail()
	fail()
	_, err := e.login(cvEmail, testPassword, "")
	wantCode(t, err, auth.CodeAccountLocked)
}

// TestCredentialVersion_EpochIsExact: after a password change made with an
// access token, every token issued before the change is refused and every
// token issued after it (a refresh of the kept family) accepted, wherever
// the instants fall within a second. With a whole-second epoch alone, a
// token issued earlier in the same second survived.
func TestCredentialVersion_EpochIsExact(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		issueAt, changeAfter  time.Duration // from a whole second
		refreshAfterTheChange time.Duration
	}{
		{"same second", 100 * time.Millisecond, 500 * time.Millisecond, 100 * time.Millisecond},
		{"next second", 900 * time.Millisecond, 300 * time.Millisecond, 100 * time.Millisecond},
		{"same microsecond", 0, 0, 0},
		{"refresh in the next second", 200 * time.Millisecond, 700 * time.Millisecond, 400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			u := e.signup(cvEmail, testPassword, true)
			e.clock.Advance(time.Duration(e.clock.Now().Nanosecond())*-1 + time.Second + tc.issueAt)
			pair, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
			if err != nil {
				t.Fatal(err)
			}
			other, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
			if err != nil {
				t.Fatal(err)
			}
			cur, _, err := e.svc.BearerByToken(e.ctx, pair.AccessToken.Reveal())
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(tc.changeAfter)
			if err := e.svc.ChangePassword(e.ctx, e.cl, *cur, testPassword, otherPassword); err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]auth.Secret{"caller's": pair.AccessToken, "other family's": other.AccessToken} {
				if _, _, err := e.svc.BearerByToken(e.ctx, tok.Reveal()); err == nil {
					t.Errorf("the %s access token issued before the change still works", name)
				}
			}
			e.clock.Advance(tc.refreshAfterTheChange)
			next, err := e.svc.Refresh(e.ctx, e.cl, pair.RefreshToken.Reveal())
			if err != nil {
				t.Fatalf("refresh of the kept family: %v", err)
			}
			if _, _, err := e.svc.BearerByToken(e.ctx, next.AccessToken.Reveal()); err != nil {
				t.Errorf("access token issued after the change refused: %v", err)
			}
		})
	}
}
