package auth_test

import (
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// tokenUser signs up a verified user and starts a refresh family for it.
func (e *env) tokenUser(email string) (*auth.User, *auth.TokenPair) {
	e.t.Helper()
	u := e.signup(email, testPassword, true)
	p, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
	if err != nil {
		e.t.Fatal(err)
	}
	return u, p
}

func (e *env) refresh(rt auth.Secret) (*auth.TokenPair, error) {
	return e.svc.Refresh(e.ctx, e.cl, rt.Reveal())
}

func (e *env) mustRefresh(rt auth.Secret) *auth.TokenPair {
	e.t.Helper()
	p, err := e.refresh(rt)
	if err != nil {
		e.t.Fatalf("Refresh: %v", err)
	}
	if p.RefreshToken.Reveal() == rt.Reveal() {
		e.t.Fatal("Refresh returned the token it was given")
	}
	return p
}

// bearerOK reports whether an access token is accepted.
func (e *env) bearerOK(at auth.Secret) bool {
	e.t.Helper()
	cur, _, err := e.svc.BearerByToken(e.ctx, at.Reveal())
	if err != nil {
		if auth.ErrorCode(err) != auth.CodeUnauthenticated {
			e.t.Fatalf("BearerByToken: %v, want success or unauthenticated", err)
		}
		return false
	}
	return cur != nil
}

// TestRefresh_DisabledUserRefused: disabling an account (directly in the
// database, as an operator would) stops its refresh tokens, access tokens,
// sessions and logins at once.
func TestRefresh_DisabledUserRefused(t *testing.T) {
	e := newEnv(t, testConfig())
	u, p := e.tokenUser("dora@example.com")
	ns, err := e.svc.CreateSession(e.ctx, e.cl, pwLogin(u))
	if err != nil {
		t.Fatal(err)
	}
	if !e.bearerOK(p.AccessToken) {
		t.Fatal("access token refused before the account was disabled")
	}

	e.exec("UPDATE users SET disabled = 1 WHERE id = ?", u.ID)

	got, err := e.refresh(p.RefreshToken)
	if got != nil {
		t.Fatal("refresh granted to a disabled account")
	}
	wantCode(t, err, auth.CodeInvalidToken)
	if e.bearerOK(p.AccessToken) {
		t.Error("access token of a disabled account accepted")
	}
	if cur, _, err := e.svc.SessionByToken(e.ctx, ns.Token.Reveal()); cur != nil || auth.ErrorCode(err) != auth.CodeUnauthenticated {
		t.Errorf("SessionByToken of a disabled account: %v, %v; want unauthenticated", cur, err)
	}
	l, err := e.login("dora@example.com", testPassword, "")
	if l != nil {
		t.Fatal("login granted to a disabled account")
	}
	wantCode(t, err, auth.CodeInvalidCredentials)
}

// TestRefresh_GraceReplayReturnsSameSuccessor: inside the grace window the
// replaced token yields the identical successor and a working access token;
// the successor is still the current token afterwards.
func TestRefresh_GraceReplayReturnsSameSuccessor(t *testing.T) {
	e := newEnv(t, testConfig())
	_, p0 := e.tokenUser("gina@example.com")
	p1 := e.mustRefresh(p0.RefreshToken)

	e.clock.Advance(e.cfg.RefreshGrace) // the window is inclusive
	again := e.mustRefresh(p0.RefreshToken)
	if again.RefreshToken.Reveal() != p1.RefreshToken.Reveal() {
		t.Fatal("grace replay returned a different successor (a new branch)")
	}
	if again.FamilyID != p1.FamilyID || again.FamilyID != p0.FamilyID {
		t.Errorf("family %q, want %q", again.FamilyID, p0.FamilyID)
	}
	if again.AccessToken.Reveal() == p1.AccessToken.Reveal() {
		t.Error("grace replay returned the same access token, want a fresh one")
	}
	if !e.bearerOK(again.AccessToken) || !e.bearerOK(p1.AccessToken) {
		t.Error("access tokens of a live family refused")
	}
	// The family is intact: the successor rotates normally.
	e.mustRefresh(p1.RefreshToken)
}

// TestRefresh_ReplayAfterGraceRevokesFamily: one moment past the window, the
// same replay is reuse.
func TestRefresh_ReplayAfterGraceRevokesFamily(t *testing.T) {
	e := newEnv(t, testConfig())
	_, p0 := e.tokenUser("gina@example.com")
	p1 := e.mustRefresh(p0.RefreshToken)
	e.clock.Advance(e.cfg.RefreshGrace + time.Millisecond)
	got, err := e.refresh(p0.RefreshToken)
	if got != nil {
		t.Fatal("granted")
	}
	wantCode(t, err, auth.CodeRefreshTokenReused)
	_, err = e.refresh(p1.RefreshToken)
	wantCode(t, err, auth.CodeInvalidToken)
	if e.bearerOK(p1.AccessToken) {
		t.Error("access token of a family revoked for reuse accepted")
	}
}

// TestRefresh_StrictModeHasNoGrace: with a zero window any replay is reuse.
func TestRefresh_StrictModeHasNoGrace(t *testing.T) {
	cfg := testConfig()
	cfg.RefreshGrace = 0
	e := newEnv(t, cfg)
	_, p0 := e.tokenUser("sam@example.com")
	p1 := e.mustRefresh(p0.RefreshToken)
	_, err := e.refresh(p0.RefreshToken)
	wantCode(t, err, auth.CodeRefreshTokenReused)
	_, err = e.refresh(p1.RefreshToken)
	wantCode(t, err, auth.CodeInvalidToken)
}

// TestRefresh_ReuseOfOlderTokenRevokesInsideGrace: once the successor has
// itself been rotated, presenting the first token is reuse even inside the
// window (docs/api.md, POST /v1/token: only the token rotated last is
// replayable inside the window).
func TestRefresh_ReuseOfOlderTokenRevokesInsideGrace(t *testing.T) {
	e := newEnv(t, testConfig())
	_, p0 := e.tokenUser("rita@example.com")
	e.clock.Advance(time.Second)
	p1 := e.mustRefresh(p0.RefreshToken)
	e.clock.Advance(time.Second)
	p2 := e.mustRefresh(p1.RefreshToken)
	e.clock.Advance(time.Second) // p0 was replaced 2 s ago, well inside 10 s

	got, err := e.refresh(p0.RefreshToken)
	if got != nil {
		t.Fatalf("granted %v", got.RefreshToken)
	}
	wantCode(t, err, auth.CodeRefreshTokenReused)

	// The whole family is gone: its current token and every access token.
	_, err = e.refresh(p2.RefreshToken)
	wantCode(t, err, auth.CodeInvalidToken)
	for i, at := range []auth.Secret{p0.AccessToken, p1.AccessToken, p2.AccessToken} {
		if e.bearerOK(at) {
			t.Errorf("access token %d of the revoked family accepted", i)
		}
	}
	// p1 (replaced 1 s ago, its successor already used) is reuse too.
	_, err = e.refresh(p1.RefreshToken)
	if ae := authError(t, err); ae.Code != auth.CodeInvalidToken && ae.Code != auth.CodeRefreshTokenReused {
		t.Errorf("p1 after revocation: %v", err)
	}
}

// TestRefresh_RevokedFamilyAccessTokensDenied: every way of revoking a family
// denies the access tokens issued from it by sid, while another family of
// the same user keeps working.
func TestRefresh_RevokedFamilyAccessTokensDenied(t *testing.T) {
	revokers := map[string]func(e *env, p *auth.TokenPair){
		"Revoke refresh token": func(e *env, p *auth.TokenPair) {
			if err := e.svc.Revoke(e.ctx, e.cl, p.RefreshToken.Reveal()); err != nil {
				e.t.Fatal(err)
			}
		},
		"RevokeSession by family id": func(e *env, p *auth.TokenPair) {
			cur, _, err := e.svc.BearerByToken(e.ctx, p.AccessToken.Reveal())
			if err != nil {
				e.t.Fatal(err)
			}
			if err := e.svc.RevokeSession(e.ctx, e.cl, cur, p.FamilyID); err != nil {
				e.t.Fatal(err)
			}
		},
		"LogoutBearer": func(e *env, p *auth.TokenPair) {
			cur, _, err := e.svc.BearerByToken(e.ctx, p.AccessToken.Reveal())
			if err != nil {
				e.t.Fatal(err)
			}
			if err := e.svc.LogoutBearer(e.ctx, e.cl, cur); err != nil {
				e.t.Fatal(err)
			}
		},
	}
	for name, revoke := range revokers {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			u, p0 := e.tokenUser("ivan@example.com")
			p1 := e.mustRefresh(p0.RefreshToken)
			other, err := e.svc.IssueTokens(e.ctx, e.cl, pwLogin(u))
			if err != nil {
				t.Fatal(err)
			}
			revoke(e, p1)
			for i, at := range []auth.Secret{p0.AccessToken, p1.AccessToken} {
				if e.bearerOK(at) {
					t.Errorf("access token %d of the revoked family accepted", i)
				}
			}
			if _, err := e.refresh(p1.RefreshToken); auth.ErrorCode(err) != auth.CodeInvalidToken {
				t.Errorf("refresh of the revoked family: %v, want invalid_token", err)
			}
			if !e.bearerOK(other.AccessToken) {
				t.Error("another family's access token refused")
			}
			e.mustRefresh(other.RefreshToken)
			// The deny entry outlives the access tokens it covers.
			e.clock.Advance(e.cfg.AccessTTL - time.Second)
			if e.bearerOK(p1.AccessToken) {
				t.Error("access token of the revoked family accepted near its expiry")
			}
		})
	}
}

