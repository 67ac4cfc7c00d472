package auth_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// TestLockout_ExactlyThresholdFailuresLock: the threshold-th wrong guess is
// still invalid_credentials; the next attempt, even with the right password,
// is account_locked with RetryAfter equal to the time left on the lock. An
// unknown email locks the same way, with the same answers.
func TestLockout_ExactlyThresholdFailuresLock(t *testing.T) {
	for _, threshold := range []int{3, 10} {
		for _, known := range []bool{true, false} {
			name := fmt.Sprintf("threshold %d/known email %v", threshold, known)
			t.Run(name, func(t *testing.T) {
				cfg := testConfig()
				cfg.LockoutThreshold = threshold
				e := newEnv(t, cfg)
				const email = "lou@example.com"
				if known {
					e.signup(email, testPassword, true)
				}
				for i := 1; i <= threshold; i++ {
					e.clock.Advance(time.Minute)
					l, err := e.login(email, wrongPassword, "")
					if l != nil {
						t.Fatal("granted a wrong password")
					}
					if auth.ErrorCode(err) != auth.CodeInvalidCredentials {
						t.Fatalf("failure %d: %v, want invalid_credentials", i, err)
					}
				}
				lockedAt := e.clock.Now()
				lock, err := e.db.LoginLockout(e.ctx, email)
				if err != nil {
					t.Fatal(err)
				}
				if lock.Failures != threshold || !lock.LockedUntil.Equal(lockedAt.Add(cfg.LockoutDuration)) {
					t.Fatalf("lockout = %+v, want %d failures locked until %v", lock, threshold, lockedAt.Add(cfg.LockoutDuration))
				}

				e.clock.Advance(3 * time.Minute)
				for _, pw := range []string{testPassword, wrongPassword, testPassword} {
					l, err := e.login(email, pw, "")
					if l != nil {
						t.Fatal("granted while locked")
					}
					ae := wantCode(t, err, auth.CodeAccountLocked)
					if want := cfg.LockoutDuration - 3*time.Minute; ae.RetryAfter != want {
						t.Errorf("RetryAfter = %v, want %v", ae.RetryAfter, want)
					}
				}
				// Attempts while locked neither count nor extend the lock.
				if after, _ := e.db.LoginLockout(e.ctx, email); after != lock {
					t.Errorf("lockout changed while locked: %+v, want %+v", after, lock)
				}
				// One second before the end it still holds.
				e.clock.Advance(cfg.LockoutDuration - 3*time.Minute - time.Second)
				_, err = e.login(email, testPassword, "")
				if ae := wantCode(t, err, auth.CodeAccountLocked); ae.RetryAfter != time.Second {
					t.Errorf("RetryAfter = %v, want 1s", ae.RetryAfter)
				}
				// At its end the account answers again, and counting restarts.
				e.clock.Advance(time.Second)
				_, err = e.login(email, wrongPassword, "")
				wantCode(t, err, auth.CodeInvalidCredentials)
				if after, _ := e.db.LoginLockout(e.ctx, email); after.Failures != 1 {
					t.Errorf("failures after the lock ended = %d, want 1", after.Failures)
				}
				if known {
					if _, err := e.login(email, testPassword, ""); err != nil {
						t.Errorf("right password after the lock ended: %v", err)
					}
				}
				if n := strings.Count(e.logs.String(), `"event":"account_locked"`); n != 1 {
					t.Errorf("%d account_locked events, want 1", n)
				}
			})
		}
	}
}

// TestLockout_SameAnswerKnownAndUnknown: a locked unknown email cannot be
// told from a locked account.
func TestLockout_SameAnswerKnownAndUnknown(t *testing.T) {
	e := newEnv(t, testConfig())
	e.signup("known@example.com", testPassword, true)
	var answers []*auth.Error
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		for i := 0; i < e.cfg.LockoutThreshold; i++ {
			if _, err := e.login(email, wrongPassword, ""); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
				t.Fatalf("%s failure %d: %v", email, i+1, err)
			}
		}
		_, err := e.login(email, testPassword, "")
		answers = append(answers, wantCode(t, err, auth.CodeAccountLocked))
	}
	if answers[0].Message != answers[1].Message || answers[0].RetryAfter != answers[1].RetryAfter {
		t.Errorf("known: %+v; unknown: %+v", answers[0], answers[1])
	}
}

// TestLockout_SuccessClearsCounter: failures below the threshold are
// forgotten after a successful login.
func TestLockout_SuccessClearsCounter(t *testing.T) {
	e := newEnv(t, testConfig())
	const email = "cleo@example.com"
	e.signup(email, testPassword, true)
	for round := 0; round < 3; round++ {
		for i := 1; i < e.cfg.LockoutThreshold; i++ {
			if _, err := e.login(email, wrongPassword, ""); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
				t.Fatalf("round %d failure %d: %v", round, i, err)
			}
		}
		if _, err := e.login(email, testPassword, ""); err != nil {
			t.Fatalf("round %d: right password: %v", round, err)
		}
	}
}

// TestLockout_EmailNormalisedForCounting: case and spaces do not give an
// attacker fresh counters.
func TestLockout_EmailNormalisedForCounting(t *testing.T) {
	e := newEnv(t, testConfig())
	e.signup("nora@example.com", testPassword, true)
	variants := []string{"nora@example.com", "NORA@example.com", " Nora@Example.com ", "nora@EXAMPLE.COM"}
	for i := 0; i < e.cfg.LockoutThreshold; i++ {
		if _, err := e.login(variants[i%len(variants)], wrongPassword, ""); auth.ErrorCode(err) != auth.CodeInvalidCredentials {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	for _, v := range variants {
		_, err := e.login(v, testPassword, "")
		wantCode(t, err, auth.CodeAccountLocked)
	}
}

// TestLockout_ChangePasswordHonoursLock: a wrong current password counts
// toward the lockout of the account's email (ChangePassword records it), so
// the lock must also stop further guesses through the change endpoint;
// otherwise anyone holding a stolen session gets a password oracle limited
// only by the per-email rate, never by the lockout.
func TestLockout_ChangePasswordHonoursLock(t *testing.T) {
	e := newEnv(t, testConfig())
	cur := e.changeSetup()
	for i := 1; i <= e.cfg.LockoutThreshold; i++ {
		err := e.svc.ChangePassword(e.ctx, e.cl, cur, wrongPassword, otherPassword)
		wantCode(t, err, auth.CodeInvalidCredentials)
	}
	lock, err := e.db.LoginLockout(e.ctx, faultEmail)
	if err != nil {
		t.Fatal(err)
	}
	if !lock.LockedUntil.After(e.clock.Now()) {
		t.Fatalf("lockout = %+v, want locked after %d wrong current passwords", lock, e.cfg.LockoutThreshold)
	}
	err = e.svc.ChangePassword(e.ctx, e.cl, cur, testPassword, otherPassword)
	wantCode(t, err, auth.CodeAccountLocked)
}
