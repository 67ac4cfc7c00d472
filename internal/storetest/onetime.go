package storetest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var oneTimeTokenTests = []testCase{
	{"CreateGetConsume", testOneTimeCreateGetConsume},
	{"WrongKind", testOneTimeWrongKind},
	{"Expiry", testOneTimeExpiry},
	{"Supersede", testOneTimeSupersede},
	{"ConcurrentConsume", testOneTimeConcurrentConsume},
	{"UnknownUser", testOneTimeUnknownUser},
}

func newOneTimeToken(t *testing.T, s auth.Store, userID string, kind auth.OneTimeKind, createdAt time.Time) *auth.OneTimeToken {
	t.Helper()
	tok := &auth.OneTimeToken{
		Hash:      randHash(t),
		Kind:      kind,
		UserID:    userID,
		CreatedAt: createdAt,
		ExpiresAt: createdAt.Add(time.Hour),
	}
	noErr(t, "CreateOneTimeToken", s.CreateOneTimeToken(ctx(t), tok))
	return tok
}

func testOneTimeCreateGetConsume(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	tok := newOneTimeToken(t, s, u.ID, auth.KindVerifyEmail, t0)
	now := t0.Add(time.Minute)

	got, err := s.OneTimeToken(ctx(t), auth.KindVerifyEmail, tok.Hash, now)
	noErr(t, "OneTimeToken", err)
	check(t, "OneTimeToken", got, tok)
	_, err = s.OneTimeToken(ctx(t), auth.KindVerifyEmail, tok.Hash, now)
	noErr(t, "OneTimeToken again (it does not consume)", err)

	got, err = s.ConsumeOneTimeToken(ctx(t), auth.KindVerifyEmail, tok.Hash, now)
	noErr(t, "ConsumeOneTimeToken", err)
	want := *tok
	want.UsedAt = now
	check(t, "ConsumeOneTimeToken", got, &want)

	_, err = s.ConsumeOneTimeToken(ctx(t), auth.KindVerifyEmail, tok.Hash, now)
	wantErr(t, "ConsumeOneTimeToken of a used token", err, auth.ErrNotFound)
	_, err = s.OneTimeToken(ctx(t), auth.KindVerifyEmail, tok.Hash, now)
	wantErr(t, "OneTimeToken of a used token", err, auth.ErrNotFound)

	_, err = s.ConsumeOneTimeToken(ctx(t), auth.KindVerifyEmail, randHash(t), now)
	wantErr(t, "ConsumeOneTimeToken of an unknown hash", err, auth.ErrNotFound)
	_, err = s.OneTimeToken(ctx(t), auth.KindVerifyEmail, randHash(t), now)
	wantErr(t, "OneTimeToken of an unknown hash", err, auth.ErrNotFound)
}

func testOneTimeWrongKind(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	tok := newOneTimeToken(t, s, u.ID, auth.KindPasswordReset, t0)
	_, err := s.OneTimeToken(ctx(t), auth.KindVerifyEmail, tok.Hash, t0)
	wantErr(t, "OneTimeToken with another kind", err, auth.ErrNotFound)
	_, err = s.ConsumeOneTimeToken(ctx(t), auth.KindVerifyEmail, tok.Hash, t0)
	wantErr(t, "ConsumeOneTimeToken with another kind", err, auth.ErrNotFound)
	// The failed attempt changed nothing.
	_, err = s.ConsumeOneTimeToken(ctx(t), auth.KindPasswordReset, tok.Hash, t0)
	noErr(t, "ConsumeOneTimeToken with its kind", err)
}

