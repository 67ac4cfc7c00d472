package auth_test

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const mfaPW = "correct horse battery staple 9"

// totpAt is the RFC 6238 code of the base32 secret at t (pquerna/otp's
// generator, the way an authenticator app computes it).
func totpAt(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// mfaUser is an account with TOTP on, and the cookie session that turned it
// on (re-established by the confirmation).
type mfaUser struct {
	user     *auth.User
	secret   string
	codes    []string
	session  string // cookie token of the re-established session
	enrolled time.Time
}

// enableTOTP signs email up, signs in with a cookie session, enrols and
// confirms TOTP. The confirmation spends the current time step.
func (e *env) enableTOTP(email string) mfaUser {
	e.t.Helper()
	u := e.signup(email, mfaPW, true)
	l, err := e.login(email, mfaPW, "")
	if err != nil || !l.Complete() {
		e.t.Fatalf("password login before MFA: %v, %+v", err, l)
	}
	ns, err := e.svc.CreateSession(e.ctx, e.cl, l)
	if err != nil {
		e.t.Fatal(err)
	}
	cur, _, err := e.svc.SessionByToken(e.ctx, ns.Token.Reveal())
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := e.svc.EnrollTOTP(e.ctx, e.cl, cur, "")
	if err != nil {
		e.t.Fatalf("EnrollTOTP: %v", err)
	}
	fc, err := e.svc.ConfirmTOTP(e.ctx, e.cl, cur, totpAt(e.t, en.Secret.Reveal(), e.clock.Now()))
	if err != nil {
		e.t.Fatalf("ConfirmTOTP: %v", err)
	}
	if fc.Session == nil || len(fc.RecoveryCodes) != 10 {
		e.t.Fatalf("ConfirmTOTP of a cookie caller = %+v, want a new session and 10 codes", fc)
	}
	m := mfaUser{user: u, secret: en.Secret.Reveal(), session: fc.Session.Token.Reveal(), enrolled: e.clock.Now()}
	for _, c := range fc.RecoveryCodes {
		m.codes = append(m.codes, c.Reveal())
	}
	return m
}

// nextStep moves the clock to the start of the next 30-second step.
func (e *env) nextStep() {
	now := e.clock.Now()
	e.clock.Advance(now.Truncate(30 * time.Second).Add(30 * time.Second).Sub(now))
}

// pending signs in with the password and returns the mfa_token.
func (e *env) pending(email string, mode auth.LoginMode) string {
	e.t.Helper()
	l, err := e.svc.Authenticate(e.ctx, e.cl, email, mfaPW, mode)
	if err != nil {
		e.t.Fatalf("password login of an MFA account: %v", err)
	}
	if l.MFA == nil || l.Complete() || l.DeviceToken != "" {
		e.t.Fatalf("password login of an MFA account = %+v, want only a pending login", l)
	}
	return l.MFA.Token.Reveal()
}

func TestMFA_PasswordAloneEstablishesNothing(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("pw-only@example.com")
	l, err := e.svc.Authenticate(e.ctx, e.cl, "pw-only@example.com", mfaPW, auth.ModeToken)
	if err != nil {
		t.Fatal(err)
	}
	if l.MFA == nil || l.Complete() || l.DeviceToken != "" || len(l.Methods) != 0 {
		t.Fatalf("Login = %+v, want a pending login and nothing else", l)
	}
	want := []string{"totp", "recovery_code"}
	if len(l.MFA.Methods) != 2 || l.MFA.Methods[0] != want[0] || l.MFA.Methods[1] != want[1] {
		t.Errorf("methods %v, want %v", l.MFA.Methods, want)
	}
	// Nothing can be established from it, even by a caller that ignores MFA.
	if _, err := e.svc.CreateSession(e.ctx, e.cl, l); err == nil {
		t.Error("CreateSession of a pending login succeeded")
	}
	if _, err := e.svc.IssueTokens(e.ctx, e.cl, l); err == nil {
		t.Error("IssueTokens of a pending login succeeded")
	}
	// The mfa_token is no credential.
	if _, _, err := e.svc.SessionByToken(e.ctx, l.MFA.Token.Reveal()); err == nil {
		t.Error("the mfa_token works as a session token")
	}
	if _, _, err := e.svc.BearerByToken(e.ctx, l.MFA.Token.Reveal()); err == nil {
		t.Error("the mfa_token works as a bearer token")
	}
	if _, err := e.svc.Refresh(e.ctx, e.cl, l.MFA.Token.Reveal()); err == nil {
		t.Error("the mfa_token works as a refresh token")
	}
	_ = m
}

func TestMFA_ChallengeCompletesTheLoginAsAsked(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("challenge@example.com")
	e.nextStep()
	for _, mode := range []auth.LoginMode{auth.ModeCookie, auth.ModeToken} {
		tok := e.pending("challenge@example.com", mode)
		l, got, err := e.svc.Challenge(e.ctx, e.cl, tok, totpAt(t, m.secret, e.clock.Now()), "")
		if err != nil {
			t.Fatalf("%s: Challenge: %v", mode, err)
		}
		if got != mode || !l.Complete() || l.DeviceToken == "" || l.Methods.String() != "password totp" {
			t.Fatalf("%s: Challenge = %+v, mode %s", mode, l, got)
		}
		if mode == auth.ModeToken {
			p, err := e.svc.IssueTokens(e.ctx, e.cl, l)
			if err != nil {
				t.Fatal(err)
			}
			cur, _, err := e.svc.BearerByToken(e.ctx, p.AccessToken.Reveal())
			if err != nil || cur.Methods.Level() != "aal2" {
				t.Fatalf("BearerByToken = %+v, %v; want aal2", cur, err)
			}
			// Refreshing keeps the methods and the time of sign-in.
			e.clock.Advance(time.Minute)
			p2, err := e.svc.Refresh(e.ctx, e.cl, p.RefreshToken.Reveal())
			if err != nil {
				t.Fatal(err)
			}
			cur2, _, err := e.svc.BearerByToken(e.ctx, p2.AccessToken.Reveal())
			if err != nil || cur2.Methods.String() != "password totp" || !cur2.AuthTime.Equal(cur.AuthTime) {
				t.Fatalf("after refresh: %+v, %v; want the same methods and auth time as %+v", cur2, err, cur)
			}
		}
		e.nextStep() // the code of this step is spent
	}
}

func TestMFA_CodesWorkOnceAndOnlyNearNow(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("replay@example.com")
	// Two steps after the confirmation's, so that T-1 is not spent.
	e.nextStep()
	e.nextStep()
	e.clock.Advance(10 * time.Second)
	now := e.clock.Now()
	try := func(at time.Time) error {
		_, _, err := e.svc.Challenge(e.ctx, e.cl, e.pending("replay@example.com", auth.ModeToken), totpAt(t, m.secret, at), "")
		return err
	}
	// Two steps away either way: refused.
	for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		wantCode(t, try(now.Add(d)), auth.CodeInvalidCode)
	}
	// One step back works; then the same code again does not (replay), nor
	// any older one; the current step works once.
	if err := try(now.Add(-30 * time.Second)); err != nil {
		t.Fatalf("code of step T-1: %v", err)
	}
	wantCode(t, try(now.Add(-30*time.Second)), auth.CodeInvalidCode)
	if err := try(now); err != nil {
		t.Fatalf("code of step T after T-1: %v", err)
	}
	wantCode(t, try(now), auth.CodeInvalidCode)
	wantCode(t, try(now.Add(-30*time.Second)), auth.CodeInvalidCode)
	// One step ahead (a phone whose clock runs fast) works, and then the
	// current step's code no longer does: it is older.
	if err := try(now.Add(30 * time.Second)); err != nil {
		t.Fatalf("code of step T+1: %v", err)
	}
	e.clock.Advance(30 * time.Second)
	wantCode(t, try(e.clock.Now()), auth.CodeInvalidCode)
	// Client-supplied time has no say: only the server's clock counts, so
	// no field or header can move it (the service takes none).
}

