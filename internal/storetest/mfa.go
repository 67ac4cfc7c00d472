package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var mfaTests = []testCase{
	{"SetPendingTOTP", testSetPendingTOTP},
	{"TOTPRoundTrip", testTOTPRoundTrip},
	{"ConfirmTOTP", testConfirmTOTP},
	{"ConcurrentConfirmTOTP", testConcurrentConfirmTOTP},
	{"UseTOTPStep", testUseTOTPStep},
	{"ConcurrentUseTOTPStep", testConcurrentUseTOTPStep},
	{"DeleteTOTP", testDeleteTOTP},
	{"RecoveryCodes", testRecoveryCodes},
	{"ConcurrentUseRecoveryCode", testConcurrentUseRecoveryCode},
	{"MFATokenRoundTrip", testMFATokenRoundTrip},
	{"FailMFAToken", testFailMFAToken},
	{"ConcurrentFailMFAToken", testConcurrentFailMFAToken},
	{"ConsumeMFAToken", testConsumeMFAToken},
	{"ConcurrentConsumeMFAToken", testConcurrentConsumeMFAToken},
	{"RevokeSingleFactorSessions", testRevokeSingleFactorSessions},
	{"MethodsRoundTrip", testMethodsRoundTrip},
	{"PurgeMFATokens", testPurgeMFATokens},
}

// rawExecer is what a backend's test build may offer (export_test.go): one
// SQL statement without parameters on the store's database, outside its
// methods, to write rows no method writes (such as rows from before a
// migration). Cases that need it skip that part when the store lacks it.
type rawExecer interface {
	ExecForTest(ctx context.Context, query string) error
}

// totpSecret is a random 20-byte TOTP key (RFC 4226 §4: 160 bits).
func totpSecret(t *testing.T) []byte { return randBytes(t, 20) }

