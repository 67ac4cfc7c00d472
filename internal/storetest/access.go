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
	{"AccessReadsSeeEveryWriteAtOnce", testAccessReadsSeeWrites},
}

// testAccessReadsSeeWrites: the two reads of every authenticated request
// answer from data as fresh as the last write, however often they were
// asked before (a store may cache them; revocation must still be
// immediate: ASVS 7.4.1).
func testAccessReadsSeeWrites(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	hash := randHash(t)
	noErr(t, "CreateSession", s.CreateSession(ctx(t), &auth.Session{ID: "ses_fresh", UserID: u.ID, TokenHash: hash,
		CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	keys := []string{"jti:fresh", "sid:fresh"}
	access := func() (*auth.User, bool) {
		t.Helper()
		var got *auth.User
		var denied bool
		for range 3 { // asked again and again, as requests do
			var err error
			got, denied, err = s.UserForAccess(ctx(t), u.ID, t0, keys...)
			noErr(t, "UserForAccess", err)
		}
		return got, denied
	}
	session := func() (*auth.Session, *auth.User, error) {
		t.Helper()
		var se *auth.Session
		var us *auth.User
		var err error
		for range 3 {
			se, us, err = s.SessionWithUser(ctx(t), hash)
		}
		return se, us, err
	}
	if _, denied := access(); denied {
		t.Fatal("denied before any deny-list entry")
	}
	if _, _, err := session(); err != nil {
		t.Fatal(err)
	}

	epoch := t0.Add(time.Minute)
	noErr(t, "SetTokensValidAfter", s.SetTokensValidAfter(ctx(t), u.ID, epoch))
	if got, _ := access(); !got.TokensValidAfter.Equal(epoch) {
		t.Fatalf("UserForAccess after SetTokensValidAfter: %v, want %v", got.TokensValidAfter, epoch)
	}
	if _, got, _ := session(); !got.TokensValidAfter.Equal(epoch) {
		t.Fatalf("SessionWithUser after SetTokensValidAfter: %v, want %v", got.TokensValidAfter, epoch)
	}
	noErr(t, "SetPasswordHash", s.SetPasswordHash(ctx(t), u.ID, "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA"))
	if got, _ := access(); got.PasswordHash != "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA" {
		t.Fatalf("UserForAccess after SetPasswordHash: %q", got.PasswordHash)
	}
	seen := t0.Add(2 * time.Minute)
	noErr(t, "TouchSession", s.TouchSession(ctx(t), "ses_fresh", seen))
	if se, _, _ := session(); !se.LastSeenAt.Equal(seen) {
		t.Fatalf("SessionWithUser after TouchSession: last seen %v, want %v", se.LastSeenAt, seen)
	}
	noErr(t, "Deny", s.Deny(ctx(t), "sid:fresh", t0.Add(time.Hour)))
	if _, denied := access(); !denied {
		t.Fatal("UserForAccess after Deny of the session id: not denied")
	}
	noErr(t, "DeleteSession", s.DeleteSession(ctx(t), u.ID, "ses_fresh"))
	if _, _, err := session(); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("SessionWithUser after DeleteSession: %v, want ErrNotFound", err)
	}
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
