package storetest

import (
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var sessionTests = []testCase{
	{"CreateAndGet", testSessionCreateAndGet},
	{"Touch", testSessionTouch},
	{"Delete", testSessionDelete},
	{"DeleteExpired", testSessionDeleteExpired},
	{"UnknownUser", testSessionUnknownUser},
}

// newSession creates a cookie session of userID created at createdAt and
// expiring at expiresAt.
func newSession(t *testing.T, s auth.Store, userID string, createdAt, expiresAt time.Time) *auth.Session {
	t.Helper()
	sess := &auth.Session{
		ID:         randID(t),
		UserID:     userID,
		TokenHash:  randHash(t),
		CreatedAt:  createdAt,
		LastSeenAt: createdAt,
		ExpiresAt:  expiresAt,
		IP:         "192.0.2.7",
		UserAgent:  "Mozilla/5.0 (storetest)",
		Methods:    auth.Methods{auth.MethodPassword},
	}
	noErr(t, "CreateSession", s.CreateSession(ctx(t), sess))
	return sess
}

func getSession(t *testing.T, s auth.Store, hash []byte) (*auth.Session, error) {
	t.Helper()
	return s.SessionByTokenHash(ctx(t), hash)
}

func testSessionCreateAndGet(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	live := newSession(t, s, u.ID, t0, t0.Add(time.Hour))
	got, err := getSession(t, s, live.TokenHash)
	noErr(t, "SessionByTokenHash", err)
	check(t, "SessionByTokenHash", got, live)

	// Whatever its expiry: the Service decides.
	expired := newSession(t, s, u.ID, t0.Add(-2*time.Hour), t0.Add(-time.Hour))
	got, err = getSession(t, s, expired.TokenHash)
	noErr(t, "SessionByTokenHash of an expired session", err)
	check(t, "SessionByTokenHash of an expired session", got, expired)

	// Empty optional fields. No methods is the password alone.
	bare := &auth.Session{ID: randID(t), UserID: u.ID, TokenHash: randHash(t), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	noErr(t, "CreateSession", s.CreateSession(ctx(t), bare))
	got, err = getSession(t, s, bare.TokenHash)
	noErr(t, "SessionByTokenHash", err)
	wantBare := *bare
	wantBare.Methods = auth.Methods{auth.MethodPassword}
	check(t, "SessionByTokenHash of a bare session", got, &wantBare)

	_, err = getSession(t, s, randHash(t))
	wantErr(t, "SessionByTokenHash of an unknown hash", err, auth.ErrNotFound)
}

func testSessionTouch(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	sess := newSession(t, s, u.ID, t0, t0.Add(time.Hour))
	other := newSession(t, s, u.ID, t0, t0.Add(time.Hour))
	at := t0.Add(5*time.Minute + 250*time.Millisecond)
	noErr(t, "TouchSession", s.TouchSession(ctx(t), sess.ID, at))
	got, err := getSession(t, s, sess.TokenHash)
	noErr(t, "SessionByTokenHash", err)
	want := *sess
	want.LastSeenAt = at
	check(t, "session after TouchSession", got, &want)
	got, err = getSession(t, s, other.TokenHash)
	noErr(t, "SessionByTokenHash", err)
	check(t, "other session", got, other)
	wantErr(t, "TouchSession of an unknown id", s.TouchSession(ctx(t), "no-such-id", at), auth.ErrNotFound)
}

func testSessionDelete(t *testing.T, s auth.Store) {
	u, mallory := newUser(t, s), newUser(t, s)
	sess := newSession(t, s, u.ID, t0, t0.Add(time.Hour))
	keep := newSession(t, s, u.ID, t0, t0.Add(time.Hour))

	wantErr(t, "DeleteSession of another user's session", s.DeleteSession(ctx(t), mallory.ID, sess.ID), auth.ErrNotFound)
	_, err := getSession(t, s, sess.TokenHash)
	noErr(t, "SessionByTokenHash after another user's DeleteSession", err)

	noErr(t, "DeleteSession", s.DeleteSession(ctx(t), u.ID, sess.ID))
	_, err = getSession(t, s, sess.TokenHash)
	wantErr(t, "SessionByTokenHash of a deleted session", err, auth.ErrNotFound)
	wantErr(t, "DeleteSession again", s.DeleteSession(ctx(t), u.ID, sess.ID), auth.ErrNotFound)
	wantErr(t, "DeleteSession of an unknown id", s.DeleteSession(ctx(t), u.ID, "no-such-id"), auth.ErrNotFound)

	_, err = getSession(t, s, keep.TokenHash)
	noErr(t, "SessionByTokenHash of the other session", err)
}

func testSessionDeleteExpired(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	gone := newSession(t, s, u.ID, t0.Add(-time.Hour), t0.Add(-time.Millisecond))
	atNow := newSession(t, s, u.ID, t0.Add(-time.Hour), t0) // not before now
	live := newSession(t, s, u.ID, t0.Add(-time.Hour), t0.Add(time.Hour))
	noErr(t, "DeleteExpiredSessions", s.DeleteExpiredSessions(ctx(t), t0))
	_, err := getSession(t, s, gone.TokenHash)
	wantErr(t, "SessionByTokenHash of an expired session", err, auth.ErrNotFound)
	for _, sess := range []*auth.Session{atNow, live} {
		got, err := getSession(t, s, sess.TokenHash)
		noErr(t, "SessionByTokenHash of a session not expired before now", err)
		check(t, "kept session", got, sess)
	}
}

func testSessionUnknownUser(t *testing.T, s auth.Store) {
	sess := &auth.Session{ID: randID(t), UserID: "no-such-id", TokenHash: randHash(t), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	wantErr(t, "CreateSession for an unknown user", s.CreateSession(ctx(t), sess), auth.ErrNotFound)
}