// recoveryCodes returns n codes with the given indexes, random tags and
// distinct hashes.
func recoveryCodes(t *testing.T, label string, idx ...int) []auth.RecoveryCode {
	t.Helper()
	out := make([]auth.RecoveryCode, len(idx))
	for i, x := range idx {
		out[i] = auth.RecoveryCode{Index: x, Tag: randBytes(t, 8), Hash: fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$%s%d$%s", label, x, randID(t))}
	}
	return out
}

// byIndex returns codes sorted by index, as RecoveryCodes lists them.
func byIndex(codes []auth.RecoveryCode) []auth.RecoveryCode {
	codes = slices.Clone(codes)
	slices.SortFunc(codes, func(a, b auth.RecoveryCode) int { return a.Index - b.Index })
	return codes
}

func getTOTP(t *testing.T, s auth.Store, userID string) *auth.TOTP {
	t.Helper()
	got, err := s.TOTP(ctx(t), userID)
	noErr(t, "TOTP", err)
	return got
}

func getCodes(t *testing.T, s auth.Store, userID string) []auth.RecoveryCode {
	t.Helper()
	got, err := s.RecoveryCodes(ctx(t), userID)
	noErr(t, "RecoveryCodes", err)
	return got
}

// enableTOTP stores and confirms a TOTP for userID at t0 with step and codes
// and returns its secret.
func enableTOTP(t *testing.T, s auth.Store, userID string, step int64, codes []auth.RecoveryCode) []byte {
	t.Helper()
	secret := totpSecret(t)
	noErr(t, "SetPendingTOTP", s.SetPendingTOTP(ctx(t), userID, secret, t0))
	noErr(t, "ConfirmTOTP", s.ConfirmTOTP(ctx(t), userID, step, codes, t0))
	return secret
}

// wantTOTPEnabled checks the user's TOTPEnabled through all four reads that
// return a user: the login's (UserByEmail), UserByID, and the two reads of
// every authenticated request (which a store may cache: they must still
// see the change at once). sessHash is a live cookie session of the user.
func wantTOTPEnabled(t *testing.T, s auth.Store, u *auth.User, sessHash []byte, want bool) {
	t.Helper()
	got, err := s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	if got.TOTPEnabled != want {
		t.Errorf("UserByID: TOTPEnabled = %v, want %v", got.TOTPEnabled, want)
	}
	got, err = s.UserByEmail(ctx(t), u.Email)
	noErr(t, "UserByEmail", err)
	if got.TOTPEnabled != want {
		t.Errorf("UserByEmail: TOTPEnabled = %v, want %v", got.TOTPEnabled, want)
	}
	_, got, err = s.SessionWithUser(ctx(t), sessHash)
	noErr(t, "SessionWithUser", err)
	if got.TOTPEnabled != want {
		t.Errorf("SessionWithUser: TOTPEnabled = %v, want %v", got.TOTPEnabled, want)
	}
	got, _, err = s.UserForAccess(ctx(t), u.ID, t0, "jti:mfa")
	noErr(t, "UserForAccess", err)
	if got.TOTPEnabled != want {
		t.Errorf("UserForAccess: TOTPEnabled = %v, want %v", got.TOTPEnabled, want)
	}
}

func testSetPendingTOTP(t *testing.T, s auth.Store) {
	u, other := newUser(t, s), newUser(t, s)
	wantErr(t, "SetPendingTOTP of an unknown user", s.SetPendingTOTP(ctx(t), "no-such-id", totpSecret(t), t0), auth.ErrNotFound)
	_, err := s.TOTP(ctx(t), "no-such-id")
	wantErr(t, "TOTP of the refused unknown user", err, auth.ErrNotFound)

	first := totpSecret(t)
	noErr(t, "SetPendingTOTP", s.SetPendingTOTP(ctx(t), u.ID, first, t0))
	check(t, "pending TOTP", getTOTP(t, s, u.ID), &auth.TOTP{UserID: u.ID, Secret: first, CreatedAt: t0})

	// Enrolling again replaces the unconfirmed secret.
	second := totpSecret(t)
	later := t0.Add(time.Minute + 125*time.Millisecond)
	noErr(t, "SetPendingTOTP again", s.SetPendingTOTP(ctx(t), u.ID, second, later))
	check(t, "replaced pending TOTP", getTOTP(t, s, u.ID), &auth.TOTP{UserID: u.ID, Secret: second, CreatedAt: later})

	// Once confirmed, it stays.
	confirmedAt := later.Add(time.Minute)
	noErr(t, "ConfirmTOTP", s.ConfirmTOTP(ctx(t), u.ID, 55, nil, confirmedAt))
	want := &auth.TOTP{UserID: u.ID, Secret: second, CreatedAt: later, ConfirmedAt: confirmedAt, LastStep: 55}
	wantErr(t, "SetPendingTOTP over a confirmed TOTP", s.SetPendingTOTP(ctx(t), u.ID, totpSecret(t), confirmedAt.Add(time.Minute)), auth.ErrConflict)
	check(t, "confirmed TOTP after a refused SetPendingTOTP", getTOTP(t, s, u.ID), want)
	if u2, err := s.UserByID(ctx(t), u.ID); err != nil || !u2.TOTPEnabled {
		t.Errorf("user after a refused SetPendingTOTP: %+v, %v; want TOTPEnabled", show(u2), err)
	}

	// Another user's enrolment is independent.
	_, err = s.TOTP(ctx(t), other.ID)
	wantErr(t, "TOTP of a user without one", err, auth.ErrNotFound)
	otherSecret := totpSecret(t)
	noErr(t, "SetPendingTOTP of another user", s.SetPendingTOTP(ctx(t), other.ID, otherSecret, t0))
	check(t, "another user's pending TOTP", getTOTP(t, s, other.ID), &auth.TOTP{UserID: other.ID, Secret: otherSecret, CreatedAt: t0})
	check(t, "confirmed TOTP after another user's enrolment", getTOTP(t, s, u.ID), want)
}

// testTOTPRoundTrip: any 20 bytes come back as stored, times at the
// suite's precision.
func testTOTPRoundTrip(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	_, err := s.TOTP(ctx(t), u.ID)
	wantErr(t, "TOTP of a user without one", err, auth.ErrNotFound)
	for i, secret := range [][]byte{totpSecret(t), make([]byte, 20), {0xff, 0x00, 0xfe, 0x01, 0x80, 0x7f, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}} {
		created := t0.Add(time.Duration(i)*time.Second + 1*time.Millisecond)
		noErr(t, "SetPendingTOTP", s.SetPendingTOTP(ctx(t), u.ID, secret, created))
		check(t, fmt.Sprintf("TOTP %d", i), getTOTP(t, s, u.ID), &auth.TOTP{UserID: u.ID, Secret: secret, CreatedAt: created})
	}
	secret := totpSecret(t)
	created := t0.Add(-time.Minute)
	noErr(t, "SetPendingTOTP", s.SetPendingTOTP(ctx(t), u.ID, secret, created))
	confirmed := t0.Add(999 * time.Millisecond)
	noErr(t, "ConfirmTOTP", s.ConfirmTOTP(ctx(t), u.ID, 59_000_000, nil, confirmed))
	got := getTOTP(t, s, u.ID)
	check(t, "confirmed TOTP", got, &auth.TOTP{UserID: u.ID, Secret: secret, CreatedAt: created, ConfirmedAt: confirmed, LastStep: 59_000_000})
	if !got.Confirmed() {
		t.Error("confirmed TOTP: Confirmed() = false")
	}
}

func testConfirmTOTP(t *testing.T, s auth.Store) {
	u, other := newUser(t, s), newUser(t, s)
	sess := newSession(t, s, u.ID, t0, t0.Add(time.Hour))
	wantErr(t, "ConfirmTOTP without a pending TOTP", s.ConfirmTOTP(ctx(t), u.ID, 10, recoveryCodes(t, "x", 0), t0), auth.ErrNotFound)
	wantErr(t, "ConfirmTOTP of an unknown user", s.ConfirmTOTP(ctx(t), "no-such-id", 10, nil, t0), auth.ErrNotFound)
	if got := getCodes(t, s, u.ID); len(got) != 0 {
		t.Errorf("recovery codes after a refused ConfirmTOTP: %+v", got)
	}

	// Codes from before (say, of a passkey) with one used: confirming
	// replaces them all.
	old := recoveryCodes(t, "old", 0, 1, 2)
	noErr(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx(t), u.ID, old))
	ok, err := s.UseRecoveryCode(ctx(t), u.ID, 0, t0)
	noErr(t, "UseRecoveryCode", err)
	if !ok {
		t.Fatal("UseRecoveryCode of a fresh code = false")
	}
	otherCodes := recoveryCodes(t, "other", 0, 1)
	noErr(t, "ReplaceRecoveryCodes of another user", s.ReplaceRecoveryCodes(ctx(t), other.ID, otherCodes))

	secret := totpSecret(t)
	noErr(t, "SetPendingTOTP", s.SetPendingTOTP(ctx(t), u.ID, secret, t0))
	wantTOTPEnabled(t, s, u, sess.TokenHash, false) // and fill any read cache
	codes := recoveryCodes(t, "new", 0, 1, 2, 3)
	at := t0.Add(2*time.Minute + 500*time.Millisecond)
	noErr(t, "ConfirmTOTP", s.ConfirmTOTP(ctx(t), u.ID, 59_139_387, codes, at))
	want := &auth.TOTP{UserID: u.ID, Secret: secret, CreatedAt: t0, ConfirmedAt: at, LastStep: 59_139_387}
	check(t, "TOTP after ConfirmTOTP", getTOTP(t, s, u.ID), want)
	check(t, "recovery codes after ConfirmTOTP", getCodes(t, s, u.ID), codes)
	wantTOTPEnabled(t, s, u, sess.TokenHash, true)

	// A second confirmation finds nothing pending and changes nothing.
	wantErr(t, "second ConfirmTOTP", s.ConfirmTOTP(ctx(t), u.ID, 59_139_400, recoveryCodes(t, "again", 0), at.Add(time.Minute)), auth.ErrNotFound)
	check(t, "TOTP after a second ConfirmTOTP", getTOTP(t, s, u.ID), want)
	check(t, "recovery codes after a second ConfirmTOTP", getCodes(t, s, u.ID), codes)

	// Another user is untouched.
	check(t, "another user's recovery codes", getCodes(t, s, other.ID), otherCodes)
	if o, err := s.UserByID(ctx(t), other.ID); err != nil || o.TOTPEnabled {
		t.Errorf("another user after ConfirmTOTP: %+v, %v; want TOTP off", show(o), err)
	}
}

