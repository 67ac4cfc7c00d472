package storetest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var credentialTests = []testCase{
	{"ReplacePassword", testReplacePassword},
	{"StaleVersionCreatesNothing", testStaleVersionCreatesNothing},
	{"ReserveSequence", testReserveSequence},
	{"ReserveConcurrent", testReserveConcurrent},
	{"FailuresDecay", testFailuresDecay},
	{"PurgeDecayedFailures", testPurgeDecayedFailures},
}

// testReplacePassword: one call sets the hash, bumps the version, moves the
// epoch and revokes every other session and family of the user only.
func testReplacePassword(t *testing.T, s auth.Store) {
	u, other := newUser(t, s), newUser(t, s)
	check(t, "version of a new user", u.CredentialVersion, int64(1))
	day := 24 * time.Hour
	keepS := newSession(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	goneS := newSession(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	keepF, _ := newFamily(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	goneF, _ := newFamily(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	otherS := newSession(t, s, other.ID, t0.Add(-time.Hour), t0.Add(day))
	otherF, _ := newFamily(t, s, other.ID, t0.Add(-time.Hour), t0.Add(day))

	revoked, v, err := s.ReplacePassword(ctx(t), u.ID, "new-hash", keepS.ID, keepF.ID, t0)
	noErr(t, "ReplacePassword", err)
	check(t, "revoked families", revoked, []string{goneF.ID})
	check(t, "new version", v, int64(2))
	got, err := s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	want := *u
	want.PasswordHash, want.CredentialVersion, want.TokensValidAfter = "new-hash", 2, t0
	check(t, "user after ReplacePassword", *got, want)
	_, err = s.SessionByTokenHash(ctx(t), goneS.TokenHash)
	if !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("other session after ReplacePassword: %v, want ErrNotFound", err)
	}
	for _, h := range [][]byte{keepS.TokenHash, otherS.TokenHash} {
		_, err = s.SessionByTokenHash(ctx(t), h)
		noErr(t, "kept session", err)
	}
	infos, err := s.ListSessions(ctx(t), other.ID, t0)
	noErr(t, "ListSessions", err)
	if len(infos) != 2 || (infos[0].ID != otherF.ID && infos[1].ID != otherF.ID) {
		t.Errorf("another user's sessions after ReplacePassword: %+v", infos)
	}
	// Again, with nothing kept: every session and family goes.
	revoked, v, err = s.ReplacePassword(ctx(t), u.ID, "newer-hash", "", "", t0.Add(time.Second))
	noErr(t, "ReplacePassword", err)
	check(t, "revoked families", revoked, []string{keepF.ID})
	check(t, "newer version", v, int64(3))
	infos, err = s.ListSessions(ctx(t), u.ID, t0)
	noErr(t, "ListSessions", err)
	check(t, "sessions after a reset", len(infos), 0)
	_, _, err = s.ReplacePassword(ctx(t), "no-such-user", "h", "", "", t0)
	if !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("ReplacePassword of an unknown user: %v, want ErrNotFound", err)
	}
}

// testStaleVersionCreatesNothing: a session or refresh family carrying a
// credential version that has moved since is refused and not stored; the
// current version, or none (0), is accepted.
func testStaleVersionCreatesNothing(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	day := 24 * time.Hour
	_, _, err := s.ReplacePassword(ctx(t), u.ID, "new-hash", "", "", t0)
	noErr(t, "ReplacePassword", err)

	for _, v := range []int64{1, 3} {
		sess := &auth.Session{ID: randID(t), UserID: u.ID, TokenHash: randHash(t), CreatedAt: t0, LastSeenAt: t0,
			ExpiresAt: t0.Add(day), CredentialVersion: v}
		if err := s.CreateSession(ctx(t), sess); !errors.Is(err, auth.ErrCredentialChanged) {
			t.Errorf("CreateSession with version %d: %v, want ErrCredentialChanged", v, err)
		}
		if _, err := s.SessionByTokenHash(ctx(t), sess.TokenHash); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("refused session stored: %v", err)
		}
		f := &auth.RefreshFamily{ID: randID(t), UserID: u.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(day), CredentialVersion: v}
		first := &auth.RefreshToken{Hash: randHash(t), CreatedAt: t0}
		if err := s.CreateRefreshFamily(ctx(t), f, first); !errors.Is(err, auth.ErrCredentialChanged) {
			t.Errorf("CreateRefreshFamily with version %d: %v, want ErrCredentialChanged", v, err)
		}
		if _, _, err := s.RefreshTokenByHash(ctx(t), first.Hash); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("refused family stored: %v", err)
		}
	}
	for _, v := range []int64{2, 0} {
		sess := &auth.Session{ID: randID(t), UserID: u.ID, TokenHash: randHash(t), CreatedAt: t0, LastSeenAt: t0,
			ExpiresAt: t0.Add(day), CredentialVersion: v}
		noErr(t, "CreateSession with the current version", s.CreateSession(ctx(t), sess))
		f := &auth.RefreshFamily{ID: randID(t), UserID: u.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(day), CredentialVersion: v}
		noErr(t, "CreateRefreshFamily with the current version",
			s.CreateRefreshFamily(ctx(t), f, &auth.RefreshToken{Hash: randHash(t), CreatedAt: t0}))
	}
}