func testOneTimeExpiry(t *testing.T, s auth.Store) {
	u1, u2 := newUser(t, s), newUser(t, s)
	a := newOneTimeToken(t, s, u1.ID, auth.KindPasswordReset, t0)
	b := newOneTimeToken(t, s, u2.ID, auth.KindPasswordReset, t0)

	// Expired at its expiry instant.
	_, err := s.OneTimeToken(ctx(t), a.Kind, a.Hash, a.ExpiresAt)
	wantErr(t, "OneTimeToken at its expiry", err, auth.ErrNotFound)
	_, err = s.ConsumeOneTimeToken(ctx(t), a.Kind, a.Hash, a.ExpiresAt)
	wantErr(t, "ConsumeOneTimeToken at its expiry", err, auth.ErrNotFound)
	_, err = s.ConsumeOneTimeToken(ctx(t), a.Kind, a.Hash, a.ExpiresAt.Add(time.Hour))
	wantErr(t, "ConsumeOneTimeToken after its expiry", err, auth.ErrNotFound)
	// The failed attempts did not mark it used.
	_, err = s.ConsumeOneTimeToken(ctx(t), a.Kind, a.Hash, a.ExpiresAt.Add(-time.Millisecond))
	noErr(t, "ConsumeOneTimeToken a millisecond before its expiry", err)

	_, err = s.OneTimeToken(ctx(t), b.Kind, b.Hash, b.ExpiresAt.Add(-time.Millisecond))
	noErr(t, "OneTimeToken a millisecond before its expiry", err)
}

func testOneTimeSupersede(t *testing.T, s auth.Store) {
	u, other := newUser(t, s), newUser(t, s)
	old := newOneTimeToken(t, s, u.ID, auth.KindVerifyEmail, t0)
	reset := newOneTimeToken(t, s, u.ID, auth.KindPasswordReset, t0)
	otherVerify := newOneTimeToken(t, s, other.ID, auth.KindVerifyEmail, t0)
	newer := newOneTimeToken(t, s, u.ID, auth.KindVerifyEmail, t0.Add(time.Second))
	now := t0.Add(time.Minute)

	_, err := s.OneTimeToken(ctx(t), old.Kind, old.Hash, now)
	wantErr(t, "OneTimeToken of a superseded token", err, auth.ErrNotFound)
	_, err = s.ConsumeOneTimeToken(ctx(t), old.Kind, old.Hash, now)
	wantErr(t, "ConsumeOneTimeToken of a superseded token", err, auth.ErrNotFound)
	for _, tok := range []*auth.OneTimeToken{newer, reset, otherVerify} {
		_, err = s.ConsumeOneTimeToken(ctx(t), tok.Kind, tok.Hash, now)
		if err != nil {
			t.Errorf("ConsumeOneTimeToken %s of user %s: %v", tok.Kind, tok.UserID, err)
		}
	}
}

func testOneTimeConcurrentConsume(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	tok := newOneTimeToken(t, s, u.ID, auth.KindPasswordReset, t0)
	var ok, notFound atomic.Int32
	parallel(20, func(int) {
		got, err := s.ConsumeOneTimeToken(ctx(t), tok.Kind, tok.Hash, t0.Add(time.Second))
		switch {
		case err == nil:
			ok.Add(1)
			if got.UserID != u.ID {
				t.Errorf("ConsumeOneTimeToken: UserID = %q, want %q", got.UserID, u.ID)
			}
		case errors.Is(err, auth.ErrNotFound):
			notFound.Add(1)
		default:
			t.Errorf("ConsumeOneTimeToken: %v", err)
		}
	})
	if ok.Load() != 1 || notFound.Load() != 19 {
		t.Errorf("20 concurrent ConsumeOneTimeToken: %d succeeded and %d got ErrNotFound, want 1 and 19", ok.Load(), notFound.Load())
	}
}

func testOneTimeUnknownUser(t *testing.T, s auth.Store) {
	tok := &auth.OneTimeToken{Hash: randHash(t), Kind: auth.KindVerifyEmail, UserID: "no-such-id", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantErr(t, "CreateOneTimeToken for an unknown user", s.CreateOneTimeToken(ctx(t), tok), auth.ErrNotFound)
}
