package auth_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// secrets collects every credential a flow hands out, by name, so a test can
// look for each of them (and for the stored form of tokens) in the logs.
type secrets map[string]string

func (s secrets) add(name string, v string) {
	if v == "" {
		panic("empty secret " + name)
	}
	s[name] = v
}

// forms returns the ways a value could show up in a log: as sent, its
// SHA-256 as stored (hex and base64), and for a JWT its signature alone.
func forms(v string) []string {
	h := auth.HashToken(v)
	out := []string{v, hex.EncodeToString(h), base64.StdEncoding.EncodeToString(h), base64.RawURLEncoding.EncodeToString(h)}
	if strings.Count(v, ".") == 2 {
		out = append(out, v[strings.LastIndexByte(v, '.')+1:])
	}
	return out
}

// TestAudit_FullFlowLogsNoSecret drives every operation that creates or
// consumes a credential, successes and failures, and checks that no password,
// token, token hash or password hash reaches the log (ASVS 16.2.5;
// docs/events.md, "What is never logged").
func TestAudit_FullFlowLogsNoSecret(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx, cl := e.ctx, e.cl
	const email = "alice@example.com"
	sec := secrets{}
	for name, pw := range map[string]string{"password": testPassword, "wrong password": wrongPassword, "reset password": otherPassword, "changed password": thirdPassword} {
		sec.add(name, pw)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Signup and verification.
	if _, err := e.svc.Signup(ctx, cl, email, testPassword); err != nil {
		t.Fatal(err)
	}
	vtok := e.mailToken(email, "verify_email")
	sec.add("verify token", vtok)
	_, err := e.svc.VerifyEmail(ctx, cl, vtok)
	must(err)
	_, err = e.svc.VerifyEmail(ctx, cl, vtok) // replay: invalid_token
	wantCode(t, err, auth.CodeInvalidToken)
	// A second signup of the same address mails the owner.
	_, err = e.svc.Signup(ctx, cl, email, otherPassword)
	must(err)

	// Login: a failure, then a success.
	_, err = e.login(email, wrongPassword, "")
	wantCode(t, err, auth.CodeInvalidCredentials)
	login, err := e.login(email, testPassword, "")
	must(err)
	sec.add("device token", login.DeviceToken.Reveal())
	u := login.User
	sec.add("password hash", u.PasswordHash)
	_, err = e.login(email, testPassword, login.DeviceToken.Reveal())
	must(err)

	// Cookie session.
	ns, err := e.svc.CreateSession(ctx, cl, pwLogin(u))
	must(err)
	sec.add("session token", ns.Token.Reveal())
	sec.add("csrf token", ns.CSRFToken.Reveal())
	cur, _, err := e.svc.SessionByToken(ctx, ns.Token.Reveal())
	must(err)
	if !cur.CheckCSRF(ns.CSRFToken.Reveal()) {
		t.Fatal("CheckCSRF refused the session's own token")
	}

	// Tokens: issue, use, rotate, replay in the grace window, revoke.
	p0, err := e.svc.IssueTokens(ctx, cl, pwLogin(u))
	must(err)
	sec.add("access token 0", p0.AccessToken.Reveal())
	sec.add("refresh token 0", p0.RefreshToken.Reveal())
	_, _, err = e.svc.BearerByToken(ctx, p0.AccessToken.Reveal())
	must(err)
	p1, err := e.svc.Refresh(ctx, cl, p0.RefreshToken.Reveal())
	must(err)
	sec.add("access token 1", p1.AccessToken.Reveal())
	sec.add("refresh token 1", p1.RefreshToken.Reveal())
	p1b, err := e.svc.Refresh(ctx, cl, p0.RefreshToken.Reveal())
	must(err)
	sec.add("access token 1b", p1b.AccessToken.Reveal())
	must(e.svc.Revoke(ctx, cl, p1.AccessToken.Reveal()))
	must(e.svc.Revoke(ctx, cl, p1.RefreshToken.Reveal()))
	// A second family whose token is replayed after the grace window.
	q0, err := e.svc.IssueTokens(ctx, cl, pwLogin(u))
	must(err)
	sec.add("refresh token q0", q0.RefreshToken.Reveal())
	sec.add("access token q0", q0.AccessToken.Reveal())
	q1, err := e.svc.Refresh(ctx, cl, q0.RefreshToken.Reveal())
	must(err)
	sec.add("refresh token q1", q1.RefreshToken.Reveal())
	sec.add("access token q1", q1.AccessToken.Reveal())
	e.clock.Advance(time.Minute)
	_, err = e.svc.Refresh(ctx, cl, q0.RefreshToken.Reveal())
	wantCode(t, err, auth.CodeRefreshTokenReused)
	_, err = e.svc.Refresh(ctx, cl, "not-a-refresh-token")
	wantCode(t, err, auth.CodeInvalidToken)
	_, _, err = e.svc.BearerByToken(ctx, q1.AccessToken.Reveal())
	wantCode(t, err, auth.CodeUnauthenticated)

	// Reset.
	must(e.svc.ForgotPassword(ctx, cl, email))
	must(e.svc.ForgotPassword(ctx, cl, "unknown@example.com"))
	rtok := e.mailToken(email, "password_reset")
	sec.add("reset token", rtok)
	must(e.svc.ResetPassword(ctx, cl, rtok, otherPassword))
	sec.add("reset password hash", e.passwordHash(email))
	wantCode(t, e.svc.ResetPassword(ctx, cl, rtok, otherPassword), auth.CodeInvalidToken)

	// Change, wrong then right.
	login2, err := e.login(email, otherPassword, "")
	must(err)
	sec.add("device token 2", login2.DeviceToken.Reveal())
	ns2, err := e.svc.CreateSession(ctx, cl, pwLogin(login2.User))
	must(err)
	sec.add("session token 2", ns2.Token.Reveal())
	sec.add("csrf token 2", ns2.CSRFToken.Reveal())
	cur2, _, err := e.svc.SessionByToken(ctx, ns2.Token.Reveal())
	must(err)
	wantCode(t, e.svc.ChangePassword(ctx, cl, *cur2, wrongPassword, thirdPassword), auth.CodeInvalidCredentials)
	must(e.svc.ChangePassword(ctx, cl, *cur2, otherPassword, thirdPassword))
	must(e.svc.DeleteSession(ctx, cl, cur2))
	sec.add("changed password hash", e.passwordHash(email))

	logs := e.logs.String()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) < 10 {
		t.Fatalf("only %d log lines; is the logger wired?\n%s", len(lines), logs)
	}
	events := map[string]bool{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if ev, ok := m["event"].(string); ok {
			events[ev] = true
		}
	}
	for _, ev := range []string{auth.EventSignup, auth.EventEmailVerified, auth.EventLoginFailed, auth.EventLoginSucceeded,
		auth.EventTokenRevoked, auth.EventRefreshTokenReused, auth.EventPasswordResetRequested,
		auth.EventPasswordResetCompleted, auth.EventPasswordChanged, auth.EventLogout} {
		if !events[ev] {
			t.Errorf("no %s event was logged", ev)
		}
	}
	for name, v := range sec {
		for _, f := range forms(v) {
			if strings.Contains(logs, f) {
				t.Errorf("the log contains the %s (%q)", name, f)
			}
		}
	}
}

