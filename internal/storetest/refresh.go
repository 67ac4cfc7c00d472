package storetest

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var refreshTests = []testCase{
	{"CreateAndGet", testRefreshCreateAndGet},
	{"Rotate", testRefreshRotate},
	{"RotateUnknown", testRefreshRotateUnknown},
	{"RotateRevokedFamily", testRefreshRotateRevoked},
	{"ConcurrentRotate", testRefreshConcurrentRotate},
	{"RevokeFamily", testRefreshRevokeFamily},
	{"UnknownUser", testRefreshUnknownUser},
	{"CountReplay", testRefreshCountReplay},
	{"ConcurrentCountReplay", testRefreshConcurrentCountReplay},
}

// newFamily creates a live refresh family of userID created at createdAt and
// returns it with its first token.
func newFamily(t *testing.T, s auth.Store, userID string, createdAt, expiresAt time.Time) (*auth.RefreshFamily, *auth.RefreshToken) {
	t.Helper()
	f := &auth.RefreshFamily{
		ID:         randID(t),
		UserID:     userID,
		CreatedAt:  createdAt,
		LastSeenAt: createdAt,
		ExpiresAt:  expiresAt,
		IP:         "2001:db8::1",
		UserAgent:  "storetest-cli/1.0",
		Methods:    auth.Methods{auth.MethodPassword},
	}
	first := &auth.RefreshToken{Hash: randHash(t), FamilyID: f.ID, CreatedAt: createdAt}
	noErr(t, "CreateRefreshFamily", s.CreateRefreshFamily(ctx(t), f, first))
	return f, first
}

// nextToken is what the Service passes to RotateRefreshToken.
func nextToken(t *testing.T, old *auth.RefreshToken, now time.Time) *auth.RefreshToken {
	t.Helper()
	return &auth.RefreshToken{
		Hash:            randHash(t),
		FamilyID:        old.FamilyID,
		ParentHash:      old.Hash,
		CreatedAt:       now,
		SealedSuccessor: randBytes(t, 60),
	}
}

func getFamily(t *testing.T, s auth.Store, tokenHash []byte) *auth.RefreshFamily {
	t.Helper()
	_, f, err := s.RefreshTokenByHash(ctx(t), tokenHash)
	noErr(t, "RefreshTokenByHash", err)
	return f
}

func testRefreshCreateAndGet(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	f, first := newFamily(t, s, u.ID, t0, t0.Add(30*24*time.Hour))
	gotT, gotF, err := s.RefreshTokenByHash(ctx(t), first.Hash)
	noErr(t, "RefreshTokenByHash", err)
	check(t, "token", gotT, first)
	check(t, "family", gotF, f)
	if len(gotT.ParentHash) != 0 || !gotT.UsedAt.IsZero() || len(gotT.SuccessorHash) != 0 {
		t.Errorf("first token = %+v, want no parent, unused, no successor", *gotT)
	}
	if gotF.Revoked() {
		t.Errorf("new family is revoked: %+v", *gotF)
	}
	_, _, err = s.RefreshTokenByHash(ctx(t), randHash(t))
	wantErr(t, "RefreshTokenByHash of an unknown hash", err, auth.ErrNotFound)
}

func testRefreshRotate(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	f, first := newFamily(t, s, u.ID, t0, t0.Add(30*24*time.Hour))
	t1 := t0.Add(15 * time.Minute)
	next := nextToken(t, first, t1)

	ok, err := s.RotateRefreshToken(ctx(t), first.Hash, next, t1)
	noErr(t, "RotateRefreshToken", err)
	if !ok {
		t.Fatal("RotateRefreshToken of the current token = false, want true")
	}
	gotOld, gotF, err := s.RefreshTokenByHash(ctx(t), first.Hash)
	noErr(t, "RefreshTokenByHash of the old token", err)
	wantOld := *first
	wantOld.UsedAt = t1
	wantOld.SuccessorHash = next.Hash
	wantOld.SealedSuccessor = next.SealedSuccessor
	check(t, "old token after rotation", gotOld, &wantOld)
	wantF := *f
	wantF.LastSeenAt = t1
	check(t, "family after rotation", gotF, &wantF)

	gotNext, _, err := s.RefreshTokenByHash(ctx(t), next.Hash)
	noErr(t, "RefreshTokenByHash of the new token", err)
	if !bytes.Equal(gotNext.Hash, next.Hash) || gotNext.FamilyID != f.ID || !bytes.Equal(gotNext.ParentHash, first.Hash) ||
		!gotNext.CreatedAt.Equal(t1) || !gotNext.UsedAt.IsZero() || len(gotNext.SuccessorHash) != 0 {
		t.Errorf("new token = %+v, want hash %x in family %s, parent %x, created %v, unused, no successor",
			*gotNext, next.Hash, f.ID, first.Hash, t1)
	}

	// The old token is no longer current.
	t2 := t1.Add(time.Minute)
	again := nextToken(t, first, t2)
	ok, err = s.RotateRefreshToken(ctx(t), first.Hash, again, t2)
	noErr(t, "RotateRefreshToken of a used token", err)
	if ok {
		t.Error("RotateRefreshToken of a used token = true, want false")
	}
	_, _, err = s.RefreshTokenByHash(ctx(t), again.Hash)
	wantErr(t, "RefreshTokenByHash of a refused successor", err, auth.ErrNotFound)
	gotOld, gotF, err = s.RefreshTokenByHash(ctx(t), first.Hash)
	noErr(t, "RefreshTokenByHash", err)
	check(t, "old token after a refused rotation", gotOld, &wantOld)
	check(t, "family after a refused rotation", gotF, &wantF)

	// The new one is.
	third := nextToken(t, next, t2)
	ok, err = s.RotateRefreshToken(ctx(t), next.Hash, third, t2)
	noErr(t, "RotateRefreshToken of the new token", err)
	if !ok {
		t.Error("RotateRefreshToken of the new token = false, want true")
	}
	check(t, "family last seen after the second rotation", getFamily(t, s, third.Hash).LastSeenAt, t2)
}