// testConcurrentConfirmTOTP: of 8 concurrent confirmations one wins, and
// its step and codes are the ones stored.
func testConcurrentConfirmTOTP(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	noErr(t, "SetPendingTOTP", s.SetPendingTOTP(ctx(t), u.ID, totpSecret(t), t0))
	const n = 8
	sets := make([][]auth.RecoveryCode, n)
	for i := range sets {
		sets[i] = recoveryCodes(t, fmt.Sprintf("c%d-", i), 0, 1, 2)
	}
	errs := make([]error, n)
	parallel(n, func(i int) {
		errs[i] = s.ConfirmTOTP(ctx(t), u.ID, int64(1000+i), sets[i], t0.Add(time.Duration(i)*time.Millisecond))
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("ConfirmTOTP %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, auth.ErrNotFound):
			t.Errorf("losing ConfirmTOTP %d: %v, want ErrNotFound", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no ConfirmTOTP of 8 succeeded")
	}
	got := getTOTP(t, s, u.ID)
	if got.LastStep != int64(1000+winner) || !got.ConfirmedAt.Equal(t0.Add(time.Duration(winner)*time.Millisecond)) {
		t.Errorf("TOTP after concurrent confirmations = %+v, want the winner's (%d) step and time", *got, winner)
	}
	check(t, "recovery codes after concurrent confirmations", getCodes(t, s, u.ID), sets[winner])
}

func testUseTOTPStep(t *testing.T, s auth.Store) {
	u, pending, other := newUser(t, s), newUser(t, s), newUser(t, s)
	enableTOTP(t, s, u.ID, 100, nil)
	enableTOTP(t, s, other.ID, 100, nil)
	use := func(userID string, step int64, want bool) {
		t.Helper()
		ok, err := s.UseTOTPStep(ctx(t), userID, step)
		noErr(t, "UseTOTPStep", err)
		if ok != want {
			t.Errorf("UseTOTPStep(%d) = %v, want %v", step, ok, want)
		}
	}
	use(u.ID, 99, false)  // older than the confirmation's
	use(u.ID, 100, false) // the confirmation's own
	check(t, "last step after refused steps", getTOTP(t, s, u.ID).LastStep, int64(100))
	use(u.ID, 101, true)
	check(t, "last step", getTOTP(t, s, u.ID).LastStep, int64(101))
	use(u.ID, 101, false) // a code works once
	use(u.ID, 100, false)
	use(u.ID, 105, true) // steps may be skipped
	use(u.ID, 103, false)
	check(t, "last step", getTOTP(t, s, u.ID).LastStep, int64(105))
	check(t, "another user's last step", getTOTP(t, s, other.ID).LastStep, int64(100))

	// A pending TOTP accepts no step, and keeps step 0.
	noErr(t, "SetPendingTOTP", s.SetPendingTOTP(ctx(t), pending.ID, totpSecret(t), t0))
	use(pending.ID, 1, false)
	use(pending.ID, 59_000_000, false)
	check(t, "last step of a pending TOTP", getTOTP(t, s, pending.ID).LastStep, int64(0))

	// No TOTP at all: no step is accepted (ErrNotFound would be fair too).
	ok, err := s.UseTOTPStep(ctx(t), "no-such-id", 1)
	if ok || (err != nil && !errors.Is(err, auth.ErrNotFound)) {
		t.Errorf("UseTOTPStep without a TOTP = %v, %v; want false", ok, err)
	}
}

// testConcurrentUseTOTPStep: of 16 concurrent uses of one new step, one
// wins (RFC 6238 §5.2: a code is accepted once).
func testConcurrentUseTOTPStep(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	enableTOTP(t, s, u.ID, 500, nil)
	var won atomic.Int32
	parallel(16, func(int) {
		ok, err := s.UseTOTPStep(ctx(t), u.ID, 501)
		if err != nil {
			t.Errorf("UseTOTPStep: %v", err)
		}
		if ok {
			won.Add(1)
		}
	})
	if won.Load() != 1 {
		t.Errorf("16 concurrent UseTOTPStep of one step: %d returned true, want 1", won.Load())
	}
	check(t, "last step", getTOTP(t, s, u.ID).LastStep, int64(501))

	// Mixed steps: the latest always ends up stored, and a step is
	// accepted at most once.
	var mu sync.Mutex
	accepted := map[int64]int{}
	parallel(16, func(i int) {
		step := int64(502 + i%4)
		ok, err := s.UseTOTPStep(ctx(t), u.ID, step)
		if err != nil {
			t.Errorf("UseTOTPStep: %v", err)
		}
		if ok {
			mu.Lock()
			accepted[step]++
			mu.Unlock()
		}
	})
	for step, n := range accepted {
		if n > 1 {
			t.Errorf("step %d accepted %d times", step, n)
		}
	}
	if accepted[505] != 1 {
		t.Errorf("latest step 505 accepted %d times, want 1", accepted[505])
	}
	check(t, "last step after mixed steps", getTOTP(t, s, u.ID).LastStep, int64(505))
}

func testDeleteTOTP(t *testing.T, s auth.Store) {
	u, other := newUser(t, s), newUser(t, s)
	sess := newSession(t, s, u.ID, t0, t0.Add(time.Hour))
	noErr(t, "DeleteTOTP without a TOTP", s.DeleteTOTP(ctx(t), u.ID, false))
	noErr(t, "DeleteTOTP without a TOTP, dropping codes", s.DeleteTOTP(ctx(t), u.ID, true))

	codes := recoveryCodes(t, "a", 0, 1, 2)
	enableTOTP(t, s, u.ID, 10, codes)
	otherCodes := recoveryCodes(t, "o", 0, 1)
	otherSecret := enableTOTP(t, s, other.ID, 20, otherCodes)
	wantTOTPEnabled(t, s, u, sess.TokenHash, true)

	// Keeping the codes (a passkey is left).
	noErr(t, "DeleteTOTP", s.DeleteTOTP(ctx(t), u.ID, false))
	_, err := s.TOTP(ctx(t), u.ID)
	wantErr(t, "TOTP after DeleteTOTP", err, auth.ErrNotFound)
	wantTOTPEnabled(t, s, u, sess.TokenHash, false)
	check(t, "recovery codes after DeleteTOTP keeping them", getCodes(t, s, u.ID), codes)
	if ok, err := s.UseTOTPStep(ctx(t), u.ID, 11); ok || (err != nil && !errors.Is(err, auth.ErrNotFound)) {
		t.Errorf("UseTOTPStep after DeleteTOTP = %v, %v; want false", ok, err)
	}

	// It can be enrolled again from scratch, and deleted with the codes.
	secret := totpSecret(t)
	noErr(t, "SetPendingTOTP after DeleteTOTP", s.SetPendingTOTP(ctx(t), u.ID, secret, t0.Add(time.Hour)))
	check(t, "TOTP enrolled again", getTOTP(t, s, u.ID), &auth.TOTP{UserID: u.ID, Secret: secret, CreatedAt: t0.Add(time.Hour)})
	noErr(t, "ConfirmTOTP", s.ConfirmTOTP(ctx(t), u.ID, 30, codes, t0.Add(time.Hour)))
	wantTOTPEnabled(t, s, u, sess.TokenHash, true)
	noErr(t, "DeleteTOTP dropping codes", s.DeleteTOTP(ctx(t), u.ID, true))
	_, err = s.TOTP(ctx(t), u.ID)
	wantErr(t, "TOTP after DeleteTOTP", err, auth.ErrNotFound)
	wantTOTPEnabled(t, s, u, sess.TokenHash, false)
	if got := getCodes(t, s, u.ID); len(got) != 0 {
		t.Errorf("recovery codes after DeleteTOTP dropping them: %+v", got)
	}
	if ok, err := s.UseRecoveryCode(ctx(t), u.ID, 0, t0); err != nil || ok {
		t.Errorf("UseRecoveryCode after DeleteTOTP dropping codes = %v, %v; want false", ok, err)
	}

	// A pending one goes too.
	noErr(t, "SetPendingTOTP", s.SetPendingTOTP(ctx(t), u.ID, totpSecret(t), t0))
	noErr(t, "DeleteTOTP of a pending TOTP", s.DeleteTOTP(ctx(t), u.ID, false))
	_, err = s.TOTP(ctx(t), u.ID)
	wantErr(t, "TOTP after deleting a pending TOTP", err, auth.ErrNotFound)

	// Another user is untouched.
	got := getTOTP(t, s, other.ID)
	if !got.Confirmed() || !slices.Equal(got.Secret, otherSecret) || got.LastStep != 20 {
		t.Errorf("another user's TOTP after DeleteTOTP: %+v", *got)
	}
	check(t, "another user's recovery codes", getCodes(t, s, other.ID), otherCodes)
	if o, err := s.UserByID(ctx(t), other.ID); err != nil || !o.TOTPEnabled {
		t.Errorf("another user after DeleteTOTP: %+v, %v; want TOTP on", show(o), err)
	}
}

func testRecoveryCodes(t *testing.T, s auth.Store) {
	u, other := newUser(t, s), newUser(t, s)
	if got := getCodes(t, s, u.ID); len(got) != 0 {
		t.Errorf("RecoveryCodes of a user without any = %+v", got)
	}
	if ok, err := s.UseRecoveryCode(ctx(t), u.ID, 0, t0); err != nil || ok {
		t.Errorf("UseRecoveryCode without codes = %v, %v; want false", ok, err)
	}
	// Stored in any order, listed by index; tags are any bytes.
	codes := recoveryCodes(t, "a", 7, 0, 3, 1)
	codes[1].Tag = []byte{0, 0xff, 0, 0x80, 1, 0, 0, 0}
	noErr(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx(t), u.ID, codes))
	otherCodes := recoveryCodes(t, "o", 0, 1, 3)
	noErr(t, "ReplaceRecoveryCodes of another user", s.ReplaceRecoveryCodes(ctx(t), other.ID, otherCodes))
	check(t, "RecoveryCodes", getCodes(t, s, u.ID), byIndex(codes))

	use := func(userID string, index int, want bool) {
		t.Helper()
		ok, err := s.UseRecoveryCode(ctx(t), userID, index, t0.Add(time.Minute))
		noErr(t, "UseRecoveryCode", err)
		if ok != want {
			t.Errorf("UseRecoveryCode(%d) = %v, want %v", index, ok, want)
		}
	}
	use(u.ID, 3, true)
	use(u.ID, 3, false) // once
	use(u.ID, 2, false) // no such index
	use(u.ID, 0, true)
	check(t, "RecoveryCodes after two uses", getCodes(t, s, u.ID), byIndex([]auth.RecoveryCode{codes[0], codes[3]}))
	check(t, "another user's codes", getCodes(t, s, other.ID), otherCodes)
	use(other.ID, 3, true) // the other user's index 3 is their own

	// Replacing voids every old code, used or not.
	fresh := recoveryCodes(t, "b", 0, 1, 2)
	noErr(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx(t), u.ID, fresh))
	check(t, "RecoveryCodes after ReplaceRecoveryCodes", getCodes(t, s, u.ID), fresh)
	use(u.ID, 7, false) // an old index that the new set lacks
	use(u.ID, 0, true)  // index 0 was used in the old set: the new one is fresh
	check(t, "another user's codes after ReplaceRecoveryCodes", getCodes(t, s, other.ID), byIndex([]auth.RecoveryCode{otherCodes[0], otherCodes[1]}))

	noErr(t, "ReplaceRecoveryCodes with none", s.ReplaceRecoveryCodes(ctx(t), u.ID, nil))
	if got := getCodes(t, s, u.ID); len(got) != 0 {
		t.Errorf("RecoveryCodes after replacing with none = %+v", got)
	}
	use(u.ID, 1, false)
}

// testConcurrentUseRecoveryCode: of 16 concurrent uses of one code, one wins.
func testConcurrentUseRecoveryCode(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	codes := recoveryCodes(t, "c", 0, 1, 2)
	noErr(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx(t), u.ID, codes))
	var won atomic.Int32
	parallel(16, func(int) {
		ok, err := s.UseRecoveryCode(ctx(t), u.ID, 1, t0)
		if err != nil {
			t.Errorf("UseRecoveryCode: %v", err)
		}
		if ok {
			won.Add(1)
		}
	})
	if won.Load() != 1 {
		t.Errorf("16 concurrent UseRecoveryCode of one code: %d returned true, want 1", won.Load())
	}
	check(t, "RecoveryCodes", getCodes(t, s, u.ID), []auth.RecoveryCode{codes[0], codes[2]})
}

