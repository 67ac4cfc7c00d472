package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Passkeys is the conformance suite of auth.PasskeyStore. open must return a
// new, empty, migrated store each time it is called; the store must also
// implement auth.PasskeyStore and Purge(ctx, now).
func Passkeys(t *testing.T, open func(t *testing.T) auth.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s auth.Store, ps auth.PasskeyStore)
	}{
		{"UserHandle", testPasskeyUserHandle},
		{"RoundTrip", testPasskeyRoundTrip},
		{"CredentialIDUnique", testPasskeyCredentialIDUnique},
		{"CredentialIDLength", testPasskeyCredentialIDLength},
		{"OwnerOnly", testPasskeyOwnerOnly},
		{"SignCountCAS", testPasskeySignCountCAS},
		{"CeremonyRoundTrip", testCeremonyRoundTrip},
		{"CeremonyConsumeOnce", testCeremonyConsumeOnce},
		{"CeremonyFailures", testCeremonyFailures},
		{"PurgeCeremonies", testPurgeCeremonies},
		{"DeleteUserCascades", testPasskeyDeleteUserCascades},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			ps, ok := s.(auth.PasskeyStore)
			if !ok {
				t.Fatal("the store does not implement auth.PasskeyStore")
			}
			tc.fn(t, s, ps)
		})
	}
}

func newPasskey(t *testing.T, userID string) *auth.Passkey {
	t.Helper()
	return &auth.Passkey{
		ID:              "pk_" + randID(t),
		UserID:          userID,
		CredentialID:    randBytes(t, 32),
		PublicKey:       randBytes(t, 77),
		AttestationType: "none",
		AAGUID:          randBytes(t, 16),
		SignCount:       7,
		BackupEligible:  true,
		BackupState:     false,
		UserVerified:    true,
		Transports:      []string{"hybrid", "internal"},
		Name:            "Laptop — Touch ID",
		CreatedAt:       t0,
	}
}

func testPasskeyUserHandle(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	u := newUser(t, s)
	first := randBytes(t, 64)
	h, err := ps.WebAuthnUserHandle(ctx(t), u.ID, first)
	noErr(t, "WebAuthnUserHandle", err)
	check(t, "first handle", h, first)
	// A second call keeps the stored handle.
	h, err = ps.WebAuthnUserHandle(ctx(t), u.ID, randBytes(t, 64))
	noErr(t, "WebAuthnUserHandle again", err)
	check(t, "second handle", h, first)
	id, err := ps.UserIDByWebAuthnHandle(ctx(t), first)
	noErr(t, "UserIDByWebAuthnHandle", err)
	check(t, "user of handle", id, u.ID)
	_, err = ps.UserIDByWebAuthnHandle(ctx(t), randBytes(t, 64))
	wantErr(t, "unknown handle", err, auth.ErrNotFound)
	_, err = ps.WebAuthnUserHandle(ctx(t), "no-such-user", randBytes(t, 64))
	wantErr(t, "unknown user", err, auth.ErrNotFound)

	// Concurrent first calls all get one handle.
	u2 := newUser(t, s)
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Go(func() {
			h, err := ps.WebAuthnUserHandle(ctx(t), u2.ID, randBytes(t, 64))
			if err != nil {
				t.Errorf("concurrent WebAuthnUserHandle: %v", err)
			}
			got[i] = h
		})
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("concurrent handles differ: %x vs %x", got[i], got[0])
		}
	}
}