func testRefreshRotateUnknown(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	_, first := newFamily(t, s, u.ID, t0, t0.Add(time.Hour))
	next := nextToken(t, first, t0)
	ok, err := s.RotateRefreshToken(ctx(t), randHash(t), next, t0)
	noErr(t, "RotateRefreshToken of an unknown token", err)
	if ok {
		t.Error("RotateRefreshToken of an unknown token = true, want false")
	}
	_, _, err = s.RefreshTokenByHash(ctx(t), next.Hash)
	wantErr(t, "RefreshTokenByHash of a refused successor", err, auth.ErrNotFound)
}

func testRefreshRotateRevoked(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	f, first := newFamily(t, s, u.ID, t0, t0.Add(time.Hour))
	noErr(t, "RevokeFamily", s.RevokeFamily(ctx(t), u.ID, f.ID, t0))
	next := nextToken(t, first, t0.Add(time.Second))
	ok, err := s.RotateRefreshToken(ctx(t), first.Hash, next, t0.Add(time.Second))
	noErr(t, "RotateRefreshToken in a revoked family", err)
	if ok {
		t.Error("RotateRefreshToken in a revoked family = true, want false")
	}
	got, _, err := s.RefreshTokenByHash(ctx(t), first.Hash)
	noErr(t, "RefreshTokenByHash", err)
	check(t, "token after a refused rotation", got, first)
	_, _, err = s.RefreshTokenByHash(ctx(t), next.Hash)
	wantErr(t, "RefreshTokenByHash of a refused successor", err, auth.ErrNotFound)
}

func testRefreshConcurrentRotate(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	_, first := newFamily(t, s, u.ID, t0, t0.Add(time.Hour))
	now := t0.Add(time.Minute)
	nexts := make([]*auth.RefreshToken, 20)
	for i := range nexts {
		nexts[i] = nextToken(t, first, now)
	}
	var won, last atomic.Int32
	parallel(len(nexts), func(i int) {
		ok, err := s.RotateRefreshToken(ctx(t), first.Hash, nexts[i], now)
		if err != nil {
			t.Errorf("RotateRefreshToken: %v", err)
		}
		if ok {
			won.Add(1)
			last.Store(int32(i))
		}
	})
	if won.Load() != 1 {
		t.Fatalf("20 concurrent RotateRefreshToken: %d returned true, want 1", won.Load())
	}
	winner := int(last.Load())
	old, _, err := s.RefreshTokenByHash(ctx(t), first.Hash)
	noErr(t, "RefreshTokenByHash", err)
	if !bytes.Equal(old.SuccessorHash, nexts[winner].Hash) {
		t.Errorf("old token's successor is %x, want the winner's %x", old.SuccessorHash, nexts[winner].Hash)
	}
	for i, n := range nexts {
		_, _, err := s.RefreshTokenByHash(ctx(t), n.Hash)
		switch {
		case i == winner && err != nil:
			t.Errorf("RefreshTokenByHash of the winning successor: %v", err)
		case i != winner && !errors.Is(err, auth.ErrNotFound):
			t.Errorf("RefreshTokenByHash of losing successor %d: got error %v, want ErrNotFound", i, err)
		}
	}
}

