package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"
	"time"
)

// The cost of Verify with a cached key, next to the bare signature check of
// the same token: the difference is parsing, JSON and the claim checks.
// README reports the figures.

func benchVerify(b *testing.B, alg string) {
	f := newFixture(b)
	tok := f.token(nil)
	if alg == ES256 {
		tok = f.ec.compact(b, f.header(ES256, "ec-1"), f.claims())
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyEdDSA(b *testing.B) { benchVerify(b, EdDSA) }
func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, ES256) }

func BenchmarkRawEd25519(b *testing.B) {
	f := newFixture(b)
	tok := f.token(nil)
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, _ := b64.DecodeString(tok[i+1:])
	pub := f.ed.ed.Public().(ed25519.PublicKey)
	for b.Loop() {
		if !ed25519.Verify(pub, input, sig) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkRawES256(b *testing.B) {
	f := newFixture(b)
	tok := f.ec.compact(b, f.header(ES256, "ec-1"), f.claims())
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, _ := b64.DecodeString(tok[i+1:])
	pub := &f.ec.ec.PublicKey
	for b.Loop() {
		d := sha256.Sum256(input)
		if !ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkVerifyVsRaw interleaves Verify and the bare signature check of
// the same token, so that both see the same machine load, and reports
// raw/verify: the share of Verify's time that is the signature check.
func BenchmarkVerifyVsRaw(b *testing.B) {
	for _, alg := range []string{EdDSA, ES256} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b)
			tok := f.token(nil)
			var raw func() bool
			i := strings.LastIndexByte(tok, '.')
			if alg == ES256 {
				tok = f.ec.compact(b, f.header(ES256, "ec-1"), f.claims())
				i = strings.LastIndexByte(tok, '.')
				input := []byte(tok[:i])
				sig, _ := b64.DecodeString(tok[i+1:])
				raw = func() bool {
					d := sha256.Sum256(input)
					return ecdsa.Verify(&f.ec.ec.PublicKey, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
				}
			} else {
				input := []byte(tok[:i])
				sig, _ := b64.DecodeString(tok[i+1:])
				pub := f.ed.ed.Public().(ed25519.PublicKey)
				raw = func() bool { return ed25519.Verify(pub, input, sig) }
			}
			ctx := context.Background()
			var rawTime, verifyTime time.Duration
			for b.Loop() {
				t0 := time.Now()
				if !raw() {
					b.Fatal("raw check failed")
				}
				t1 := time.Now()
				if _, err := f.v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				rawTime += t1.Sub(t0)
				verifyTime += t2.Sub(t1)
			}
			b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "raw-ns/op")
			b.ReportMetric(float64(verifyTime.Nanoseconds())/float64(b.N), "verify-ns/op")
			b.ReportMetric(float64(rawTime)/float64(verifyTime), "raw/verify")
		})
	}
}

// BenchmarkOverhead is everything Verify does but the signature check:
// format, header, key lookup and claims.
func BenchmarkOverhead(b *testing.B) {
	f := newFixture(b)
	tok := f.token(nil)
	ctx := context.Background()
	now := f.clock.now()
	b.ReportAllocs()
	for b.Loop() {
		p, err := parse(tok, f.v.algorithms)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.v.keys.lookup(ctx, p.kid, now); err != nil {
			b.Fatal(err)
		}
		if _, err := checkClaims(p.payload, testIssuer, testAudience, f.v.leeway, f.v.maxLifetime, now); err != nil {
			b.Fatal(err)
		}
	}
}