func testPasskeyRoundTrip(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	u := newUser(t, s)
	p := newPasskey(t, u.ID)
	noErr(t, "CreatePasskey", ps.CreatePasskey(ctx(t), p))
	got, err := ps.PasskeyByCredentialID(ctx(t), p.CredentialID)
	noErr(t, "PasskeyByCredentialID", err)
	check(t, "passkey", got, p)
	_, err = ps.PasskeyByCredentialID(ctx(t), randBytes(t, 32))
	wantErr(t, "unknown credential id", err, auth.ErrNotFound)

	// No transports, no AAGUID, a later one: listed oldest first.
	p2 := newPasskey(t, u.ID)
	p2.Transports, p2.AAGUID, p2.Name, p2.CreatedAt = nil, nil, "", t0.Add(time.Minute)
	noErr(t, "CreatePasskey 2", ps.CreatePasskey(ctx(t), p2))
	list, err := ps.Passkeys(ctx(t), u.ID)
	noErr(t, "Passkeys", err)
	check(t, "list", list, []auth.Passkey{*p, *p2})
	checkPasskeyCount(t, s, u.ID, 2)

	noErr(t, "RenamePasskey", ps.RenamePasskey(ctx(t), u.ID, p.ID, "YubiKey"))
	got, err = ps.PasskeyByCredentialID(ctx(t), p.CredentialID)
	noErr(t, "PasskeyByCredentialID after rename", err)
	check(t, "renamed", got.Name, "YubiKey")

	noErr(t, "DeletePasskey", ps.DeletePasskey(ctx(t), u.ID, p.ID))
	_, err = ps.PasskeyByCredentialID(ctx(t), p.CredentialID)
	wantErr(t, "deleted passkey", err, auth.ErrNotFound)
	wantErr(t, "delete twice", ps.DeletePasskey(ctx(t), u.ID, p.ID), auth.ErrNotFound)
	checkPasskeyCount(t, s, u.ID, 1)
	list, err = ps.Passkeys(ctx(t), u.ID)
	noErr(t, "Passkeys after delete", err)
	check(t, "list after delete", list, []auth.Passkey{*p2})

	other := newUser(t, s)
	list, err = ps.Passkeys(ctx(t), other.ID)
	noErr(t, "Passkeys of a user with none", err)
	check(t, "empty list", len(list), 0)
	wantErr(t, "passkey of no user", ps.CreatePasskey(ctx(t), newPasskey(t, "no-such-user")), auth.ErrNotFound)
}

// checkPasskeyCount checks users.passkeys, which CreatePasskey and
// DeletePasskey keep in their transactions.
func checkPasskeyCount(t *testing.T, s auth.Store, userID string, want int) {
	t.Helper()
	u, err := s.UserByID(ctx(t), userID)
	noErr(t, "UserByID", err)
	if u.Passkeys != want {
		t.Errorf("users.passkeys = %d, want %d", u.Passkeys, want)
	}
}

func testPasskeyCredentialIDUnique(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	a, b := newUser(t, s), newUser(t, s)
	p := newPasskey(t, a.ID)
	noErr(t, "CreatePasskey", ps.CreatePasskey(ctx(t), p))
	dup := newPasskey(t, b.ID)
	dup.CredentialID = p.CredentialID
	wantErr(t, "same credential id, other user", ps.CreatePasskey(ctx(t), dup), auth.ErrConflict)
	dup.UserID = a.ID
	wantErr(t, "same credential id, same user", ps.CreatePasskey(ctx(t), dup), auth.ErrConflict)
	checkPasskeyCount(t, s, a.ID, 1)
	checkPasskeyCount(t, s, b.ID, 0)
	list, err := ps.Passkeys(ctx(t), b.ID)
	noErr(t, "Passkeys", err)
	check(t, "b's passkeys", len(list), 0)
}

func testPasskeyCredentialIDLength(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	u := newUser(t, s)
	p := newPasskey(t, u.ID)
	p.CredentialID = randBytes(t, auth.MaxCredentialIDBytes)
	noErr(t, "CreatePasskey of 1023 bytes", ps.CreatePasskey(ctx(t), p))
	long := newPasskey(t, u.ID)
	long.CredentialID = randBytes(t, auth.MaxCredentialIDBytes+1)
	if err := ps.CreatePasskey(ctx(t), long); err == nil {
		t.Fatal("CreatePasskey of 1024 bytes succeeded")
	}
	_, err := ps.PasskeyByCredentialID(ctx(t), long.CredentialID)
	wantErr(t, "1024-byte credential", err, auth.ErrNotFound)
	checkPasskeyCount(t, s, u.ID, 1)
}

func testPasskeyOwnerOnly(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	a, b := newUser(t, s), newUser(t, s)
	p := newPasskey(t, a.ID)
	noErr(t, "CreatePasskey", ps.CreatePasskey(ctx(t), p))
	wantErr(t, "rename by another user", ps.RenamePasskey(ctx(t), b.ID, p.ID, "mine"), auth.ErrNotFound)
	wantErr(t, "delete by another user", ps.DeletePasskey(ctx(t), b.ID, p.ID), auth.ErrNotFound)
	wantErr(t, "rename unknown", ps.RenamePasskey(ctx(t), a.ID, "pk_nope", "x"), auth.ErrNotFound)
	got, err := ps.PasskeyByCredentialID(ctx(t), p.CredentialID)
	noErr(t, "PasskeyByCredentialID", err)
	check(t, "untouched", got, p)
	checkPasskeyCount(t, s, a.ID, 1)
	checkPasskeyCount(t, s, b.ID, 0)
}

