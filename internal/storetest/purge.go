package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// purger is the maintenance method both backends have beside auth.Store.
type purger interface {
	Purge(ctx context.Context, now time.Time) (int64, error)
}

var purgeTests = []testCase{
	{"Purge", testPurge},
}

// testPurge: Purge deletes what has expired or can no longer be used and
// keeps everything live.
func testPurge(t *testing.T, s auth.Store) {
	ctx := ctx(t)
	db, ok := s.(purger)
	if !ok {
		t.Fatal("the store has no Purge(ctx, now) (int64, error) method")
	}
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	u := &auth.User{ID: "u1", Email: "alice@example.com", CreatedAt: now}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateUser(ctx, u))
	hash := func(b byte) []byte { h := make([]byte, 32); h[0] = b; return h }

	must(s.CreateSession(ctx, &auth.Session{ID: "s-old", UserID: u.ID, TokenHash: hash(1), CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}))
	must(s.CreateSession(ctx, &auth.Session{ID: "s-live", UserID: u.ID, TokenHash: hash(2), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(s.Deny(ctx, "jti:old", now.Add(-time.Minute)))
	must(s.Deny(ctx, "jti:live", now.Add(time.Minute)))
	must(s.CreateOneTimeToken(ctx, &auth.OneTimeToken{Hash: hash(3), Kind: auth.KindVerifyEmail, UserID: u.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}))
	must(s.CreateOneTimeToken(ctx, &auth.OneTimeToken{Hash: hash(4), Kind: auth.KindPasswordReset, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	// hash(5) supersedes hash(4): used.
	must(s.CreateOneTimeToken(ctx, &auth.OneTimeToken{Hash: hash(5), Kind: auth.KindPasswordReset, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(s.CreateRefreshFamily(ctx, &auth.RefreshFamily{ID: "f-expired", UserID: u.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}, &auth.RefreshToken{Hash: hash(6), CreatedAt: now}))
	must(s.CreateRefreshFamily(ctx, &auth.RefreshFamily{ID: "f-revoked", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, &auth.RefreshToken{Hash: hash(7), CreatedAt: now}))
	must(s.RevokeFamily(ctx, "", "f-revoked", now.Add(-time.Second)))
	must(s.CreateRefreshFamily(ctx, &auth.RefreshFamily{ID: "f-live", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, &auth.RefreshToken{Hash: hash(8), CreatedAt: now}))
	if ok, err := s.RotateRefreshToken(ctx, hash(8), &auth.RefreshToken{Hash: hash(9)}, now); err != nil || !ok {
		t.Fatalf("RotateRefreshToken = %v, %v", ok, err)
	}
	if _, err := s.RecordLoginFailure(ctx, "expired-lock", now.Add(-time.Hour), 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordLoginFailure(ctx, "live-lock", now, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordLoginFailure(ctx, "below-threshold", now, 5, time.Hour); err != nil {
		t.Fatal(err)
	}

	n, err := db.Purge(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// s-old, jti:old, ott 3 (expired), ott 4 (used), f-expired + f-revoked, expired-lock.
	if n != 7 {
		t.Errorf("Purge removed %d rows, want 7", n)
	}
	gone := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("%s after Purge: %v, want ErrNotFound", what, err)
		}
	}
	kept := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s after Purge: %v", what, err)
		}
	}
	_, err = s.SessionByTokenHash(ctx, hash(1))
	gone("expired session", err)
	_, err = s.SessionByTokenHash(ctx, hash(2))
	kept("live session", err)
	if d, _ := s.Denied(ctx, now.Add(-time.Hour), "jti:old"); d {
		t.Error("expired deny-list entry kept")
	}
	if d, _ := s.Denied(ctx, now, "jti:live"); !d {
		t.Error("live deny-list entry removed")
	}
	_, err = s.OneTimeToken(ctx, auth.KindPasswordReset, hash(5), now)
	kept("live one-time token", err)
	_, _, err = s.RefreshTokenByHash(ctx, hash(6))
	gone("token of an expired family", err)
	_, _, err = s.RefreshTokenByHash(ctx, hash(7))
	gone("token of a revoked family", err)
	_, _, err = s.RefreshTokenByHash(ctx, hash(8))
	kept("used token of a live family", err)
	_, _, err = s.RefreshTokenByHash(ctx, hash(9))
	kept("current token of a live family", err)
	for key, want := range map[string]int{"expired-lock": 0, "live-lock": 1, "below-threshold": 1} {
		if l, err := s.LoginLockout(ctx, key); err != nil || l.Failures != want {
			t.Errorf("LoginLockout(%s) after Purge = %+v, %v; want %d failures", key, l, err, want)
		}
	}
	if _, err := s.UserByID(ctx, u.ID); err != nil {
		t.Errorf("user after Purge: %v", err)
	}
}
