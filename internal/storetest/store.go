package storetest

import (
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var storeTests = []testCase{
	{"Ping", testPing},
	{"TimePrecision", testTimePrecision},
	{"Close", testClose},
}

func testPing(t *testing.T, s auth.Store) {
	noErr(t, "Ping", s.Ping(ctx(t)))
}

// testTimePrecision checks that times come back as the same instant whatever
// their location, to the millisecond at least, and that zero times stay
// zero.
func testTimePrecision(t *testing.T, s auth.Store) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	fine := time.Date(2026, 3, 14, 15, 0, 0, 123_456_789, zone)
	farFuture := time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
	near := func(what string, got, want time.Time) {
		t.Helper()
		if d := want.Sub(got); d <= -time.Millisecond || d >= time.Millisecond {
			t.Errorf("%s = %v, want %v to the millisecond", what, got, want)
		}
	}

	u := &auth.User{ID: randID(t), Email: "time@example.com", CreatedAt: fine, TokensValidAfter: t0.In(zone)}
	noErr(t, "CreateUser", s.CreateUser(ctx(t), u))
	got, err := s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	near("CreatedAt", got.CreatedAt, fine)
	check(t, "TokensValidAfter (millisecond precision)", got.TokensValidAfter, t0)

	sess := &auth.Session{ID: randID(t), UserID: u.ID, TokenHash: randHash(t), CreatedAt: t0, ExpiresAt: farFuture}
	noErr(t, "CreateSession", s.CreateSession(ctx(t), sess))
	gotS, err := s.SessionByTokenHash(ctx(t), sess.TokenHash)
	noErr(t, "SessionByTokenHash", err)
	check(t, "far-future ExpiresAt", gotS.ExpiresAt, farFuture)
	if !gotS.LastSeenAt.IsZero() {
		t.Errorf("zero LastSeenAt came back as %v", gotS.LastSeenAt)
	}

	f, first := newFamily(t, s, u.ID, fine, t0.Add(time.Hour))
	gotT, gotF, err := s.RefreshTokenByHash(ctx(t), first.Hash)
	noErr(t, "RefreshTokenByHash", err)
	near("family CreatedAt", gotF.CreatedAt, f.CreatedAt)
	near("token CreatedAt", gotT.CreatedAt, first.CreatedAt)
	if !gotF.RevokedAt.IsZero() || !gotT.UsedAt.IsZero() {
		t.Errorf("zero times came back as RevokedAt %v, UsedAt %v", gotF.RevokedAt, gotT.UsedAt)
	}

	// A comparison with now is made on the stored instant.
	tok := &auth.OneTimeToken{Hash: randHash(t), Kind: auth.KindVerifyEmail, UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour).In(zone)}
	noErr(t, "CreateOneTimeToken", s.CreateOneTimeToken(ctx(t), tok))
	_, err = s.OneTimeToken(ctx(t), tok.Kind, tok.Hash, t0.Add(time.Hour-time.Millisecond))
	noErr(t, "OneTimeToken a millisecond before expiry, in another zone", err)
	_, err = s.OneTimeToken(ctx(t), tok.Kind, tok.Hash, t0.Add(time.Hour))
	wantErr(t, "OneTimeToken at expiry, in another zone", err, auth.ErrNotFound)
}

// testClose checks that a closed store fails with ErrUnavailable, neither
// panicking nor pretending that rows are missing.
func testClose(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	noErr(t, "Close", s.Close())
	wantErr(t, "Ping after Close", s.Ping(ctx(t)), auth.ErrUnavailable)
	_, err := s.UserByID(ctx(t), u.ID)
	wantErr(t, "UserByID after Close", err, auth.ErrUnavailable)
	wantErr(t, "CreateUser after Close", s.CreateUser(ctx(t), &auth.User{ID: randID(t), Email: "late@example.com", CreatedAt: t0}), auth.ErrUnavailable)
	_, err = s.RotateRefreshToken(ctx(t), randHash(t), &auth.RefreshToken{Hash: randHash(t)}, t0)
	wantErr(t, "RotateRefreshToken after Close", err, auth.ErrUnavailable)
}
