package storetest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// SigningKeys is the conformance suite of auth.SigningKeyStore. open must
// return a new, empty, migrated store each time it is called.
func SigningKeys(t *testing.T, open func(t *testing.T) auth.SigningKeyStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s auth.SigningKeyStore)
	}{
		{"RoundTrip", testKeysRoundTrip},
		{"ConditionalChange", testKeysConditional},
		{"OnePerState", testKeysOnePerState},
		{"ConcurrentRotation", testKeysConcurrentRotation},
		{"Reseal", testKeysReseal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func signingKey(t *testing.T, state string) auth.SigningKey {
	return auth.SigningKey{KID: randID(t), Alg: "EdDSA", State: state, Public: randBytes(t, 32), Sealed: randBytes(t, 80), CreatedAt: t0}
}

// testKeysRoundTrip: what is inserted reads back exactly, oldest first; a
// change to current sets ActivatedAt, a change to retired erases the
// private key and sets RetiredAt; withRetired selects.
func testKeysRoundTrip(t *testing.T, s auth.SigningKeyStore) {
	keys, err := s.SigningKeys(ctx(t), true)
	noErr(t, "SigningKeys of an empty store", err)
	check(t, "keys of an empty store", len(keys), 0)
	cur, next := signingKey(t, auth.KeyCurrent), signingKey(t, auth.KeyNext)
	cur.ActivatedAt = t0
	next.CreatedAt = t0.Add(time.Millisecond)
	noErr(t, "insert", s.ChangeSigningKeys(ctx(t), nil, []auth.SigningKey{cur, next}, t0))
	keys, err = s.SigningKeys(ctx(t), false)
	noErr(t, "SigningKeys", err)
	check(t, "keys", keys, []auth.SigningKey{cur, next})

	later := t0.Add(time.Hour)
	fresh := signingKey(t, auth.KeyNext)
	fresh.CreatedAt = later
	noErr(t, "rotate", s.ChangeSigningKeys(ctx(t), []auth.SigningKeyChange{
		{KID: cur.KID, From: auth.KeyCurrent, To: auth.KeyPrevious},
		{KID: next.KID, From: auth.KeyNext, To: auth.KeyCurrent},
	}, []auth.SigningKey{fresh}, later))
	noErr(t, "retire", s.ChangeSigningKeys(ctx(t), []auth.SigningKeyChange{
		{KID: cur.KID, From: auth.KeyPrevious, To: auth.KeyRetired},
	}, nil, later.Add(time.Minute)))

	retired := cur
	retired.State, retired.Sealed, retired.RetiredAt = auth.KeyRetired, nil, later.Add(time.Minute)
	promoted := next
	promoted.State, promoted.ActivatedAt = auth.KeyCurrent, later
	keys, err = s.SigningKeys(ctx(t), true)
	noErr(t, "SigningKeys with retired", err)
	check(t, "keys with retired", keys, []auth.SigningKey{retired, promoted, fresh})
	keys, err = s.SigningKeys(ctx(t), false)
	noErr(t, "SigningKeys", err)
	check(t, "keys without retired", keys, []auth.SigningKey{promoted, fresh})
}

// testKeysConditional: a change whose key is not in From fails with
// ErrConflict and undoes the changes before it and the inserts.
func testKeysConditional(t *testing.T, s auth.SigningKeyStore) {
	cur, next := signingKey(t, auth.KeyCurrent), signingKey(t, auth.KeyNext)
	next.CreatedAt = t0.Add(time.Second)
	noErr(t, "insert", s.ChangeSigningKeys(ctx(t), nil, []auth.SigningKey{cur, next}, t0))
	err := s.ChangeSigningKeys(ctx(t), []auth.SigningKeyChange{
		{KID: cur.KID, From: auth.KeyCurrent, To: auth.KeyPrevious},
		{KID: next.KID, From: auth.KeyPrevious, To: auth.KeyCurrent}, // next is not previous
	}, []auth.SigningKey{signingKey(t, auth.KeyNext)}, t0)
	wantErr(t, "change from the wrong state", err, auth.ErrConflict)
	err = s.ChangeSigningKeys(ctx(t), []auth.SigningKeyChange{
		{KID: "no-such-kid", From: auth.KeyNext, To: auth.KeyRetired},
	}, nil, t0)
	wantErr(t, "change of an unknown kid", err, auth.ErrConflict)
	keys, err := s.SigningKeys(ctx(t), true)
	noErr(t, "SigningKeys", err)
	check(t, "keys after failed changes", keys, []auth.SigningKey{cur, next})
}

// testKeysOnePerState: a second key of one state (other than retired)
// cannot be stored, nor a kid twice.
func testKeysOnePerState(t *testing.T, s auth.SigningKeyStore) {
	cur := signingKey(t, auth.KeyCurrent)
	noErr(t, "insert", s.ChangeSigningKeys(ctx(t), nil, []auth.SigningKey{cur}, t0))
	for _, state := range []string{auth.KeyCurrent} {
		err := s.ChangeSigningKeys(ctx(t), nil, []auth.SigningKey{signingKey(t, state)}, t0)
		wantErr(t, "a second "+state+" key", err, auth.ErrConflict)
	}
	dup := signingKey(t, auth.KeyNext)
	dup.KID = cur.KID
	wantErr(t, "a kid twice", s.ChangeSigningKeys(ctx(t), nil, []auth.SigningKey{dup}, t0), auth.ErrConflict)
	r1, r2 := signingKey(t, auth.KeyNext), signingKey(t, auth.KeyNext)
	noErr(t, "insert next", s.ChangeSigningKeys(ctx(t), nil, []auth.SigningKey{r1}, t0))
	noErr(t, "retire next", s.ChangeSigningKeys(ctx(t), []auth.SigningKeyChange{{KID: r1.KID, From: auth.KeyNext, To: auth.KeyRetired}}, []auth.SigningKey{r2}, t0))
	noErr(t, "retire next again", s.ChangeSigningKeys(ctx(t), []auth.SigningKeyChange{{KID: r2.KID, From: auth.KeyNext, To: auth.KeyRetired}}, nil, t0))
	keys, err := s.SigningKeys(ctx(t), true)
	noErr(t, "SigningKeys", err)
	check(t, "keys", len(keys), 3) // two retired keys may coexist
}

// testKeysConcurrentRotation: 16 callers make the same rotation at once;
// exactly one succeeds, the others get ErrConflict, and one key is current.
func testKeysConcurrentRotation(t *testing.T, s auth.SigningKeyStore) {
	cur, next := signingKey(t, auth.KeyCurrent), signingKey(t, auth.KeyNext)
	noErr(t, "insert", s.ChangeSigningKeys(ctx(t), nil, []auth.SigningKey{cur, next}, t0))
	var ok, conflicts atomic.Int32
	parallel(16, func(i int) {
		err := s.ChangeSigningKeys(ctx(t), []auth.SigningKeyChange{
			{KID: cur.KID, From: auth.KeyCurrent, To: auth.KeyPrevious},
			{KID: next.KID, From: auth.KeyNext, To: auth.KeyCurrent},
		}, []auth.SigningKey{signingKey(t, auth.KeyNext)}, t0)
		switch {
		case err == nil:
			ok.Add(1)
		case errors.Is(err, auth.ErrConflict):
			conflicts.Add(1)
		default:
			t.Errorf("concurrent rotation: %v", err)
		}
	})
	check(t, "rotations that succeeded", ok.Load(), int32(1))
	check(t, "rotations refused", conflicts.Load(), int32(15))
	keys, err := s.SigningKeys(ctx(t), true)
	noErr(t, "SigningKeys", err)
	states := map[string]int{}
	for _, k := range keys {
		states[k.State]++
	}
	check(t, "keys per state", states, map[string]int{auth.KeyPrevious: 1, auth.KeyCurrent: 1, auth.KeyNext: 1})
}

// testKeysReseal: the sealed key is replaced only while it is the old value;
// a retired key (no sealed value) stays without one.
func testKeysReseal(t *testing.T, s auth.SigningKeyStore) {
	cur, next := signingKey(t, auth.KeyCurrent), signingKey(t, auth.KeyNext)
	next.CreatedAt = t0.Add(time.Second)
	noErr(t, "insert", s.ChangeSigningKeys(ctx(t), nil, []auth.SigningKey{cur, next}, t0))
	resealed := randBytes(t, 80)
	noErr(t, "reseal", s.ResealSigningKey(ctx(t), cur.KID, cur.Sealed, resealed))
	noErr(t, "reseal from a stale value", s.ResealSigningKey(ctx(t), cur.KID, cur.Sealed, randBytes(t, 80)))
	noErr(t, "retire next", s.ChangeSigningKeys(ctx(t), []auth.SigningKeyChange{{KID: next.KID, From: auth.KeyNext, To: auth.KeyRetired}}, nil, t0))
	noErr(t, "reseal a retired key", s.ResealSigningKey(ctx(t), next.KID, next.Sealed, randBytes(t, 80)))
	keys, err := s.SigningKeys(ctx(t), true)
	noErr(t, "SigningKeys", err)
	check(t, "resealed key", keys[0].Sealed, resealed)
	check(t, "retired key", keys[1].Sealed, []byte(nil))
}
