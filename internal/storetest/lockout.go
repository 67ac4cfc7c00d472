package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var lockoutTests = []testCase{
	{"Sequence", testLockoutSequence},
	{"RestartAfterLock", testLockoutRestartAfterLock},
	{"Concurrent", testLockoutConcurrent},
	{"Clear", testLockoutClear},
}

func testLockoutSequence(t *testing.T, s auth.Store) {
	const key = "alice@example.com"
	lockFor := 15 * time.Minute
	l, err := s.LoginLockout(ctx(t), key)
	noErr(t, "LoginLockout", err)
	check(t, "LoginLockout without failures", l, auth.Lockout{})

	for i := 1; i <= 2; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		l, err := s.RecordLoginFailure(ctx(t), key, now, 3, lockFor)
		noErr(t, "RecordLoginFailure", err)
		check(t, "failure below threshold", l, auth.Lockout{Failures: i})
	}
	now := t0.Add(3 * time.Second)
	l, err = s.RecordLoginFailure(ctx(t), key, now, 3, lockFor)
	noErr(t, "RecordLoginFailure", err)
	want := auth.Lockout{Failures: 3, LockedUntil: now.Add(lockFor)}
	check(t, "failure reaching the threshold", l, want)
	l, err = s.LoginLockout(ctx(t), key)
	noErr(t, "LoginLockout", err)
	check(t, "LoginLockout after the threshold", l, want)

	// More failures while locked keep counting and stay locked.
	now = now.Add(time.Minute)
	l, err = s.RecordLoginFailure(ctx(t), key, now, 3, lockFor)
	noErr(t, "RecordLoginFailure", err)
	if l.Failures != 4 || !l.LockedUntil.After(now) {
		t.Errorf("failure while locked = %+v, want 4 failures and still locked", l)
	}

	// Other keys are independent.
	l, err = s.RecordLoginFailure(ctx(t), "bob@example.com", now, 3, lockFor)
	noErr(t, "RecordLoginFailure", err)
	check(t, "another key", l, auth.Lockout{Failures: 1})
}

func testLockoutRestartAfterLock(t *testing.T, s auth.Store) {
	const key = "carol@example.com"
	lockFor := 10 * time.Minute
	var l auth.Lockout
	var err error
	for range 2 {
		l, err = s.RecordLoginFailure(ctx(t), key, t0, 2, lockFor)
		noErr(t, "RecordLoginFailure", err)
	}
	check(t, "locked", l, auth.Lockout{Failures: 2, LockedUntil: t0.Add(lockFor)})

	after := t0.Add(lockFor + time.Second)
	l, err = s.RecordLoginFailure(ctx(t), key, after, 2, lockFor)
	noErr(t, "RecordLoginFailure", err)
	check(t, "first failure after the lock expired", l, auth.Lockout{Failures: 1})
	l, err = s.RecordLoginFailure(ctx(t), key, after.Add(time.Second), 2, lockFor)
	noErr(t, "RecordLoginFailure", err)
	check(t, "locked again", l, auth.Lockout{Failures: 2, LockedUntil: after.Add(time.Second + lockFor)})
}

func testLockoutConcurrent(t *testing.T, s auth.Store) {
	const key = "dave@example.com"
	const n, threshold = 50, 10
	lockFor := time.Hour
	var mu sync.Mutex
	seen := map[int]auth.Lockout{}
	parallel(n, func(int) {
		l, err := s.RecordLoginFailure(ctx(t), key, t0, threshold, lockFor)
		if err != nil {
			t.Errorf("RecordLoginFailure: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := seen[l.Failures]; dup {
			t.Errorf("two calls returned %d failures (%+v and %+v): an increment was lost", l.Failures, prev, l)
		}
		seen[l.Failures] = l
	})
	for i := 1; i <= n; i++ {
		l, ok := seen[i]
		switch {
		case !ok:
			t.Errorf("no call returned %d failures", i)
		case i < threshold && !l.LockedUntil.IsZero():
			t.Errorf("failure %d locked: %+v", i, l)
		case i >= threshold && !l.LockedUntil.Equal(t0.Add(lockFor)):
			t.Errorf("failure %d: %+v, want locked until %v", i, l, t0.Add(lockFor))
		}
	}
	l, err := s.LoginLockout(ctx(t), key)
	noErr(t, "LoginLockout", err)
	check(t, "LoginLockout after 50 concurrent failures", l, auth.Lockout{Failures: n, LockedUntil: t0.Add(lockFor)})
}

func testLockoutClear(t *testing.T, s auth.Store) {
	const key = "erin@example.com"
	for range 3 {
		_, err := s.RecordLoginFailure(ctx(t), key, t0, 3, time.Minute)
		noErr(t, "RecordLoginFailure", err)
	}
	_, err := s.RecordLoginFailure(ctx(t), "frank@example.com", t0, 3, time.Minute)
	noErr(t, "RecordLoginFailure", err)

	noErr(t, "ClearLoginFailures", s.ClearLoginFailures(ctx(t), key))
	l, err := s.LoginLockout(ctx(t), key)
	noErr(t, "LoginLockout", err)
	check(t, "LoginLockout after ClearLoginFailures", l, auth.Lockout{})
	l, err = s.RecordLoginFailure(ctx(t), key, t0, 3, time.Minute)
	noErr(t, "RecordLoginFailure", err)
	check(t, "failure after ClearLoginFailures", l, auth.Lockout{Failures: 1})

	l, err = s.LoginLockout(ctx(t), "frank@example.com")
	noErr(t, "LoginLockout", err)
	check(t, "another key", l, auth.Lockout{Failures: 1})

	// Every successful login clears: a key without failures is no error.
	noErr(t, "ClearLoginFailures of a key without failures", s.ClearLoginFailures(ctx(t), "nobody@example.com"))
}
