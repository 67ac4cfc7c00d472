package password

import (
	"context"
	"testing"
)

func benchmarkHash(b *testing.B, cfg Config) {
	cfg.Slots = 1
	h, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkArgon2idHash measures one hash at the defaults (m=19456, t=2, p=1).
func BenchmarkArgon2idHash(b *testing.B) { benchmarkHash(b, Config{Algorithm: Argon2id}) }

func BenchmarkBcryptCost10(b *testing.B) {
	benchmarkHash(b, Config{Algorithm: Bcrypt, BcryptCost: 10})
}

func BenchmarkBcryptCost12(b *testing.B) {
	benchmarkHash(b, Config{Algorithm: Bcrypt, BcryptCost: 12})
}

func BenchmarkPolicyCheck(b *testing.B) {
	p, err := NewPolicy(0)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if r := p.Check("correct horse battery staple", "jane.doe@example.com"); r != "" {
			b.Fatal(r)
		}
	}
}