func testRefreshRevokeFamily(t *testing.T, s auth.Store) {
	u, mallory := newUser(t, s), newUser(t, s)
	f, first := newFamily(t, s, u.ID, t0, t0.Add(time.Hour))
	t1 := t0.Add(time.Minute)

	wantErr(t, "RevokeFamily with another user's id", s.RevokeFamily(ctx(t), mallory.ID, f.ID, t1), auth.ErrNotFound)
	if got := getFamily(t, s, first.Hash); got.Revoked() {
		t.Errorf("family revoked by another user: %+v", *got)
	}
	wantErr(t, "RevokeFamily of an unknown family", s.RevokeFamily(ctx(t), u.ID, "no-such-id", t1), auth.ErrNotFound)
	wantErr(t, "RevokeFamily of an unknown family for any user", s.RevokeFamily(ctx(t), "", "no-such-id", t1), auth.ErrNotFound)

	noErr(t, "RevokeFamily", s.RevokeFamily(ctx(t), u.ID, f.ID, t1))
	want := *f
	want.RevokedAt = t1
	got := getFamily(t, s, first.Hash)
	check(t, "family after RevokeFamily", got, &want)
	if !got.Revoked() {
		t.Error("Revoked() = false after RevokeFamily")
	}

	// Revoking again changes nothing; an error, if any, is ErrNotFound.
	if err := s.RevokeFamily(ctx(t), u.ID, f.ID, t1.Add(time.Minute)); err != nil && !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("RevokeFamily of a revoked family: %v", err)
	}
	check(t, "family after a second RevokeFamily", getFamily(t, s, first.Hash), &want)

	// Without a user id, any user's family.
	f2, first2 := newFamily(t, s, u.ID, t0, t0.Add(time.Hour))
	noErr(t, "RevokeFamily without user id", s.RevokeFamily(ctx(t), "", f2.ID, t1))
	check(t, "revoked at", getFamily(t, s, first2.Hash).RevokedAt, t1)
}

func testRefreshUnknownUser(t *testing.T, s auth.Store) {
	f := &auth.RefreshFamily{ID: randID(t), UserID: "no-such-id", CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
	first := &auth.RefreshToken{Hash: randHash(t), FamilyID: f.ID, CreatedAt: t0}
	wantErr(t, "CreateRefreshFamily for an unknown user", s.CreateRefreshFamily(ctx(t), f, first), auth.ErrNotFound)
	_, _, err := s.RefreshTokenByHash(ctx(t), first.Hash)
	wantErr(t, "RefreshTokenByHash of the refused first token", err, auth.ErrNotFound)
}

// testRefreshCountReplay: only a rotated token's counter moves, and never
// past max; each token has its own counter.
func testRefreshCountReplay(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	_, first := newFamily(t, s, u.ID, t0, t0.Add(time.Hour))
	ok, err := s.CountRefreshReplay(ctx(t), first.Hash, 3)
	noErr(t, "CountRefreshReplay of a current token", err)
	if ok {
		t.Error("CountRefreshReplay of a current (unused) token = true, want false")
	}
	ok, err = s.CountRefreshReplay(ctx(t), randHash(t), 3)
	noErr(t, "CountRefreshReplay of an unknown token", err)
	if ok {
		t.Error("CountRefreshReplay of an unknown token = true, want false")
	}
	next := nextToken(t, first, t0.Add(time.Second))
	rotated, err := s.RotateRefreshToken(ctx(t), first.Hash, next, t0.Add(time.Second))
	noErr(t, "RotateRefreshToken", err)
	if !rotated {
		t.Fatal("RotateRefreshToken = false, want true")
	}
	for i := 1; i <= 4; i++ {
		ok, err := s.CountRefreshReplay(ctx(t), first.Hash, 3)
		noErr(t, "CountRefreshReplay", err)
		if want := i <= 3; ok != want {
			t.Errorf("CountRefreshReplay #%d with max 3 = %v, want %v", i, ok, want)
		}
	}
	ok, err = s.CountRefreshReplay(ctx(t), first.Hash, 0)
	noErr(t, "CountRefreshReplay with max 0", err)
	if ok {
		t.Error("CountRefreshReplay with max 0 = true, want false")
	}
	// The counter belongs to the token: the successor, once rotated, has
	// its own.
	third := nextToken(t, next, t0.Add(2*time.Second))
	rotated, err = s.RotateRefreshToken(ctx(t), next.Hash, third, t0.Add(2*time.Second))
	noErr(t, "RotateRefreshToken", err)
	if !rotated {
		t.Fatal("second RotateRefreshToken = false, want true")
	}
	ok, err = s.CountRefreshReplay(ctx(t), next.Hash, 1)
	noErr(t, "CountRefreshReplay of the rotated successor", err)
	if !ok {
		t.Error("CountRefreshReplay of a freshly rotated successor = false, want true")
	}
}

// testRefreshConcurrentCountReplay: of 20 concurrent replays with max 3,
// exactly 3 are counted.
func testRefreshConcurrentCountReplay(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	_, first := newFamily(t, s, u.ID, t0, t0.Add(time.Hour))
	now := t0.Add(time.Minute)
	rotated, err := s.RotateRefreshToken(ctx(t), first.Hash, nextToken(t, first, now), now)
	noErr(t, "RotateRefreshToken", err)
	if !rotated {
		t.Fatal("RotateRefreshToken = false, want true")
	}
	var won atomic.Int32
	parallel(20, func(int) {
		ok, err := s.CountRefreshReplay(ctx(t), first.Hash, 3)
		if err != nil {
			t.Errorf("CountRefreshReplay: %v", err)
		}
		if ok {
			won.Add(1)
		}
	})
	if won.Load() != 3 {
		t.Errorf("20 concurrent CountRefreshReplay with max 3: %d returned true, want 3", won.Load())
	}
}