// newMFAToken stores a pending login of userID created at t0 and expiring
// five minutes later.
func newMFAToken(t *testing.T, s auth.Store, userID string) *auth.MFAToken {
	t.Helper()
	m := &auth.MFAToken{
		Hash:              randHash(t),
		UserID:            userID,
		Mode:              auth.ModeToken,
		Methods:           auth.Methods{auth.MethodPassword},
		CreatedAt:         t0,
		ExpiresAt:         t0.Add(5 * time.Minute),
		CredentialVersion: 1,
	}
	noErr(t, "CreateMFAToken", s.CreateMFAToken(ctx(t), m))
	return m
}

func testMFATokenRoundTrip(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	a := &auth.MFAToken{
		Hash:              randHash(t),
		UserID:            u.ID,
		Mode:              auth.ModeCookie,
		Methods:           auth.Methods{auth.MethodPassword},
		CreatedAt:         t0.Add(123 * time.Millisecond),
		ExpiresAt:         t0.Add(5*time.Minute + 123*time.Millisecond),
		CredentialVersion: 1<<40 + 7,
		Trusted:           true,
	}
	b := &auth.MFAToken{
		Hash:              randHash(t),
		UserID:            u.ID,
		Mode:              auth.ModeToken,
		Methods:           auth.Methods{auth.MethodPasskey, auth.MethodPassword},
		CreatedAt:         t0,
		ExpiresAt:         t0.Add(time.Minute),
		CredentialVersion: 0,
		Trusted:           false,
		Failures:          3,
	}
	for _, m := range []*auth.MFAToken{a, b} {
		noErr(t, "CreateMFAToken", s.CreateMFAToken(ctx(t), m))
	}
	for _, m := range []*auth.MFAToken{a, b} {
		got, err := s.MFAToken(ctx(t), m.Hash, t0)
		noErr(t, "MFAToken", err)
		check(t, "MFAToken", got, m)
		// Live until just before its expiry, and not at it.
		got, err = s.MFAToken(ctx(t), m.Hash, m.ExpiresAt.Add(-time.Millisecond))
		noErr(t, "MFAToken just before its expiry", err)
		check(t, "MFAToken just before its expiry", got, m)
		_, err = s.MFAToken(ctx(t), m.Hash, m.ExpiresAt)
		wantErr(t, "MFAToken at its expiry", err, auth.ErrNotFound)
		_, err = s.MFAToken(ctx(t), m.Hash, m.ExpiresAt.Add(time.Hour))
		wantErr(t, "MFAToken after its expiry", err, auth.ErrNotFound)
	}
	_, err := s.MFAToken(ctx(t), randHash(t), t0)
	wantErr(t, "MFAToken of an unknown hash", err, auth.ErrNotFound)

	// Reading changes nothing.
	got, err := s.ConsumeMFAToken(ctx(t), a.Hash, t0.Add(time.Second))
	noErr(t, "ConsumeMFAToken after reads", err)
	check(t, "ConsumeMFAToken after reads", got, a)
}