func (e *env) passwordHash(email string) string {
	e.t.Helper()
	u, err := e.db.UserByEmail(e.ctx, email)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.PasswordHash
}

// TestSecret_Redacted: a Secret given to a format verb or to slog prints
// "[redacted]".
func TestSecret_Redacted(t *testing.T) {
	const raw = "s3cr3t-t0ken-value"
	s := auth.Secret(raw)
	if s.Reveal() != raw {
		t.Fatalf("Reveal() = %q, want %q", s.Reveal(), raw)
	}
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x"} {
		t.Run(verb, func(t *testing.T) {
			got := fmt.Sprintf(verb, s)
			if strings.Contains(got, raw) || strings.Contains(got, hex.EncodeToString([]byte(raw))) {
				t.Errorf("Sprintf(%s) = %q reveals the secret", verb, got)
			}
			if verb != "%x" && !strings.Contains(got, "[redacted]") {
				t.Errorf("Sprintf(%s) = %q, want [redacted]", verb, got)
			}
		})
	}
	for _, h := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	} {
		t.Run("slog/"+h.name, func(t *testing.T) {
			var b bytes.Buffer
			slog.New(h.new(&b)).Info("msg", "token", s, slog.Any("any", s), slog.Group("g", "token", s))
			if strings.Contains(b.String(), raw) {
				t.Errorf("slog %s output reveals the secret: %s", h.name, b.String())
			}
			if strings.Count(b.String(), "[redacted]") != 3 {
				t.Errorf("slog %s output = %s, want three [redacted]", h.name, b.String())
			}
		})
	}
}

