package storetest

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Bench runs the store benchmarks of the hot paths on a backend: open must
// return a new, empty, migrated store each time it is called.
//
//	func BenchmarkStore(b *testing.B) {
//		storetest.Bench(b, func(b *testing.B) auth.Store { return openFresh(b) })
//	}
func Bench(b *testing.B, open func(b *testing.B) auth.Store) {
	b.Run("RotateRefreshToken", func(b *testing.B) { benchRotateRefreshToken(b, open(b)) })
	b.Run("SessionWithUser", func(b *testing.B) { benchSessionWithUser(b, open(b)) })
	b.Run("UserForAccess", func(b *testing.B) { benchUserForAccess(b, open(b)) })
}

func benchHash(prefix byte, i uint64) []byte {
	var b [9]byte
	b[0] = prefix
	binary.BigEndian.PutUint64(b[1:], i)
	h := sha256.Sum256(b[:])
	return h[:]
}

// benchRotateRefreshToken rotates b.N tokens, each the head of its own
// chain, from parallel goroutines: the write path of POST /v1/token/refresh.
func benchRotateRefreshToken(b *testing.B, db auth.Store) {
	ctx := b.Context()
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if err := db.CreateUser(ctx, &auth.User{ID: "u", Email: "u@example.com", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	// One family per goroutine slot; each goroutine rotates its own chain.
	var next atomic.Uint64
	sealed := make([]byte, 60)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := next.Add(1) << 40
		fam := &auth.RefreshFamily{ID: fmt.Sprintf("fam-%d", g>>40), UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		cur := benchHash(1, g)
		if err := db.CreateRefreshFamily(ctx, fam, &auth.RefreshToken{Hash: cur, CreatedAt: now}); err != nil {
			b.Error(err)
			return
		}
		for i := g + 1; pb.Next(); i++ {
			n := &auth.RefreshToken{Hash: benchHash(1, i), CreatedAt: now, SealedSuccessor: sealed}
			ok, err := db.RotateRefreshToken(ctx, cur, n, now)
			if err != nil || !ok {
				b.Errorf("RotateRefreshToken = %v, %v", ok, err)
				return
			}
			cur = n.Hash
		}
	})
}

// benchSessionWithUser looks sessions and their users up from parallel
// goroutines: the read path of every cookie-authenticated request.
func benchSessionWithUser(b *testing.B, db auth.Store) {
	ctx := b.Context()
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if err := db.CreateUser(ctx, &auth.User{ID: "u", Email: "u@example.com", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	const sessions = 1000
	for i := range uint64(sessions) {
		s := &auth.Session{ID: fmt.Sprintf("s-%d", i), UserID: "u", TokenHash: benchHash(3, i),
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), IP: "192.0.2.1", UserAgent: "bench"}
		if err := db.CreateSession(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Uint64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := db.SessionWithUser(ctx, benchHash(3, seq.Add(1)%sessions)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchUserForAccess checks a user and two deny-list keys from parallel
// goroutines: the read path of every bearer-token request.
func benchUserForAccess(b *testing.B, db auth.Store) {
	ctx := b.Context()
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if err := db.CreateUser(ctx, &auth.User{ID: "u", Email: "u@example.com", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	if err := db.Deny(ctx, "jti:other", now.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, denied, err := db.UserForAccess(ctx, "u", now, "jti:x", "sid:y"); err != nil || denied {
				b.Errorf("UserForAccess = %v, %v", denied, err)
				return
			}
		}
	})
}