// TestRefresh_FamilyExpires: a family ends at its absolute lifetime however
// often it is rotated.
func TestRefresh_FamilyExpires(t *testing.T) {
	e := newEnv(t, testConfig())
	_, p := e.tokenUser("fay@example.com")
	for i := 1; i <= 3; i++ {
		e.clock.Advance(e.cfg.RefreshTTL / 4)
		p = e.mustRefresh(p.RefreshToken)
	}
	e.clock.Advance(e.cfg.RefreshTTL / 4)
	got, err := e.refresh(p.RefreshToken)
	if got != nil {
		t.Fatal("refresh granted at the end of the family's lifetime")
	}
	wantCode(t, err, auth.CodeInvalidToken)
}

// TestReset_DisabledAccountLinkOpensNothing: a reset link mailed before the
// account was disabled cannot set its password.
func TestReset_DisabledAccountLinkOpensNothing(t *testing.T) {
	e := newEnv(t, testConfig())
	u := e.signup("dis@example.com", testPassword, true)
	if err := e.svc.ForgotPassword(e.ctx, e.cl, "dis@example.com"); err != nil {
		t.Fatal(err)
	}
	tok := e.mailToken("dis@example.com", "password_reset")
	e.exec("UPDATE users SET disabled = 1 WHERE id = ?", u.ID)
	err := e.svc.ResetPassword(e.ctx, e.cl, tok, "a fresh passphrase for dis")
	wantCode(t, err, auth.CodeInvalidToken)
	after, _ := e.svc.User(e.ctx, u.ID)
	if after.PasswordHash != u.PasswordHash {
		t.Fatal("a disabled account's password was reset")
	}
}
