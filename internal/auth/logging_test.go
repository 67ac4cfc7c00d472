package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/email"
	"github.com/bulwarkauth/bulwark/internal/password"
)

// failingHandler is a log sink that refuses every record.
type failingHandler struct{}

func (failingHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (failingHandler) Handle(context.Context, slog.Record) error { return errors.New("log sink full") }
func (h failingHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h failingHandler) WithGroup(string) slog.Handler           { return h }

// withLogger rebuilds e's Service with another logger on the same store.
func (e *env) withLogger(l *slog.Logger) {
	e.t.Helper()
	svc, err := auth.NewService(e.ctx, e.cfg, auth.Deps{
		Store: e.store, Limiter: e.limiter, Hasher: e.hasher, Policy: e.policy,
		Normalize: password.Normalize, CanonicalEmail: email.Canonical, Tokens: e.tokens, Logger: l, Now: e.clock.Now,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
}

// TestLogging_FailingSinkDoesNotFailOpen (OWASP ASVS 5.0 16.5.2): a log sink that
// errors changes no decision.
func TestLogging_FailingSinkDoesNotFailOpen(t *testing.T) {
	e := newEnv(t, testConfig())
	const email = "lena@example.com"
	e.signup(email, testPassword, true)
	e.withLogger(slog.New(failingHandler{}))

	for i := 1; i <= e.cfg.LockoutThreshold; i++ {
		l, err := e.login(email, wrongPassword, "")
		if l != nil {
			t.Fatal("wrong password granted with a failing log sink")
		}
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	l, err := e.login(email, testPassword, "")
	if l != nil {
		t.Fatal("locked account granted with a failing log sink")
	}
	wantCode(t, err, auth.CodeAccountLocked)
	_, err = e.svc.Refresh(e.ctx, e.cl, "unknown-refresh-token")
	wantCode(t, err, auth.CodeInvalidToken)

	e.clock.Advance(e.cfg.LockoutDuration)
	if _, err := e.login(email, testPassword, ""); err != nil {
		t.Fatalf("right password with a failing log sink: %v", err)
	}
}