func testFailMFAToken(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	m := newMFAToken(t, s, u.ID)
	other := newMFAToken(t, s, u.ID)
	now := t0.Add(time.Minute)
	for i := 1; i <= 2; i++ {
		n, err := s.FailMFAToken(ctx(t), m.Hash, now, 3)
		noErr(t, "FailMFAToken", err)
		check(t, "failures", n, i)
		got, err := s.MFAToken(ctx(t), m.Hash, now)
		noErr(t, "MFAToken after a failure below max", err)
		want := *m
		want.Failures = i
		check(t, "MFAToken after a failure", got, &want)
	}
	// The max-th failure spends it.
	n, err := s.FailMFAToken(ctx(t), m.Hash, now, 3)
	noErr(t, "FailMFAToken reaching max", err)
	check(t, "failures at max", n, 3)
	_, err = s.MFAToken(ctx(t), m.Hash, now)
	wantErr(t, "MFAToken after max failures", err, auth.ErrNotFound)
	_, err = s.FailMFAToken(ctx(t), m.Hash, now, 3)
	wantErr(t, "FailMFAToken of a spent token", err, auth.ErrNotFound)
	_, err = s.FailMFAToken(ctx(t), m.Hash, now, 10) // a higher max does not revive it
	wantErr(t, "FailMFAToken of a spent token with a higher max", err, auth.ErrNotFound)
	_, err = s.ConsumeMFAToken(ctx(t), m.Hash, now)
	wantErr(t, "ConsumeMFAToken after max failures", err, auth.ErrNotFound)

	// Another pending login of the same user keeps its own count.
	got, err := s.MFAToken(ctx(t), other.Hash, now)
	noErr(t, "MFAToken of another pending login", err)
	check(t, "another pending login", got, other)

	// Expired or unknown: ErrNotFound, and nothing counted.
	_, err = s.FailMFAToken(ctx(t), other.Hash, other.ExpiresAt, 3)
	wantErr(t, "FailMFAToken at its expiry", err, auth.ErrNotFound)
	got, err = s.MFAToken(ctx(t), other.Hash, now)
	noErr(t, "MFAToken", err)
	check(t, "failures after FailMFAToken of an expired token", got.Failures, 0)
	_, err = s.FailMFAToken(ctx(t), randHash(t), now, 3)
	wantErr(t, "FailMFAToken of an unknown token", err, auth.ErrNotFound)

	// A consumed one cannot fail.
	_, err = s.ConsumeMFAToken(ctx(t), other.Hash, now)
	noErr(t, "ConsumeMFAToken", err)
	_, err = s.FailMFAToken(ctx(t), other.Hash, now, 3)
	wantErr(t, "FailMFAToken of a consumed token", err, auth.ErrNotFound)
}

