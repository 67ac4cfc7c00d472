package storetest

import (
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var userSessionTests = []testCase{
	{"ListSessions", testListSessions},
	{"RevokeUserSessions", testRevokeUserSessions},
}

func cookieInfo(s *auth.Session) auth.SessionInfo {
	return auth.SessionInfo{ID: s.ID, Kind: auth.SessionKindCookie, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, IP: s.IP, UserAgent: s.UserAgent, Methods: s.Methods}
}

func familyInfo(f *auth.RefreshFamily) auth.SessionInfo {
	return auth.SessionInfo{ID: f.ID, Kind: auth.SessionKindToken, CreatedAt: f.CreatedAt, LastSeenAt: f.LastSeenAt, IP: f.IP, UserAgent: f.UserAgent, Methods: f.Methods}
}

func testListSessions(t *testing.T, s auth.Store) {
	u, other := newUser(t, s), newUser(t, s)
	day := 24 * time.Hour
	oldCookie := newSession(t, s, u.ID, t0.Add(-3*time.Hour), t0.Add(day))
	newFamily(t, s, u.ID, t0.Add(-2*time.Hour), t0)                            // expired at now
	newSession(t, s, u.ID, t0.Add(-90*time.Minute), t0.Add(-time.Millisecond)) // expired
	newSession(t, s, u.ID, t0.Add(-80*time.Minute), t0)                        // expired at now
	fam, first := newFamily(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	revoked, _ := newFamily(t, s, u.ID, t0.Add(-50*time.Minute), t0.Add(day))
	noErr(t, "RevokeFamily", s.RevokeFamily(ctx(t), u.ID, revoked.ID, t0.Add(-time.Minute)))
	newCookie := newSession(t, s, u.ID, t0.Add(-10*time.Minute), t0.Add(day))
	newSession(t, s, other.ID, t0.Add(-5*time.Minute), t0.Add(day))
	newFamily(t, s, other.ID, t0.Add(-5*time.Minute), t0.Add(day))

	// A rotation moves the family's last_seen_at, which the list shows.
	seen := t0.Add(-time.Minute)
	ok, err := s.RotateRefreshToken(ctx(t), first.Hash, nextToken(t, first, seen), seen)
	noErr(t, "RotateRefreshToken", err)
	if !ok {
		t.Fatal("RotateRefreshToken = false")
	}
	fam.LastSeenAt = seen

	got, err := s.ListSessions(ctx(t), u.ID, t0)
	noErr(t, "ListSessions", err)
	want := []auth.SessionInfo{cookieInfo(newCookie), familyInfo(fam), cookieInfo(oldCookie)}
	check(t, "ListSessions", got, want)

	got, err = s.ListSessions(ctx(t), "no-such-id", t0)
	noErr(t, "ListSessions of an unknown user", err)
	if len(got) != 0 {
		t.Errorf("ListSessions of an unknown user = %+v, want none", got)
	}
}

func testRevokeUserSessions(t *testing.T, s auth.Store) {
	u, other := newUser(t, s), newUser(t, s)
	day := 24 * time.Hour
	keepS := newSession(t, s, u.ID, t0.Add(-2*time.Hour), t0.Add(day))
	s2 := newSession(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	s3 := newSession(t, s, u.ID, t0.Add(-time.Hour), t0.Add(-time.Minute)) // expired, deleted too
	keepF, keepFirst := newFamily(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	f2, f2First := newFamily(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	f3, _ := newFamily(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	gone, goneFirst := newFamily(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	earlier := t0.Add(-time.Minute)
	noErr(t, "RevokeFamily", s.RevokeFamily(ctx(t), u.ID, gone.ID, earlier))
	newFamily(t, s, u.ID, t0.Add(-2*time.Hour), t0.Add(-time.Hour)) // expired: not live, not listed
	otherS := newSession(t, s, other.ID, t0.Add(-time.Hour), t0.Add(day))
	otherF, otherFirst := newFamily(t, s, other.ID, t0.Add(-time.Hour), t0.Add(day))

	revokedIDs, err := s.RevokeUserSessions(ctx(t), u.ID, keepS.ID, keepF.ID, t0)
	noErr(t, "RevokeUserSessions", err)
	check(t, "revoked family ids", sortedStrings(revokedIDs), sortedStrings([]string{f2.ID, f3.ID}))

	got, err := s.ListSessions(ctx(t), u.ID, t0)
	noErr(t, "ListSessions", err)
	check(t, "ListSessions after RevokeUserSessions", got, []auth.SessionInfo{familyInfo(keepF), cookieInfo(keepS)})
	for _, sess := range []*auth.Session{s2, s3} {
		_, err := getSession(t, s, sess.TokenHash)
		wantErr(t, "SessionByTokenHash of a revoked session", err, auth.ErrNotFound)
	}
	check(t, "revoked at", getFamily(t, s, f2First.Hash).RevokedAt, t0)
	check(t, "revoked at of a family revoked before", getFamily(t, s, goneFirst.Hash).RevokedAt, earlier)
	if getFamily(t, s, keepFirst.Hash).Revoked() {
		t.Error("kept family revoked")
	}

	// Another user's sessions are untouched.
	_, err = getSession(t, s, otherS.TokenHash)
	noErr(t, "SessionByTokenHash of another user's session", err)
	check(t, "another user's family", getFamily(t, s, otherFirst.Hash), otherF)

	// Keeping nothing revokes the rest.
	revokedIDs, err = s.RevokeUserSessions(ctx(t), u.ID, "", "", t0.Add(time.Second))
	noErr(t, "RevokeUserSessions", err)
	check(t, "revoked family ids", revokedIDs, []string{keepF.ID})
	got, err = s.ListSessions(ctx(t), u.ID, t0.Add(time.Second))
	noErr(t, "ListSessions", err)
	if len(got) != 0 {
		t.Errorf("ListSessions after revoking all = %+v, want none", got)
	}

	// Nothing left to revoke.
	revokedIDs, err = s.RevokeUserSessions(ctx(t), u.ID, "", "", t0.Add(2*time.Second))
	noErr(t, "RevokeUserSessions", err)
	if len(revokedIDs) != 0 {
		t.Errorf("RevokeUserSessions with nothing live revoked %v", revokedIDs)
	}
}
