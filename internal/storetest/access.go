package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var accessTests = []testCase{
	{"SessionWithUser", testSessionWithUser},
	{"UserForAccess", testUserForAccess},
}

func testSessionWithUser(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	sessHash := randHash(t)
	sess := &auth.Session{ID: "ses_access", UserID: u.ID, TokenHash: sessHash, CreatedAt: t0, LastSeenAt: t0,
		ExpiresAt: t0.Add(time.Hour), IP: "203.0.113.1", UserAgent: "test"}
	noErr(t, "CreateSession", s.CreateSession(ctx(t), sess))
	gotS, gotU, err := s.SessionWithUser(ctx(t), sessHash)
	noErr(t, "SessionWithUser", err)
	wantS, err := s.SessionByTokenHash(ctx(t), sessHash)
	noErr(t, "SessionByTokenHash", err)
	wantU, err := s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	check(t, "SessionWithUser session", gotS, wantS)
	check(t, "SessionWithUser user", gotU, wantU)
	if _, _, err := s.SessionWithUser(ctx(t), randHash(t)); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("unknown session: %v, want ErrNotFound", err)
	}
}

func testUserForAccess(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	want, err := s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	noErr(t, "Deny", s.Deny(ctx(t), "jti:gone", t0.Add(time.Minute)))
	for _, c := range []struct {
		name string
		now  time.Time
		keys []string
		want bool
	}{
		{"no keys", t0, nil, false},
		{"not listed", t0, []string{"jti:other", "sid:other"}, false},
		{"listed", t0, []string{"jti:other", "jti:gone"}, true},
		{"expired", t0.Add(time.Minute), []string{"jti:gone"}, false},
	} {
		got, denied, err := s.UserForAccess(ctx(t), u.ID, c.now, c.keys...)
		noErr(t, "UserForAccess", err)
		if denied != c.want {
			t.Errorf("%s: denied %v, want %v", c.name, denied, c.want)
		}
		check(t, "UserForAccess "+c.name, got, want)
	}
	if _, _, err := s.UserForAccess(ctx(t), "usr_nobody", t0, "jti:gone"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("unknown user: %v, want ErrNotFound", err)
	}
}