// testConcurrentFailMFAToken: concurrent failures never lose a count, and
// exactly max of them are counted before the token is spent.
func testConcurrentFailMFAToken(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	m := newMFAToken(t, s, u.ID)
	const max = 10
	var mu sync.Mutex
	seen := map[int]int{}
	var notFound atomic.Int32
	fail := func(n int) {
		parallel(n, func(int) {
			got, err := s.FailMFAToken(ctx(t), m.Hash, t0, max)
			switch {
			case errors.Is(err, auth.ErrNotFound):
				notFound.Add(1)
			case err != nil:
				t.Errorf("FailMFAToken: %v", err)
			default:
				mu.Lock()
				seen[got]++
				mu.Unlock()
			}
		})
	}
	fail(4)
	got, err := s.MFAToken(ctx(t), m.Hash, t0)
	noErr(t, "MFAToken after 4 concurrent failures", err)
	check(t, "failures after 4 concurrent failures", got.Failures, 4)
	fail(8) // 6 more reach max; 2 find it spent
	for i := 1; i <= max; i++ {
		if seen[i] != 1 {
			t.Errorf("%d calls returned count %d, want 1", seen[i], i)
		}
	}
	if len(seen) != max || notFound.Load() != 2 {
		t.Errorf("12 concurrent failures with max %d: counts %v and %d ErrNotFound, want 1..%d and 2", max, seen, notFound.Load(), max)
	}
	_, err = s.MFAToken(ctx(t), m.Hash, t0)
	wantErr(t, "MFAToken after max concurrent failures", err, auth.ErrNotFound)
}

func testConsumeMFAToken(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	m := newMFAToken(t, s, u.ID)
	other := newMFAToken(t, s, u.ID)
	now := t0.Add(time.Minute)
	got, err := s.ConsumeMFAToken(ctx(t), m.Hash, now)
	noErr(t, "ConsumeMFAToken", err)
	check(t, "ConsumeMFAToken", got, m)
	_, err = s.ConsumeMFAToken(ctx(t), m.Hash, now)
	wantErr(t, "second ConsumeMFAToken", err, auth.ErrNotFound)
	_, err = s.MFAToken(ctx(t), m.Hash, now)
	wantErr(t, "MFAToken after ConsumeMFAToken", err, auth.ErrNotFound)
	_, err = s.MFAToken(ctx(t), m.Hash, t0) // used, at whatever time
	wantErr(t, "MFAToken of a consumed token at creation time", err, auth.ErrNotFound)

	// Expired: ErrNotFound and left as it was.
	_, err = s.ConsumeMFAToken(ctx(t), other.Hash, other.ExpiresAt)
	wantErr(t, "ConsumeMFAToken at its expiry", err, auth.ErrNotFound)
	got, err = s.MFAToken(ctx(t), other.Hash, now)
	noErr(t, "MFAToken after a refused ConsumeMFAToken", err)
	check(t, "MFAToken after a refused ConsumeMFAToken", got, other)
	_, err = s.ConsumeMFAToken(ctx(t), randHash(t), now)
	wantErr(t, "ConsumeMFAToken of an unknown token", err, auth.ErrNotFound)
	got, err = s.ConsumeMFAToken(ctx(t), other.Hash, other.ExpiresAt.Add(-time.Millisecond))
	noErr(t, "ConsumeMFAToken just before its expiry", err)
	check(t, "ConsumeMFAToken just before its expiry", got, other)
}

// testConcurrentConsumeMFAToken: of 8 concurrent consumptions one wins.
func testConcurrentConsumeMFAToken(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	m := newMFAToken(t, s, u.ID)
	var won atomic.Int32
	parallel(8, func(int) {
		got, err := s.ConsumeMFAToken(ctx(t), m.Hash, t0)
		switch {
		case err == nil:
			won.Add(1)
			check(t, "ConsumeMFAToken", got, m)
		case !errors.Is(err, auth.ErrNotFound):
			t.Errorf("ConsumeMFAToken: %v", err)
		}
	})
	if won.Load() != 1 {
		t.Errorf("8 concurrent ConsumeMFAToken: %d succeeded, want 1", won.Load())
	}
}

