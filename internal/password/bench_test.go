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

// benchmarkVerifyParallel verifies at the default parameters from as many
// goroutines as slots (GOMAXPROCS), in this process or in a worker process:
// the two figures compare what the worker's pipe and process cost.
func benchmarkVerifyParallel(b *testing.B, worker bool) {
	var h *Hasher
	if worker {
		h = newWorkerHasherParams(b, Config{Argon2: DefaultArgon2()})
	} else {
		var err error
		if h, err = New(Config{}); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}

func BenchmarkVerifyParallelInline(b *testing.B) { benchmarkVerifyParallel(b, false) }
func BenchmarkVerifyParallelWorker(b *testing.B) { benchmarkVerifyParallel(b, true) }