// testPasskeySignCountCAS: of racing assertions read at one count, one
// wins; a stale count changes nothing.
func testPasskeySignCountCAS(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	u := newUser(t, s)
	p := newPasskey(t, u.ID)
	noErr(t, "CreatePasskey", ps.CreatePasskey(ctx(t), p))
	at := t0.Add(time.Hour)
	ok, err := ps.UsePasskey(ctx(t), p.ID, 7, 8, true, at)
	noErr(t, "UsePasskey", err)
	if !ok {
		t.Fatal("UsePasskey at the stored count failed")
	}
	got, err := ps.PasskeyByCredentialID(ctx(t), p.CredentialID)
	noErr(t, "PasskeyByCredentialID", err)
	check(t, "after use", []any{got.SignCount, got.BackupState, got.LastUsedAt}, []any{uint32(8), true, at})
	ok, err = ps.UsePasskey(ctx(t), p.ID, 7, 9, false, at.Add(time.Hour))
	noErr(t, "UsePasskey stale", err)
	if ok {
		t.Fatal("UsePasskey at a stale count succeeded")
	}
	got, err = ps.PasskeyByCredentialID(ctx(t), p.CredentialID)
	noErr(t, "PasskeyByCredentialID", err)
	check(t, "after stale use", []any{got.SignCount, got.BackupState, got.LastUsedAt}, []any{uint32(8), true, at})
	// The full uint32 range round-trips.
	ok, err = ps.UsePasskey(ctx(t), p.ID, 8, 1<<32-1, true, at)
	noErr(t, "UsePasskey max", err)
	got, err = ps.PasskeyByCredentialID(ctx(t), p.CredentialID)
	noErr(t, "PasskeyByCredentialID", err)
	if !ok || got.SignCount != 1<<32-1 {
		t.Fatalf("max count: ok %v, count %d", ok, got.SignCount)
	}

	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ok, err := ps.UsePasskey(ctx(t), p.ID, 1<<32-1, uint32(100+i), true, at)
			if err != nil {
				t.Errorf("racing UsePasskey: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d racing assertions at one count succeeded, want 1", n)
	}
	_, err = ps.UsePasskey(ctx(t), "pk_nope", 0, 1, false, at)
	if err != nil {
		t.Fatalf("UsePasskey of an unknown passkey: %v (want false, nil)", err)
	}
}

func newCeremony(t *testing.T, kind, userID string) *auth.Ceremony {
	t.Helper()
	return &auth.Ceremony{
		ChallengeHash: randHash(t),
		Kind:          kind,
		UserID:        userID,
		Data:          []byte(`{"challenge":"x"}`),
		ExpiresAt:     t0.Add(5 * time.Minute),
	}
}

func testCeremonyRoundTrip(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	u := newUser(t, s)
	c := newCeremony(t, auth.CeremonyCreate, u.ID)
	noErr(t, "CreateCeremony", ps.CreateCeremony(ctx(t), c))
	wantErr(t, "same challenge again", ps.CreateCeremony(ctx(t), c), auth.ErrConflict)
	got, err := ps.Ceremony(ctx(t), c.ChallengeHash, t0)
	noErr(t, "Ceremony", err)
	check(t, "ceremony", got, c)
	// Not consumed by reading.
	_, err = ps.Ceremony(ctx(t), c.ChallengeHash, t0)
	noErr(t, "Ceremony again", err)
	// Expired at its expiry.
	_, err = ps.Ceremony(ctx(t), c.ChallengeHash, c.ExpiresAt)
	wantErr(t, "expired ceremony", err, auth.ErrNotFound)
	_, err = ps.ConsumeCeremony(ctx(t), c.ChallengeHash, c.ExpiresAt)
	wantErr(t, "consume expired ceremony", err, auth.ErrNotFound)

	// A sign-in ceremony without a user, bound to a pending login.
	g := newCeremony(t, auth.CeremonyGet, "")
	g.MFATokenHash = randHash(t)
	noErr(t, "CreateCeremony get", ps.CreateCeremony(ctx(t), g))
	got, err = ps.ConsumeCeremony(ctx(t), g.ChallengeHash, t0)
	noErr(t, "ConsumeCeremony", err)
	check(t, "consumed", got, g)
	_, err = ps.Ceremony(ctx(t), g.ChallengeHash, t0)
	wantErr(t, "consumed ceremony", err, auth.ErrNotFound)
	_, err = ps.ConsumeCeremony(ctx(t), g.ChallengeHash, t0)
	wantErr(t, "consume twice", err, auth.ErrNotFound)
	_, err = ps.Ceremony(ctx(t), randHash(t), t0)
	wantErr(t, "unknown ceremony", err, auth.ErrNotFound)
}