func testRevokeSingleFactorSessions(t *testing.T, s auth.Store) {
	u, other := newUser(t, s), newUser(t, s)
	day := 24 * time.Hour
	pw := auth.Methods{auth.MethodPassword}
	pwTOTP := auth.Methods{auth.MethodPassword, auth.MethodTOTP}
	pwRC := auth.Methods{auth.MethodPassword, auth.MethodRecoveryCode}
	passkey := auth.Methods{auth.MethodPasskey}
	session := func(userID string, m auth.Methods, expiresAt time.Time) *auth.Session {
		t.Helper()
		sess := &auth.Session{ID: randID(t), UserID: userID, TokenHash: randHash(t), CreatedAt: t0.Add(-time.Hour),
			LastSeenAt: t0.Add(-time.Hour), ExpiresAt: expiresAt, IP: "192.0.2.8", UserAgent: "storetest", Methods: m}
		noErr(t, "CreateSession", s.CreateSession(ctx(t), sess))
		if m == nil {
			sess.Methods = pw // as it reads back
		}
		return sess
	}
	family := func(userID string, m auth.Methods, expiresAt time.Time) (*auth.RefreshFamily, *auth.RefreshToken) {
		t.Helper()
		f := &auth.RefreshFamily{ID: randID(t), UserID: userID, CreatedAt: t0.Add(-time.Hour), LastSeenAt: t0.Add(-time.Hour),
			ExpiresAt: expiresAt, IP: "2001:db8::2", UserAgent: "storetest", Methods: m}
		first := &auth.RefreshToken{Hash: randHash(t), FamilyID: f.ID, CreatedAt: f.CreatedAt}
		noErr(t, "CreateRefreshFamily", s.CreateRefreshFamily(ctx(t), f, first))
		return f, first
	}

	keepS := session(u.ID, pw, t0.Add(day))
	pwS := session(u.ID, pw, t0.Add(day))
	nilS := session(u.ID, nil, t0.Add(day)) // no methods: the password alone
	expiredS := session(u.ID, pw, t0.Add(-time.Minute))
	totpS := session(u.ID, pwTOTP, t0.Add(day))
	rcS := session(u.ID, pwRC, t0.Add(day))
	passkeyS := session(u.ID, passkey, t0.Add(day))
	keepF, keepFirst := family(u.ID, pw, t0.Add(day))
	pwF, pwFirst := family(u.ID, pw, t0.Add(day))
	nilF, nilFirst := family(u.ID, nil, t0.Add(day))
	_, totpFirst := family(u.ID, pwTOTP, t0.Add(day))
	_, rcFirst := family(u.ID, pwRC, t0.Add(day))
	_, passkeyFirst := family(u.ID, passkey, t0.Add(day))
	_, expiredFirst := family(u.ID, pw, t0.Add(-time.Minute))
	gone, goneFirst := family(u.ID, pw, t0.Add(day))
	earlier := t0.Add(-time.Minute)
	noErr(t, "RevokeFamily", s.RevokeFamily(ctx(t), u.ID, gone.ID, earlier))
	otherS := session(other.ID, pw, t0.Add(day))
	_, otherFirst := family(other.ID, pw, t0.Add(day))

	// Rows from before methods were recorded: the migration's default, or
	// an empty column. Both are the password alone.
	var legacyS *auth.Session
	var legacyF *auth.RefreshFamily
	var legacyFirst *auth.RefreshToken
	raw, haveRaw := s.(rawExecer)
	if haveRaw {
		legacyS = session(u.ID, pw, t0.Add(day))
		legacyF, legacyFirst = family(u.ID, pw, t0.Add(day))
		noErr(t, "empty the session's amr", raw.ExecForTest(ctx(t), `UPDATE sessions SET amr = '' WHERE id = '`+legacyS.ID+`'`))
		noErr(t, "empty the family's amr", raw.ExecForTest(ctx(t), `UPDATE refresh_families SET amr = '' WHERE id = '`+legacyF.ID+`'`))
		got, err := getSession(t, s, legacyS.TokenHash)
		noErr(t, "SessionByTokenHash of a legacy session", err)
		check(t, "methods of a legacy session", got.Methods, pw)
		check(t, "methods of a legacy family", getFamily(t, s, legacyFirst.Hash).Methods, pw)
	} else {
		t.Log("the store has no ExecForTest: rows with an empty amr not checked")
	}

	revoked, err := s.RevokeSingleFactorSessions(ctx(t), u.ID, keepS.ID, keepF.ID, t0)
	noErr(t, "RevokeSingleFactorSessions", err)
	want := []string{pwF.ID, nilF.ID}
	if haveRaw {
		want = append(want, legacyF.ID)
	}
	slices.Sort(want)
	check(t, "revoked family ids (sorted)", revoked, want)

	deleted := []*auth.Session{pwS, nilS, expiredS}
	if haveRaw {
		deleted = append(deleted, legacyS)
	}
	for _, sess := range deleted {
		_, err := getSession(t, s, sess.TokenHash)
		wantErr(t, "SessionByTokenHash of a password-only session", err, auth.ErrNotFound)
	}
	for _, sess := range []*auth.Session{keepS, totpS, rcS, passkeyS, otherS} {
		got, err := getSession(t, s, sess.TokenHash)
		noErr(t, "SessionByTokenHash of a kept session ("+sess.Methods.String()+")", err)
		check(t, "kept session", got, sess)
	}
	revokedFirsts := []*auth.RefreshToken{pwFirst, nilFirst}
	if haveRaw {
		revokedFirsts = append(revokedFirsts, legacyFirst)
	}
	for _, first := range revokedFirsts {
		check(t, "revoked at", getFamily(t, s, first.Hash).RevokedAt, t0)
	}
	for _, first := range []*auth.RefreshToken{keepFirst, totpFirst, rcFirst, passkeyFirst, expiredFirst, otherFirst} {
		if f := getFamily(t, s, first.Hash); f.Revoked() {
			t.Errorf("family %s (%s) revoked", f.ID, f.Methods)
		}
	}
	check(t, "revoked at of a family revoked before", getFamily(t, s, goneFirst.Hash).RevokedAt, earlier)

	// Nothing left but the kept ones; keeping nothing takes them.
	revoked, err = s.RevokeSingleFactorSessions(ctx(t), u.ID, "", "", t0.Add(time.Second))
	noErr(t, "RevokeSingleFactorSessions keeping nothing", err)
	check(t, "revoked family ids keeping nothing", revoked, []string{keepF.ID})
	_, err = getSession(t, s, keepS.TokenHash)
	wantErr(t, "SessionByTokenHash of the formerly kept session", err, auth.ErrNotFound)
	revoked, err = s.RevokeSingleFactorSessions(ctx(t), u.ID, "", "", t0.Add(2*time.Second))
	noErr(t, "RevokeSingleFactorSessions with nothing left", err)
	if len(revoked) != 0 {
		t.Errorf("RevokeSingleFactorSessions with nothing left revoked %v", revoked)
	}
	got, err := s.ListSessions(ctx(t), u.ID, t0.Add(2*time.Second))
	noErr(t, "ListSessions", err)
	if len(got) != 6 { // totp, rc and passkey sessions and families
		t.Errorf("ListSessions after revoking the single-factor ones: %d entries, want 6: %+v", len(got), got)
	}
}