func TestMFA_ParallelRedemptionsOfOneCode(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("parallel@example.com")
	e.nextStep()
	const n = 8
	toks := make([]string, n)
	for i := range toks {
		toks[i] = e.pending("parallel@example.com", auth.ModeToken)
	}
	code := totpAt(t, m.secret, e.clock.Now())
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for _, tok := range toks {
		wg.Go(func() {
			_, _, err := e.svc.Challenge(e.ctx, e.cl, tok, code, "")
			switch {
			case err == nil:
				ok.Add(1)
			case auth.ErrorCode(err) == auth.CodeInvalidCode:
				refused.Add(1)
			default:
				t.Errorf("Challenge: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || refused.Load() != n-1 {
		t.Fatalf("%d parallel redemptions of one code: %d accepted, %d refused; want 1 and %d", n, ok.Load(), refused.Load(), n-1)
	}
}

func TestMFA_TokenExpiresAndFifthFailureSpendsIt(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("spent@example.com")
	e.nextStep()
	tok := e.pending("spent@example.com", auth.ModeCookie)
	for i := range 5 {
		_, _, err := e.svc.Challenge(e.ctx, e.cl, tok, "000000", "")
		if totpAt(t, m.secret, e.clock.Now()) == "000000" {
			t.Skip("the right code is 000000 this step")
		}
		wantCode(t, err, auth.CodeInvalidCode)
		_ = i
	}
	_, _, err := e.svc.Challenge(e.ctx, e.cl, tok, totpAt(t, m.secret, e.clock.Now()), "")
	wantCode(t, err, auth.CodeInvalidToken)

	tok = e.pending("spent@example.com", auth.ModeCookie)
	e.clock.Advance(e.cfg.MFATokenTTL)
	_, _, err = e.svc.Challenge(e.ctx, e.cl, tok, totpAt(t, m.secret, e.clock.Now()), "")
	wantCode(t, err, auth.CodeInvalidToken)

	// A password change in between voids a pending login.
	e.nextStep()
	tok = e.pending("spent@example.com", auth.ModeCookie)
	e.exec(`UPDATE users SET credential_version = credential_version + 1 WHERE id = ?`, m.user.ID)
	_, _, err = e.svc.Challenge(e.ctx, e.cl, tok, totpAt(t, m.secret, e.clock.Now()), "")
	wantCode(t, err, auth.CodeInvalidToken)
}

// TestMFA_FailedFactorsCountTowardTheLockout: whoever knows the password gets
// at most the lockout threshold of second-factor checks per lockout period,
// across as many pending logins as they start (a correct password does not
// clear that count); then even the right password and code are refused
// until the lock ends. Pending logins left unanswered count for nothing.
func TestMFA_FailedFactorsCountTowardTheLockout(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("guess@example.com")
	// A user who gives up at the code prompt again and again locks nothing.
	for range 3 * e.cfg.LockoutThreshold {
		e.pending("guess@example.com", auth.ModeToken)
	}
	e.nextStep()
	right := totpAt(t, m.secret, e.clock.Now())
	wrong := "000000"
	if right == wrong {
		wrong = "000001"
	}
	guesses := 0
	var err error
	for guesses < 200 {
		var l *auth.Login
		l, err = e.svc.Authenticate(e.ctx, e.cl, "guess@example.com", mfaPW, auth.ModeToken)
		if err != nil {
			break
		}
		for range 5 {
			_, _, err = e.svc.Challenge(e.ctx, e.cl, l.MFA.Token.Reveal(), wrong, "")
			if auth.ErrorCode(err) != auth.CodeInvalidCode {
				break
			}
			guesses++
		}
		if auth.ErrorCode(err) == auth.CodeAccountLocked {
			break
		}
	}
	wantCode(t, err, auth.CodeAccountLocked)
	if guesses != e.cfg.LockoutThreshold {
		t.Fatalf("%d wrong codes were checked before the lock; want the threshold, %d", guesses, e.cfg.LockoutThreshold)
	}
	_, err = e.svc.Authenticate(e.ctx, e.cl, "guess@example.com", mfaPW, auth.ModeToken)
	wantCode(t, err, auth.CodeAccountLocked)
	if n := strings.Count(e.logs.String(), `"event":"mfa_failed"`); n < guesses {
		t.Errorf("%d mfa_failed events, want at least %d", n, guesses)
	}
	if n := strings.Count(e.logs.String(), `"event":"account_locked"`); n != 1 {
		t.Errorf("%d account_locked events, want 1", n)
	}
	// The lock ends by itself; the right factors then work and clear it.
	e.clock.Advance(e.cfg.LockoutDuration + time.Second)
	e.nextStep()
	tok := e.pending("guess@example.com", auth.ModeToken)
	if _, _, err := e.svc.Challenge(e.ctx, e.cl, tok, totpAt(t, m.secret, e.clock.Now()), ""); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	lock, err := e.db.LoginLockout(e.ctx, "mfa:guess@example.com")
	if err != nil || lock.Failures != 0 {
		t.Errorf("second-factor lockout after a success = %+v, %v; want cleared", lock, err)
	}
}

func TestMFA_RecoveryCodesWorkOnce(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("recovery@example.com")
	used := m.codes[3]
	l, _, err := e.svc.Challenge(e.ctx, e.cl, e.pending("recovery@example.com", auth.ModeToken), "", " "+used+" ")
	if err != nil || l.Methods.String() != "password recovery_code" {
		t.Fatalf("recovery code: %+v, %v", l, err)
	}
	_, _, err = e.svc.Challenge(e.ctx, e.cl, e.pending("recovery@example.com", auth.ModeToken), "", used)
	wantCode(t, err, auth.CodeInvalidCode)
	// Both fields, or neither, is a bad request that spends nothing.
	_, _, err = e.svc.Challenge(e.ctx, e.cl, e.pending("recovery@example.com", auth.ModeToken), "123456", m.codes[0])
	wantCode(t, err, auth.CodeInvalidRequest)
	// New codes void the old set.
	cur, _, err := e.svc.SessionByToken(e.ctx, m.session)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := e.svc.RegenerateRecoveryCodes(e.ctx, e.cl, cur, "")
	if err != nil || len(fresh) != 10 {
		t.Fatalf("RegenerateRecoveryCodes = %d codes, %v", len(fresh), err)
	}
	_, _, err = e.svc.Challenge(e.ctx, e.cl, e.pending("recovery@example.com", auth.ModeToken), "", m.codes[5])
	wantCode(t, err, auth.CodeInvalidCode)
	if _, _, err := e.svc.Challenge(e.ctx, e.cl, e.pending("recovery@example.com", auth.ModeToken), "", fresh[5].Reveal()); err != nil {
		t.Fatalf("a new code: %v", err)
	}
	// Stored hashed, never as given.
	rows, err := e.db.RecoveryCodes(e.ctx, m.user.ID)
	if err != nil || len(rows) != 9 {
		t.Fatalf("RecoveryCodes = %d, %v; want 9 unused", len(rows), err)
	}
	for _, r := range rows {
		for _, c := range fresh {
			if r.Hash == c.Reveal() || len(r.Tag) != 2 {
				t.Fatalf("stored code %+v is not a hash with a 2-byte tag", r)
			}
		}
	}
}

// TestMFA_StepUpRevokesWeakerSessions: enabling TOTP revokes every session
// and refresh family established with the password alone except the
// caller's, which is replaced; a pre-MFA refresh token never turns into the
// stronger session, and a password-only session that raced the step-up is
// refused on use.
func TestMFA_StepUpRevokesWeakerSessions(t *testing.T) {
	e := newEnv(t, testConfig())
	u := e.signup("stepup@example.com", mfaPW, true)
	other, err := e.svc.CreateSession(e.ctx, e.cl, pwLogin(u))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
	if err != nil {
		t.Fatal(err)
	}
	caller, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
	if err != nil {
		t.Fatal(err)
	}
	cur, _, err := e.svc.BearerByToken(e.ctx, caller.AccessToken.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	en, err := e.svc.EnrollTOTP(e.ctx, e.cl, cur, "")
	if err != nil {
		t.Fatal(err)
	}
	fc, err := e.svc.ConfirmTOTP(e.ctx, e.cl, cur, totpAt(t, en.Secret.Reveal(), e.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if fc.Tokens == nil || fc.Session != nil {
		t.Fatalf("bearer caller got %+v, want new tokens", fc)
	}
	// The caller's new tokens are multi-factor; its old ones are gone.
	nc, _, err := e.svc.BearerByToken(e.ctx, fc.Tokens.AccessToken.Reveal())
	if err != nil || nc.Methods.String() != "password totp" {
		t.Fatalf("re-established caller: %+v, %v", nc, err)
	}
	for name, tok := range map[string]string{"caller's old access token": caller.AccessToken.Reveal(), "other access token": pair.AccessToken.Reveal()} {
		if _, _, err := e.svc.BearerByToken(e.ctx, tok); err == nil {
			t.Errorf("%s still works after the step-up", name)
		}
	}
	for name, tok := range map[string]string{"caller's old refresh token": caller.RefreshToken.Reveal(), "other refresh token": pair.RefreshToken.Reveal()} {
		if _, err := e.svc.Refresh(e.ctx, e.cl, tok); err == nil {
			t.Errorf("%s still refreshes after the step-up", name)
		}
	}
	if _, _, err := e.svc.SessionByToken(e.ctx, other.Token.Reveal()); err == nil {
		t.Error("a password-only cookie session survived the step-up")
	}
	if _, err := e.svc.Refresh(e.ctx, e.cl, fc.Tokens.RefreshToken.Reveal()); err != nil {
		t.Errorf("the re-established family does not refresh: %v", err)
	}

	// A password-only login that checked the password before the step-up
	// and established its session after it (the race the revocation cannot
	// see): refused on first use, session, token and refresh alike.
	u2, err := e.db.UserByID(e.ctx, u.ID)
	if err != nil || !u2.TOTPEnabled {
		t.Fatalf("user after confirm: %+v, %v", u2, err)
	}
	late, err := e.svc.CreateSession(e.ctx, e.cl, pwLogin(u2))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.SessionByToken(e.ctx, late.Token.Reveal()); err == nil {
		t.Error("a password-only session of an MFA account works")
	}
	latePair, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u2))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.BearerByToken(e.ctx, latePair.AccessToken.Reveal()); err == nil {
		t.Error("a password-only access token of an MFA account works")
	}
	_, err = e.svc.Refresh(e.ctx, e.cl, latePair.RefreshToken.Reveal())
	wantCode(t, err, auth.CodeInvalidToken)
}

func TestMFA_ChangesNeedAFreshAuthentication(t *testing.T) {
	e := newEnv(t, testConfig())
	u := e.signup("reauth@example.com", mfaPW, true)
	ns, err := e.svc.CreateSession(e.ctx, e.cl, pwLogin(u))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Minute)
	cur, _, err := e.svc.SessionByToken(e.ctx, ns.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.EnrollTOTP(e.ctx, e.cl, cur, "")
	wantCode(t, err, auth.CodeReauthRequired)
	_, err = e.svc.EnrollTOTP(e.ctx, e.cl, cur, "wrong password entirely 1")
	wantCode(t, err, auth.CodeInvalidCredentials)
	en, err := e.svc.EnrollTOTP(e.ctx, e.cl, cur, mfaPW)
	if err != nil {
		t.Fatalf("with the password: %v", err)
	}
	// The enrolment is not active until confirmed: the password still
	// signs in alone.
	l, err := e.login("reauth@example.com", mfaPW, "")
	if err != nil || !l.Complete() {
		t.Fatalf("login before confirmation = %+v, %v; want complete", l, err)
	}
	// A wrong code does not confirm; an expired enrolment cannot be.
	_, err = e.svc.ConfirmTOTP(e.ctx, e.cl, cur, "000000")
	if totpAt(t, en.Secret.Reveal(), e.clock.Now()) != "000000" {
		wantCode(t, err, auth.CodeInvalidCode)
	}
	e.clock.Advance(16 * time.Minute)
	_, err = e.svc.ConfirmTOTP(e.ctx, e.cl, cur, totpAt(t, en.Secret.Reveal(), e.clock.Now()))
	wantCode(t, err, auth.CodeNotFound)
}

func TestMFA_DisableNeedsThePasswordAndEndsOtherSessions(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("disable@example.com")
	e.nextStep()
	l, _, err := e.svc.Challenge(e.ctx, e.cl, e.pending("disable@example.com", auth.ModeToken), totpAt(t, m.secret, e.clock.Now()), "")
	if err != nil {
		t.Fatal(err)
	}
	otherPair, err := e.svc.IssueTokens(e.ctx, e.cl, l)
	if err != nil {
		t.Fatal(err)
	}
	cur, _, err := e.svc.SessionByToken(e.ctx, m.session)
	if err != nil {
		t.Fatal(err)
	}
	err = e.svc.DisableTOTP(e.ctx, e.cl, cur, "not the password at all 1")
	wantCode(t, err, auth.CodeInvalidCredentials)
	if err := e.svc.DisableTOTP(e.ctx, e.cl, cur, mfaPW); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(e.ctx, e.cl, otherPair.RefreshToken.Reveal()); err == nil {
		t.Error("another session survived removing the factor")
	}
	if _, _, err := e.svc.SessionByToken(e.ctx, m.session); err != nil {
		t.Errorf("the caller's session ended: %v", err)
	}
	l, err = e.login("disable@example.com", mfaPW, "")
	if err != nil || !l.Complete() {
		t.Fatalf("login after disabling = %+v, %v", l, err)
	}
	rows, err := e.db.RecoveryCodes(e.ctx, m.user.ID)
	if err != nil || len(rows) != 0 {
		t.Errorf("recovery codes after the last factor went: %d, %v", len(rows), err)
	}
	err = e.svc.DisableTOTP(e.ctx, e.cl, cur, mfaPW)
	wantCode(t, err, auth.CodeNotFound)
}

func TestMFA_DeviceTokenExemptsOnlyThePassword(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("device@example.com")
	e.nextStep()
	l, _, err := e.svc.Challenge(e.ctx, e.cl, e.pending("device@example.com", auth.ModeCookie), totpAt(t, m.secret, e.clock.Now()), "")
	if err != nil || l.DeviceToken == "" {
		t.Fatalf("Challenge = %+v, %v", l, err)
	}
	l2, err := e.login("device@example.com", mfaPW, l.DeviceToken.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if l2.MFA == nil || l2.Complete() {
		t.Fatalf("a device-token login of an MFA account = %+v, want a pending login", l2)
	}
}

func TestMFA_NothingSecretInTheLog(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("quiet@example.com")
	e.nextStep()
	code := totpAt(t, m.secret, e.clock.Now())
	tok := e.pending("quiet@example.com", auth.ModeCookie)
	if _, _, err := e.svc.Challenge(e.ctx, e.cl, tok, code, ""); err != nil {
		t.Fatal(err)
	}
	for _, secret := range append([]string{m.secret, tok, code}, m.codes...) {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log contains a secret (%d chars)", len(secret))
		}
	}
}

// TestMFA_ResetDoesNotBypassTheSecondFactor: a password reset signs nobody
// in and leaves TOTP on (ASVS 6.4.3); the new password alone is still only a
// pending login, and a pending login made before the reset is void.
func TestMFA_ResetDoesNotBypassTheSecondFactor(t *testing.T) {
	e := newEnv(t, testConfig())
	m := e.enableTOTP("reset-mfa@example.com")
	before := e.pending("reset-mfa@example.com", auth.ModeToken)
	if err := e.svc.ForgotPassword(e.ctx, e.cl, "reset-mfa@example.com"); err != nil {
		t.Fatal(err)
	}
	const next = "an entirely new passphrase 42"
	if err := e.svc.ResetPassword(e.ctx, e.cl, e.mailToken("reset-mfa@example.com", "password_reset"), next); err != nil {
		t.Fatal(err)
	}
	l, err := e.svc.Authenticate(e.ctx, e.cl, "reset-mfa@example.com", next, auth.ModeToken)
	if err != nil || l.MFA == nil || l.Complete() {
		t.Fatalf("login after a reset = %+v, %v; want a pending login", l, err)
	}
	e.nextStep()
	_, _, err = e.svc.Challenge(e.ctx, e.cl, before, totpAt(t, m.secret, e.clock.Now()), "")
	wantCode(t, err, auth.CodeInvalidToken)
	if _, _, err := e.svc.Challenge(e.ctx, e.cl, l.MFA.Token.Reveal(), totpAt(t, m.secret, e.clock.Now()), ""); err != nil {
		t.Fatalf("challenge after the reset: %v", err)
	}
}

// TestMFA_ResetDoesNotUnlockTheSecondFactor: email is no second factor, so a
// password reset clears the password's lockout and leaves the second
// factor's; an admin's unlock clears both.
func TestMFA_ResetDoesNotUnlockTheSecondFactor(t *testing.T) {
	e := newEnv(t, testConfig())
	e.enableTOTP("locked-mfa@example.com")
	for range e.cfg.LockoutThreshold {
		_, _, err := e.svc.Challenge(e.ctx, e.cl, e.pending("locked-mfa@example.com", auth.ModeToken), "", "aaaaa-aaaaa")
		wantCode(t, err, auth.CodeInvalidCode)
	}
	_, err := e.svc.Authenticate(e.ctx, e.cl, "locked-mfa@example.com", mfaPW, auth.ModeToken)
	wantCode(t, err, auth.CodeAccountLocked)
	if err := e.svc.ForgotPassword(e.ctx, e.cl, "locked-mfa@example.com"); err != nil {
		t.Fatal(err)
	}
	const next = "an entirely new passphrase 43"
	if err := e.svc.ResetPassword(e.ctx, e.cl, e.mailToken("locked-mfa@example.com", "password_reset"), next); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Authenticate(e.ctx, e.cl, "locked-mfa@example.com", next, auth.ModeToken)
	wantCode(t, err, auth.CodeAccountLocked)
}