// testReserveSequence: threshold reservations succeed, the last one locks;
// further ones change nothing until the lock ends; then counting restarts.
func testReserveSequence(t *testing.T, s auth.Store) {
	const key = "erin@example.com"
	lockFor := 15 * time.Minute
	for i := 1; i <= 3; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		l, ok, err := s.ReserveLoginAttempt(ctx(t), key, now, 3, lockFor)
		noErr(t, "ReserveLoginAttempt", err)
		want := auth.Lockout{Failures: i}
		if i == 3 {
			want.LockedUntil = now.Add(lockFor)
		}
		check(t, "reservation", ok, true)
		check(t, "state after a reservation", l, want)
	}
	locked := auth.Lockout{Failures: 3, LockedUntil: t0.Add(3*time.Second + lockFor)}
	l, ok, err := s.ReserveLoginAttempt(ctx(t), key, t0.Add(time.Minute), 3, lockFor)
	noErr(t, "ReserveLoginAttempt", err)
	check(t, "reservation while locked", ok, false)
	check(t, "state returned while locked", l, locked)
	l, err = s.LoginLockout(ctx(t), key)
	noErr(t, "LoginLockout", err)
	check(t, "state after a refused reservation", l, locked)

	after := locked.LockedUntil
	l, ok, err = s.ReserveLoginAttempt(ctx(t), key, after, 3, lockFor)
	noErr(t, "ReserveLoginAttempt", err)
	check(t, "reservation when the lock ends", ok, true)
	check(t, "count restarted", l, auth.Lockout{Failures: 1})
	noErr(t, "ClearLoginFailures", s.ClearLoginFailures(ctx(t), key))
	l, err = s.LoginLockout(ctx(t), key)
	noErr(t, "LoginLockout", err)
	check(t, "state after clear", l, auth.Lockout{})
}

// testReserveConcurrent: of many parallel reservations exactly threshold
// succeed.
func testReserveConcurrent(t *testing.T, s auth.Store) {
	const key = "frank@example.com"
	const n, threshold = 40, 10
	var granted atomic.Int32
	parallel(n, func(int) {
		_, ok, err := s.ReserveLoginAttempt(ctx(t), key, t0, threshold, time.Hour)
		if err != nil {
			t.Error(err)
		}
		if ok {
			granted.Add(1)
		}
	})
	check(t, "granted reservations", int(granted.Load()), threshold)
	l, err := s.LoginLockout(ctx(t), key)
	noErr(t, "LoginLockout", err)
	check(t, "state", l, auth.Lockout{Failures: threshold, LockedUntil: t0.Add(time.Hour)})
}

// testFailuresDecay: failures older than the period (from the first of the
// window) no longer count, for reservations and recorded failures alike.
func testFailuresDecay(t *testing.T, s auth.Store) {
	lockFor := 10 * time.Minute
	for _, reserve := range []bool{true, false} {
		key := "grace@example.com"
		if !reserve {
			key = "heidi@example.com"
		}
		add := func(now time.Time) auth.Lockout {
			t.Helper()
			if reserve {
				l, ok, err := s.ReserveLoginAttempt(ctx(t), key, now, 3, lockFor)
				noErr(t, "ReserveLoginAttempt", err)
				check(t, "reservation", ok, true)
				return l
			}
			l, err := s.RecordLoginFailure(ctx(t), key, now, 3, lockFor)
			noErr(t, "RecordLoginFailure", err)
			return l
		}
		add(t0)
		check(t, "second failure in the window", add(t0.Add(lockFor-time.Microsecond)), auth.Lockout{Failures: 2})
		check(t, "failure after the window", add(t0.Add(lockFor)), auth.Lockout{Failures: 1})
	}
}

// testPurgeDecayedFailures: Purge removes failure rows whose window ended,
// below the threshold too, and keeps open windows.
func testPurgeDecayedFailures(t *testing.T, s auth.Store) {
	db, ok := s.(purger)
	if !ok {
		t.Fatal("the store has no Purge(ctx, now) (int64, error) method")
	}
	_, _, err := s.ReserveLoginAttempt(ctx(t), "old@example.com", t0, 5, time.Hour)
	noErr(t, "ReserveLoginAttempt", err)
	_, err = s.RecordLoginFailure(ctx(t), "old2@example.com", t0, 5, time.Hour)
	noErr(t, "RecordLoginFailure", err)
	_, _, err = s.ReserveLoginAttempt(ctx(t), "new@example.com", t0.Add(time.Minute), 5, time.Hour)
	noErr(t, "ReserveLoginAttempt", err)
	_, err = db.Purge(ctx(t), t0.Add(time.Hour))
	noErr(t, "Purge", err)
	for key, want := range map[string]int{"old@example.com": 0, "old2@example.com": 0, "new@example.com": 1} {
		l, err := s.LoginLockout(ctx(t), key)
		noErr(t, "LoginLockout", err)
		check(t, "failures of "+key+" after Purge", l.Failures, want)
	}
}