// testMethodsRoundTrip: sessions and families keep the methods they were
// established with.
func testMethodsRoundTrip(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	for _, m := range []auth.Methods{
		{auth.MethodPassword},
		{auth.MethodPassword, auth.MethodTOTP},
		{auth.MethodPassword, auth.MethodRecoveryCode},
		{auth.MethodPasskey},
		{auth.MethodPasskey, auth.MethodPassword},
	} {
		sess := &auth.Session{ID: randID(t), UserID: u.ID, TokenHash: randHash(t), CreatedAt: t0, LastSeenAt: t0,
			ExpiresAt: t0.Add(time.Hour), Methods: m}
		noErr(t, "CreateSession", s.CreateSession(ctx(t), sess))
		got, err := getSession(t, s, sess.TokenHash)
		noErr(t, "SessionByTokenHash", err)
		check(t, "SessionByTokenHash methods", got.Methods, m)
		got, _, err = s.SessionWithUser(ctx(t), sess.TokenHash)
		noErr(t, "SessionWithUser", err)
		check(t, "SessionWithUser methods", got.Methods, m)

		f := &auth.RefreshFamily{ID: randID(t), UserID: u.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour), Methods: m}
		first := &auth.RefreshToken{Hash: randHash(t), FamilyID: f.ID, CreatedAt: t0}
		noErr(t, "CreateRefreshFamily", s.CreateRefreshFamily(ctx(t), f, first))
		check(t, "RefreshTokenByHash family methods", getFamily(t, s, first.Hash).Methods, m)
		// A rotation keeps them: every token of the family carries them.
		next := nextToken(t, first, t0.Add(time.Second))
		ok, err := s.RotateRefreshToken(ctx(t), first.Hash, next, t0.Add(time.Second))
		noErr(t, "RotateRefreshToken", err)
		if !ok {
			t.Fatal("RotateRefreshToken = false")
		}
		check(t, "methods after rotation", getFamily(t, s, next.Hash).Methods, m)
	}
	// None given is the password alone.
	f := &auth.RefreshFamily{ID: randID(t), UserID: u.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
	first := &auth.RefreshToken{Hash: randHash(t), FamilyID: f.ID, CreatedAt: t0}
	noErr(t, "CreateRefreshFamily", s.CreateRefreshFamily(ctx(t), f, first))
	check(t, "methods of a family created without", getFamily(t, s, first.Hash).Methods, auth.Methods{auth.MethodPassword})
}

// testPurgeMFATokens: Purge deletes used and expired pending logins and
// keeps live ones.
func testPurgeMFATokens(t *testing.T, s auth.Store) {
	db, ok := s.(purger)
	if !ok {
		t.Fatal("the store has no Purge(ctx, now) (int64, error) method")
	}
	u := newUser(t, s)
	now := t0.Add(time.Minute)
	live := newMFAToken(t, s, u.ID)
	failing := newMFAToken(t, s, u.ID)
	if _, err := s.FailMFAToken(ctx(t), failing.Hash, now, 5); err != nil {
		t.Fatal(err)
	}
	consumed := newMFAToken(t, s, u.ID)
	if _, err := s.ConsumeMFAToken(ctx(t), consumed.Hash, now); err != nil {
		t.Fatal(err)
	}
	failedOut := newMFAToken(t, s, u.ID)
	if _, err := s.FailMFAToken(ctx(t), failedOut.Hash, now, 1); err != nil {
		t.Fatal(err)
	}
	expired := &auth.MFAToken{Hash: randHash(t), UserID: u.ID, Mode: auth.ModeCookie, Methods: auth.Methods{auth.MethodPassword},
		CreatedAt: t0.Add(-time.Hour), ExpiresAt: now.Add(-time.Millisecond)}
	noErr(t, "CreateMFAToken", s.CreateMFAToken(ctx(t), expired))

	n, err := db.Purge(ctx(t), now)
	noErr(t, "Purge", err)
	if n != 3 {
		t.Errorf("Purge removed %d rows, want 3 (consumed, failed out, expired)", n)
	}
	for _, m := range []*auth.MFAToken{live, failing} {
		got, err := s.MFAToken(ctx(t), m.Hash, now)
		noErr(t, "MFAToken of a live pending login after Purge", err)
		if !slices.Equal(got.Hash, m.Hash) {
			t.Errorf("MFAToken = %x, want %x", got.Hash, m.Hash)
		}
	}
	got, err := s.MFAToken(ctx(t), failing.Hash, now)
	noErr(t, "MFAToken", err)
	check(t, "failures kept by Purge", got.Failures, 1)
	// The expired one is gone, not only expired: it is not there even
	// when asked as of before its expiry.
	_, err = s.MFAToken(ctx(t), expired.Hash, expired.CreatedAt)
	wantErr(t, "MFAToken of a purged expired pending login", err, auth.ErrNotFound)
	n, err = db.Purge(ctx(t), now)
	noErr(t, "second Purge", err)
	if n != 0 {
		t.Errorf("second Purge removed %d rows, want 0", n)
	}
}