// TestSecret_RedactedInsideStructs: the values the Service returns hold their
// secrets in Secret fields, so logging a whole TokenPair, NewSession or Login
// by mistake must leak nothing either, through fmt and through both slog
// handlers. slog's JSON handler encodes a struct with encoding/json, which
// ignores String and LogValue on the fields.
func TestSecret_RedactedInsideStructs(t *testing.T) {
	const raw = "s3cr3t-t0ken-value"
	values := map[string]any{
		"TokenPair":  &auth.TokenPair{AccessToken: raw + "-a", RefreshToken: raw + "-r", FamilyID: "fam_x"},
		"NewSession": &auth.NewSession{Token: raw + "-s", CSRFToken: raw + "-c"},
		"Login":      &auth.Login{DeviceToken: raw + "-d"},
		"map":        map[string]auth.Secret{"token": raw + "-m"},
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			for _, verb := range []string{"%v", "%+v", "%#v"} {
				if got := fmt.Sprintf(verb, v); strings.Contains(got, raw) {
					t.Errorf("Sprintf(%s) = %s reveals a secret", verb, got)
				}
			}
			var jb, tb bytes.Buffer
			slog.New(slog.NewJSONHandler(&jb, nil)).Info("msg", "value", v)
			slog.New(slog.NewTextHandler(&tb, nil)).Info("msg", "value", v)
			if strings.Contains(jb.String(), raw) {
				t.Errorf("slog JSON output reveals a secret: %s", jb.String())
			}
			if strings.Contains(tb.String(), raw) {
				t.Errorf("slog text output reveals a secret: %s", tb.String())
			}
		})
	}
}

// TestCurrent_PrintingRevealsNoSessionToken: a *Current keeps the session
// token (to derive the CSRF token) in an unexported field, which fmt prints
// by reflection, bypassing any String method of the field's type.
func TestCurrent_PrintingRevealsNoSessionToken(t *testing.T) {
	e := newEnv(t, testConfig())
	u := e.signup("bob@example.com", testPassword, true)
	ns, err := e.svc.CreateSession(e.ctx, e.cl, pwLogin(u))
	if err != nil {
		t.Fatal(err)
	}
	cur, _, err := e.svc.SessionByToken(e.ctx, ns.Token.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	tok := ns.Token.Reveal()
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		if got := fmt.Sprintf(verb, cur); strings.Contains(got, tok) {
			t.Errorf("Sprintf(%s, cur) = %s reveals the session token", verb, got)
		}
	}
	var tb bytes.Buffer
	slog.New(slog.NewTextHandler(&tb, nil)).Info("msg", "cur", cur)
	if strings.Contains(tb.String(), tok) {
		t.Errorf("slog text output reveals the session token: %s", tb.String())
	}
}