func testCeremonyConsumeOnce(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	c := newCeremony(t, auth.CeremonyGet, "")
	noErr(t, "CreateCeremony", ps.CreateCeremony(ctx(t), c))
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := ps.ConsumeCeremony(ctx(t), c.ChallengeHash, t0)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, auth.ErrNotFound):
				t.Errorf("racing ConsumeCeremony: %v", err)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d concurrent consumes succeeded, want 1", n)
	}
}

func testCeremonyFailures(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	c := newCeremony(t, auth.CeremonyCreate, "")
	noErr(t, "CreateCeremony", ps.CreateCeremony(ctx(t), c))
	for want := 1; want <= 2; want++ {
		n, err := ps.CeremonyFailed(ctx(t), c.ChallengeHash, 3)
		noErr(t, "CeremonyFailed", err)
		check(t, "failures", n, want)
		got, err := ps.Ceremony(ctx(t), c.ChallengeHash, t0)
		noErr(t, fmt.Sprintf("Ceremony after %d failures", want), err)
		check(t, "stored failures", got.Failures, want)
	}
	n, err := ps.CeremonyFailed(ctx(t), c.ChallengeHash, 3)
	noErr(t, "CeremonyFailed 3", err)
	check(t, "failures", n, 3)
	_, err = ps.Ceremony(ctx(t), c.ChallengeHash, t0)
	wantErr(t, "ceremony after max failures", err, auth.ErrNotFound)
	_, err = ps.CeremonyFailed(ctx(t), c.ChallengeHash, 3)
	wantErr(t, "failure of a deleted ceremony", err, auth.ErrNotFound)
}

func testPurgeCeremonies(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	db, ok := s.(purger)
	if !ok {
		t.Fatal("the store has no Purge(ctx, now) (int64, error) method")
	}
	dead := newCeremony(t, auth.CeremonyGet, "")
	dead.ExpiresAt = t0
	live := newCeremony(t, auth.CeremonyGet, "")
	live.ExpiresAt = t0.Add(time.Millisecond)
	noErr(t, "CreateCeremony", ps.CreateCeremony(ctx(t), dead))
	noErr(t, "CreateCeremony", ps.CreateCeremony(ctx(t), live))
	n, err := db.Purge(ctx(t), t0)
	noErr(t, "Purge", err)
	check(t, "purged rows", n, int64(1))
	_, err = ps.Ceremony(ctx(t), live.ChallengeHash, t0)
	noErr(t, "live ceremony after Purge", err)
	// Gone, not only expired: consume at an earlier time finds nothing.
	_, err = ps.ConsumeCeremony(ctx(t), dead.ChallengeHash, t0.Add(-time.Hour))
	wantErr(t, "purged ceremony", err, auth.ErrNotFound)
}

func testPasskeyDeleteUserCascades(t *testing.T, s auth.Store, ps auth.PasskeyStore) {
	as := adminStore(t, s)
	u := newUser(t, s)
	handle := randBytes(t, 64)
	_, err := ps.WebAuthnUserHandle(ctx(t), u.ID, handle)
	noErr(t, "WebAuthnUserHandle", err)
	p := newPasskey(t, u.ID)
	noErr(t, "CreatePasskey", ps.CreatePasskey(ctx(t), p))
	c := newCeremony(t, auth.CeremonyCreate, u.ID)
	noErr(t, "CreateCeremony", ps.CreateCeremony(ctx(t), c))
	noErr(t, "DeleteUser", as.DeleteUser(ctx(t), u.ID))
	_, err = ps.PasskeyByCredentialID(ctx(t), p.CredentialID)
	wantErr(t, "passkey of deleted user", err, auth.ErrNotFound)
	_, err = ps.UserIDByWebAuthnHandle(ctx(t), handle)
	wantErr(t, "handle of deleted user", err, auth.ErrNotFound)
	_, err = ps.Ceremony(ctx(t), c.ChallengeHash, t0)
	wantErr(t, "ceremony of deleted user", err, auth.ErrNotFound)
}
